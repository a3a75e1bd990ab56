"""Forward-pass timings: the trace's own overhead, and the project against ``transformers``.

Both comparisons run the two sides on the same token ids, alternating which goes first
in each round, after warm-up, on the thread count ``AttentionModel`` chooses (set for
both sides alike). Reported: the median of each side and the median of the per-round
ratios.

- Trace overhead (the foundation issue): the project's forward with the full trace
  (weights and scores of every layer, at the precision ``"auto"`` picks, turned into the
  trace's numpy arrays) over the same forward without weights (PyTorch's fused kernel).
- Reference: the project's forward with the full trace over ``transformers``' eager
  forward with ``output_attentions=True`` (weights only), on the real all-MiniLM-L6-v2
  checkpoint, on a random GPT-2-small saved by ``transformers`` and opened by the
  project's importer, and on a random SmolLM2-135M-shaped Llama (30 layers, d_model 576,
  9 query heads sharing 3 key/value heads, rotary positions) at 128, 512 and 2,048 tokens.
"""

from __future__ import annotations

import inspect
import shutil
import time
from pathlib import Path
from typing import Callable

from .common import CACHE, median, minilm_folder, tokenizer_file


def _time(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return (time.perf_counter() - start) * 1000


def interleaved(first: Callable[[], object], second: Callable[[], object], rounds: int, warmup: int = 1) -> dict:
    """Median ms of each side and the median per-round ratio first / second."""
    for _ in range(warmup):
        first()
        second()
    times_first, times_second, ratios = [], [], []
    for index in range(rounds):
        if index % 2 == 0:
            a, b = _time(first), _time(second)
        else:
            b, a = _time(second), _time(first)
        times_first.append(a)
        times_second.append(b)
        ratios.append(a / b)
    return {"rounds": rounds, "first_ms": median(times_first), "second_ms": median(times_second), "ratio": median(ratios)}


def traced_forward(model, ids) -> Callable[[], object]:
    """The project's forward with the full trace, from ids to the trace's numpy arrays."""
    import torch

    from model import inference

    network, config = model.network, model.config
    n = ids.size(1)
    parameters = inspect.signature(network.encode if config.has_encoder else network.decode).parameters
    options: dict = {"need_weights": True}  # a model/ from before the recorder
    if "recorder" in parameters or "trace_dtype" in parameters:
        nbytes = inference.trace_nbytes(config, n if config.has_encoder else 0, n if config.has_decoder else 0)
        dtype = {"float32": torch.float32, "float16": torch.float16}[inference.resolve_precision("auto", nbytes)]
        if "recorder" in parameters:
            from model.recorder import AttentionRecorder

            options = {"recorder": AttentionRecorder(dtype)}
        else:
            options["trace_dtype"] = dtype

    @torch.inference_mode()
    def run():
        if config.architecture == "encoder":
            stack = network.encode(ids, **options).self_attention
        else:
            stack = network.decode(ids, **options).self_attention
        return inference._maps(stack)

    return run


def plain_forward(model, ids) -> Callable[[], object]:
    import torch

    network, config = model.network, model.config

    @torch.inference_mode()
    def run():
        if config.architecture == "encoder":
            return network.encode(ids).hidden  # no weights: the fused kernel
        return network.decode(ids).hidden

    return run


def set_threads(model) -> int:
    """The thread count the model uses, set on this thread for both sides of a comparison."""
    import torch

    from model import inference

    threads = getattr(model, "threads", None)
    if not threads:  # a model/ from before thread counts were chosen: keep torch's own
        threads = inference.default_threads() if hasattr(inference, "default_threads") else torch.get_num_threads()
    torch.set_num_threads(threads)
    return threads


def ids_of(model, n_tokens: int):
    import torch

    from .common import text_of_tokens

    encoded = model.tokenizer.encode(text_of_tokens(model.tokenizer, n_tokens))
    return torch.tensor([encoded.ids], dtype=torch.long)


def trace_overhead(model, n_tokens: int, rounds: int) -> dict:
    set_threads(model)
    ids = ids_of(model, n_tokens)
    result = interleaved(traced_forward(model, ids), plain_forward(model, ids), rounds)
    return {
        "tokens": n_tokens,
        "with_trace_ms": result["first_ms"],
        "without_ms": result["second_ms"],
        "ratio": result["ratio"],
        "rounds": rounds,
    }


def gpt2_reference_folder() -> Path:
    """A random GPT-2-small (1,024 positions) saved by ``transformers``, with a tokenizer.json."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = CACHE / "hf-gpt2-small-random-v1"
    if (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file():
        return folder
    torch.manual_seed(0)
    network = GPT2LMHeadModel(GPT2Config(n_positions=1024, bos_token_id=101, eos_token_id=102))
    network.save_pretrained(folder)
    shutil.copy(tokenizer_file(), folder / "tokenizer.json")
    return folder


def llama_reference_folder() -> Path:
    """A random Llama of SmolLM2-135M's shape saved by ``transformers``, with a tokenizer.json.

    SmolLM2-135M: 30 layers, d_model 576, 9 heads of 64 sharing 3 key/value heads
    (grouped-query attention), a 1,536-wide SwiGLU, rope_theta 100,000, tied embeddings.
    The MiniLM tokenizer's 30,522 ids fit its 49,152-row table.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = CACHE / "hf-smollm2-135m-shape-random-v1"
    if (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file():
        return folder
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
        num_key_value_heads=3, head_dim=64, max_position_embeddings=8192, rope_theta=100000.0, rms_norm_eps=1e-5,
        tie_word_embeddings=True, bos_token_id=101, eos_token_id=102,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    shutil.copy(tokenizer_file(), folder / "tokenizer.json")
    return folder


def reference(folder: Path, n_tokens: int, rounds: int) -> dict:
    """The project's traced forward / transformers' eager forward with attentions, same checkpoint and ids."""
    import torch
    from transformers import AutoModel

    from model import load_checkpoint

    ours = load_checkpoint(folder)
    threads = set_threads(ours)
    theirs = AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    ids = ids_of(ours, n_tokens)

    @torch.inference_mode()
    def reference_forward():
        return theirs(input_ids=ids, output_attentions=True).attentions

    result = interleaved(traced_forward(ours, ids), reference_forward, rounds)
    return {
        "checkpoint": folder.name if folder != minilm_folder() else "all-MiniLM-L6-v2",
        "tokens": n_tokens,
        "ours_ms": result["first_ms"],
        "transformers_ms": result["second_ms"],
        "ratio": result["ratio"],
        "rounds": rounds,
        "threads": threads,
    }

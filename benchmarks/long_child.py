"""Long inputs on the recomputed trace (one child process per size, so memory is its own).

A random model is built in memory with positions extended to the input; then, on an
input of ``--tokens`` tokens:

- the traced forward (``storage="recomputed"``: what ``trace`` does above
  ``DENSE_TRACE_BYTES``) against the untraced fused forward of the same ids
  (``--rounds`` interleaved rounds; ``--no-fused`` skips the fused side, whose dense
  causal mask alone is 1 GB at 32k tokens);
- the resident memory the trace holds above the loaded, warmed-up model (the trace
  and the incremental state share their tensors), and the peak while it is made;
- typing at the end: ``--keys`` words appended one at a time with ``reuse=True``, each
  keystroke's ``trace`` call from text to trace (p50, p95);
- editing in the middle: one word replaced at the middle, with ``reuse=True``, against
  the full traced forward.

    python -m benchmarks.long_child --size gpt2 --tokens 8192 --keys 5
    python -m benchmarks.long_child --size llama --tokens 32768 --keys 5 --no-fused
"""

from __future__ import annotations

import argparse
import sys
import time

from .common import emit, median, percentile, text_of_tokens, tokenizer_file
from .memory_child import Sampler, rss_bytes

SIZES = ("gpt2", "llama")


def build(size: str, max_positions: int):
    """A random ``AttentionModel``: GPT-2-small (12 × 12, d 768) or a small Llama (4 layers,
    d 256, 8 query heads sharing 2 key/value heads, rotary)."""
    import torch

    from model import AttentionModel, ModelConfig, Rotary, Transformer
    from model.tokenization import TextTokenizer

    if size == "gpt2":
        config = ModelConfig(
            architecture="decoder", vocab_size=50257, d_model=768, n_heads=12, d_ff=3072, n_decoder_layers=12,
            max_positions=max_positions, norm_placement="pre", activation="gelu_tanh", positions="learned", family="gpt2",
        )
    else:
        config = ModelConfig(
            architecture="decoder", vocab_size=32000, d_model=256, n_heads=8, n_kv_heads=2, d_ff=688,
            n_decoder_layers=4, max_positions=max_positions, norm="rmsnorm", activation="silu", gated_ffn=True, bias=False,
            positions="rotary", rotary=Rotary(theta=500000.0), tie_embeddings=False, family="llama",
        )
    torch.manual_seed(0)
    network = Transformer(config)
    tokenizer = TextTokenizer.from_file(tokenizer_file(), config.max_positions)
    return AttentionModel(network, tokenizer, name=f"random {size}")


def tensor_bytes(run) -> int:
    """Bytes of the distinct storages a ``StackRun`` holds (queries, keys, values, lse,
    overview, hidden states): what the trace keeps, without the allocator's slack."""
    tensors = [run.hidden]
    for kind in (run.self_attention, run.cross_attention):
        if kind is None:
            continue
        tensors += [kind.overview.heads, kind.overview.means, kind.overview.strips]
        for record, values in zip(kind.records, kind.values):
            for chunks in (record.queries, record.keys, record.lse, values):
                tensors += list(chunks.chunks)
    storages = {tensor.untyped_storage().data_ptr(): tensor.untyped_storage().nbytes() for tensor in tensors}
    return sum(storages.values())


def _seconds(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, required=True)
    parser.add_argument("--tokens", type=int, required=True)
    parser.add_argument("--keys", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-fused", action="store_true")
    args = parser.parse_args(argv)
    import torch

    model = build(args.size, args.tokens + 4 * args.keys + 8)
    model._set_threads()
    words = text_of_tokens(model.tokenizer, args.tokens + 2 * args.keys).split()
    text = text_of_tokens(model.tokenizer, args.tokens)
    model.trace(text_of_tokens(model.tokenizer, 64), storage="recomputed")  # warm-up: lazy allocations
    ids = torch.tensor([model.tokenizer.encode(text).ids])
    n = ids.shape[1]

    # Memory first, in a fresh state: the peak and what the trace holds afterwards.
    model.incremental.forget()
    baseline = rss_bytes()
    sampler = Sampler()
    sampler.start()
    opened_s = _seconds(lambda: globals().__setitem__("_trace", model.trace(text, storage="recomputed", reuse=True)))
    sampler.running = False
    sampler.join()
    held = rss_bytes() - baseline
    peak = max(sampler.peak, rss_bytes()) - baseline
    stored = tensor_bytes(model.incremental.previous.decoder)

    # Traced against fused forwards, interleaved.
    traced, fused = [opened_s], []
    with torch.inference_mode():
        for round_ in range(args.rounds):
            if not args.no_fused:
                fused.append(_seconds(lambda: model.network.decode(ids).hidden))
            if round_ > 0:  # the first traced forward is the one measured for memory above
                traced.append(_seconds(lambda: model.trace(text, storage="recomputed")))

    # Typing at the end: one word a keystroke, each continuing the last trace.
    model.trace(text, storage="recomputed", reuse=True)
    typing, ran = [], []
    typed = text
    for key in range(args.keys):
        typed = typed + " " + words[(n + key) % len(words)]
        typing.append(_seconds(lambda: model.trace(typed, storage="recomputed", reuse=True)))
        ran.append(model.incremental.last_run_tokens)

    # Editing in the middle: one word replaced and put back, each continuing the last
    # trace, interleaved with full traced forwards (``--rounds`` of each).
    halves = text.split()
    middle = len(halves) // 2
    edited = " ".join(halves[:middle] + ["zebra" if halves[middle] != "zebra" else "yak"] + halves[middle + 1 :])
    model.trace(text, storage="recomputed", reuse=True)
    middles, middle_ratios, middle_ran = [], [], 0
    for round_ in range(args.rounds):
        target = edited if round_ % 2 == 0 else text
        middles.append(_seconds(lambda: model.trace(target, storage="recomputed", reuse=True)))
        middle_ran = model.incremental.last_run_tokens
        kept = model.incremental.previous
        full = _seconds(lambda: model.trace(target, storage="recomputed"))
        model.incremental.previous = kept  # the full forward above kept nothing; continue from the edit
        middle_ratios.append(middles[-1] / full)
        traced.append(full)
    middle_s = median(middles)
    maps = globals()["_trace"].attention["decoder_self"]
    emit(
        {
            "size": args.size,
            "tokens": n,
            "threads": torch.get_num_threads(),
            "dense_float32_bytes": 2 * 4 * maps.n_layers * maps.n_heads * n * n,
            "open_s": round(opened_s, 2),
            "traced_s": round(median(traced), 2),
            "fused_s": round(median(fused), 2) if fused else None,
            "traced_over_fused": round(median(traced) / median(fused), 3) if fused else None,
            "held_above_model_bytes": held,
            "trace_tensor_bytes": stored,
            "peak_above_model_bytes": peak,
            "typing_ms": [round(1000 * s, 1) for s in typing],
            "typing_p50_ms": round(1000 * median(typing), 1),
            "typing_p95_ms": round(1000 * percentile(typing, 95), 1),
            "typing_ran_tokens": ran,
            "middle_s": round(middle_s, 2),
            "middle_ran_tokens": middle_ran,
            "middle_over_full": round(median(middle_ratios), 3),
            "middle_rounds": args.rounds,
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

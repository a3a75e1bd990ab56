"""Peak memory of one long trace (one child process, so the peak belongs to this trace alone).

A random GPT-2-small-size model is built and warmed up on a short input; then a thread
samples the resident set size every 2 ms while ``AttentionModel.trace`` runs on an
input of ``--tokens`` tokens. Reported: the peak above the warmed-up baseline, what the
returned trace holds, and both against the raw float32 size of the trace
(layers · heads · n² · 4 bytes for one of weights and scores; twice that for both).

    python -m benchmarks.memory_child --tokens 2048 --precision auto
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import threading
import time

from .common import GPT2_SMALL, emit, random_model, text_of_tokens

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = rss_bytes()
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.002)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, required=True)
    parser.add_argument("--precision", default="auto", help="auto | float32 | float16 (ignored by a model/ without it)")
    args = parser.parse_args(argv)
    import torch

    model = random_model(GPT2_SMALL)
    accepts_precision = "precision" in inspect.signature(model.trace).parameters
    options = {"precision": args.precision} if accepts_precision else {}
    model.trace(text_of_tokens(model.tokenizer, 16), **options)  # warm-up: lazy allocations happen here
    text = text_of_tokens(model.tokenizer, args.tokens)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    baseline = rss_bytes()
    sampler = Sampler()
    sampler.start()
    start = time.perf_counter()
    trace = model.trace(text, **options)
    seconds = time.perf_counter() - start
    sampler.running = False
    sampler.join()
    held = rss_bytes()
    peak = max(sampler.peak, held)
    maps = trace.attention["decoder_self"]
    L, H, n = maps.n_layers, maps.n_heads, maps.weights.shape[-1]
    raw = L * H * n * n * 4
    stored = maps.weights.nbytes + maps.scores.nbytes
    emit(
        {
            "tokens": n,
            "precision": args.precision if accepts_precision else "float32 (no option)",
            "dtype": str(maps.weights.dtype),
            "trace_s": round(seconds, 2),
            "raw_float32_bytes": raw,
            "stored_bytes": stored,
            "peak_above_baseline_bytes": peak - baseline,
            "held_after_bytes": held - baseline,
            "peak_over_raw": (peak - baseline) / raw,
            "peak_over_raw_weights_and_scores": (peak - baseline) / (2 * raw),
            "cuda_peak_bytes": torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None,
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

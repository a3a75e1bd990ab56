"""The long-input rows (``benchmarks.long_child``): their targets and their table.

Targets are issue 15's, on the recomputed trace: traced / untraced fused forward ≤ 1.3 ×,
trace memory above the model ≤ 1 GB (GPT-2-small at 8,192) and ≤ 1.5 GB (the small
Llama at 32,768), typing at the end p95 ≤ 150 ms (2,048), ≤ 400 ms (8,192), ≤ 500 ms
(32,768), and an edit in the middle of 2,048 tokens ≤ 0.6 × a full forward.
"""

from __future__ import annotations

TRACED_OVER_FUSED = 1.3
MIDDLE_OVER_FULL = 0.6
MEMORY_GB = {("gpt2", 8192): 1.0, ("llama", 32768): 1.5}
TYPING_P95_MS = {("gpt2", 2048): 150.0, ("gpt2", 8192): 400.0, ("llama", 32768): 500.0}
NAMES = {"gpt2": "GPT-2-small-size", "llama": "small Llama-style (4 × 8 heads, 2 KV, d 256)"}

HEADER = [
    "model", "tokens", "dense float32 would be", "open s", "traced s", "fused s", "traced / fused",
    "trace tensors", "held above model (RSS)", "peak above model (RSS)", "typing p50 ms", "typing p95 ms", "middle edit s", "middle / full",
]

LINEAR_PART = (
    "a keystroke still streams every weight of the model once (GPT-2-small: 0.5 GB of float32 per forward, "
    "about 50 ms here) and attends to every key; this machine is shared"
)


def rows(results: dict) -> list[list[str]]:
    lines = []
    for r in results.get("long", []):
        if "error" in r:
            lines.append(["error: " + r["error"]] + [""] * (len(HEADER) - 1))
            continue
        fused = "—" if r["fused_s"] is None else f"{r['fused_s']:.2f}"
        ratio = "—" if r["traced_over_fused"] is None else f"{r['traced_over_fused']:.2f}"
        lines.append([
            NAMES.get(r["size"], r["size"]), f"{r['tokens']:,}", f"{r['dense_float32_bytes'] / 1e9:.1f} GB",
            f"{r['open_s']:.2f}", f"{r['traced_s']:.2f}", fused, ratio,
            f"{r.get('trace_tensor_bytes', 0) / 1e9:.2f} GB",
            f"{r['held_above_model_bytes'] / 1e9:.2f} GB", f"{r['peak_above_model_bytes'] / 1e9:.2f} GB",
            f"{r['typing_p50_ms']:.0f}", f"{r['typing_p95_ms']:.0f}", f"{r['middle_s']:.2f}", f"{r['middle_over_full']:.2f}",
        ])
    return lines


def targets(results: dict, add) -> None:
    """Call ``add(name, measured, holds, note)`` for every long-input target measured."""
    for r in results.get("long", []):
        if "error" in r:
            add("long inputs", r["error"], False)
            continue
        key, label = (r["size"], r["tokens"]), f"{NAMES.get(r['size'], r['size'])} @ {r['tokens']:,}"
        if r["traced_over_fused"] is not None:
            holds = r["traced_over_fused"] <= TRACED_OVER_FUSED
            add(f"{label}: traced / untraced fused forward ≤ 1.3 ×", f"{r['traced_over_fused']:.2f} ×", holds)
        if key in MEMORY_GB:
            held = r["held_above_model_bytes"] / 1e9
            add(f"{label}: trace memory above the model ≤ {MEMORY_GB[key]:g} GB", f"{held:.2f} GB resident "
                f"({r.get('trace_tensor_bytes', 0) / 1e9:.2f} GB of tensors; {r['peak_above_model_bytes'] / 1e9:.2f} GB peak)",
                held <= MEMORY_GB[key])
        if key in TYPING_P95_MS:
            p95 = r["typing_p95_ms"]
            holds = p95 <= TYPING_P95_MS[key]
            add(f"{label}: typing at the end p95 ≤ {TYPING_P95_MS[key]:g} ms (trace call)", f"{p95:.0f} ms "
                f"(p50 {r['typing_p50_ms']:.0f} ms)", holds, "" if holds else LINEAR_PART)
        if key == ("gpt2", 2048):
            holds = r["middle_over_full"] <= MIDDLE_OVER_FULL
            add(f"{label}: edit in the middle ≤ 0.6 × a full forward", f"{r['middle_over_full']:.2f} ×", holds,
                "" if holds else "the second half reruns: half the projections, three quarters of the attention")

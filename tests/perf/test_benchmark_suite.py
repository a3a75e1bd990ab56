"""The benchmark suite runs end to end (``--quick``, smallest sizes); no timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import report
from benchmarks.common import percentile, summary

REPOSITORY = Path(__file__).resolve().parents[2]


def test_percentiles_interpolate_between_ranks():
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)
    assert summary([10.0, 30.0, 20.0]) == {"n": 3, "p50_ms": 20.0, "p95_ms": 29.0, "max_ms": 30.0}


def test_quick_run_measures_every_part(tmp_path):
    out = tmp_path / "results.json"
    finished = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    results = json.loads(out.read_text())
    assert results["machine"]["cores"] >= 1 and results["machine"]["torch_threads"] >= 1
    windows = results["window"]
    assert windows and all("error" not in row for row in windows), windows
    bundled = windows[0]
    assert bundled["label"] == "bundled model" and bundled["latency"]["n"] == 5
    assert bundled["panels"] and "grid" in bundled["panels"]
    assert bundled["grid_builds"] == 1  # typing fed the grid new arrays; it never rebuilt its items
    assert all(row["ratio"] > 0 for row in results["forward"]["overhead"] + results["forward"]["reference"])
    memory = results["memory"][0]
    assert "error" not in memory and memory["stored_bytes"] == 2 * memory["raw_float32_bytes"]  # float32 at 256 tokens
    # On a real X server when this machine has one to start; otherwise each row says why not.
    for row in results["xserver"]:
        if "error" in row:
            assert "is not installed" in row["error"], row
        else:
            assert row["keys"] == 6 and row["traces"] >= 6 and "grid" in row["panels"], row
            assert row["first_change"]["p50_ms"] <= row["settled"]["p50_ms"]
    assert results["cold_start"]["ratio"] > 0 and "error" not in results["export"]
    long_rows = results["long"]  # a recomputed trace, typing and an edit in the middle, at 512 tokens
    assert long_rows and all("error" not in row for row in long_rows), long_rows
    assert all(ran < row["tokens"] for row in long_rows for ran in row["typing_ran_tokens"])
    zoom = results["zoom"]  # frames of the real head detail over a recomputed trace
    assert "error" not in zoom and zoom["frames"] == 20 and zoom["tokens"] == 512 and zoom["made_here"] >= 1, zoom
    assert results["targets"] and all(target["holds"] in (True, False) for target in results["targets"])
    text = report.markdown(results)
    assert "## Machine" in text and "Keystroke-to-paint" in text and "bundled model" in text
    assert "Targets" in finished.stdout

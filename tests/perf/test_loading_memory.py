"""Opening a checkpoint holds its weights once: peak resident memory while loading stays near their size.

Measured in a fresh interpreter that has already opened the bundled model (imports and
one-time set-up done): its peak is reset to the memory resident just before the load
(``/proc/self/clear_refs``), so the peak after is what the load itself reached.
No timing is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from model import save_checkpoint
from tiny_models import task_tokenizer, tiny_config, tiny_network

TESTS = Path(__file__).resolve().parents[1]
# The weights themselves, plus room for one tensor's conversion and the tokenizer.
PEAK_OVER_WEIGHTS = 1.3

MEASURE = """
import json, sys
sys.path[:0] = [{tests!r}, {root!r}]
from model import load_checkpoint
load_checkpoint()

def status(field: str) -> int:
    with open("/proc/self/status") as handle:
        line = next(line for line in handle if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024  # kB

# Reset the peak (VmHWM) to the memory resident now, so that only the load can raise it.
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")
before = status("VmRSS")
model = load_checkpoint({folder!r})
peak = status("VmHWM")
weights = sum(p.numel() * p.element_size() for p in model.network.parameters())
print(json.dumps({{"rise": peak - before, "weights": weights}}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads and resets the peak in /proc/self")
def test_peak_memory_while_loading_is_about_the_weights_once(tmp_path: Path) -> None:
    # About 40 M parameters (160 MB as float32), large enough that interpreter noise is small beside it.
    config = tiny_config("encoder-decoder", d_model=512, n_heads=8, d_ff=2048, n_encoder_layers=6, n_decoder_layers=6)
    folder = save_checkpoint(tmp_path / "medium", tiny_network(config, 0), task_tokenizer(config.max_positions), "medium")
    script = MEASURE.format(tests=str(TESTS), root=str(TESTS.parent), folder=str(folder))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["weights"] > 100e6
    ratio = measured["rise"] / measured["weights"]
    assert ratio <= PEAK_OVER_WEIGHTS, f"loading raised peak memory by {ratio:.2f} × the weights"

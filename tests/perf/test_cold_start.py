"""Opening a checkpoint does not pay for PyTorch's lazy imports: the cold-start guard."""

from __future__ import annotations

import subprocess
import sys

import pytest
from torch import nn

from model.transformer import Transformer, parameter_shapes
from tiny_models import tiny_config

VARIANTS = [
    tiny_config("encoder-decoder"),
    tiny_config("encoder", positions="learned", type_vocab_size=2, embedding_norm=True),
    tiny_config("decoder", norm="rmsnorm", positions="relative", tie_embeddings=False),
]


@pytest.mark.parametrize("config", VARIANTS)
def test_parameter_shapes_are_the_real_networks(config) -> None:
    real = {name: tuple(tensor.shape) for name, tensor in Transformer(config).state_dict().items()}
    assert parameter_shapes(config) == real


def test_initialisers_are_restored_afterwards() -> None:
    before = {module: module.reset_parameters for module in (nn.Linear, nn.Embedding, nn.LayerNorm, nn.RMSNorm)}
    parameter_shapes(VARIANTS[0])
    assert {module: module.reset_parameters for module in before} == before
    layer = nn.Linear(4, 4)
    assert layer.weight.abs().sum() > 0  # still randomly initialised


def test_opening_the_bundled_model_does_not_import_the_compiler_stack() -> None:
    """Meta-device initialisers and arange pull in torch._dynamo (about a second at start-up)."""
    code = "import sys, model; model.load_checkpoint(); print('torch._dynamo' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


def test_the_window_is_built_without_importing_torch() -> None:
    """torch takes 1.5 s to import; the worker imports it for the first model while the
    window is built and shown, so the window itself must not (the Device menu waits)."""
    code = (
        "import sys; from PySide6.QtWidgets import QApplication; app = QApplication(['x', '-platform', 'offscreen']); "
        "from explorer.main_window import MainWindow; window = MainWindow(restore_layout=False); "
        "print('torch' in sys.modules); window.device_menu.aboutToShow.emit(); "
        "print([action.text() for action in window.device_menu.actions()][0]); window.controller.stop()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["False", "CPU"], result.stderr[-2000:]

"""The command-line options of the attention-hides views: app presets, dump --saved-trace, export --values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from explorer.cli import main
from model.trace_file import load_trace


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--head", "sideways"], "--head must be a head number or mean"),
        (["--layer", "-2"], "--layer must be 0 or more"),
        (["--induction-probe", "--corpus", "x.txt"], "give one of them"),
        (["export", "--text", "owl", "--values", "value-weighted", "--scores", "--out", "x.png", "--kind", "cross"],
         "--scores and --values value-weighted ask for different things"),
    ],
)
def test_bad_options_are_one_line(capsys, arguments: list[str], message: str) -> None:
    assert main(arguments) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_dump_saved_trace_writes_a_file_the_app_opens(tmp_path: Path, capsys) -> None:
    out = tmp_path / "trace.npz"
    assert main(["dump", "--text", "reverse: owl cat fig", "--saved-trace", "--out", str(out)]) == 0
    trace, description = load_trace(out)
    assert trace.kinds == ("encoder_self", "decoder_self", "cross") and "encoder-decoder" in description
    assert trace.attention["cross"].value_norms is not None and trace.decoder_residuals is not None
    assert np.allclose(trace.attention["encoder_self"].weights.sum(-1), 1.0, atol=1e-5)

"""``attention-explorer stats``: the head table as CSV on stdout or in a file, and its errors."""

from __future__ import annotations

import ast
import csv
import io
import math
import subprocess
import sys
from pathlib import Path

import pytest

import explorer.analysis
from explorer.analysis.head_stats import CSV_COLUMNS
from explorer.cli import main


def _table(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_stats_of_the_bundled_model_cover_every_head_of_every_kind(capsys) -> None:
    assert main(["stats", "--text", "reverse: owl cat fig dog"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == ",".join(CSV_COLUMNS)
    rows = _table(out)
    # The bundled model: 3 encoder and 3 decoder layers × 4 heads, three kinds.
    assert [(row["kind"], row["layer"], row["head"]) for row in rows][:5] == [
        ("encoder_self", "0", "0"), ("encoder_self", "0", "1"), ("encoder_self", "0", "2"),
        ("encoder_self", "0", "3"), ("encoder_self", "1", "0"),
    ]
    assert len(rows) == 3 * 3 * 4
    # 7 source tokens (reverse : owl cat fig dog </s>): row entropies lie in [0, log2 7].
    for row in rows:
        assert 0.0 <= float(row["entropy_bits"]) <= math.log2(7) + 1e-6
        for share in ("special_share", "separator_share", "max_weight"):
            assert 0.0 <= float(row[share]) <= 1.0 + 1e-6
        positional = ("mean_distance", "previous_share", "diagonal_share")
        assert all((row[name] == "") == (row["kind"] == "cross") for name in positional)


def test_stats_of_one_kind_to_a_file(make_checkpoint, tmp_path: Path, capsys) -> None:
    out = tmp_path / "heads.csv"
    checkpoint = make_checkpoint("encoder", type_vocab_size=2)
    arguments = ["stats", "--checkpoint", str(checkpoint), "--text", "sort: owl", "--pair", "cat fig"]
    assert main([*arguments, "--kind", "encoder_self", "--out", str(out)]) == 0
    rows = _table(out.read_text())
    assert len(rows) == 2 * 4 and {row["kind"] for row in rows} == {"encoder_self"}
    assert "wrote" in capsys.readouterr().err
    # The pair's separator tokens are special: the CSV counts attention on them.
    assert all(float(row["separator_share"]) > 0 for row in rows)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--kind", "cross"], "this model has no cross-attention (decoder → encoder); it has decoder_self"),
        (["--out", "heads.txt"], "--out must end in .csv"),
        (["--kind", "sideways"], "invalid choice"),
    ],
)
def test_stats_errors_are_one_line(make_checkpoint, capsys, extra: list[str], message: str) -> None:
    checkpoint = make_checkpoint("decoder")
    assert main(["stats", "--checkpoint", str(checkpoint), "--text", "sort: owl", *extra]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_analysis_modules_import_neither_qt_nor_torch() -> None:
    """Nothing in the package imports Qt or torch (the model-running ``next_token`` is worker side)."""
    package = Path(explorer.analysis.__file__).parent
    for path in sorted(package.glob("*.py")):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
        assert not imported & {"PySide6", "pyqtgraph", "superqt"}, path.name
        assert "torch" not in imported, path.name
    script = "import sys, explorer.next_token, explorer.analysis.timeline; print('PySide6' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"

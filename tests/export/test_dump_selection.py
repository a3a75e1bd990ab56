"""``dump --layers/--heads/--rows``: parts of a trace, and the refusal of a dump too large."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import model.trace
from explorer.cli import main, parse_positions
from explorer.export import export_trace_data
from model import load_checkpoint
from recomputed import recomputed_trace

TEXT = "date: wednesday, 25 november 2026"


def test_a_selection_writes_those_layers_heads_and_query_rows(tmp_path: Path) -> None:
    out = tmp_path / "part.npz"
    assert main(["dump", "--text", TEXT, "--layers", "1-2", "--heads", "0,3", "--rows", "2,4-5", "--out", str(out)]) == 0
    arrays = np.load(out)
    trace = load_checkpoint().trace(TEXT)
    for kind in trace.kinds:
        maps = trace.attention[kind]
        expected = maps.weights[np.ix_([1, 2], [0, 3], [2, 4, 5])]
        np.testing.assert_array_equal(arrays[kind], expected)
        np.testing.assert_array_equal(arrays[f"{kind}_scores"], maps.scores[np.ix_([1, 2], [0, 3], [2, 4, 5])])
        assert arrays[f"{kind}_layers"].tolist() == [1, 2] and arrays[f"{kind}_rows"].tolist() == [2, 4, 5]
        assert arrays[kind].shape[-1] == maps.weights.shape[-1]  # every key


def test_a_dump_above_the_limit_is_refused_in_one_sentence_naming_size_and_options(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(model.trace, "DENSE_LIMIT_BYTES", 1000)
    out = tmp_path / "big.npz"
    assert main(["dump", "--text", TEXT, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "kB" in err and "limit" in err and "--layers" in err and "--heads" in err and "--rows" in err
    assert not out.exists()
    # A small enough selection of the same trace is written.
    assert main(["dump", "--text", TEXT, "--layers", "0", "--heads", "0", "--rows", "0", "--out", str(out)]) == 0


def test_a_csv_of_a_selection_streams_only_those_rows_and_refuses_when_too_large(tmp_path, monkeypatch) -> None:
    trace = load_checkpoint().trace(TEXT)
    lazy = recomputed_trace(trace)
    path = export_trace_data(lazy, tmp_path / "part.csv", layers=[2], heads=[1], rows=[0, 3])
    with open(path, newline="", encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle))
    cross = [line for line in lines if line["kind"] == "cross"]
    assert {line["query_index"] for line in cross} == {"0", "3"} and {line["layer"] for line in cross} == {"2"}
    weights = trace.attention["cross"].weights
    for line in cross[:20]:
        assert float(line["weight"]) == pytest.approx(weights[2, 1, int(line["query_index"]), int(line["key_index"])], abs=1e-7)
    monkeypatch.setattr(model.trace, "DENSE_LIMIT_BYTES", 1000)
    with pytest.raises(ValueError, match="select layers, heads or query rows"):
        export_trace_data(lazy, tmp_path / "all.csv")


def test_a_recomputed_trace_dumps_the_numbers_of_the_dense_one(tmp_path: Path) -> None:
    trace = load_checkpoint().trace(TEXT)
    arrays = np.load(export_trace_data(recomputed_trace(trace), tmp_path / "lazy.npz", heads=[2]))
    for kind in trace.kinds:
        np.testing.assert_array_equal(arrays[kind], trace.attention[kind].weights[:, [2]])


@pytest.mark.parametrize(
    "options, phrase",
    [
        (["--layers", "9"], "--layers 9 is out of range"),
        (["--rows", "2-x"], "--rows takes positions"),
        (["--heads", "3-1"], "runs backwards"),
    ],
)
def test_a_bad_selection_gives_one_line(tmp_path, capsys, options, phrase) -> None:
    assert main(["dump", "--text", TEXT, *options, "--out", str(tmp_path / "x.npz")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and phrase in err


def test_positions_parse_lists_and_inclusive_ranges() -> None:
    assert parse_positions("0,2,5-7", "--rows") == [0, 2, 5, 6, 7]
    assert parse_positions(None, "--rows") is None

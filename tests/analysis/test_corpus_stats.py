"""Head statistics over a corpus: batched traces, means and spreads of the per-input statistics."""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import numpy as np
import pytest

from explorer.analysis.corpus_stats import CORPUS_COLUMNS, PER_INPUT_COLUMNS, CorpusAccumulator, corpus_lines
from explorer.analysis.head_stats import STATISTICS, trace_head_statistics
from explorer.cli import main
from model import load_checkpoint
from model.batch import trace_batch

LINES = ["reverse: owl cat fig", "date: monday, 3 may 2021", "sort: dog ant bee dog", "number: forty two"]


@pytest.mark.parametrize("architecture", ["encoder", "decoder", "encoder-decoder"])
def test_a_batched_trace_equals_each_input_traced_alone(make_checkpoint, architecture: str) -> None:
    model = load_checkpoint(make_checkpoint(architecture))
    for line, batched in zip(LINES, trace_batch(model, LINES)):
        alone = model.trace(line, precision="float32")
        assert batched.kinds == alone.kinds
        for kind in alone.kinds:
            assert batched.axes(kind)[0].ids.tolist() == alone.axes(kind)[0].ids.tolist()
            assert np.allclose(batched.attention[kind].weights, alone.attention[kind].weights, atol=1e-5)


def test_corpus_statistics_are_the_mean_and_spread_of_the_per_input_statistics() -> None:
    model = load_checkpoint()
    accumulator = CorpusAccumulator(keep_inputs=True)
    for start in (0, 3):  # two batches of different widths
        for trace in trace_batch(model, LINES[start:start + 3]):
            accumulator.add(trace)
    table = accumulator.result()
    alone = [model.trace(line, precision="float32") for line in LINES]
    for kind in alone[0].kinds:
        per_input = np.stack([[trace_head_statistics(t, kind).values[name] for name in STATISTICS] for t in alone])
        with warnings.catch_warnings():  # a statistic NaN in every input: nanmean warns and gives NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            expected_mean, expected_sd = np.nanmean(per_input, axis=0), np.nanstd(per_input, axis=0)
        for index, name in enumerate(STATISTICS):
            assert np.allclose(table[kind].values[name], expected_mean[index], atol=1e-5, equal_nan=True), name
            assert np.allclose(table[kind].spread[name], expected_sd[index], atol=1e-5, equal_nan=True), name
    assert accumulator.inputs == 4 and len(accumulator.per_input) == 4


def test_stats_corpus_writes_means_and_each_input_with_a_progress_bar(tmp_path: Path, capsys) -> None:
    corpus = tmp_path / "lines.txt"
    corpus.write_text("\n".join([LINES[0], "", *LINES[1:]]) + "\n", encoding="utf-8")
    out, each = tmp_path / "heads.csv", tmp_path / "each.csv"
    arguments = ["stats", "--corpus", str(corpus), "--batch-size", "3", "--kind", "encoder_self"]
    assert main([*arguments, "--out", str(out), "--csv", str(each)]) == 0
    err = capsys.readouterr().err
    assert "4/4 inputs" in err and "4 inputs" in err and "2 batches" in err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert tuple(rows[0]) == CORPUS_COLUMNS and len(rows) == 3 * 4
    assert {row["inputs"] for row in rows} == {"4"}
    inputs = list(csv.DictReader(io.StringIO(each.read_text())))
    assert tuple(inputs[0]) == PER_INPUT_COLUMNS and len(inputs) == 4 * 3 * 4
    first = [float(row["entropy_bits"]) for row in inputs if row["layer"] == "0" and row["head"] == "0"]
    assert float(rows[0]["entropy_bits"]) == pytest.approx(np.mean(first), abs=1e-5)


def test_corpus_lines_skip_empty_lines() -> None:
    assert corpus_lines("a\n\n  \nb c\r\n") == ["a", "b c"]


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "give exactly one of --text"),
        (["--text", "owl", "--induction-probe"], "got --text and --induction-probe"),
        (["--corpus", "missing.txt"], "--corpus: cannot read missing.txt: No such file"),
        (["--text", "owl", "--csv", "x.csv"], "--csv writes each input's table of a --corpus"),
    ],
)
def test_stats_source_errors_are_one_line(capsys, extra: list[str], message: str) -> None:
    assert main(["stats", *extra]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_stats_presets_state_each_score_and_threshold(capsys) -> None:
    assert main(["stats", "--induction-probe", "--presets", "--kind", "decoder_self"]) == 0
    out = capsys.readouterr().out
    for key in ("previous-token", "induction", "duplicate-token", "attention-sink"):
        assert any(line.startswith(f"{key}: ") and "≥" in line for line in out.splitlines())
    assert "induction_share ≥ 0.4" in out

"""The head statistics dock's other sources: the induction probe and a corpus file, with cancel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from explorer.analysis.corpus_stats import CorpusAccumulator
from explorer.analysis.head_stats import trace_head_statistics
from explorer.modes import head_stats as head_stats_mode
from explorer.modes.head_stats import COLUMNS, SORT_ROLE
from model import load_checkpoint
from model.batch import trace_batch
from model.induction import trace_probe

LINES = [f"sort: owl cat {word}" for word in ("fig", "yak", "dog", "ant", "bee", "cow", "elk", "emu", "gnu", "hen")]


@pytest.fixture
def mode(qtbot, drive, window, checkpoints):
    drive.load(window, checkpoints["decoder"], text="sort: owl cat fig yak", target=None)
    stats = window.modes["stats"]
    with qtbot.waitSignal(stats.settled, timeout=drive.timeout):
        stats.raise_dock()
    return stats


def _shown(mode, name: str) -> dict[tuple, float]:
    column = COLUMNS.index(name)
    return {mode.row_key(row): mode.proxy.index(row, column).data(SORT_ROLE) for row in range(mode.proxy.rowCount())}


def test_the_induction_probe_fills_the_table_with_the_probe_scores(qtbot, drive, mode, checkpoints) -> None:
    with qtbot.waitSignal(mode.settled, timeout=drive.timeout):
        mode.probe_button.click()
    assert "induction probe" in mode.source_note.text() and mode.source_note.isVisible()
    expected = trace_head_statistics(trace_probe(load_checkpoint(checkpoints["decoder"])), "decoder_self")
    for (kind, layer, head), value in _shown(mode, "induction_share").items():
        assert value == pytest.approx(float(expected.values["induction_share"][layer, head]), abs=1e-6)


def test_a_corpus_file_shows_mean_and_spread_over_its_lines(qtbot, drive, mode, checkpoints, tmp_path: Path) -> None:
    corpus = tmp_path / "lines.txt"
    corpus.write_text("\n".join(LINES), encoding="utf-8")
    with qtbot.waitSignal(mode.settled, timeout=drive.timeout):
        mode.start_corpus(str(corpus))
    assert "lines.txt" in mode.source_note.text() and f"{len(LINES)} inputs" in mode.source_note.text()
    expected = CorpusAccumulator()
    for trace in trace_batch(load_checkpoint(checkpoints["decoder"]), LINES):
        expected.add(trace)
    table = expected.result()["decoder_self"]
    for (kind, layer, head), value in _shown(mode, "entropy_bits").items():
        assert value == pytest.approx(float(table.values["entropy_bits"][layer, head]), abs=1e-6)
    row = mode.proxy.index(0, COLUMNS.index("entropy_bits")).data()
    assert "±" in row
    assert mode.progress_widget.isHidden()


def test_cancel_stops_a_corpus_between_batches(qtbot, drive, mode, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(head_stats_mode, "CORPUS_BATCH", 2)
    corpus = tmp_path / "lines.txt"
    corpus.write_text("\n".join(LINES), encoding="utf-8")
    batches: list[int] = []
    accumulators = []

    def on_answer(topic: str, _value) -> None:
        if topic == "stats/corpus":
            batches.append(len(batches))
            if mode.corpus is not None:
                accumulators.append(mode.corpus[2])
            mode.cancel_corpus()  # after the first batch; the one already requested still comes back

    mode.host.controller.analysis_ready.connect(on_answer)
    try:
        with qtbot.waitSignal(mode.settled, timeout=drive.timeout):
            mode.start_corpus(str(corpus))
    finally:
        mode.host.controller.analysis_ready.disconnect(on_answer)
    # The mode had taken the first batch and asked for the second; that answer is dropped.
    assert batches == [0, 1] and accumulators[0].inputs == 2
    assert mode.corpus is None and mode.progress_widget.isHidden()
    assert not mode.source_note.isVisible()  # the typed input's table stays


def test_a_file_that_is_not_text_is_refused_in_one_sentence(mode, tmp_path: Path) -> None:
    corpus = tmp_path / "binary.txt"
    corpus.write_bytes(b"\xff\xfe\x00abc")
    errors = []
    mode.host.show_error = lambda title, text: errors.append(text)
    mode.start_corpus(str(corpus))
    assert errors == [f"{corpus} is not UTF-8 text (byte 0xff at offset 0); save it as UTF-8 and try again"]
    assert mode.corpus is None

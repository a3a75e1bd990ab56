"""File ▸ Open text file as source: the text reaches every panel; a bad file explains itself."""

from __future__ import annotations

from pathlib import Path


def test_a_text_file_becomes_the_source_and_is_traced(drive, qtbot, window, checkpoints, tmp_path: Path) -> None:
    drive.load(window, checkpoints["encoder-decoder"])
    path = tmp_path / "source.txt"
    path.write_text("sort: owl cat fig\n", encoding="utf-8")
    assert window.open_text_file(str(path))
    assert window.input_panel.source.toPlainText() == "sort: owl cat fig\n"
    drive.wait_for_text(window, "sort: owl cat fig\n")
    assert window.painted.trace.encoder.tokens[:5] == ["sort", ":", "owl", "cat", "fig"]


def test_a_file_that_is_not_utf8_shows_one_sentence_and_keeps_the_text(drive, window, checkpoints, tmp_path: Path) -> None:
    drive.load(window, checkpoints["encoder-decoder"], text="date: 5 may 2020")
    path = tmp_path / "latin1.txt"
    path.write_bytes("café".encode("latin-1"))
    assert not window.open_text_file(str(path))
    assert "is not UTF-8 text" in window.last_error_dialog.text()
    assert window.input_panel.source.toPlainText() == "date: 5 may 2020"
    window.last_error_dialog.close()

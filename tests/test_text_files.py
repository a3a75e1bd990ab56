"""Text from files and standard input: ``--text-file`` and its twins, and their one-line errors."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from explorer import text_files
from explorer.cli import main
from explorer.text_files import TextFileError, read_text_file

ROOT = Path(__file__).resolve().parent.parent


def test_a_utf8_file_is_read_whole_and_a_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes("\ufeffcafé 東京\nsecond line\n".encode("utf-8"))
    assert read_text_file(path) == "café 東京\nsecond line\n"


def test_dash_reads_standard_input() -> None:
    assert read_text_file("-", io.BytesIO("reverse: owl cat".encode("utf-8"))) == "reverse: owl cat"


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda folder: folder / "absent.txt", "cannot read"),
        (lambda folder: folder, "is a folder"),
        (lambda folder: _write(folder / "latin1.txt", "café".encode("latin-1")), "is not UTF-8 text (byte 0xe9 at offset 3)"),
    ],
)
def test_unusable_files_are_one_sentence_naming_the_file(tmp_path: Path, make, expected: str) -> None:
    path = make(tmp_path)
    with pytest.raises(TextFileError) as raised:
        read_text_file(path)
    message = str(raised.value)
    assert expected in message and str(path) in message and "\n" not in message


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(text_files, "MAX_TEXT_BYTES", 1000)
    path = _write(tmp_path / "big.txt", b"a" * 1001)
    with pytest.raises(TextFileError, match="larger than"):
        read_text_file(path)
    with pytest.raises(TextFileError, match="standard input is larger than"):
        read_text_file("-", io.BytesIO(b"a" * 1001))
    assert read_text_file(_write(tmp_path / "fits.txt", b"a" * 1000)) == "a" * 1000


def test_dump_of_a_1_mb_text_file_equals_the_same_text_given_inline(tmp_path: Path, capsys) -> None:
    words = "reverse: owl cat fig sort emu yak".split()
    text = " ".join(words[i % len(words)] for i in range(200_000))[: 1 << 20]
    source = _write(tmp_path / "big.txt", text.encode("utf-8"))
    from_file, inline = tmp_path / "file.npz", tmp_path / "inline.npz"
    assert main(["dump", "--text-file", str(source), "--out", str(from_file)]) == 0
    notice_from_file = capsys.readouterr().err
    assert main(["dump", "--text", text[:5000], "--out", str(inline)]) == 0  # far beyond the maximum as well
    assert "cut to the model's maximum" in notice_from_file
    assert notice_from_file == capsys.readouterr().err
    first, second = np.load(from_file), np.load(inline)
    assert first.files == second.files
    for name in first.files:
        np.testing.assert_array_equal(first[name], second[name])


def test_text_file_dash_reads_standard_input_on_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "stdin.npz"
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "dump", "--text-file", "-", "--target", "fig cat owl", "--out", str(out)],
        input="reverse: owl cat fig".encode("utf-8"),
        capture_output=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert np.load(out)["encoder_tokens"].tolist() == ["reverse", ":", "owl", "cat", "fig", "</s>"]


def test_target_and_pair_files_are_read_too(tmp_path: Path, capsys) -> None:
    target = _write(tmp_path / "target.txt", b"fig cat owl")
    out = tmp_path / "forced.npz"
    assert main(["dump", "--text", "reverse: owl cat fig", "--target-file", str(target), "--out", str(out)]) == 0
    assert np.load(out)["decoder_tokens"].tolist() == ["<s>", "fig", "cat", "owl", "</s>"]


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["dump", "--text-file", "-", "--target-file", "-", "--out", "x.npz"], "only one option can read standard input"),
        (["dump", "--text", "a", "--text-file", "b.txt", "--out", "x.npz"], "not allowed with argument"),
        (["stats", "--text-file", "/no/such/file.txt"], "cannot read /no/such/file.txt"),
        (["export", "--text", "a", "--compare-text-file", "/no/such/b.txt", "--out", "x.png"], "cannot read /no/such/b.txt"),
    ],
)
def test_bad_text_options_end_in_one_line(argv: list[str], expected: str, capsys) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path

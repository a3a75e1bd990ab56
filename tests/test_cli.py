"""The headless command line: dump, train, help, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from explorer.cli import main
from model import load_checkpoint


def test_help_lists_every_command(capsys) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--help"])
    assert raised.value.code == 0
    out = capsys.readouterr().out
    for command in ("dump", "train", "models"):
        assert command in out


def test_dump_of_the_bundled_model_matches_its_trace(tmp_path: Path) -> None:
    out = tmp_path / "trace.npz"
    text = "date: wednesday, 25 november 2026"
    assert main(["dump", "--text", text, "--out", str(out)]) == 0
    arrays = np.load(out)  # no allow_pickle: strings are stored as fixed-width unicode
    trace = load_checkpoint().trace(text)
    expected_keys = {"encoder_ids", "encoder_tokens", "decoder_ids", "decoder_tokens"}
    for kind in ("encoder_self", "decoder_self", "cross"):
        expected_keys |= {kind, f"{kind}_scores"}
        np.testing.assert_array_equal(arrays[kind], trace.attention[kind].weights)
        assert arrays[kind].dtype == np.float32
    assert set(arrays.files) == expected_keys
    assert arrays["encoder_ids"].dtype == np.int64
    assert arrays["encoder_tokens"].tolist() == trace.encoder.tokens
    assert arrays["decoder_tokens"].tolist()[1:-1] == list("2026-11-25")
    upper = np.triu(np.ones(arrays["decoder_self"].shape[-2:], dtype=bool), k=1)
    assert np.all(np.isneginf(arrays["decoder_self_scores"][..., upper]))


def test_dump_with_a_target_teacher_forces(tmp_path: Path) -> None:
    out = tmp_path / "forced.npz"
    assert main(["dump", "--text", "sort: owl cat", "--target", "cat owl", "--out", str(out)]) == 0
    assert np.load(out)["decoder_tokens"].tolist() == ["<s>", "cat", "owl", "</s>"]


@pytest.mark.parametrize("architecture, kinds", [("encoder", {"encoder_self"}), ("decoder", {"decoder_self"})])
def test_dump_writes_only_the_kinds_a_model_has(make_checkpoint, tmp_path: Path, architecture: str, kinds: set) -> None:
    out = tmp_path / "x.npz"
    assert main(["dump", "--checkpoint", str(make_checkpoint(architecture)), "--text", "sort: owl", "--out", str(out)]) == 0
    arrays = np.load(out)
    side = "encoder" if architecture == "encoder" else "decoder"
    assert set(arrays.files) == kinds | {f"{k}_scores" for k in kinds} | {f"{side}_ids", f"{side}_tokens"}


@pytest.mark.parametrize(
    "argv, phrase",
    [
        (["dump", "--out", "x.npz"], "--text"),
        (["dump", "--text", "a", "--out", "x.txt"], "must end in .npz"),
        (["dump", "--text", "a", "--out", "/no/such/folder/x.npz"], "does not exist"),
        (["train", "--out", "r", "--steps", "0"], "--steps must be positive"),
        (["frobnicate"], "invalid choice"),
        (["--step", "300"], "--step needs --run"),
        (["--show", "nowhere"], "invalid choice"),
    ],
)
def test_bad_arguments_give_one_line(capsys, argv: list[str], phrase: str) -> None:
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and phrase in err and "Traceback" not in err


def test_train_writes_a_deterministic_run_folder(tmp_path: Path) -> None:
    def run(folder: Path) -> bytes:
        argv = ["train", "--out", str(folder), "--steps", "4", "--checkpoint-every", "2", "--batch-size", "8",
                "--eval-examples", "2", "--threads", "1"]
        assert main(argv) == 0
        return (folder / "final" / "model.safetensors").read_bytes()

    first, second = run(tmp_path / "a"), run(tmp_path / "b")
    assert first == second
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "final", "log.jsonl", "settings.json", "step-000002", "step-000004",
    ]
    records = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert set(records[0]["exact_match"]) == {"date", "number", "reverse", "sort"}
    load_checkpoint(tmp_path / "a" / "step-000002").trace("sort: owl cat")


def test_the_installed_command_runs_headless(tmp_path: Path) -> None:
    out = tmp_path / "x.npz"
    result = subprocess.run(
        [sys.executable, "-m", "explorer.cli", "dump", "--text", "number: forty two", "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert np.load(out)["decoder_tokens"].tolist() == ["<s>", "4", "2", "</s>"]


def test_model_package_never_imports_qt() -> None:
    code = "import sys, model, model.train, model.hf; print(any(m.startswith('PySide6') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr

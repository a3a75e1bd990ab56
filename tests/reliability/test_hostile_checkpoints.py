"""Every hostile checkpoint is refused with one clear line, runs nothing, and costs little.

The corpus (``hostile_checkpoints.py``, listed in ``HOSTILE_CASES.md``) goes through the
Python API, through ``attention-explorer dump`` in this process and as a real command,
and through a fresh interpreter that measures the memory and time of each refusal.
"""

from __future__ import annotations

import json
import os
import pickletools
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.cli import main
from hostile_checkpoints import CASE_NAMES, HF, NATIVE, PAYLOAD_MARKER, SPECS, HostileCase, write_gpt2, write_native
from model import CheckpointError, load_checkpoint
from trace_invariants import check_trace

# What opening one hostile checkpoint may cost at most, stated and checked per case.
MEMORY_BOUND_BYTES = 64 * 1024 * 1024  # peak resident memory above the warmed-up baseline
TIME_BOUND_SECONDS = 5.0
MEASURE_SCRIPT = Path(__file__).resolve().parent / "measure_loading.py"


def test_the_corpus_is_large_and_covers_both_flavours(corpus: dict[str, HostileCase]) -> None:
    assert len(corpus) >= 25
    assert {case.flavour for case in corpus.values()} == {NATIVE, HF}
    assert len({case.location for case in corpus.values()}) == len(corpus)  # one folder per case


def test_hostile_cases_md_lists_every_case() -> None:
    listed = (Path(__file__).resolve().parent / "HOSTILE_CASES.md").read_text(encoding="utf-8")
    missing = [spec.name for spec in SPECS if f"| {spec.name} |" not in listed]
    assert not missing, f"HOSTILE_CASES.md does not list {missing}"


def test_the_originals_load_so_each_case_breaks_one_thing(corpus_root: Path, corpus) -> None:
    native = load_checkpoint(corpus_root / "valid" / "native")
    gpt2 = load_checkpoint(corpus_root / "valid" / "gpt2")
    assert native.trace("sort: owl cat", target="cat owl").kinds == ("encoder_self", "decoder_self", "cross")
    assert gpt2.config.family == "gpt2" and gpt2.trace("sort: owl cat").kinds == ("decoder_self",)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_refused_through_the_api_with_one_sentence(corpus, name: str) -> None:
    case = corpus[name]
    with pytest.raises(CheckpointError) as raised:
        load_checkpoint(case.location)
    message = str(raised.value)
    assert case.phrase in message
    assert message.isprintable() and "Traceback" not in message  # one line, no raw escapes
    assert len(message) <= 600


@pytest.mark.parametrize("name", CASE_NAMES)
def test_refused_through_the_cli_with_one_line(corpus, corpus_root: Path, capsys, name: str) -> None:
    case = corpus[name]
    out = corpus_root / "dumps" / f"{case.location.name}.npz"
    out.parent.mkdir(exist_ok=True)
    code = main(["dump", "--checkpoint", str(case.location), "--text", "sort: owl cat", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("attention-explorer: error: ")
    assert case.phrase in captured.err and "Traceback" not in captured.err
    assert not out.exists()


@pytest.fixture(scope="module")
def flip_target(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A valid native checkpoint whose weight file each example rewrites, and the file's bytes."""
    folder = write_native(tmp_path_factory.mktemp("bit-flips") / "native")
    return folder, (folder / "model.safetensors").read_bytes()


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(fraction=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7), in_header=st.booleans())
def test_any_single_bit_flip_is_refused_or_harmless(flip_target, fraction: float, bit: int, in_header: bool) -> None:
    """A corrupted download: one flipped bit anywhere (the header half the time) either gives a
    one-sentence refusal or a model whose traces are still proper distributions."""
    folder, original = flip_target
    header_end = 8 + int.from_bytes(original[:8], "little")
    start, stop = (0, header_end) if in_header else (header_end, len(original))
    position = start + int(fraction * (stop - start))
    data = bytearray(original)
    data[position] ^= 1 << bit
    (folder / "model.safetensors").write_bytes(bytes(data))
    try:
        model = load_checkpoint(folder)
    except CheckpointError as error:
        assert str(error).isprintable()
        return
    check_trace(model.trace("sort: owl cat fig", target="cat fig owl"), model)


def _pickle_globals(data: bytes) -> list[str]:
    """The callables a plain pickle names (GLOBAL opcodes), read without unpickling."""
    return [str(argument) for opcode, argument, _ in pickletools.genops(data) if opcode.name == "GLOBAL"]


def test_the_payloads_are_live_and_never_run(corpus, corpus_root: Path) -> None:
    marker = corpus_root / PAYLOAD_MARKER
    shell = (corpus["hf: old-format pickle that runs a shell"].location / "pytorch_model.bin").read_bytes()
    assert any(name.endswith("system") for name in _pickle_globals(shell))  # an unrestricted load would run it
    for name in ("hf: pickle that creates a file", "hf: old-format pickle that runs a shell"):
        with pytest.raises(CheckpointError, match="could run code"):
            load_checkpoint(corpus[name].location)
    assert not marker.exists()


def test_the_installed_command_refuses_without_a_traceback(corpus, corpus_root: Path) -> None:
    """The real ``attention-explorer dump`` process, for the cases that would run code or read outside."""
    # The script beside this interpreter first (a virtual environment need not be activated).
    command = shutil.which("attention-explorer", path=str(Path(sys.executable).parent)) or shutil.which(
        "attention-explorer"
    )
    assert command is not None, "the package is not installed (pip install -e .)"
    for name in ("hf: pickle that creates a file", "weights linked to /dev/zero"):
        case = corpus[name]
        out = corpus_root / "real-command.npz"
        result = subprocess.run(
            [command, "dump", "--checkpoint", str(case.location), "--text", "owl", "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and case.phrase in lines[0], result.stderr
        assert not out.exists()
    assert not (corpus_root / PAYLOAD_MARKER).exists()


def test_every_refusal_stays_within_the_memory_and_time_bounds(corpus, corpus_root: Path) -> None:
    """Each case in a child of a warmed-up interpreter (``measure_loading.py``). A valid
    checkpoint of 128 MB of weights is measured beside them: the instrument must see it."""
    control = write_native(corpus_root / "control-128MB", d_model=256, d_ff=16384)
    request = {
        "warm_up": [str(corpus_root / "valid" / "native"), str(corpus_root / "valid" / "gpt2")],
        "cases": {**{name: str(case.location) for name, case in corpus.items()}, "control": str(control)},
    }
    result = subprocess.run(
        [sys.executable, str(MEASURE_SCRIPT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout)["cases"]
    assert measured["control"]["outcome"] == "loaded"
    assert measured["control"]["peak_growth_bytes"] > 128 * 1024 * 1024
    for name, case in corpus.items():
        entry = measured[name]
        assert case.phrase in entry["outcome"], f"{name}: {entry['outcome']}"
        assert entry["seconds"] < TIME_BOUND_SECONDS, f"{name} took {entry['seconds']:.1f} s"
        assert entry["peak_growth_bytes"] < MEMORY_BOUND_BYTES, (
            f"{name} raised peak memory by {entry['peak_growth_bytes'] / 2**20:.0f} MB"
        )
    assert not (corpus_root / PAYLOAD_MARKER).exists()


# ---------------------------------------------------------------- what the link rule still allows


def test_a_linked_folder_is_the_users_choice(tmp_path: Path) -> None:
    real = write_native(tmp_path / "models" / "tiny")
    (tmp_path / "shortcut").symlink_to(real, target_is_directory=True)
    assert load_checkpoint(tmp_path / "shortcut").trace("sort: owl", target="owl").kinds[0] == "encoder_self"


def test_links_that_stay_inside_the_folder_are_followed(tmp_path: Path) -> None:
    folder = write_gpt2(tmp_path / "gpt2")
    (folder / "files").mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (folder / name).rename(folder / "files" / name)
        (folder / name).symlink_to(Path("files") / name)
    assert load_checkpoint(folder).config.family == "gpt2"


def test_a_hub_cache_snapshot_may_link_into_its_blobs(tmp_path: Path, monkeypatch) -> None:
    """The hub library's layout: snapshots/<commit>/<file> -> ../../blobs/<hash>."""
    source = write_gpt2(tmp_path / "download")
    repo = tmp_path / "hub" / "models--org--tiny-gpt2"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for index, name in enumerate(("config.json", "model.safetensors", "tokenizer.json")):
        shutil.copyfile(source / name, repo / "blobs" / f"blob{index}")
        (snapshot / name).symlink_to(Path("..") / ".." / "blobs" / f"blob{index}")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert load_checkpoint("org/tiny-gpt2").name == "org/tiny-gpt2"
    assert load_checkpoint(snapshot).config.family == "gpt2"

    # A blob link that leaves the repository folder is refused all the same.
    (tmp_path / "elsewhere.json").write_bytes((snapshot / "tokenizer.json").read_bytes())
    (snapshot / "tokenizer.json").unlink()
    (snapshot / "tokenizer.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(CheckpointError, match="outside the checkpoint folder"):
        load_checkpoint("org/tiny-gpt2")

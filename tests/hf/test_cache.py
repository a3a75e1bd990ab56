"""The local Hugging Face cache: listed and opened by repo id, offline, without the hub library."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.cli import main
from model import CheckpointError, load_checkpoint
from model.hf.cache import cache_folder, find_cached_model, list_cached_models

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OLD_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"


def _cache_entry(cache: Path, repo_id: str, source: Path, commit: str = COMMIT, ref: bool = True) -> Path:
    """The hub library's layout: models--org--name/{refs/main, snapshots/<commit>/…}."""
    repo_folder = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo_folder / "snapshots" / commit
    shutil.copytree(source, snapshot)
    if ref:
        (repo_folder / "refs").mkdir(parents=True, exist_ok=True)
        (repo_folder / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture
def hub_cache(tmp_path, monkeypatch, reference):
    """A cache with two openable models, one unsupported type and one without a tokenizer."""
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    bert_folder, _ = reference("bert")
    t5_folder, _ = reference("t5")
    snapshots = {
        "org/tiny-bert": _cache_entry(cache, "org/tiny-bert", bert_folder),
        "tiny-t5": _cache_entry(cache, "tiny-t5", t5_folder, ref=False),
    }
    # An older snapshot beside the one refs/main names must not be chosen.
    stale = _cache_entry(cache, "org/tiny-bert", t5_folder, commit=OLD_COMMIT, ref=False)
    os.utime(stale, (2e9, 2e9))
    mamba = _cache_entry(cache, "org/mamba", bert_folder)
    values = json.loads((mamba / "config.json").read_text())
    values["model_type"] = "mamba"
    (mamba / "config.json").write_text(json.dumps(values))
    (_cache_entry(cache, "org/no-tokenizer", bert_folder) / "tokenizer.json").unlink()
    return cache, snapshots


def test_cache_folder_follows_the_hub_library_variables(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_folder() == Path.home() / ".cache" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert cache_folder() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    assert cache_folder() == tmp_path / "elsewhere"


def test_cached_models_are_listed_and_found(hub_cache):
    cache, snapshots = hub_cache
    listed = {entry.repo_id: entry for entry in list_cached_models()}
    assert set(listed) == {"org/tiny-bert", "tiny-t5"}
    assert listed["org/tiny-bert"].model_type == "bert" and listed["org/tiny-bert"].folder == snapshots["org/tiny-bert"]
    assert listed["tiny-t5"].model_type == "t5"
    assert find_cached_model("org/tiny-bert") == snapshots["org/tiny-bert"]
    assert find_cached_model("org/absent") is None
    assert find_cached_model("../hub/models--org--tiny-bert") is None


def test_a_cached_repo_id_opens_like_a_folder(hub_cache):
    _, snapshots = hub_cache
    model = load_checkpoint("org/tiny-bert")
    assert model.name == "org/tiny-bert" and model.config.family == "bert"
    direct = load_checkpoint(snapshots["org/tiny-bert"])
    text = "the quick brown fox"
    assert (model.trace(text).attention["encoder_self"].weights == direct.trace(text).attention["encoder_self"].weights).all()
    with pytest.raises(CheckpointError, match="org/absent is neither a checkpoint folder nor a model in the local"):
        load_checkpoint("org/absent")


def test_models_command_lists_the_cache(hub_cache, capsys):
    cache, snapshots = hub_cache
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [
        f"org/tiny-bert\tbert\t{snapshots['org/tiny-bert']}",
        f"tiny-t5\tt5\t{snapshots['tiny-t5']}",
    ]


def test_opening_from_the_cache_imports_neither_the_hub_library_nor_transformers(hub_cache):
    cache, _ = hub_cache
    script = (
        "import sys, model\n"
        "m = model.load_checkpoint('org/tiny-bert')\n"
        "m.trace('fox')\n"
        "from model.hf.cache import list_cached_models\n"
        "assert len(list_cached_models()) == 2\n"
        "print(sorted(name for name in ('huggingface_hub', 'transformers') if name in sys.modules))\n"
    )
    environment = dict(os.environ, HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="0")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from model import save_checkpoint
from tiny_models import task_tokenizer, tiny_config, tiny_network


@pytest.fixture
def make_checkpoint(tmp_path: Path):
    """Write a tiny native checkpoint and return its folder."""

    def make(architecture: str = "encoder-decoder", name: str | None = None, seed: int = 0, **overrides) -> Path:
        config = tiny_config(architecture, **overrides)
        folder = tmp_path / (name or f"{architecture}-{seed}")
        save_checkpoint(folder, tiny_network(config, seed), task_tokenizer(config.max_positions), name=folder.name)
        return folder

    return make


def _tiny_checkpoint(folder: Path, architecture: str, name: str, seed: int) -> Path:
    config = tiny_config(architecture, n_heads=2, max_positions=32, lm_head=architecture != "encoder")
    return save_checkpoint(folder, tiny_network(config, seed), task_tokenizer(config.max_positions), name=name)


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Tiny native checkpoints of every architecture, plus a broken one."""
    root = tmp_path_factory.mktemp("checkpoints")
    found = {
        architecture: _tiny_checkpoint(root / architecture, architecture, f"tiny {architecture}", seed)
        for seed, architecture in enumerate(("encoder-decoder", "encoder", "decoder"))
    }
    broken = root / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{ this is not json", encoding="utf-8")
    found["broken"] = broken
    return found

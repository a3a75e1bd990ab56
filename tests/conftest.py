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

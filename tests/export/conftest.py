"""Fixtures for the export tests: one tiny encoder–decoder checkpoint and its trace, offscreen Qt."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

from pathlib import Path

import pytest

from model import Trace, load_checkpoint, save_checkpoint
from tiny_models import task_tokenizer, tiny_config, tiny_network

SOURCE_TEXT = "date: wednesday, 25 november 2026"
TARGET_TEXT = "2026-11"  # 9 decoder tokens against 12 encoder tokens: rows and columns differ


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny seeded encoder–decoder: 2 layers, 4 heads, the bundled model's tokenizer."""
    config = tiny_config("encoder-decoder")
    folder = tmp_path_factory.mktemp("checkpoint") / "tiny-encoder-decoder"
    save_checkpoint(folder, tiny_network(config, seed=3), task_tokenizer(config.max_positions), name="tiny test model")
    return folder


@pytest.fixture(scope="session")
def trace(checkpoint: Path) -> Trace:
    """The tiny model's trace of a date, teacher-forced so its length does not depend on generation."""
    return load_checkpoint(checkpoint).trace(SOURCE_TEXT, target=TARGET_TEXT)


@pytest.fixture
def input_arguments() -> list[str]:
    """The command-line options that give the ``trace`` fixture's input."""
    return ["--text", SOURCE_TEXT, "--target", TARGET_TEXT]


@pytest.fixture(autouse=True)
def _application(qapp):
    """Every export test runs with the suite's QApplication, as the desktop app would."""
    return qapp

"""Fixtures for the reliability tests: the hostile-checkpoint corpus and tiny models of each kind."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

from pathlib import Path

import pytest
import torch

from hostile_checkpoints import HostileCase, build_corpus


@pytest.fixture(scope="session")
def corpus_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="session")
def corpus(corpus_root: Path) -> dict[str, HostileCase]:
    """Every hostile case, keyed by name, built once per session."""
    return build_corpus(corpus_root)


@pytest.fixture(scope="package", autouse=True)
def _one_thread():
    """Tiny models on a shared machine: a second intra-op thread only adds waiting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

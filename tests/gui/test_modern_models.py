"""Llama-era checkpoints in the window: they open from a Hugging Face folder and show their structure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")
from hf_reference import build_reference, train_tokenizers  # noqa: E402

TEXT = "the quick brown fox jumps over the lazy dog"


@pytest.fixture(scope="module")
def mistral_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mistral") / "mistral"
    build_reference("mistral", folder, train_tokenizers())
    return folder


def test_a_windowed_grouped_query_decoder_opens_and_names_its_structure(drive, window, mistral_folder) -> None:
    drive.load(window, mistral_folder, text=TEXT, target=None)
    assert window.model.architecture == "decoder" and window.model.heads == {"decoder_self": 4}
    window.select(kind="decoder_self", layer=2, head=1)
    view = window.head_detail.shown
    assert "layer 2 (window 4)" in view.title and "head 1 · shares keys with heads 0–1 (KV 0)" in view.title
    maps = window.painted.trace.attention["decoder_self"]
    last = maps.weights.shape[2] - 1
    # Keys outside the 4-token window carry no weight in what the panel shows.
    assert np.all(view.weights[last, : last - 3] == 0) and np.all(view.weights[last, last - 3 :] > 0)
    # Drawn: the keys the window cut off are empty (nan), the causal future stays 0.
    shown = view.matrix
    assert np.isnan(shown[last, : last - 3]).all() and not np.isnan(shown[last, last - 3 :]).any()
    assert not np.isnan(shown[0, 1:]).any() and (shown[0, 1:] == 0).all()
    grid = window.grid.layout_
    assert grid.group_titles[:2] == ("KV 0", "KV 1") and grid.row_labels[0] == "L0 local 4"

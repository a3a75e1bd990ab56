"""Grouped-query and sliding-window structure reaches what the explorer shows: trace, titles, head table."""

from __future__ import annotations

import numpy as np
from hf_reference import TEXTS

from explorer.analysis.head_stats import table_csv, trace_head_statistics
from explorer.core.state import ExplorerState
from model import load_checkpoint


def test_the_trace_says_which_key_head_each_query_head_reads(reference) -> None:
    gqa = load_checkpoint(reference("llama")[0]).trace(TEXTS["short"]).attention["decoder_self"]
    assert gqa.kv_heads.tolist() == [0, 0, 1, 1] and gqa.windows is None
    assert gqa.kv_group(3) == [2, 3] and gqa.kv_head(3) == 1
    mqa = load_checkpoint(reference("llama-mqa-linear")[0]).trace(TEXTS["short"]).attention["decoder_self"]
    assert mqa.kv_heads.tolist() == [0, 0, 0, 0]
    mha = load_checkpoint(reference("llama-mha-llama3")[0]).trace(TEXTS["short"]).attention["decoder_self"]
    assert mha.kv_heads is None and mha.kv_group(2) == [2] and mha.kv_head(2) == 2


def test_titles_name_the_shared_keys_and_the_window(reference) -> None:
    state = ExplorerState()
    state.set_trace(load_checkpoint(reference("mistral")[0]).trace(TEXTS["long"]))
    state.select(kind="decoder_self", layer=1, head=3)
    assert state.title() == "decoder self-attention · layer 1 (window 4) · head 3 · shares keys with heads 2–3 (KV 1)"
    state.select(head=None)
    assert state.title() == "decoder self-attention · layer 1 (window 4) · mean over heads"
    state.set_trace(load_checkpoint(reference("llama-mqa-linear")[0]).trace(TEXTS["short"]))
    state.select(head=0)
    assert state.title().endswith("head 0 · keys shared by every head (multi-query)")
    # Gemma 2 alternates windowed and global layers: both are named.
    state.set_trace(load_checkpoint(reference("gemma2")[0]).trace(TEXTS["long"]))
    maps = state.trace.attention["decoder_self"]
    titles = [state.select(layer=layer, head=0) and state.title() for layer in range(maps.n_layers)]
    assert any("(global)" in title for title in titles) and any("(window 3)" in title for title in titles)


def test_the_head_table_has_a_key_value_head_column(reference) -> None:
    trace = load_checkpoint(reference("llama")[0]).trace(TEXTS["short"])
    stats = trace_head_statistics(trace, "decoder_self")
    assert [row.kv_head for row in stats.rows()] == [0, 0, 1, 1] * trace.attention["decoder_self"].n_layers
    lines = table_csv([stats]).splitlines()
    assert lines[0].split(",")[:4] == ["kind", "layer", "head", "kv_head"]
    assert [line.split(",")[3] for line in lines[1:5]] == ["0", "0", "1", "1"]
    plain = trace_head_statistics(load_checkpoint(reference("llama-mha-llama3")[0]).trace(TEXTS["short"]), "decoder_self")
    assert [row.kv_head for row in plain.rows()][:4] == [0, 1, 2, 3]
    assert np.isfinite(stats.values["entropy_bits"]).all()

"""Raw data exports: NPZ as ``dump`` writes it, CSV with one row per kind/layer/head/query/key."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from explorer.cli import main
from explorer.export import CSV_COLUMNS, export_trace_data


def test_npz_holds_the_same_arrays_as_dump(checkpoint, input_arguments, tmp_path):
    common = ["--checkpoint", str(checkpoint), *input_arguments]
    assert main(["dump", *common, "--out", str(tmp_path / "dump.npz")]) == 0
    assert main(["export", *common, "--out", str(tmp_path / "export.npz")]) == 0
    with np.load(tmp_path / "dump.npz") as dumped, np.load(tmp_path / "export.npz") as exported:
        assert sorted(exported.files) == sorted(dumped.files)
        assert "cross_scores" in exported.files and "decoder_tokens" in exported.files
        for key in dumped.files:
            np.testing.assert_array_equal(exported[key], dumped[key], err_msg=key)


def test_npz_round_trips_the_trace(trace, tmp_path):
    export_trace_data(trace, tmp_path / "trace.npz")
    with np.load(tmp_path / "trace.npz") as loaded:
        np.testing.assert_array_equal(loaded["cross"], trace.attention["cross"].weights)
        np.testing.assert_array_equal(loaded["decoder_self_scores"], trace.attention["decoder_self"].scores)
        assert list(loaded["encoder_tokens"]) == trace.encoder.tokens


def test_csv_has_a_row_per_kind_layer_head_query_and_key(trace, tmp_path):
    export_trace_data(trace, tmp_path / "trace.csv")
    with open(tmp_path / "trace.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
        handle.seek(0)
        assert tuple(next(csv.reader(handle))) == CSV_COLUMNS
    for kind, maps in trace.attention.items():
        n_layers, n_heads, n_queries, n_keys = maps.weights.shape
        assert sum(row["kind"] == kind for row in rows) == n_layers * n_heads * n_queries * n_keys
    assert len(rows) == sum(maps.weights.size for maps in trace.attention.values())

    # Spot checks read the arrays independently of how the rows were written.
    by_position = {
        (r["kind"], int(r["layer"]), int(r["head"]), int(r["query_index"]), int(r["key_index"])): r for r in rows
    }
    cross = by_position[("cross", 1, 2, 3, 7)]
    assert (cross["query_token"], cross["key_token"]) == (trace.decoder.tokens[3], trace.encoder.tokens[7])
    assert np.float32(cross["weight"]) == trace.attention["cross"].weights[1, 2, 3, 7]
    assert np.float32(cross["score"]) == trace.attention["cross"].scores[1, 2, 3, 7]
    masked = by_position[("decoder_self", 0, 1, 2, 5)]  # a key after its query: causal mask
    assert masked["score"] == "-inf" and float(masked["weight"]) == 0.0
    special = by_position[("encoder_self", 0, 0, 0, len(trace.encoder) - 1)]
    assert special["key_token"] == "</s>"


def test_unknown_data_extension_names_the_supported_ones(trace, tmp_path):
    with pytest.raises(ValueError, match=r"\.npz, \.csv"):
        export_trace_data(trace, tmp_path / "trace.json")
    assert list(tmp_path.iterdir()) == []

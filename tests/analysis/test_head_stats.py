"""Head statistics, presets and the CSV table, against values worked out by hand."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest

from explorer.analysis import head_stats
from explorer.analysis.head_stats import (
    CSV_COLUMNS,
    PRESETS,
    STATISTICS,
    preset_note,
    step_statistics,
    table_csv,
    table_from_steps,
    table_rows,
    table_steps,
    trace_head_statistics,
)
from explorer.analysis.layer_chain import LayerChain

# Token 0 is special (BOS), token 2 is special after the first position (EOS, a separator).
CAUSAL = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.25, 0.25, 0.5]]
# By hand, each row then the mean over the three queries:
#   entropy   0, 1, 1.5 (= .25·2 + .25·2 + .5·1)      → 2.5 / 3
#   distance  0, .5·1, .25·2 + .25·1                    → 1.25 / 3
#   special   1, .5, .25 + .5 (keys 0 and 2)            → 2.25 / 3
#   separator 0, 0, .5 (key 2)                          → .5 / 3
#   previous  -, .5, .25 (queries 1 and 2 only)         → .75 / 2
#   diagonal  1, .5, .5                                 → 2 / 3
#   max       1, .5, .5                                 → 2 / 3
#   sink      -, .5, .25 (queries 1 and 2 only)         → .75 / 2
#   duplicate and induction: no token repeats           → NaN (no query has an earlier copy)
CAUSAL_EXPECTED = {
    "entropy_bits": 2.5 / 3,
    "mean_distance": 1.25 / 3,
    "special_share": 2.25 / 3,
    "separator_share": 0.5 / 3,
    "previous_share": 0.375,
    "diagonal_share": 2 / 3,
    "max_weight": 2 / 3,
    "sink_share": 0.375,
    "duplicate_share": math.nan,
    "induction_share": math.nan,
}
PREVIOUS = [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
# entropy 0; distance (0 + 1 + 1) / 3; previous (1 + 1) / 2; diagonal (1 + 0 + 0) / 3.
IDENTITY = np.eye(3).tolist()
UNIFORM = [[1 / 3] * 3] * 3  # entropy log2 3, distance (1 + 2/3 + 1) / 3 = 8/9


@pytest.fixture
def decoder_trace(make_trace):
    stack = np.array([[CAUSAL, PREVIOUS], [IDENTITY, UNIFORM]], dtype=np.float32)  # (L=2, H=2, 3, 3)
    return make_trace(decoder_self=stack, decoder_special={0, 2}, architecture="decoder")


def test_statistics_of_a_causal_head_by_hand(decoder_trace) -> None:
    stats = trace_head_statistics(decoder_trace, "decoder_self")
    assert stats.shape == (2, 2)
    for name, expected in CAUSAL_EXPECTED.items():
        assert stats.values[name][0, 0] == pytest.approx(expected, abs=1e-6, nan_ok=True), name


def test_statistics_of_pattern_heads_by_hand(decoder_trace) -> None:
    values = trace_head_statistics(decoder_trace, "decoder_self").values
    assert values["entropy_bits"][0, 1] == pytest.approx(0.0, abs=1e-6)
    assert values["mean_distance"][0, 1] == pytest.approx(2 / 3)
    assert values["previous_share"][0, 1] == pytest.approx(1.0)
    assert values["diagonal_share"][0, 1] == pytest.approx(1 / 3)
    assert values["diagonal_share"][1, 0] == pytest.approx(1.0)
    assert values["mean_distance"][1, 0] == pytest.approx(0.0)
    assert values["entropy_bits"][1, 1] == pytest.approx(math.log2(3), abs=1e-6)
    assert values["mean_distance"][1, 1] == pytest.approx(8 / 9, abs=1e-6)
    assert values["max_weight"][1, 1] == pytest.approx(1 / 3, abs=1e-6)


def test_presets_find_the_heads_with_the_pattern(decoder_trace) -> None:
    stats = trace_head_statistics(decoder_trace, "decoder_self")
    assert [(layer, head) for layer, head, _ in stats.find("previous-token")] == [(0, 1)]
    assert [(layer, head) for layer, head, _ in stats.find("diagonal")] == [(1, 0), (0, 0)]
    assert stats.find("separator") == []
    assert PRESETS["diagonal"].threshold == 0.5


def test_separator_preset_finds_a_head_on_the_end_token(make_trace) -> None:
    # Every query of head 1 puts .75 on the final special token: separator share .75.
    on_end = [[0.25, 0.0, 0.75]] * 3
    stack = np.array([[UNIFORM, on_end]], dtype=np.float32)
    stats = trace_head_statistics(make_trace(encoder_self=stack, encoder_special={0, 2}), "encoder_self")
    assert stats.find("separator") == [(0, 1, pytest.approx(0.75))]
    # The opening special token is not a separator, though it counts as special.
    assert stats.values["special_share"][0, 1] == pytest.approx(1.0)


def test_padding_queries_and_fully_masked_rows_are_not_counted(make_trace) -> None:
    # Query 3 is padding and query 2 of head 0 is fully masked: they must not change the means.
    head = [[0.5, 0.5, 0, 0], [0, 1.0, 0, 0], [0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25]]
    stats = trace_head_statistics(
        make_trace(encoder_self=np.array([[head]], dtype=np.float32), encoder_padding={3}), "encoder_self"
    )
    values = stats.values
    assert values["entropy_bits"][0, 0] == pytest.approx(0.5)  # (1 + 0) / 2
    assert values["diagonal_share"][0, 0] == pytest.approx(0.75)  # (w00 + w11) / 2 = (.5 + 1) / 2
    assert values["max_weight"][0, 0] == pytest.approx(0.75)  # (.5 + 1) / 2
    assert values["previous_share"][0, 0] == pytest.approx(0.0)  # query 1 only: w10 = 0
    assert values["special_share"][0, 0] == pytest.approx(0.0)  # padding key 3 gets no weight from counted rows


def test_cross_attention_has_no_positional_statistics(make_trace) -> None:
    cross = np.array([[[[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]]], dtype=np.float32)  # (1, 1, Q=2, K=3)
    encoder = np.full((1, 1, 3, 3), 1 / 3, dtype=np.float32)
    decoder = np.array([[np.tril(np.ones((2, 2))) / [[1], [2]]]], dtype=np.float32)
    trace = make_trace(encoder_self=encoder, decoder_self=decoder, cross=cross, encoder_special={2})
    stats = trace_head_statistics(trace, "cross")
    assert stats.values["entropy_bits"][0, 0] == pytest.approx(0.5)  # (1 + 0) / 2
    assert stats.values["special_share"][0, 0] == pytest.approx(0.5)  # (0 + 1) / 2
    assert stats.values["max_weight"][0, 0] == pytest.approx(0.75)
    for name in ("mean_distance", "previous_share", "diagonal_share"):
        assert np.isnan(stats.values[name][0, 0])
    assert stats.find("diagonal") == []
    assert "cross-attention" in preset_note("cross", "diagonal")
    assert preset_note("cross", "separator") == ""


def test_table_rows_and_csv(decoder_trace) -> None:
    stats = [trace_head_statistics(decoder_trace, "decoder_self")]
    rows = table_rows(stats)
    assert [(row.layer, row.head) for row in rows] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    parsed = list(csv.reader(io.StringIO(table_csv(stats))))
    assert tuple(parsed[0]) == CSV_COLUMNS
    assert len(parsed) == 5
    first = dict(zip(parsed[0], parsed[1]))
    assert first["kind"] == "decoder_self" and first["layer"] == "0" and first["head"] == "0"
    for name in STATISTICS:
        assert float(first[name] or "nan") == pytest.approx(CAUSAL_EXPECTED[name], abs=1e-6, nan_ok=True)


def test_csv_leaves_statistics_that_do_not_apply_empty(make_trace) -> None:
    cross = np.full((1, 2, 2, 3), 1 / 3, dtype=np.float32)
    trace = make_trace(
        encoder_self=np.full((1, 2, 3, 3), 1 / 3, dtype=np.float32),
        decoder_self=np.full((1, 2, 2, 2), 0.5, dtype=np.float32),
        cross=cross,
    )
    text = table_csv([trace_head_statistics(trace, "cross")])
    row = dict(zip(CSV_COLUMNS, text.splitlines()[1].split(",")))
    assert row["mean_distance"] == row["previous_share"] == row["diagonal_share"] == ""
    assert float(row["entropy_bits"]) == pytest.approx(math.log2(3), abs=1e-6)


def test_decoder_only_model_previous_token_head_is_found(make_checkpoint) -> None:
    """A real tiny decoder-only trace with one head rewritten into the previous-token pattern."""
    from model import load_checkpoint

    trace = load_checkpoint(make_checkpoint("decoder")).trace("reverse: owl cat fig dog ant bee")
    weights = trace.attention["decoder_self"].weights
    n_tokens = weights.shape[-1]
    shifted = np.eye(n_tokens, k=-1, dtype=np.float32)
    shifted[0, 0] = 1.0  # the first token can only look at itself
    weights[1, 2] = shifted
    found = trace_head_statistics(trace, "decoder_self").find("previous-token")
    assert [(layer, head) for layer, head, _ in found] == [(1, 2)]
    assert found[0][2] == pytest.approx(1.0)


def test_float16_traces_give_the_float32_numbers(decoder_trace) -> None:
    """Large traces are stored as float16; the statistics are computed in float32 either way."""
    exact = trace_head_statistics(decoder_trace, "decoder_self").values
    maps = decoder_trace.attention["decoder_self"]
    maps.weights = maps.weights.astype(np.float16)
    rounded = trace_head_statistics(decoder_trace, "decoder_self").values
    for name in STATISTICS:
        np.testing.assert_allclose(rounded[name], exact[name], atol=1e-3, err_msg=name)


def _random_rows(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    weights = rng.random(shape).astype(np.float32)
    return weights / weights.sum(axis=-1, keepdims=True)


def test_the_table_step_by_step_equals_the_whole_table(make_trace, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    trace = make_trace(
        encoder_self=_random_rows(rng, (2, 3, 5, 5)),
        decoder_self=np.tril(_random_rows(rng, (2, 3, 4, 4))),
        cross=_random_rows(rng, (2, 3, 4, 5)),
        encoder_special={0, 4},
        decoder_special={0},
        encoder_padding={3},
    )
    # Two heads of 5 × 5 per step: each layer of the encoder splits into heads 0–1 and 2.
    monkeypatch.setattr(head_stats, "STEP_CELLS", 2 * 25)
    steps = table_steps(trace)
    assert steps[:2] == [("encoder_self", 0, slice(0, 2)), ("encoder_self", 0, slice(2, 3))]
    chain = LayerChain(trace, [lambda _previous, step=step: step_statistics(trace, *step) for step in steps])
    table = table_from_steps(trace, chain.run())
    assert list(table) == list(trace.kinds)
    for kind in trace.kinds:
        whole = trace_head_statistics(trace, kind)
        assert table[kind].counted_queries == whole.counted_queries
        for name in STATISTICS:
            np.testing.assert_allclose(table[kind].values[name], whole.values[name], atol=1e-7, equal_nan=True)


def _whole_matrix_statistics(weights, query_padding, hidden, separator, self_attention, ids=None):
    """The statistics of (H, Q, K) weights from the whole matrices at once, for reference."""
    weights = np.asarray(weights, dtype=np.float64)
    counted = (weights.sum(axis=-1) > 0) & ~query_padding  # (H, Q)

    def mean(values, rows=counted):
        return np.where(rows, values, 0).sum(-1) / rows.sum(-1)

    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(weights > 0, weights * np.log2(weights), 0.0).sum(-1)
    found = {
        "entropy_bits": mean(entropy),
        "special_share": mean(weights @ hidden),
        "separator_share": mean(weights @ separator),
        "max_weight": mean(weights.max(-1)),
    }
    if self_attention:
        q, k = weights.shape[-2:]
        distance = np.abs(np.arange(q)[:, None] - np.arange(k)[None, :])
        found["mean_distance"] = mean((weights * distance).sum(-1))
        found["diagonal_share"] = mean(np.diagonal(weights, 0, -2, -1))
        found["previous_share"] = mean(np.diagonal(weights, -1, -2, -1), counted[:, 1:])
    n_queries = weights.shape[-2]
    later = (np.arange(n_queries) >= 1) if self_attention else np.ones(n_queries, dtype=bool)
    found["sink_share"] = mean(weights[..., 0], counted & later)
    if self_attention and ids is not None:
        # Straight from the definitions, one (query, key) pair at a time.
        duplicate = np.zeros(weights.shape[:-1])
        induction = np.zeros(weights.shape[:-1])
        has_duplicate = np.zeros(n_queries, dtype=bool)
        has_induction = np.zeros(n_queries, dtype=bool)
        for query in range(n_queries):
            for key in range(query):
                if ids[key] == ids[query]:
                    duplicate[..., query] += weights[..., query, key]
                    has_duplicate[query] = True
                if key >= 1 and ids[key - 1] == ids[query]:
                    induction[..., query] += weights[..., query, key]
                    has_induction[query] = True
        found["duplicate_share"] = mean(duplicate, counted & has_duplicate) if has_duplicate.any() else np.full(3, np.nan)
        found["induction_share"] = mean(induction, counted & has_induction) if has_induction.any() else np.full(3, np.nan)
    return found


def test_statistics_from_row_blocks_of_recomputed_weights_equal_the_whole_matrix(make_trace, monkeypatch) -> None:
    from recomputed import recomputed_trace

    rng = np.random.default_rng(11)
    trace = make_trace(
        encoder_self=_random_rows(rng, (2, 3, 9, 9)),
        decoder_self=np.tril(_random_rows(rng, (2, 3, 7, 7))),
        cross=_random_rows(rng, (2, 3, 7, 9)),
        encoder_special={0, 8},
        decoder_special={0},
        encoder_padding={5},
    )
    monkeypatch.setattr(head_stats, "ROW_BLOCK_CELLS", 2 * 3 * 9)  # blocks of two rows
    lazy = recomputed_trace(trace)
    for kind in trace.kinds:
        masks = head_stats._masks(trace, kind)
        blockwise = trace_head_statistics(lazy, kind)
        steps = [step_statistics(lazy, kind, layer, slice(1, 3)) for layer in range(2)]
        for layer in range(2):
            expected = _whole_matrix_statistics(
                trace.attention[kind].weights[layer], masks["query_padding"], masks["key_hidden"].astype(float),
                masks["key_separator"].astype(float), masks["self_attention"], trace.axes(kind)[0].ids,
            )
            for name in STATISTICS:
                want = expected.get(name, np.full(3, np.nan))
                np.testing.assert_allclose(blockwise.values[name][layer], want, atol=1e-6, equal_nan=True)
                np.testing.assert_allclose(steps[layer][name], want[1:3], atol=1e-6, equal_nan=True)
        # Two rows of a layer's heads at a time, never a whole head.
        layers, heads, queries, keys = trace.attention[kind].weights.shape
        assert lazy.attention[kind].weights.largest <= 2 * heads * keys < queries * keys * heads

"""Per-layer summaries, rollout, the widest-path flow bound and the special-token filter,
against values worked out by hand from the definitions."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.analysis import aggregation
from explorer.analysis.layer_chain import LayerChain
from explorer.analysis.aggregation import layer_max, layer_mean, rollout, widest_path_flow
from explorer.core.special import drop_keys, hidden_keys, renormalise_rows

# Layer 0 has two heads whose mean is [[1, 0], [0.5, 0.5]]; layer 1's heads both hold A1.
HEAD_A = [[1.0, 0.0], [1.0, 0.0]]
HEAD_B = [[1.0, 0.0], [0.0, 1.0]]
A1 = [[0.2, 0.8], [1.0, 0.0]]
TWO_LAYERS = np.array([[HEAD_A, HEAD_B], [A1, A1]], dtype=np.float32)  # (L=2, H=2, 2, 2)


def _random_rows(rng: np.random.Generator, shape: tuple[int, ...], causal: bool = False) -> np.ndarray:
    weights = rng.random(shape).astype(np.float32)
    if causal:
        weights = np.tril(weights)
    return weights / weights.sum(axis=-1, keepdims=True)


def test_layer_mean_and_max_over_heads() -> None:
    np.testing.assert_allclose(layer_mean(TWO_LAYERS)[0], [[1.0, 0.0], [0.5, 0.5]])
    np.testing.assert_allclose(layer_max(TWO_LAYERS)[0], [[1.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(layer_mean(TWO_LAYERS)[1], A1)


def test_rollout_by_hand() -> None:
    # A'0 = 0.5 [[1, 0], [.5, .5]] + 0.5 I = [[1, 0], [.25, .75]]
    # A'1 = 0.5 [[.2, .8], [1, 0]] + 0.5 I = [[.6, .4], [.5, .5]]
    # R1 = A'1 · A'0 = [[.6 + .1, .3], [.5 + .125, .375]]
    result = rollout(TWO_LAYERS)
    np.testing.assert_allclose(result[0], [[1.0, 0.0], [0.25, 0.75]], atol=1e-6)
    np.testing.assert_allclose(result[1], [[0.7, 0.3], [0.625, 0.375]], atol=1e-6)


def test_rollout_without_residual_is_the_plain_product() -> None:
    result = rollout(TWO_LAYERS, residual_share=0.0)
    # [[.2, .8], [1, 0]] · [[1, 0], [.5, .5]] = [[.2 + .4, .4], [1, 0]]
    np.testing.assert_allclose(result[1], [[0.6, 0.4], [1.0, 0.0]], atol=1e-6)


@pytest.mark.parametrize("causal", [False, True])
def test_rollout_rows_sum_to_one(causal: bool) -> None:
    rng = np.random.default_rng(7)
    weights = _random_rows(rng, (4, 3, 9, 9), causal)
    weights[2, 1, 4] = 0.0  # a fully masked row in one head
    result = rollout(weights)
    assert result.shape == (4, 9, 9)
    np.testing.assert_allclose(result.sum(axis=-1), 1.0, atol=1e-5)
    assert np.all(result >= 0)
    if causal:
        # Causal attention and the identity are both lower triangular, so is their product.
        assert np.all(np.triu(result, k=1) == 0)


def test_rollout_refuses_cross_attention() -> None:
    with pytest.raises(ValueError, match="self-attention"):
        rollout(np.full((2, 2, 3, 5), 0.2, dtype=np.float32))


def test_widest_path_flow_by_hand() -> None:
    # F1[i, j] = max_k min(A'1[i, k], A'0[k, j]) with A'0, A'1 from test_rollout_by_hand:
    # F1[0, 0] = max(min(.6, 1), min(.4, .25)) = .6;  F1[0, 1] = max(min(.6, 0), min(.4, .75)) = .4
    # F1[1, 0] = max(min(.5, 1), min(.5, .25)) = .5;  F1[1, 1] = max(min(.5, 0), min(.5, .75)) = .5
    result = widest_path_flow(TWO_LAYERS)
    np.testing.assert_allclose(result[0], [[1.0, 0.0], [0.25, 0.75]], atol=1e-6)
    np.testing.assert_allclose(result[1], [[0.6, 0.4], [0.5, 0.5]], atol=1e-6)


def test_widest_path_flow_in_chunks_matches_the_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    weights = _random_rows(rng, (3, 2, 5, 5))
    monkeypatch.setattr(aggregation, "_FLOW_CHUNK_CELLS", 50)  # two query rows per chunk
    result = widest_path_flow(weights)
    mixed = 0.5 * weights.mean(axis=1) + 0.5 * np.eye(5)
    mixed /= mixed.sum(axis=-1, keepdims=True)
    expected = mixed[0]
    for layer in (1, 2):
        expected = np.array(
            [[max(min(mixed[layer][i, k], expected[k, j]) for k in range(5)) for j in range(5)] for i in range(5)]
        )
    np.testing.assert_allclose(result[2], expected, atol=1e-6)


def test_filter_hides_keys_and_renormalises_by_hand() -> None:
    matrix = np.array(
        [
            [0.5, 0.25, 0.25],  # loses 0.5 on key 0: [0, .5, .5]
            [1.0, 0.0, 0.0],  # loses everything: zeros, not NaN
            [0.2, 0.6, 0.2],  # loses 0.2: [0, .75, .25]
        ],
        dtype=np.float32,
    )
    result = drop_keys(matrix, np.array([False, True, True]))
    np.testing.assert_allclose(result, [[0.5, 0.5], [0.0, 0.0], [0.75, 0.25]], atol=1e-7)
    assert not np.isnan(result).any()


def test_filter_works_on_whole_stacks_and_renormalises() -> None:
    rng = np.random.default_rng(0)
    weights = _random_rows(rng, (2, 3, 6, 6), causal=True)
    keep = np.array([False, True, True, True, True, False])
    result = drop_keys(weights, keep)
    assert result.shape == (2, 3, 6, 4)
    np.testing.assert_allclose(result[..., 1, :], weights[..., 1, 1:5] / weights[..., 1, 1:5].sum(axis=-1, keepdims=True))
    totals = result.sum(axis=-1)
    # Row 0 of a causal head sees only key 0, which is hidden: it becomes zeros.
    np.testing.assert_allclose(totals[..., 0], 0.0)
    np.testing.assert_allclose(totals[..., 1:], 1.0, atol=1e-6)


def test_filtered_scores_give_the_filtered_weights_after_softmax() -> None:
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(4, 5)).astype(np.float32)
    weights = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
    keep = np.array([True, False, True, True, False])
    filtered_scores = drop_keys(scores, keep, values="scores")
    np.testing.assert_array_equal(filtered_scores, scores[:, keep])
    softmaxed = np.exp(filtered_scores) / np.exp(filtered_scores).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(softmaxed, drop_keys(weights, keep), atol=1e-6)


def test_filter_refuses_a_mask_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="3 keys but the matrix has 4"):
        drop_keys(np.full((2, 4), 0.25), np.ones(3, dtype=bool))


def test_hidden_keys_are_special_or_padding(make_trace) -> None:
    trace = make_trace(encoder_self=np.full((1, 1, 4, 4), 0.25), encoder_special={0}, encoder_padding={3})
    assert hidden_keys(trace.encoder).tolist() == [True, False, False, True]


def test_renormalise_rows_keeps_zero_rows_zero() -> None:
    np.testing.assert_allclose(renormalise_rows(np.array([[2.0, 2.0], [0.0, 0.0]])), [[0.5, 0.5], [0.0, 0.0]])


def _chained(weights: np.ndarray, method: str) -> np.ndarray:
    """Rollout or flow computed one layer per step, as the aggregation panel asks the worker."""
    step = aggregation.LAYER_STEPS[method]
    chain = LayerChain(method, [lambda previous, layer=layer: step(weights[layer], previous) for layer in range(len(weights))])
    answers = []
    while (compute := chain.next_compute()) is not None:
        answers.append(compute(None))
        # A step answered twice, or another chain's answer, is not taken.
        assert chain.take(answers[-1]) and not chain.take(answers[-1])
    return np.stack(chain.results)


@pytest.mark.parametrize("method, whole", [("rollout", rollout), ("flow", widest_path_flow)])
def test_layer_by_layer_chain_equals_the_whole_computation(method, whole) -> None:
    rng = np.random.default_rng(11)
    weights = _random_rows(rng, (5, 3, 8, 8), causal=True)
    np.testing.assert_array_equal(_chained(weights, method), whole(weights))
    if method == "rollout":
        # The hand-worked two-layer example, through the chain.
        np.testing.assert_allclose(_chained(TWO_LAYERS, method)[1], [[0.7, 0.3], [0.625, 0.375]], atol=1e-6)


def test_flow_is_refused_above_the_token_limit_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    weights = _random_rows(np.random.default_rng(2), (2, 2, 6, 6))
    assert aggregation.flow_refusal(aggregation.FLOW_TOKEN_LIMIT) is None
    monkeypatch.setattr(aggregation, "FLOW_TOKEN_LIMIT", 5)
    refusal = aggregation.flow_refusal(6)
    assert refusal.startswith("Attention flow is limited to 5 tokens and this input has 6")
    with pytest.raises(ValueError, match="limited to 5 tokens"):
        aggregation.aggregate(weights, "flow", 1)
    # The rollout, linear in layers and quadratic per product, has no such limit.
    np.testing.assert_allclose(aggregation.aggregate(weights, "rollout", 1), rollout(weights)[1], atol=1e-6)


def test_each_method_names_itself_in_one_record() -> None:
    rollout_words, mean_words = aggregation.AGGREGATIONS["rollout"], aggregation.AGGREGATIONS["mean"]
    assert rollout_words.title(0) == "attention rollout (layer 0)"
    assert rollout_words.title(2) == "attention rollout (layers 0–2)"
    assert mean_words.title(2) == "mean over heads (layer 2)"
    assert rollout_words.label == "Attention rollout (layers 0–L)" and mean_words.label == "Mean over heads (layer L)"
    assert set(aggregation.AGGREGATIONS) == set(aggregation.METHODS)


def test_each_dense_aggregate_stops_at_its_cap_with_a_sentence(monkeypatch) -> None:
    assert aggregation.aggregate_refusal("rollout", 2048, 2048) is None
    refusal = aggregation.aggregate_refusal("rollout", 4096, 4096)
    assert "limited to 2,048 tokens" in refusal and "4,096" in refusal
    refusal = aggregation.aggregate_refusal("mean", 8192, 8192)
    assert "head view shows the mean over heads" in refusal
    assert aggregation.aggregate_refusal("max", 64, 64) is None
    monkeypatch.setattr(aggregation, "AGGREGATE_CELL_LIMIT", 4)
    with pytest.raises(ValueError, match="the mean over heads"):
        aggregation.aggregate(np.full((1, 2, 3, 3), 1 / 3, dtype=np.float32), "mean", 0)

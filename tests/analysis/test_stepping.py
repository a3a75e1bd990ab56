"""Step-through generation: the next-token table by hand, the rows of each step, and the
bundled model stepping through a reversal."""

from __future__ import annotations

import math

import numpy as np
import pytest

from explorer.analysis.stepping import StepThrough, axis_prefix, bar_row, next_token_table
from model.trace import TokenAxis


def _label(token_id: int) -> str:
    return f"t{token_id}"


def test_next_token_table_by_hand() -> None:
    # Row 0: logits [0, ln 3, 0] → probabilities [.2, .6, .2]; the next token (id 2) has .2, rank 1
    # (one token preferred, the tie at .2 is not preferred).
    # Row 1: logits [ln 2, 0, ln 7] → [.2, .1, .7]; the next token (id 0) has .2, rank 1.
    logits = np.array([[0.0, math.log(3), 0.0], [math.log(2), 0.0, math.log(7)], [0.0, 0.0, 0.0]])
    table = next_token_table(logits, np.array([5, 2, 0]), _label, k=2)
    np.testing.assert_array_equal(table.top_ids, [[1, 0], [2, 0], [0, 1]])
    np.testing.assert_allclose(table.top_probabilities[:2], [[0.6, 0.2], [0.7, 0.2]])
    assert table.top_tokens[1] == ["t2", "t0"]
    np.testing.assert_allclose(table.next_probability[:2], [0.2, 0.2])
    assert np.isnan(table.next_probability[2])
    assert table.next_rank.tolist() == [1, 1, -1]


def _decoder_stack(n_tokens: int) -> np.ndarray:
    rows = np.tril(np.arange(1, n_tokens + 1, dtype=np.float32)[None, :].repeat(n_tokens, 0))
    rows /= rows.sum(axis=-1, keepdims=True)
    return np.stack([rows, np.eye(n_tokens, dtype=np.float32)])[None]  # (1, H=2, T, T)


def test_steps_show_the_row_of_the_position_before_the_produced_token(make_trace) -> None:
    cross = np.random.default_rng(0).dirichlet(np.ones(3), size=(1, 2, 4)).astype(np.float32)  # (1, 2, 4, 3)
    trace = make_trace(
        encoder_self=np.full((1, 2, 3, 3), 1 / 3, dtype=np.float32),
        decoder_self=_decoder_stack(4),
        cross=cross,
        decoder_ids=[1, 7, 8, 2],
    )
    logits = np.zeros((4, 10))
    logits[np.arange(3), [7, 8, 2]] = 5.0  # the produced tokens are the most probable ones
    steps = StepThrough(trace, next_token_table(logits, trace.decoder.ids, _label, k=3))
    assert steps.n_steps == 3
    step = steps.step(1)  # produces decoder position 2 (id 8) from the row of position 1
    assert (step.query, step.position, step.token_id, step.token, step.rank) == (1, 2, 8, "d8", 0)
    assert step.top[0][:2] == ("t8", 8)
    expected_probability = math.exp(5) / (math.exp(5) + 9)
    assert step.probability == pytest.approx(expected_probability)
    np.testing.assert_array_equal(step.cross_row, cross[:, :, 1, :])
    assert step.self_row.shape == (1, 2, 2)  # keys 0 and 1: what position 1 could see
    np.testing.assert_allclose(step.self_row[0, 0], [1 / 3, 2 / 3])
    with pytest.raises(IndexError, match="steps 0–2"):
        steps.step(3)


def test_decoder_only_steps_start_after_the_prompt(make_trace) -> None:
    trace = make_trace(decoder_self=_decoder_stack(5), architecture="decoder")
    table = next_token_table(np.zeros((5, 4)), np.zeros(5, dtype=np.int64), _label)
    with pytest.raises(ValueError, match="prompt length"):
        StepThrough(trace, table)
    steps = StepThrough(trace, table, first_produced=3)
    assert steps.n_steps == 2
    step = steps.step(0)
    assert step.cross_row is None and step.query == 2 and step.self_row.shape == (1, 2, 3)


def test_bundled_model_steps_through_a_reversal() -> None:
    """Each produced word is the model's most probable token, and its row looks at the mirrored source word."""
    from explorer.next_token import step_through
    from model import load_checkpoint

    words = ["owl", "cat", "fig", "dog", "ant"]
    steps = step_through(load_checkpoint(), "reverse: " + " ".join(words), k=3)
    source = steps.trace.encoder.tokens
    assert source == ["reverse", ":", *words, "</s>"]
    produced = [steps.step(index).token for index in range(steps.n_steps)]
    assert produced == [*reversed(words), "</s>"]
    for index, word in enumerate(reversed(words)):
        step = steps.step(index)
        assert step.rank == 0 and step.top[0][0] == word
        assert step.probability == pytest.approx(step.top[0][2])
        last_layer_mean = step.cross_row[-1].mean(axis=0)  # (source tokens,)
        assert source[int(np.argmax(last_layer_mean))] == word
        np.testing.assert_allclose(step.self_row.sum(axis=-1), 1.0, atol=1e-5)


def test_decoder_only_generation_trace_covers_prompt_and_continuation(make_checkpoint) -> None:
    from explorer.next_token import step_through
    from model import load_checkpoint

    model = load_checkpoint(make_checkpoint("decoder"))
    prompt_length = len(model.tokenizer.encode("sort: owl cat").ids)
    steps = step_through(model, "sort: owl cat", max_new_tokens=4)
    assert steps.first_produced == prompt_length
    assert 0 < steps.n_steps <= 4
    assert len(steps.trace.decoder) == prompt_length + steps.n_steps
    # Greedy: every produced token was the most probable one at its step.
    assert all(steps.step(index).rank == 0 for index in range(steps.n_steps))


def _keys(tokens: list[str], special: list[bool]) -> TokenAxis:
    n = len(tokens)
    return TokenAxis(np.arange(n), tokens, np.array(special), np.zeros(n, dtype=bool))


def test_bar_row_hides_special_keys_and_renormalises_each_head_before_the_mean() -> None:
    rows = np.array([[[0.2, 0.3, 0.5], [0.5, 0.25, 0.25]]], dtype=np.float32)  # (L=1, H=2, K=3)
    keys = _keys(["a", "b", "</s>"], [False, False, True])
    row = bar_row(rows, keys, layer=0, head=None)
    np.testing.assert_allclose(row.values, [0.35, 0.275, 0.375], atol=1e-7)
    assert row.keys.tokens == ["a", "b", "</s>"] and not row.filtered
    # Head 0 over a, b: .2/.5, .3/.5; head 1: .5/.75, .25/.75; then the mean of the two.
    row = bar_row(rows, keys, layer=0, head=None, hide_special=True)
    np.testing.assert_allclose(row.values, [(0.4 + 2 / 3) / 2, (0.6 + 1 / 3) / 2], atol=1e-6)
    assert row.keys.tokens == ["a", "b"] and row.filtered and row.head is None
    row = bar_row(rows, keys, layer=5, head=7, hide_special=True)  # clamped to layer 0, head 1
    assert (row.layer, row.head) == (0, 1)
    np.testing.assert_allclose(row.values, [2 / 3, 1 / 3], atol=1e-6)
    # Only special keys (the start token alone, say): shown unfiltered rather than empty.
    start = bar_row(rows[:, :, :1], _keys(["<s>"], [True]), 0, 0, hide_special=True)
    assert start.values.tolist() == pytest.approx([0.2]) and not start.filtered


def test_axis_prefix_keeps_the_first_tokens() -> None:
    prefix = axis_prefix(_keys(["<s>", "a", "b"], [True, False, False]), 2)
    assert prefix.tokens == ["<s>", "a"] and prefix.special.tolist() == [True, False] and len(prefix.ids) == 2

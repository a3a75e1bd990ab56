"""Typing into an encoder–decoder: the previous keystroke's generated ids as a draft.

A reuse trace checks the draft with its own traced pass (``model.generation.check_draft``)
and runs greedy steps only from where the draft parts. Whatever happens, the trace must
be the one a fresh trace of the same text gives: the same generated ids and the same
attention, value norms and hidden states.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import model.generation as generation
import model.inference as inference
from model import AttentionModel, load_checkpoint
from model.generation import check_draft
from model.progress import TraceCancelled
from tiny_models import task_tokenizer, tiny_config, tiny_network

EXAMPLE = "date: wednesday, 25 november 2026"
# (previous text, text, whether the previous generated ids are the text's too), found by
# tracing: the bundled model's from typing the example, the tiny seeded model's (whose
# output never reaches EOS, so it stops at max_new_tokens) from its task texts.
BUNDLED_EDITS = [
    ("date: wedne", "date: wednes", True),
    (EXAMPLE, EXAMPLE + "x", True),
    ("date: wednesda", "date: wednesday", False),  # parts at its first token
    ("date: wednesday, 25 nov", "date: wednesday, 25 nove", False),  # parts in the middle
]
TINY_EDITS = [
    ("reverse: owl cat fig", "reverse: owl cat fig ant", True),
    ("sort: owl", "number: 12", False),
]
TINY_NEW_TOKENS = 20


@pytest.fixture(scope="module")
def bundled() -> AttentionModel:
    return load_checkpoint()


def tiny_model() -> AttentionModel:
    config = tiny_config("encoder-decoder")
    return AttentionModel(tiny_network(config, seed=3), task_tokenizer(config.max_positions), name="tiny")


@pytest.fixture
def steps(monkeypatch) -> list[int]:
    """The decoder length at every cached greedy step run while the test runs."""
    calls: list[int] = []
    original = generation._CachedDecoder.__call__

    def counted(self, ids: torch.Tensor) -> torch.Tensor:
        calls.append(ids.size(1))
        return original(self, ids)

    monkeypatch.setattr(generation._CachedDecoder, "__call__", counted)
    return calls


def assert_same_trace(reused, fresh, atol: float = 1e-6) -> None:
    assert reused.generated and fresh.generated
    assert reused.encoder.ids.tolist() == fresh.encoder.ids.tolist()
    assert reused.decoder.ids.tolist() == fresh.decoder.ids.tolist()
    assert reused.kinds == fresh.kinds
    for kind in fresh.kinds:
        a, b = reused.attention[kind], fresh.attention[kind]
        for name in ("weights", "scores"):
            np.testing.assert_allclose(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)), rtol=0, atol=atol)
        for name in ("overview", "overview_means", "value_norms", "value_gram"):
            x, y = getattr(a, name), getattr(b, name)
            assert (x is None) == (y is None), (kind, name)
            if y is not None:
                np.testing.assert_allclose(x, y, rtol=0, atol=atol)
    for name in ("decoder_hidden", "decoder_residuals"):
        x, y = getattr(reused, name), getattr(fresh, name)
        assert (x is None) == (y is None), name
        if y is not None:
            np.testing.assert_allclose(x, y, rtol=0, atol=10 * atol)


def _edits(which: str):
    if which == "bundled":
        return [("bundled", *edit, inference.DEFAULT_MAX_NEW_TOKENS) for edit in BUNDLED_EDITS]
    return [("tiny", *edit, TINY_NEW_TOKENS) for edit in TINY_EDITS]


@pytest.mark.parametrize(("which", "previous", "text", "holds", "max_new_tokens"), _edits("bundled") + _edits("tiny"))
def test_a_reuse_trace_after_an_edit_is_the_fresh_trace_whether_the_draft_holds_or_parts(
    request, steps, which, previous, text, holds, max_new_tokens
) -> None:
    model = request.getfixturevalue("bundled") if which == "bundled" else tiny_model()
    model.trace(previous, max_new_tokens=max_new_tokens, overview_side=8, reuse=True)
    draft = list(model.draft)
    steps.clear()
    reused = model.trace(text, max_new_tokens=max_new_tokens, overview_side=8, reuse=True)
    counted, exposed = len(steps), model.generation_steps
    fresh = model.trace(text, max_new_tokens=max_new_tokens, overview_side=8)
    assert_same_trace(reused, fresh)
    assert (reused.decoder.ids.tolist() == draft) == holds
    assert exposed == counted  # the counter the model exposes is the steps that ran
    if holds:
        assert counted == 0
    else:
        assert 0 < counted < len(fresh.decoder) - 1  # the tokens the draft got right were not generated again
        parted = next(i for i, (a, b) in enumerate(zip(draft, fresh.decoder.ids.tolist())) if a != b)
        assert steps[0] == parted + 1  # the first step continues after the corrected token


def test_a_draft_that_holds_costs_one_traced_forward_and_no_generation_step(bundled, steps, monkeypatch) -> None:
    bundled.trace(EXAMPLE, reuse=True)
    network = bundled.network
    calls = {"encode": 0, "decode": 0}
    for name in calls:
        original = getattr(network, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(network, name, counted)
    steps.clear()
    for text in (EXAMPLE + "x", EXAMPLE, EXAMPLE + "x"):  # typing a letter and taking it back
        trace = bundled.trace(text, reuse=True)
        assert trace.decoder.ids.tolist()[-1] == bundled.config.eos_token_id
    assert steps == []
    assert bundled.generation_steps == 0
    assert calls == {"encode": 3, "decode": 3}
    bundled.trace(EXAMPLE)  # without reuse: the draft is neither used nor kept
    assert bundled.draft is None
    assert bundled.generation_steps == len(steps) > 0


def _crafted(ids: list[int], eos: int) -> dict[str, tuple[list[int], int]]:
    """Drafts for greedy output ``ids`` (ending in EOS), with the steps each leaves to generate."""
    n = len(ids)
    wrong = 3 if ids[1] != 3 else 4
    return {
        "parts at the first token": ([ids[0], wrong, *ids[2:]], n - 2),
        "parts in the middle": ([*ids[: n // 2], wrong, *ids[n // 2 + 1 :]], n - n // 2 - 1),
        "stops short": (ids[:-2], 1),
        "runs past EOS": ([*ids, 5, 6], 0),
        "EOS too early": ([*ids[:2], eos], n - 3),
    }


@pytest.mark.parametrize("case", ["parts at the first token", "parts in the middle", "stops short", "runs past EOS", "EOS too early"])
def test_a_crafted_draft_gives_the_fresh_trace_with_only_the_missing_steps_generated(bundled, steps, case) -> None:
    fresh = bundled.trace(EXAMPLE)
    ids = fresh.decoder.ids.tolist()
    draft, expected_steps = _crafted(ids, bundled.config.eos_token_id)[case]
    bundled.draft = tuple(draft)
    steps.clear()
    reused = bundled.trace(EXAMPLE, reuse=True)
    assert_same_trace(reused, fresh)
    assert len(steps) == bundled.generation_steps == expected_steps


@pytest.mark.parametrize("max_new_tokens", [0, 1, 4])
def test_a_draft_longer_than_max_new_tokens_is_cut_where_greedy_decoding_stops(bundled, steps, max_new_tokens) -> None:
    bundled.trace(EXAMPLE, reuse=True)  # a draft of 11 generated tokens
    steps.clear()
    reused = bundled.trace(EXAMPLE + "x", max_new_tokens=max_new_tokens, reuse=True)
    assert steps == []
    assert len(reused.decoder) == 1 + max_new_tokens
    assert_same_trace(reused, bundled.trace(EXAMPLE + "x", max_new_tokens=max_new_tokens))


def test_the_tiny_models_draft_stops_at_max_positions_as_greedy_decoding_does(steps) -> None:
    model = tiny_model()
    limit = model.config.max_positions
    model.trace("reverse: owl cat fig", max_new_tokens=500, reuse=True)
    assert len(model.draft) == limit
    steps.clear()
    reused = model.trace("reverse: owl cat fig ant", max_new_tokens=500, reuse=True)
    assert steps == [] and len(reused.decoder) == limit
    assert_same_trace(reused, model.trace("reverse: owl cat fig ant", max_new_tokens=500))


def test_a_near_tie_hands_over_to_plain_greedy_decoding_from_the_start(bundled, steps, monkeypatch) -> None:
    # A margin no gap reaches: the draft's first token is not decided, nor is the first step.
    monkeypatch.setattr(generation, "DRAFT_MARGIN", 1e9)
    monkeypatch.setattr(inference, "DRAFT_MARGIN", 1e9)
    bundled.trace(EXAMPLE, reuse=True)
    steps.clear()
    reused = bundled.trace(EXAMPLE + "x", reuse=True)
    ran = list(steps)
    fresh = bundled.trace(EXAMPLE + "x")
    assert_same_trace(reused, fresh)
    n = len(fresh.decoder)
    assert ran == [1] + list(range(1, n))  # one undecided step, then plain greedy decoding: one token a step
    assert bundled.generation_steps == n - 1  # the fresh trace's own


def test_check_draft_accepts_a_token_only_where_its_logit_clearly_wins() -> None:
    network = tiny_network(tiny_config("encoder-decoder", vocab_size=8, max_positions=6))
    eos = network.config.eos_token_id
    logits = torch.zeros(4, 8)
    logits[0, 5] = 10.0  # position 0 chooses 5: the draft's next token
    logits[1, 6], logits[1, 7] = 10.0, 10.0 - 1e-4  # a near-tie: 6 is not decided
    logits[2, eos] = 10.0
    check = check_draft(network, [1, 5, 6, eos], logits, 1, 10)
    assert (check.ids, check.finished, check.confirmed) == ([1, 5], False, False)
    logits[1, 7] = 9.0  # now 6 wins clearly, and EOS after it ends the draft
    check = check_draft(network, [1, 5, 6, eos], logits, 1, 10)
    assert (check.ids, check.finished, check.confirmed) == ([1, 5, 6, eos], True, True)
    check = check_draft(network, [1, 5, 4, eos], logits, 1, 10)  # parts at position 1: 6 corrects it
    assert (check.ids, check.finished, check.confirmed) == ([1, 5, 6], False, False)
    check = check_draft(network, [1, 5, 6, eos], logits, 1, 2)  # max_new_tokens stops it first
    assert (check.ids, check.finished, check.confirmed) == ([1, 5, 6], True, False)
    logits[2] = 0.0
    logits[2, 3] = 10.0
    check = check_draft(network, [1, 5, 6, 3], logits, 1, 10)
    assert (check.ids, check.finished) == ([1, 5, 6, 3], False)  # past the draft: greedy continues
    with pytest.raises(ValueError):
        check_draft(network, [1, 5], logits, 1, 10)


def test_recomputed_typing_gives_the_fresh_traces_tokens_and_attention(steps) -> None:
    model = tiny_model()
    for previous, text, holds in TINY_EDITS:
        model.trace(previous, max_new_tokens=TINY_NEW_TOKENS, storage="recomputed", reuse=True)
        steps.clear()
        reused = model.trace(text, max_new_tokens=TINY_NEW_TOKENS, storage="recomputed", reuse=True)
        assert (len(steps) == 0) == holds
        fresh = model.trace(text, max_new_tokens=TINY_NEW_TOKENS, storage="recomputed")
        # model.incremental continues the decoder from the rows it keeps: exact to rounding.
        assert_same_trace(reused, fresh, atol=1e-5)


def test_a_trace_cancelled_after_a_parted_drafts_pass_leaves_no_unconfirmed_generation(steps) -> None:
    model = tiny_model()
    previous, text, _ = TINY_EDITS[1]
    model.trace(previous, max_new_tokens=TINY_NEW_TOKENS, storage="recomputed", reuse=True)
    decoder_layers = []

    def cancel_in_the_second_decoder_pass(stack: str, layer: int, n_layers: int) -> None:
        if stack == "decoder":
            decoder_layers.append(layer)
            if len(decoder_layers) > n_layers:
                raise TraceCancelled()

    with pytest.raises(TraceCancelled):
        model.trace(text, max_new_tokens=TINY_NEW_TOKENS, storage="recomputed", reuse=True,
                    progress=cancel_in_the_second_decoder_pass)
    # The kept state holds the draft's pass over the new source, not as its generation.
    assert not model.incremental.previous.generated
    reused = model.trace(text, max_new_tokens=TINY_NEW_TOKENS, storage="recomputed", reuse=True)
    fresh = model.trace(text, max_new_tokens=TINY_NEW_TOKENS, storage="recomputed")
    assert_same_trace(reused, fresh, atol=1e-5)


def test_the_final_pass_after_a_parted_draft_keeps_no_value_gram_of_the_drafts_decoder(bundled, monkeypatch) -> None:
    # A Gram cap (layers · heads² · keys) the 10-token draft's decoder fits under and the
    # 12-token answer's does not: the answer's trace must hold no decoder Gram, as fresh.
    import model.probes as probes

    fresh_ids = bundled.trace(EXAMPLE).decoder.ids.tolist()
    L, H = bundled.config.n_decoder_layers, bundled.config.n_heads
    cap = L * H * H * (len(fresh_ids) - 1)
    monkeypatch.setattr(probes.TraceProbe.__init__, "__defaults__", (cap, probes.RESIDUAL_CAP))
    fresh = bundled.trace(EXAMPLE)
    assert fresh.attention["decoder_self"].value_gram is None
    bundled.draft = tuple(fresh_ids[:-2])
    reused = bundled.trace(EXAMPLE, reuse=True)
    assert bundled.generation_steps == 1
    assert_same_trace(reused, fresh)


def test_a_half_precision_network_generates_every_time(steps) -> None:
    model = tiny_model()
    model.network.to(torch.bfloat16)
    model.trace("reverse: owl cat fig", max_new_tokens=TINY_NEW_TOKENS, reuse=True)
    steps.clear()
    model.trace("reverse: owl cat fig", max_new_tokens=TINY_NEW_TOKENS, reuse=True)
    assert len(steps) == model.generation_steps == TINY_NEW_TOKENS

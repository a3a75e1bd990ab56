"""Typing into a recomputed trace gives exactly the full trace, whatever the edit.

Random edit sequences — typing, deleting, pasting, editing in the middle — on models
with real subword tokenizers (byte-level BPE for GPT-2 and BART, whose merges change
the token before an edit), each incremental trace against a full dense trace of the
same text on a second copy of the model, within 1e-5. The decoder-only models continue
their own input; the encoder–decoder keeps its source and is typed into on the target
side (a changed source recomputes all, which is also exercised).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from recomputed_checks import assert_traces_match

from model import load_checkpoint

WORDS = ["the", " quick", " brown", " fox", "jumps", " over", " lazy", " dog", "s", "ing", ",", " 2026", "e"]


@st.composite
def edits(draw):
    """A start text and a few edits: (kind, position fraction, text)."""
    start = "".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=6)))
    steps = draw(st.lists(st.tuples(
        st.sampled_from(["type", "delete", "paste", "middle"]),
        st.floats(0, 1),
        st.text(alphabet="abcdefgh ,.", min_size=1, max_size=3),
    ), min_size=1, max_size=5))
    return start, steps


def apply(text: str, kind: str, where: float, typed: str) -> str:
    at = round(where * len(text))
    if kind == "type":
        return text + typed
    if kind == "delete":
        return text[:at] + text[at + len(typed):] or typed
    if kind == "paste":
        return text[:at] + " ".join(WORDS[: 3 + len(typed)]) + text[at:]
    middle = len(text) // 2
    return text[:middle] + typed + text[middle + 1:]


@pytest.fixture(scope="module")
def pairs(reference):
    """``pairs(name) -> (model typed into, reference model)``: two copies of one checkpoint."""
    cache = {}

    def get(name: str):
        if name not in cache:
            folder = reference(name)[0]
            cache[name] = (load_checkpoint(folder), load_checkpoint(folder))
        return cache[name]

    return get


def _trace(model, text: str, **options):
    if model.config.architecture == "encoder-decoder":
        return model.trace("the quick brown fox", target=text, overview_side=4, **options)
    return model.trace(text, overview_side=4, **options)


@pytest.mark.parametrize("name", ["gpt2", "mistral", "gemma2", "bart", "t5"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=edits())
@torch.inference_mode()
def test_every_edit_sequence_continues_to_the_full_trace(pairs, name, sequence):
    model, reference = pairs(name)
    text, steps = sequence
    for kind, where, typed in [("type", 1.0, "")] + steps:
        text = apply(text, kind, where, typed)
        typed_trace = _trace(model, text, storage="recomputed", reuse=True)
        assert_traces_match(typed_trace, _trace(reference, text, storage="dense"), side=4, incremental=True)


@torch.inference_mode()
def test_a_merge_that_changes_the_token_before_the_edit_restarts_there(pairs):
    model, reference = pairs("gpt2")
    # This tokenizer spells "attentio" ending in one token and "attention" ending in another.
    before = model.trace("the quick attentio", storage="recomputed", reuse=True)
    after = model.trace("the quick attention", storage="recomputed", reuse=True)
    changed = next(i for i, (a, b) in enumerate(zip(before.decoder.ids, after.decoder.ids)) if a != b)
    assert changed == len(before.decoder) - 1
    assert model.incremental.last_run_tokens == len(after.decoder) - changed
    assert_traces_match(after, reference.trace("the quick attention", storage="dense"), incremental=True)


@torch.inference_mode()
def test_a_new_source_recomputes_the_encoder_decoder_and_an_unchanged_one_reuses_it(pairs):
    model, reference = pairs("bart")
    first = model.trace("the quick brown fox", target="the dog", storage="recomputed", reuse=True)
    same = model.trace("the quick brown fox", target="the dogs", storage="recomputed", reuse=True)
    assert same.attention["encoder_self"] is first.attention["encoder_self"]
    other = model.trace("a lazy dog", target="the dogs", storage="recomputed", reuse=True)
    assert model.incremental.last_run_tokens == len(other.decoder) + len(other.encoder)
    assert_traces_match(other, reference.trace("a lazy dog", target="the dogs", storage="dense"), incremental=True)
    generated = model.trace("a lazy dog", storage="recomputed", reuse=True)
    again = model.trace("a lazy dog", storage="recomputed", reuse=True)
    assert again.decoder.ids.tolist() == generated.decoder.ids.tolist()
    assert_traces_match(again, reference.trace("a lazy dog", storage="dense"), incremental=True)

"""Every family's recomputed trace reads exactly as its dense trace does.

The dense trace is checked against ``transformers`` elsewhere (``test_fidelity``); here
the recomputed one — stored queries, keys, recipes and log-sum-exps — must give the
same weights, scores, tiles, rows and overviews for every family detail: grouped and
multi-query heads, QK-norm, every rope scaling, sliding windows, soft-caps, no-rope
layers, T5's relative bias, ModernBERT's local band. Decoders are also typed into
incrementally.
"""

from __future__ import annotations

import pytest
import torch
from hf_reference import SPEC_NAMES, TEXTS
from recomputed_checks import assert_traces_match

from model import load_checkpoint

# Loading variants (file formats, reduced-precision weights) attend like their base.
FAMILIES = [name for name in SPEC_NAMES if not name.endswith(("-bin", "-sharded", "-fp16", "-bf16"))]


@pytest.fixture(scope="module")
def loaded(reference):
    cache = {}

    def get(name: str):
        if name not in cache:
            cache[name] = load_checkpoint(reference(name)[0])
        return cache[name]

    return get


def _target(model) -> dict:
    return {"target": "the quick brown fox"} if model.config.architecture == "encoder-decoder" else {}


@pytest.mark.parametrize("name", FAMILIES)
@torch.inference_mode()
def test_the_recomputed_trace_reads_as_the_dense_trace(loaded, name):
    model = loaded(name)
    text = TEXTS["long"]
    dense = model.trace(text, storage="dense", **_target(model))
    recomputed = model.trace(text, storage="recomputed", overview_side=8, **_target(model))
    assert_traces_match(recomputed, dense, side=8)


@pytest.mark.parametrize("name", [name for name in FAMILIES if name.split("-")[0] not in ("bert", "roberta", "distilbert", "modernbert")])
@torch.inference_mode()
def test_typing_into_a_decoder_continues_exactly(loaded, name):
    model = loaded(name)
    edits = [TEXTS["medium"], TEXTS["medium"] + " and", TEXTS["medium"] + " andes", TEXTS["long"], "the quick red fox"]
    ran = []
    for text in edits:
        kw = {"target": text} if model.config.architecture == "encoder-decoder" else {}
        source = TEXTS["medium"] if kw else text
        typed = model.trace(source, storage="recomputed", reuse=True, overview_side=4, **kw)
        model.incremental, kept = type(model.incremental)(model.network), model.incremental
        try:
            dense = model.trace(source, storage="dense", **kw)
        finally:
            model.incremental = kept
        assert_traces_match(typed, dense, side=4, incremental=True)
        ran.append(model.incremental.last_run_tokens < len(typed.decoder))
    assert any(ran[1:]), "no edit continued the previous input"

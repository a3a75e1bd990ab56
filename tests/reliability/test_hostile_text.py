"""Whatever text is typed or pasted, a trace comes back whose attention is a proper distribution.

Property-based: hypothesis draws arbitrary Unicode (lone surrogates included) and
mixtures of the pieces that break text handling — empty and whitespace-only input,
control characters and NUL, combining marks, right-to-left and mixed direction, emoji
ZWJ sequences, CJK. Each model of ``text_models.py`` must return a trace in which no
exception escaped, every softmax row sums to 1 over its unmasked keys, masked keys
(only the causal future in a single input) get exactly 0, and every token label renders.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from model import AttentionModel
from text_models import text_models
from trace_invariants import check_trace

PIECES = [
    "",
    " ",
    "   ",
    "\t\t",
    "\n\n",
    "\r\n",
    "\x00",
    "\x07\x08\x7f",
    "\x1b[31mred\x1b[0m",
    "\ud800",  # lone surrogates: not encodable as UTF-8
    "\udfff",
    "e\u0301",
    "\u0301\u0301\u0301",
    "Z\u0351\u0352\u0353\u0354\u0355",
    "\u202eevil\u202c",  # right-to-left override
    "مرحبا بالعالم",
    "שלום world 123",
    "abc \u200f def \u200e",
    "👩\u200d👩\u200d👧\u200d👦",  # emoji ZWJ sequence
    "🏳\ufe0f\u200d🌈",
    "👍🏽",
    "東京都庁",
    "中文字符测试",
    "한국어",
    "\ufeff",
    "\uffff\U0010ffff",
    "date: 25 november 2026",
    "sort: owl cat fig",
    "reverse: a b c",
]
HOSTILE_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=60),  # every code point, surrogates too
    st.lists(st.sampled_from(PIECES), max_size=10).map("".join),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=4)), max_size=8).map("".join),
)
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, AttentionModel]:
    return text_models(tmp_path_factory.mktemp("text-models"))


@pytest.mark.parametrize(
    "name",
    ["bundled encoder-decoder", "tiny encoder", "tiny decoder", "tiny relative encoder-decoder", "hf gpt2"],
)
@PROPERTY
@given(text=HOSTILE_TEXT, second=st.none() | HOSTILE_TEXT)
def test_any_text_gives_a_trace_of_proper_distributions(models, name: str, text: str, second: str | None) -> None:
    """``second`` is the teacher-forced target of an encoder–decoder and the pair of an encoder."""
    model = models[name]
    architecture = model.config.architecture
    if architecture == "encoder-decoder":
        trace = model.trace(text, target=second, max_new_tokens=16)
    elif architecture == "encoder":
        trace = model.trace(text, pair=second)
    else:
        trace = model.trace(text)
    check_trace(trace, model)


def _paste(size: int, seed: int) -> str:
    """``size`` characters drawn from every script and oddity in ``PIECES`` plus words."""
    rng = random.Random(seed)
    pieces = [*PIECES, "the quick brown fox", "0123456789", "lorem ipsum dolor sit amet"]
    parts: list[str] = []
    length = 0
    while length < size:
        part = rng.choice(pieces)
        parts.append(part + " ")
        length += len(part) + 1
    return "".join(parts)[:size]


@pytest.mark.parametrize(
    "name",
    ["bundled encoder-decoder", "tiny encoder", "tiny decoder", "tiny relative encoder-decoder", "hf gpt2"],
)
def test_a_100_kb_paste_is_cut_to_the_model_maximum_with_a_notice(models, name: str) -> None:
    model = models[name]
    paste = _paste(100_000, seed=len(name))
    architecture = model.config.architecture
    if architecture == "encoder-decoder":
        trace = model.trace(paste, target=_paste(100_000, seed=1))
        assert len(trace.encoder) == len(trace.decoder) == model.config.max_positions
        assert any("target was cut" in notice for notice in trace.notices)
    elif architecture == "encoder":
        trace = model.trace(paste, pair=paste)
        assert len(trace.encoder) == model.config.max_positions
    else:
        trace = model.trace(paste)
        assert len(trace.decoder) == model.config.max_positions
    assert any(f"cut to the model's maximum of {model.config.max_positions} tokens" in n for n in trace.notices)
    check_trace(trace, model)


@pytest.mark.parametrize(
    "wanted",
    [
        pytest.param(lambda text: any(0xD800 <= ord(ch) <= 0xDFFF for ch in text), id="lone surrogate"),
        pytest.param(lambda text: "\x00" in text, id="NUL"),
        pytest.param(lambda text: "\u200d" in text, id="zero-width joiner"),
        pytest.param(lambda text: text != "" and text.isspace(), id="whitespace only"),
    ],
)
def test_the_text_strategy_reaches_the_hard_inputs(wanted) -> None:
    """The property is not vacuous: hypothesis can draw each kind of hard input."""
    find(HOSTILE_TEXT, wanted, settings=settings(max_examples=2000, database=None))

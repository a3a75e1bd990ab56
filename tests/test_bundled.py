"""The bundled model learned its tasks, and its cross-attention shows the structure they imply."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from model import bundled_checkpoint, load_checkpoint, tasks
from model.train import exact_match


@pytest.fixture(scope="module")
def bundled():
    return load_checkpoint()


@pytest.mark.parametrize("task", tasks.TASKS)
def test_exact_match_on_fresh_examples(bundled, task: str) -> None:
    assert exact_match(bundled, task, count=200, seed=2026) >= 0.9


def _best_head_share(bundled, task: str, expected_key_positions) -> float:
    """The largest share, over layers and heads, of output tokens whose cross-attention
    argmax is the input position ``expected_key_positions`` says it should be."""
    rng = random.Random(f"structure:{task}")
    hits, total = 0, 0
    for _ in range(60):
        source, target = tasks.sample(task, rng)
        trace = bundled.trace(source, target=target)
        # Decoder query i is the step that produces output token i.
        pairs = expected_key_positions(trace.encoder.tokens, target)
        weights = trace.attention["cross"].weights  # (L, H, Q, K)
        hits = hits + sum((weights[:, :, query].argmax(-1) == key) for query, key in pairs)
        total += len(pairs)
    return float(np.max(hits / total))


def test_reversal_attends_to_the_mirrored_input_position(bundled) -> None:
    def mirrored(source_tokens: list[str], target: str) -> list[tuple[int, int]]:
        n, prefix = len(target.split()), source_tokens.index(":") + 1
        return [(i, prefix + n - 1 - i) for i in range(n)]

    assert _best_head_share(bundled, "reverse", mirrored) >= 0.8


def test_date_year_digits_attend_to_the_input_year(bundled) -> None:
    def year(source_tokens: list[str], target: str) -> list[tuple[int, int]]:
        first = len(source_tokens) - 5  # the year's four digits come last, before </s>
        return [(i, first + i) for i in range(4)]

    assert _best_head_share(bundled, "date", year) >= 0.8


def test_bundled_model_is_the_default_and_small(bundled) -> None:
    folder = Path(bundled.source)
    assert folder == bundled_checkpoint()
    assert sum(path.stat().st_size for path in folder.iterdir()) <= 20 * 1024 * 1024
    assert bundled.config.architecture == "encoder-decoder"

"""Counting a widget's work from the test side, so production widgets keep no counters for tests.

``calls(owner, name)`` replaces one method of one object with a wrapper that records each
call (optionally only those ``when`` accepts) and then calls the original.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable


def calls(owner: Any, name: str, when: Callable[..., bool] | None = None) -> list[tuple]:
    """A list that gets the arguments of every (accepted) call of ``owner.name`` from now on."""
    original = getattr(owner, name)
    seen: list[tuple] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        if when is None or when(*args, **kwargs):
            seen.append(args)
        return original(*args, **kwargs)

    setattr(owner, name, counting)
    return seen


def calls_by_first_argument(owner: Any, name: str) -> Counter:
    """A Counter of the first argument of every call of ``owner.name`` from now on."""
    counts: Counter = Counter()
    original = getattr(owner, name)

    def counting(first: Any, *args: Any, **kwargs: Any) -> Any:
        counts[first] += 1
        return original(first, *args, **kwargs)

    setattr(owner, name, counting)
    return counts

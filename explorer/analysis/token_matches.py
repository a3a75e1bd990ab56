"""Token-match statistics: which (query, key) pairs the duplicate-token and induction scores sum over.

A duplicate-token head looks back at earlier copies of the query's token; an induction
head at the token just after an earlier copy ("… A B … A" → B). Both scores are sums of
weights over such pairs, found here once per sequence from its token ids and summed per
block of query rows, so they work wherever the head statistics do. Numpy only.
"""

from __future__ import annotations

import numpy as np

# Token-match statistics sum over (query, key) pairs of equal tokens; a text that repeats
# one token thousands of times would make millions, so beyond this many they are NaN.
MAX_MATCH_PAIRS = 2**22


def match_pairs(ids: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray] | None]:
    """(queries, keys) of the token-match statistics of one sequence's ``ids``.

    ``"duplicate"``: every (i, j) with j < i and t_j = t_i; ``"induction"``: every (i, j)
    with j < i and t_{j−1} = t_i. None for a kind of pair that exceeds ``MAX_MATCH_PAIRS``.
    """
    ids = np.asarray(ids)
    order = np.argsort(ids, kind="stable")  # positions grouped by token, ascending within a group
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    sizes = np.diff(np.r_[starts, len(ids)])
    if int((sizes * (sizes - 1) // 2).sum()) > MAX_MATCH_PAIRS:
        return {"duplicate": None, "induction": None}
    queries, keys = [], []
    for start, size in zip(starts[sizes > 1], sizes[sizes > 1]):
        positions = order[start : start + size]  # ascending
        later, earlier = np.triu_indices(size, 1)[::-1]  # later > earlier within the group
        queries.append(positions[later])
        keys.append(positions[earlier])
    if not queries:
        empty = np.zeros(0, dtype=np.int64)
        return {"duplicate": (empty, empty), "induction": (empty, empty)}
    query, key = np.concatenate(queries), np.concatenate(keys)  # key < query, same token
    after = key + 1
    induction = after < query
    return {"duplicate": (query, key), "induction": (query[induction], after[induction])}


def pair_sums(block: np.ndarray, start: int, pair: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(``(H, r)`` Σ w over each row's pair keys, ``(r,)`` rows that have a pair) of a block
    of query rows starting at ``start``."""
    n_heads, n_rows, _ = block.shape
    queries, keys = pair
    inside = (queries >= start) & (queries < start + n_rows)
    rows, keys = queries[inside] - start, keys[inside]
    has_pair = np.zeros(n_rows, dtype=bool)
    has_pair[rows] = True
    sums = np.zeros((n_heads, n_rows), dtype=np.float64)
    if len(rows):
        picked = block[:, rows, keys]  # (H, pairs)
        for head in range(n_heads):
            sums[head] = np.bincount(rows, weights=picked[head], minlength=n_rows)
    return sums, has_pair

"""A trace's raw numbers to NPZ (the layout of ``attention-explorer dump``) or CSV.

No Qt here. The CSV is streamed one head at a time, so a long trace never sits in memory
as text; the atomic write still means the file appears complete or not at all.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from model.trace import Trace

from ..core.value_weighted import ValueWeighted, has_value_norms
from .files import write_file

DATA_FORMATS = (".npz", ".csv")
CSV_COLUMNS = ("kind", "layer", "head", "query_index", "query_token", "key_index", "key_token", "weight", "score")


def _number(value: float) -> str:
    # Nine significant digits give back the same float32; -inf (masked) is written as "-inf".
    return f"{value:.9g}"


def csv_rows(trace: Trace, value_weighted: bool = False) -> Iterator[list[list[str]]]:
    """For each kind, layer and head, its rows in ``CSV_COLUMNS`` order (query-major),
    with a ``value_weighted`` column (α·‖f(x)‖) last when asked for."""
    for kind in trace.kinds:
        query_axis, key_axis = trace.axes(kind)
        maps = trace.attention[kind]
        n_layers, n_heads, n_queries, n_keys = maps.weights.shape
        weighted = ValueWeighted(maps) if value_weighted else None
        for layer in range(n_layers):
            for head in range(n_heads):
                weights, scores = maps.weights[layer, head], maps.scores[layer, head]  # (Q, K) each
                norms = weighted[layer, head] if weighted is not None else None
                yield [
                    [
                        kind,
                        str(layer),
                        str(head),
                        str(query),
                        query_axis.tokens[query],
                        str(key),
                        key_axis.tokens[key],
                        _number(float(weights[query, key])),
                        _number(float(scores[query, key])),
                        *([_number(float(norms[query, key]))] if norms is not None else []),
                    ]
                    for query in range(n_queries)
                    for key in range(n_keys)
                ]


def write_csv(trace: Trace, handle: IO[bytes], value_weighted: bool = False) -> None:
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
    try:
        writer = csv.writer(text)
        writer.writerow(CSV_COLUMNS + (("value_weighted",) if value_weighted else ()))
        for block in (csv_rows(trace, True) if value_weighted else csv_rows(trace)):
            writer.writerows(block)
        text.flush()
    finally:
        text.detach()  # the caller owns the binary handle and closes it


def export_trace_data(trace: Trace, path: str | os.PathLike, values: str = "weights") -> Path:
    """Write every attention matrix of ``trace`` to ``path``: ``.npz`` or ``.csv``.

    The NPZ holds ``trace.arrays()``, the same keys and arrays as ``attention-explorer dump``.
    The CSV has one row per kind, layer, head, query and key, with the token strings as
    the tokenizer wrote them. ``values="value-weighted"`` adds α·‖f(x)‖: NPZ arrays
    ``<kind>_value_weighted`` ``(L, H, Q, K)`` and ``<kind>_value_norms`` ``(L, H, K)``,
    a CSV column ``value_weighted``.
    """
    suffix = Path(path).suffix.lower()
    value_weighted = values == "value-weighted"
    if value_weighted and not all(has_value_norms(trace.attention[kind]) for kind in trace.kinds):
        raise ValueError("this trace holds no value-vector norms, so it has no value-weighted attention")
    if suffix == ".npz":
        arrays = trace.arrays()
        if value_weighted:
            for kind in trace.kinds:
                maps = trace.attention[kind]
                arrays[f"{kind}_value_weighted"] = np.stack([ValueWeighted(maps)[layer] for layer in range(maps.n_layers)])
                arrays[f"{kind}_value_norms"] = np.asarray(maps.value_norms, dtype=np.float32)
        return write_file(path, lambda handle: np.savez(handle, **arrays))
    if suffix == ".csv":
        return write_file(path, lambda handle: write_csv(trace, handle, value_weighted))
    raise ValueError(
        f"cannot tell the data format from {Path(path).name!r}; use a name ending in {', '.join(DATA_FORMATS)}"
    )

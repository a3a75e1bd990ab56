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

from .files import write_file

DATA_FORMATS = (".npz", ".csv")
CSV_COLUMNS = ("kind", "layer", "head", "query_index", "query_token", "key_index", "key_token", "weight", "score")


def _number(value: float) -> str:
    # Nine significant digits give back the same float32; -inf (masked) is written as "-inf".
    return f"{value:.9g}"


def csv_rows(trace: Trace) -> Iterator[list[list[str]]]:
    """For each kind, layer and head, its rows in ``CSV_COLUMNS`` order (query-major)."""
    for kind in trace.kinds:
        query_axis, key_axis = trace.axes(kind)
        maps = trace.attention[kind]
        n_layers, n_heads, n_queries, n_keys = maps.weights.shape
        for layer in range(n_layers):
            for head in range(n_heads):
                weights, scores = maps.weights[layer, head], maps.scores[layer, head]  # (Q, K) each
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
                    ]
                    for query in range(n_queries)
                    for key in range(n_keys)
                ]


def write_csv(trace: Trace, handle: IO[bytes]) -> None:
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
    try:
        writer = csv.writer(text)
        writer.writerow(CSV_COLUMNS)
        for block in csv_rows(trace):
            writer.writerows(block)
        text.flush()
    finally:
        text.detach()  # the caller owns the binary handle and closes it


def export_trace_data(trace: Trace, path: str | os.PathLike) -> Path:
    """Write every attention matrix of ``trace`` to ``path``: ``.npz`` or ``.csv``.

    The NPZ holds ``trace.arrays()``, the same keys and arrays as ``attention-explorer dump``.
    The CSV has one row per kind, layer, head, query and key, with the token strings as
    the tokenizer wrote them.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        arrays = trace.arrays()
        return write_file(path, lambda handle: np.savez(handle, **arrays))
    if suffix == ".csv":
        return write_file(path, lambda handle: write_csv(trace, handle))
    raise ValueError(
        f"cannot tell the data format from {Path(path).name!r}; use a name ending in {', '.join(DATA_FORMATS)}"
    )

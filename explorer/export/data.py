"""A trace's raw numbers to NPZ (the layout of ``attention-explorer dump``) or CSV.

No Qt here. The CSV is streamed a block of query rows at a time, so a long trace never
sits in memory as text (nor, when its weights are recomputed, as numbers); the atomic
write still means the file appears complete or not at all.

Both take a selection of layers, heads and query rows (``dump --layers/--heads/--rows``);
a dense file above ``model.trace.DENSE_LIMIT_BYTES`` is refused before anything is
written, with one sentence naming its size and the selection options (``Trace.arrays``).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from model import trace as trace_module
from model.trace import Trace, TraceTooLarge, size_words

from ..core.value_weighted import has_value_norms
from .files import write_file

DATA_FORMATS = (".npz", ".csv")
CSV_COLUMNS = ("kind", "layer", "head", "query_index", "query_token", "key_index", "key_token", "weight", "score")


def _number(value: float) -> str:
    # Nine significant digits give back the same float32; -inf (masked) is written as "-inf".
    return f"{value:.9g}"


# Query rows of one head read at once while a CSV is written.
CSV_BLOCK_ROWS = 64


def _picked(chosen, n: int) -> list[int]:
    """Positions ``chosen`` (None: all) selects on an axis of ``n``."""
    return list(range(n)) if chosen is None else [int(position) for position in chosen]


def csv_rows(trace: Trace, layers=None, heads=None, rows=None, value_weighted: bool = False) -> Iterator[list[list[str]]]:
    """For each kind, layer, head and block of query rows, its lines in ``CSV_COLUMNS`` order
    (query-major), with a ``value_weighted`` column (α·‖f(x)‖) last when asked for."""
    for kind in trace.kinds:
        query_axis, key_axis = trace.axes(kind)
        maps = trace.attention[kind]
        n_layers, n_heads, n_queries, n_keys = maps.weights.shape
        queries = _picked(rows, n_queries)
        for layer in _picked(layers, n_layers):
            for head in _picked(heads, n_heads):
                norms = np.asarray(maps.value_norms[layer, head], dtype=np.float32) if value_weighted else None  # (K,)
                for start in range(0, len(queries), CSV_BLOCK_ROWS):
                    block = np.asarray(queries[start : start + CSV_BLOCK_ROWS], dtype=np.int64)
                    weights = maps.weights[layer, head, block]  # (rows, K)
                    scores = maps.scores[layer, head, block]
                    yield [
                        [
                            kind,
                            str(layer),
                            str(head),
                            str(query),
                            query_axis.tokens[query],
                            str(key),
                            key_axis.tokens[key],
                            _number(float(weights[index, key])),
                            _number(float(scores[index, key])),
                            *([_number(float(weights[index, key] * norms[key]))] if norms is not None else []),
                        ]
                        for index, query in enumerate(block.tolist())
                        for key in range(n_keys)
                    ]


def write_csv(trace: Trace, handle: IO[bytes], layers=None, heads=None, rows=None, value_weighted: bool = False) -> None:
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
    try:
        writer = csv.writer(text)
        writer.writerow(CSV_COLUMNS + (("value_weighted",) if value_weighted else ()))
        for block in csv_rows(trace, layers, heads, rows, value_weighted):
            writer.writerows(block)
        text.flush()
    finally:
        text.detach()  # the caller owns the binary handle and closes it


def export_trace_data(
    trace: Trace, path: str | os.PathLike, values: str = "weights", layers=None, heads=None, rows=None
) -> Path:
    """Write the attention matrices of ``trace`` to ``path``: ``.npz`` or ``.csv``.

    The NPZ holds ``trace.arrays(layers, heads, rows)``, the same keys and arrays as
    ``attention-explorer dump``. The CSV has one row per kind, layer, head, query and key,
    with the token strings as the tokenizer wrote them. ``layers``, ``heads`` and ``rows``
    (query positions) select parts, None meaning all; a selection larger than
    ``DENSE_LIMIT_BYTES`` as dense float32 is refused with ``TraceTooLarge``.
    ``values="value-weighted"`` adds α·‖f(x)‖: NPZ arrays ``<kind>_value_weighted``
    ``(L, H, Q, K)`` and ``<kind>_value_norms`` ``(L, H, K)``, a CSV column ``value_weighted``.
    """
    suffix = Path(path).suffix.lower()
    value_weighted = values == "value-weighted"
    if value_weighted and not all(has_value_norms(trace.attention[kind]) for kind in trace.kinds):
        raise ValueError("this trace holds no value-vector norms, so it has no value-weighted attention")
    if suffix == ".npz":
        arrays = trace.arrays(layers, heads, rows)
        if value_weighted:
            for kind in trace.kinds:
                maps = trace.attention[kind]
                norms = np.asarray(maps.value_norms, dtype=np.float32)  # (L, H, K)
                chosen_layers = _picked(layers, maps.n_layers)
                chosen_heads = _picked(heads, maps.n_heads)
                picked = norms[np.ix_(chosen_layers, chosen_heads)]  # (l, h, K)
                arrays[f"{kind}_value_weighted"] = arrays[kind] * picked[:, :, None, :]
                arrays[f"{kind}_value_norms"] = picked
        return write_file(path, lambda handle: np.savez(handle, **arrays))
    if suffix == ".csv":
        nbytes = trace.dense_nbytes(layers, heads, rows)
        if nbytes > trace_module.DENSE_LIMIT_BYTES:
            raise TraceTooLarge(
                f"A CSV of this trace would hold {size_words(nbytes)} of float32 weights and scores (several times "
                f"that as text), above the {size_words(trace_module.DENSE_LIMIT_BYTES)} limit; select layers, heads "
                "or query rows (dump --layers, --heads, --rows) to write a part."
            )
        return write_file(path, lambda handle: write_csv(trace, handle, layers, heads, rows, value_weighted))
    raise ValueError(
        f"cannot tell the data format from {Path(path).name!r}; use a name ending in {', '.join(DATA_FORMATS)}"
    )

"""The overview grid's thumbnails: every head of a kind max-pooled to at most 96 × 96.

``prepare_thumbnails`` runs on the worker thread right after the forward, so for long
inputs the pooling never runs on the GUI thread; ``ExplorerState`` makes the same arrays
under the same keys when a selection needs ones the worker did not prepare. Numpy only.

Maps that recompute their weights on indexing (long inputs, ``core.head_matrix``) are
never read whole: the forward's own thumbnails (``AttentionMaps.overview``) are used as
they are, and anything else (raw scores, the special-token filter) is pooled per head
from blocks of rows. Re-filtering every head of a very long input would cost as much as
the forward's attention again, so beyond ``FILTERED_GRID_CELLS`` the overview keeps the
special-token columns and its title says so (``filtered_grid_applies``).
"""

from __future__ import annotations

import math

import numpy as np

from model.trace import Trace

from .numeric import THUMBNAIL_SIDE, display_values, max_pool, sharpest_head, spaced_rows, thumbnail
from .head_matrix import ROW_BLOCK_CELLS, HeadMatrix, is_dense, values_of
from .special import drop_keys, kept_keys, mean_over_heads
from .value_weighted import VALUE_WEIGHTED

# Cells (layers · heads · queries · keys) up to which a recomputed trace's overview is
# re-pooled per head for raw scores or the special-token filter (about 1,400 tokens on
# a 12 × 12 model); beyond it the forward's own thumbnails are shown.
FILTERED_GRID_CELLS = 1 << 28
# Query rows per layer a recomputed trace's colour range of raw scores is read from.
LEVEL_ROWS = 64


def layer_thumbnails(raw: np.ndarray, keep: np.ndarray | None = None, values: str = "weights") -> np.ndarray:
    """(L, H, q, k) thumbnails of (L, H, Q, K) values, one layer at a time.

    Layer by layer so a long trace (possibly stored as float16) is never copied whole.
    ``keep`` drops key columns first (see ``core.special.drop_keys``).
    """
    return np.stack(
        [display_values(thumbnail(drop_keys(raw[layer], keep, values))) for layer in range(raw.shape[0])]
    )


def layer_mean_thumbnails(raw: np.ndarray, keep: np.ndarray | None = None, values: str = "weights") -> np.ndarray:
    """(L, q, k) thumbnails of each layer's mean over heads, one layer at a time."""
    return np.stack(
        [
            display_values(thumbnail(mean_over_heads(drop_keys(raw[layer], keep, values))))
            for layer in range(raw.shape[0])
        ]
    )


def _cells(maps) -> int:
    layers, heads, queries, keys = maps.weights.shape
    return layers * heads * queries * keys


def grid_note(maps, keep: np.ndarray | None, values: str = "weights") -> str:
    """'' when the overview shows exactly ``values`` with ``keep``'s filter; else the sentence
    saying what it shows instead (a recomputed trace beyond ``FILTERED_GRID_CELLS``)."""
    plain = keep is None and values == "weights" and maps.overview is not None
    if is_dense(maps) or plain or maps.overview is None or _cells(maps) <= FILTERED_GRID_CELLS:
        return ""
    if values == "scores":
        return "raw scores of every head are not pooled at this length: the head view shows them"
    if values == VALUE_WEIGHTED:
        return "value-weighted attention of every head is not pooled at this length: the head view shows it"
    return "special tokens still shown here at this length: the head view hides them"


def grid_thumbnails(maps, keep: np.ndarray | None = None, values: str = "weights") -> np.ndarray:
    """(L, H, q, k) thumbnails of every head of ``maps``, masked cells nan (see module doc)."""
    if is_dense(maps):
        return layer_thumbnails(values_of(maps, values), keep, values)
    if keep is None and values == "weights" and maps.overview is not None:
        return maps.overview
    if grid_note(maps, keep, values):
        return maps.overview if values == "weights" else np.full(maps.overview.shape, np.nan, dtype=np.float32)
    layers, heads, _queries, _keys = maps.weights.shape
    return np.stack([
        np.stack([_pooled(HeadMatrix(maps, layer, head, keep), values) for head in range(heads)])
        for layer in range(layers)
    ])


def grid_mean_thumbnails(maps, keep: np.ndarray | None = None, values: str = "weights") -> np.ndarray:
    """(L, q, k) thumbnails of each layer's mean over heads (recomputed maps: see module doc)."""
    if values == VALUE_WEIGHTED and not grid_note(maps, keep, values):
        # The layer's column is the norm of its summed heads where the trace gives it (``HeadMatrix``).
        return np.stack([_pooled(HeadMatrix(maps, layer, None, keep), values) for layer in range(maps.n_layers)])
    if is_dense(maps):
        return layer_mean_thumbnails(values_of(maps, values), keep, values)
    if keep is None and values == "weights" and maps.overview_means is not None:
        return maps.overview_means
    if grid_note(maps, keep, values):
        means = maps.overview_means
        return means if values == "weights" else np.full(means.shape, np.nan, dtype=np.float32)
    return np.stack([_pooled(HeadMatrix(maps, layer, None, keep), values) for layer in range(maps.n_layers)])


def _pooled(source: HeadMatrix, values: str, side: int = THUMBNAIL_SIDE) -> np.ndarray:
    """One head's thumbnail from blocks of its rows, pooled exactly as ``numeric.thumbnail``
    pools a dense head (blocks of ``ceil(n / side)`` cells), so both storages agree; where
    the forward pooled an overview, in its blocks instead, so raw scores and filtered
    thumbnails line up with the probabilities' cell for cell."""
    queries, keys = source.shape
    row_step, column_step = max(math.ceil(queries / side), 1), max(math.ceil(keys / side), 1)
    overview = source.maps.overview
    if overview is not None and overview.shape[-2] and overview.shape[-1]:
        row_step = max(math.ceil(queries / overview.shape[-2]), 1)
        column_step = max(math.ceil(source.maps.weights.shape[-1] / overview.shape[-1]), 1)
    heads = source.maps.n_heads if source.head is None else 1
    block_rows = max(ROW_BLOCK_CELLS // max(keys * heads * row_step, 1), 1) * row_step
    pieces = [
        max_pool(source.rows(slice(start, min(start + block_rows, queries)), values), row_step, column_step)
        for start in range(0, queries, block_rows)
    ]
    return display_values(np.concatenate(pieces, axis=0))


def level_blocks(maps, keep: np.ndarray | None = None, values: str = "scores"):
    """The raw scores (or value-weighted norms) a colour range is taken from, one block at a time.

    Dense maps: every layer (hidden columns dropped). Recomputed maps: ``LEVEL_ROWS``
    evenly spaced query rows of every head per layer, so the range costs a few rows'
    recomputation, not the whole trace's (cells beyond it take the end colours).
    """
    raw = values_of(maps, values)
    if is_dense(maps):
        for layer in range(maps.n_layers):  # (H, Q, K): one layer at a time, no full-size copy
            block = raw[layer]
            yield block if keep is None else block[..., keep]
        return
    queries = maps.weights.shape[2]
    rows = spaced_rows(queries, LEVEL_ROWS)
    for layer in range(maps.n_layers):
        for head in range(maps.n_heads):
            block = np.asarray(raw[layer, head, rows], dtype=np.float32)  # (rows, K)
            yield block if keep is None else block[..., keep]


def cache_key(name: str, kind: str, values: str, filtered: bool = False) -> tuple:
    """Key of a derived array in ``ExplorerState``'s cache; filtered arrays get their own."""
    return (name, kind, values, "hide_special") if filtered else (name, kind, values)


def prepare_thumbnails(trace: Trace, hide_special: bool = False, pick_view: bool = False) -> dict[tuple, object]:
    """The grid's probability thumbnails of every kind (and with ``pick_view``, for a newly
    opened model, its sharpest head), for ``ExplorerState.set_trace``.

    A trace taken with ``overview_side=THUMBNAIL_SIDE`` already carries the thumbnails,
    pooled by the forward from its float32 weights; they are used as they are. With
    ``hide_special`` the thumbnails of the filtered view are made here too (under the
    keys ``ExplorerState`` looks them up by), so typing with the filter on never pools
    on the GUI thread.
    """
    prepared: dict[tuple, object] = {}
    for kind in trace.kinds:
        maps = trace.attention[kind]
        weights = maps.weights  # (L, H, Q, K), numbers or recomputed on indexing
        if 0 in weights.shape:  # an input without tokens: nothing will be painted
            continue
        pooled_here = maps.overview is None or max(maps.overview.shape[-2:]) > THUMBNAIL_SIDE
        if pooled_here and is_dense(maps):
            prepared[cache_key("grid", kind, "weights")] = layer_thumbnails(weights)
            prepared[cache_key("means", kind, "weights")] = layer_mean_thumbnails(weights)
        elif pooled_here:
            prepared[cache_key("grid", kind, "weights")] = grid_thumbnails(maps)
            prepared[cache_key("means", kind, "weights")] = grid_mean_thumbnails(maps)
        else:
            prepared[cache_key("grid", kind, "weights")] = maps.overview
            prepared[cache_key("means", kind, "weights")] = maps.overview_means
        if pick_view:
            # Reading 64 rows of every head costs a third of a second at 1,024 tokens:
            # only a newly opened model starts from it.
            prepared[("sharpest", kind)] = sharpest_head(weights)
        keep = kept_keys(trace.axes(kind)[1]) if hide_special else None
        if keep is not None:
            prepared[("kept", kind)] = keep
            prepared[cache_key("grid", kind, "weights", True)] = grid_thumbnails(maps, keep)
            prepared[cache_key("means", kind, "weights", True)] = grid_mean_thumbnails(maps, keep)
    return prepared

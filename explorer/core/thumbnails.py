"""The overview grid's thumbnails: every head of a kind max-pooled to at most 96 × 96.

``prepare_thumbnails`` runs on the worker thread right after the forward, so for long
inputs the pooling never runs on the GUI thread; ``ExplorerState`` makes the same arrays
under the same keys when a selection needs ones the worker did not prepare. Numpy only.
"""

from __future__ import annotations

import numpy as np

from model.trace import Trace

from .numeric import THUMBNAIL_SIDE, display_values, sharpest_head, thumbnail
from .special import drop_keys, kept_keys, mean_over_heads


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
        weights = maps.weights  # (L, H, Q, K)
        if weights.size == 0:  # an input without tokens: nothing will be painted
            continue
        pooled_here = maps.overview is None or max(maps.overview.shape[-2:]) > THUMBNAIL_SIDE
        prepared[cache_key("grid", kind, "weights")] = layer_thumbnails(weights) if pooled_here else maps.overview
        prepared[cache_key("means", kind, "weights")] = layer_mean_thumbnails(weights) if pooled_here else maps.overview_means
        if pick_view:
            # Reading 64 rows of every head costs a third of a second at 1,024 tokens:
            # only a newly opened model starts from it.
            prepared[("sharpest", kind)] = sharpest_head(weights)
        keep = kept_keys(trace.axes(kind)[1]) if hide_special else None
        if keep is not None:
            prepared[("kept", kind)] = keep
            prepared[cache_key("grid", kind, "weights", True)] = layer_thumbnails(weights, keep)
            prepared[cache_key("means", kind, "weights", True)] = layer_mean_thumbnails(weights, keep)
    return prepared

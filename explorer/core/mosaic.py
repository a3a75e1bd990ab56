"""The overview grid as one mosaic image: its layout and its colours through a lookup table.

The whole layer × head grid is drawn as one uint8 RGBA image, so the GUI thread blits one
picture instead of colouring and drawing one image per head. ``MosaicLayout`` says where
each cell sits: rows are layers (each with a label), columns come in groups (the heads,
then the mean column) with a wider gap between groups, so a later grouping of query
heads by the key/value head they share is another list of groups. Values become colours
through a 256-entry table; a masked cell (NaN) gets one neutral colour and the gaps stay
transparent, so the plot's own background shows through. Numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.trace import Trace

from .thumbnails import cache_key

# Space between cells, and the extra space between column groups, as fractions of a cell.
GAP = 0.08
GROUP_GAP = 0.25
MASKED_RGBA = (222, 222, 222, 255)  # cells outside the attention (NaN): the exports' neutral grey
NAN_INDEX, GAP_INDEX = 256, 257
MIN_CELL_PIXELS = 32


@dataclass(frozen=True)
class MosaicColumn:
    """One column of the grid: the head it shows (-1: the mean over heads) and its title."""

    head: int
    title: str


@dataclass(frozen=True)
class MosaicLayout:
    """Where the grid's cells sit, in plot units (a cell is 1 × 1 before its gap)."""

    row_labels: tuple[str, ...]
    column_groups: tuple[tuple[MosaicColumn, ...], ...]
    # A title over each group ("KV 0" for query heads sharing a key/value head), or "".
    group_titles: tuple[str, ...] = ()

    def group_centres(self) -> list[tuple[float, str]]:
        """(x centre, title) of every titled column group."""
        xs, found, start = self.column_x(), [], 0
        for group, title in zip(self.column_groups, self.group_titles):
            if group and title:
                found.append(((xs[start] + xs[start + len(group) - 1] + 1.0) / 2, title))
            start += len(group)
        return found

    @property
    def columns(self) -> list[MosaicColumn]:
        return [column for group in self.column_groups for column in group]

    def column_x(self) -> list[float]:
        """The left edge of each column's unit cell, groups apart by ``GROUP_GAP``."""
        xs, x = [], 0.0
        for index, group in enumerate(self.column_groups):
            if index and group:
                x += GROUP_GAP
            for _column in group:
                xs.append(x)
                x += 1.0
        return xs

    @property
    def width(self) -> float:
        xs = self.column_x()
        return xs[-1] + 1.0 if xs else 0.0

    @property
    def height(self) -> float:
        return float(len(self.row_labels))

    def cell(self, row: int, column: int) -> tuple[float, float, float, float]:
        """(x, y, width, height) of the drawn thumbnail of cell (row, column), gap excluded."""
        x = self.column_x()[column]
        return (x + GAP / 2, row + GAP / 2, 1 - GAP, 1 - GAP)

    def hit(self, x: float, y: float) -> tuple[int, int] | None:
        """(row, column) of the unit cell holding plot point (x, y), or None in a group gap."""
        row = int(np.floor(y))
        if not 0 <= row < len(self.row_labels):
            return None
        for column, left in enumerate(self.column_x()):
            if left <= x < left + 1.0:
                return row, column
        return None


def grid_layout(
    n_layers: int,
    n_heads: int,
    mean_column: bool,
    kv_heads: np.ndarray | None = None,
    windows: tuple[int | None, ...] | None = None,
) -> MosaicLayout:
    """The grid: the heads (one group per key/value head they share, titled "KV n", under
    grouped-query attention), then the mean column as its own group. Under sliding
    windows each layer's label says whether it is local (and its window) or global."""
    if kv_heads is None:
        head_groups = [tuple(range(n_heads))]
        titles = [""]
    else:
        shared = [int(kv_heads[head]) for head in range(n_heads)]
        head_groups = [tuple(h for h in range(n_heads) if shared[h] == kv) for kv in dict.fromkeys(shared)]
        titles = [f"KV {shared[group[0]]}" for group in head_groups]
    groups = [tuple(MosaicColumn(head, f"H{head}") for head in group) for group in head_groups]
    if mean_column:
        groups.append((MosaicColumn(-1, "mean"),))
        titles.append("")
    rows = tuple(_layer_label(layer, windows) for layer in range(n_layers))
    return MosaicLayout(rows, tuple(groups), tuple(titles))


def _layer_label(layer: int, windows: tuple[int | None, ...] | None) -> str:
    if windows is None:
        return f"L{layer}"
    window = windows[layer]
    return f"L{layer} global" if window is None else f"L{layer} local {window:,}"


def colour_table(rgb: np.ndarray) -> np.ndarray:
    """(258, 4) uint8: the map's 256 colours, the masked grey, then a transparent gap."""
    table = np.zeros((258, 4), dtype=np.uint8)
    table[:256, :3] = np.asarray(rgb, dtype=np.uint8)[:256, :3]
    table[:256, 3] = 255
    table[NAN_INDEX] = MASKED_RGBA
    return table


def colour_indices(values: np.ndarray, levels: tuple[float, float]) -> np.ndarray:
    """uint16 rows of the colour table: values scaled into [0, 255] by ``levels``; NaN → masked."""
    low, high = float(levels[0]), float(levels[1])
    scale = 255.0 / (high - low) if high > low else 0.0
    values = np.asarray(values, dtype=np.float32)
    scaled = (values - np.float32(low)) * np.float32(scale)
    masked = np.isnan(scaled)
    scaled[masked] = 0.0
    np.clip(scaled, 0.0, 255.0, out=scaled)
    indices = scaled.astype(np.uint16)
    indices[masked] = NAN_INDEX
    return indices


def mosaic_rgba(
    layout: MosaicLayout,
    cells: dict[tuple[int, int], np.ndarray],
    levels: tuple[float, float],
    table: np.ndarray,
) -> tuple[np.ndarray, float]:
    """The grid as one (rows, columns, 4) uint8 image, and its pixels per plot unit.

    ``cells`` maps (row, column) to that cell's (q, k) values; all share one shape. Each
    thumbnail fills its square cell (nearest neighbour), as a per-head image stretched
    to its cell would. All cells are converted in one pass and the table is read as one
    32-bit word per pixel.
    """
    q, k = next(iter(cells.values())).shape if cells else (1, 1)
    # Short inputs are drawn with several pixels per token, so the gap between cells stays
    # the GAP share of a cell that the outline and the hit test assume.
    side = max(q, k, MIN_CELL_PIXELS)
    unit = max(int(round(side / (1 - GAP))), side + 2)  # pixels per plot unit
    gap = (unit - side) // 2
    width_px = int(round(layout.width * unit))
    height_px = len(layout.row_labels) * unit
    indices = np.full((height_px, width_px), GAP_INDEX, dtype=np.uint16)
    if cells:
        positions = list(cells)
        stacked = np.stack([cells[position] for position in positions])  # (N, q, k)
        if (q, k) != (side, side):
            rows_of, columns_of = np.arange(side) * q // side, np.arange(side) * k // side
            stacked = stacked[:, rows_of][:, :, columns_of]  # (N, side, side)
        coloured = colour_indices(stacked, levels)
        xs = layout.column_x()
        for cell, (row, column) in zip(coloured, positions):
            top, left = row * unit + gap, int(round(xs[column] * unit)) + gap
            indices[top : top + side, left : left + side] = cell
    words = np.ascontiguousarray(table).view(np.uint32).reshape(-1)  # (258,): one RGBA word per entry
    return np.take(words, indices).view(np.uint8).reshape(height_px, width_px, 4), float(unit)


def grid_mosaic(
    thumbnails: np.ndarray,
    means: np.ndarray | None,
    levels: tuple[float, float],
    table: np.ndarray,
    kv_heads: np.ndarray | None = None,
    windows: tuple[int | None, ...] | None = None,
) -> tuple[np.ndarray, float]:
    """The grid's mosaic of (L, H, q, k) thumbnails and optional (L, q, k) means, laid out
    as ``grid_layout`` lays out the panel (heads stay in order, so column h is head h)."""
    n_layers, n_heads = thumbnails.shape[:2]
    layout = grid_layout(n_layers, n_heads, means is not None, kv_heads, windows)
    cells = {(layer, head): thumbnails[layer, head] for layer in range(n_layers) for head in range(n_heads)}
    if means is not None:
        cells.update({(layer, n_heads): means[layer] for layer in range(n_layers)})
    return mosaic_rgba(layout, cells, levels, table)


def mosaic_key(kind: str, values: str, colormap: str, mean_column: bool, filtered: bool = False) -> tuple:
    """Key of a prepared mosaic in ``ExplorerState``'s cache (next to the thumbnails it shows)."""
    return (*cache_key("mosaic", kind, values, filtered), colormap, mean_column)


def prepare_mosaics(
    trace: Trace,
    prepared: dict[tuple, object],
    hide_special: bool,
    colormap: str,
    mean_column: bool,
    table: np.ndarray,
) -> dict[tuple, object]:
    """The probability mosaics of every kind from the thumbnails ``prepare_thumbnails`` made.

    Runs on the worker after the forward, so the GUI thread shows a coloured picture. The
    thumbnail arrays are stored with the mosaic: the grid reuses a mosaic only for the
    very arrays it was coloured from.
    """
    mosaics: dict[tuple, object] = {}
    for kind in trace.kinds:
        filtered = hide_special and ("kept", kind) in prepared
        grid = prepared.get(cache_key("grid", kind, "weights", filtered))
        means = prepared.get(cache_key("means", kind, "weights", filtered)) if mean_column else None
        if grid is None or (mean_column and means is None):
            continue
        maps = trace.attention[kind]
        rgba, unit = grid_mosaic(grid, means, (0.0, 1.0), table, maps.kv_heads, maps.windows)
        mosaics[mosaic_key(kind, "weights", colormap, mean_column, filtered)] = (grid, means, rgba, unit)
    return mosaics

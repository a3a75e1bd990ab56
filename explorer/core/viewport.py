"""The zoomable head view's viewport: which region of a ``(Q, K)`` matrix is on screen.

A plain object, tested without a display. The head detail's widget only reports the
range its view box shows and the pixels it has; this module decides what that means:
clamping zoom and pan to the matrix (never more than the whole, never fewer than
``MIN_CELLS`` cells across), the tile to ask for (the visible rows and columns at no more
cells than pixels: exact cells when zoomed in, max-pooled when zoomed out), whether the
minimap applies, which token labels fit, and where "go to token" lands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

# The most one can zoom in: this many cells across the shorter visible side.
MIN_CELLS = 4.0
# A cell at least this many pixels tall (wide) gets a token label, thinned to fit.
LABEL_PIXELS = 3.0
# "go to token" shows this many cells around the token (labels fit at any panel size).
GO_TO_CELLS = 32.0
# A tile is never pooled below this many cells a side: so small a region costs little
# exact, and the image item draws it down to the screen itself.
EXACT_CELLS = 512


@dataclass(frozen=True)
class TileRequest:
    """The region a tile covers (``rows`` × ``columns`` of the matrix) and its cells."""

    rows: slice
    columns: slice
    out_shape: tuple[int, int]

    @property
    def exact(self) -> bool:
        """Whether every cell of the region is its own tile cell (nothing pooled)."""
        return self.out_shape == (self.rows.stop - self.rows.start, self.columns.stop - self.columns.start)


@dataclass(frozen=True)
class Viewport:
    """The visible region of a ``rows`` × ``columns`` matrix, in cells (floats)."""

    rows: int
    columns: int
    top: float = 0.0
    left: float = 0.0
    height: float = math.inf
    width: float = math.inf

    @classmethod
    def whole(cls, rows: int, columns: int) -> "Viewport":
        return cls(rows, columns, 0.0, 0.0, float(rows), float(columns))

    # -- clamps --------------------------------------------------------------------------
    def clamped(self) -> "Viewport":
        """The nearest viewport that shows only cells of the matrix and at least ``MIN_CELLS``."""
        height = min(max(self.height, min(MIN_CELLS, self.rows)), self.rows)
        width = min(max(self.width, min(MIN_CELLS, self.columns)), self.columns)
        top = min(max(self.top, 0.0), self.rows - height)
        left = min(max(self.left, 0.0), self.columns - width)
        return replace(self, top=top, left=left, height=height, width=width)

    def zoomed(self, factor: float, anchor_row: float | None = None, anchor_column: float | None = None) -> "Viewport":
        """Zoom in (``factor`` > 1) or out around a point that stays where it is on screen."""
        anchor_row = self.top + self.height / 2 if anchor_row is None else anchor_row
        anchor_column = self.left + self.width / 2 if anchor_column is None else anchor_column
        height, width = self.height / factor, self.width / factor
        # Clamping one side must not distort the other: scale both by the clamped factor.
        limit_height = min(max(height, min(MIN_CELLS, self.rows)), self.rows)
        limit_width = min(max(width, min(MIN_CELLS, self.columns)), self.columns)
        scale = max(limit_height / height, limit_width / width) if factor > 1 else min(limit_height / height, limit_width / width)
        height, width = height * scale, width * scale
        top = anchor_row - (anchor_row - self.top) * height / self.height
        left = anchor_column - (anchor_column - self.left) * width / self.width
        return replace(self, top=top, left=left, height=height, width=width).clamped()

    def panned(self, rows: float, columns: float) -> "Viewport":
        return replace(self, top=self.top + rows, left=self.left + columns).clamped()

    def centred_on(self, row: float, column: float, cells: float | None = None) -> "Viewport":
        """Centre cell (``row``, ``column``), showing ``cells`` across (default: the current zoom)."""
        height = self.height if cells is None else cells
        width = self.width if cells is None else cells
        return replace(self, top=row + 0.5 - height / 2, left=column + 0.5 - width / 2, height=height, width=width).clamped()

    # -- what it shows -------------------------------------------------------------------
    @property
    def zoomed_in(self) -> bool:
        """Whether part of the matrix is off screen (the minimap then shows where we are)."""
        return self.height < self.rows - 1e-9 or self.width < self.columns - 1e-9

    def visible(self) -> tuple[range, range]:
        """(rows, columns) of every cell at least partly on screen."""
        return (
            range(max(math.floor(self.top), 0), min(math.ceil(self.top + self.height), self.rows)),
            range(max(math.floor(self.left), 0), min(math.ceil(self.left + self.width), self.columns)),
        )

    def request(self, pixel_height: float, pixel_width: float, exact_cells: int = EXACT_CELLS) -> TileRequest:
        """The tile to draw: the visible cells at no more cells than pixels on each side
        (nor fewer than ``exact_cells``: below that every cell is exact)."""
        rows, columns = self.visible()
        out_rows = max(min(len(rows), max(math.ceil(pixel_height), exact_cells)), 1)
        out_columns = max(min(len(columns), max(math.ceil(pixel_width), exact_cells)), 1)
        return TileRequest(slice(rows.start, rows.stop), slice(columns.start, columns.stop), (out_rows, out_columns))

    def cell_pixels(self, pixel_height: float, pixel_width: float) -> tuple[float, float]:
        """(pixels per row, pixels per column) on screen."""
        return pixel_height / max(self.height, 1e-9), pixel_width / max(self.width, 1e-9)

    def labelled(self, axis: str, pixel_extent: float, label_pixels: float | Sequence[float] = 12.0, gap: float = 2.0) -> list[int]:
        """The visible ``axis`` ("rows" or "columns") indices whose labels fit without overlapping.

        None at all while a cell is narrower than ``LABEL_PIXELS``; then greedy from the
        first visible cell, a label kept when it starts after the previous one ends.
        ``label_pixels`` is one size for every label or a size per index of the axis.
        """
        visible = self.visible()[0 if axis == "rows" else 1]
        per_cell = pixel_extent / max(self.height if axis == "rows" else self.width, 1e-9)
        if per_cell < LABEL_PIXELS:
            return []
        start = self.top if axis == "rows" else self.left
        kept: list[int] = []
        previous_end = -math.inf
        for index in visible:
            size = label_pixels if isinstance(label_pixels, (int, float)) else label_pixels[index]
            centre = (index + 0.5 - start) * per_cell
            if centre - size / 2 >= previous_end + gap:
                kept.append(index)
                previous_end = centre + size / 2
        return kept


def position_ticks(first: float, last: float, pixel_extent: float, min_pixels: float = 60.0) -> list[int]:
    """Round token positions (1, 2, 5 × 10ⁿ apart) between ``first`` and ``last``, at least
    ``min_pixels`` apart on screen: the axis of a region too dense for token labels."""
    span = max(last - first, 1e-9)
    raw_step = span * min_pixels / max(pixel_extent, 1.0)
    magnitude = 10 ** math.floor(math.log10(max(raw_step, 1.0)))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step)
    step = max(int(step), 1)
    return list(range(int(math.ceil(first / step) * step), int(last) + 1, step))


def find_token(tokens: Sequence[str], wanted: str, after: int = -1) -> int | None:
    """The position "go to token" lands on: a number is a position, anything else a word.

    A word matches a token whose text (spaces and word-start marks stripped, case ignored)
    equals it, else one that contains it; the first match after ``after`` wins, wrapping
    around, so pressing Enter again steps through the repeats. None when nothing matches.
    """
    wanted = wanted.strip()
    if not wanted or not tokens:
        return None
    if wanted.lstrip("-").isdigit():
        position = int(wanted)
        return position if 0 <= position < len(tokens) else None
    needle = wanted.casefold()
    bare = [_bare(token) for token in tokens]
    order = list(range(after + 1, len(tokens))) + list(range(0, min(after + 1, len(tokens))))
    for matches in (lambda text: text == needle, lambda text: needle in text):
        for index in order:
            if matches(bare[index]):
                return index
    return None


def _bare(token: str) -> str:
    """A token's text for matching: without byte-level (Ġ, Ċ) and SentencePiece (▁) marks or spaces."""
    return token.replace("Ġ", "").replace("Ċ", "").replace("▁", "").replace("##", "").strip().casefold()

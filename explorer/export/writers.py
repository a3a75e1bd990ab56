"""Figures to PNG, SVG and PDF bytes, and onto disk without ever leaving a half-written file.

Each format is rendered completely in memory first; only then does the file get written,
through a temporary file in the target folder that is renamed into place.
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QRectF, QSize, QSizeF
from PySide6.QtGui import QImage, QPageLayout, QPageSize, QPainter, QPdfWriter
from PySide6.QtSvg import QSvgGenerator

from .canvas import Figure, painting_in
from .files import IMAGE_FORMATS, write_file
from .figures import build_figure
from .request import FigureRequest

DEFAULT_SCALE = 2.0
MAX_SCALE = 16.0
# Refuse PNGs beyond this many pixels rather than exhaust memory (about 400 MB as RGBA).
MAX_PIXELS = 100_000_000
PDF_RESOLUTION = 1200  # dots per inch of the PDF's coordinate grid, not a raster
CREATOR = "attention-explorer"
SVG_FONT_FAMILY = b'font-family="DejaVu Sans, Verdana, Arial, sans-serif"'


def _painted(device, figure: Figure, scale: float) -> None:
    painter = QPainter()
    if not painter.begin(device):
        raise OSError("could not start drawing the figure")
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        painter.scale(scale, scale)
        with painting_in(figure.theme):
            figure.paint(painter)
    finally:
        painter.end()


def _buffer() -> tuple[QByteArray, QBuffer]:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    return data, buffer


PNG_ZLIB_LEVEL = 2


def png_bytes(figure: Figure, scale: float = DEFAULT_SCALE) -> bytes:
    """The figure as PNG, ``scale`` pixels per point; the PNG records 72·scale dots per inch."""
    if not (math.isfinite(scale) and 0 < scale <= MAX_SCALE):
        raise ValueError(f"the scale must be a number above 0 and at most {MAX_SCALE:g}, got {scale}")
    width, height = max(1, round(figure.width * scale)), max(1, round(figure.height * scale))
    if width * height > MAX_PIXELS:
        raise ValueError(f"a {width} × {height} pixel image is too large; choose a smaller scale")
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(0xFFFFFFFF)
    dots_per_metre = round(72 * scale / 0.0254)
    image.setDotsPerMeterX(dots_per_metre)
    image.setDotsPerMeterY(dots_per_metre)
    _painted(image, figure, scale)
    return encode_png(image, dots_per_metre)


def encode_png(image: QImage, dots_per_metre: int) -> bytes:
    """An RGB ``QImage`` as PNG bytes: unfiltered rows, zlib level 2.

    A figure is mostly flat colour, which compresses well without PNG's row filters;
    skipping them and Qt's writer takes half the time of ``QImage.save`` for a file a
    little larger.
    """
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height = rgb.width(), rgb.height()
    rows = np.frombuffer(rgb.constBits(), dtype=np.uint8).reshape(height, rgb.bytesPerLine())[:, : 3 * width]
    raw = np.zeros((height, 3 * width + 1), dtype=np.uint8)  # a 0 byte (no filter) before each row
    raw[:, 1:] = rows

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)),  # 8-bit RGB
            chunk(b"pHYs", struct.pack(">IIB", dots_per_metre, dots_per_metre, 1)),  # 1: per metre
            chunk(b"IDAT", zlib.compress(raw.tobytes(), PNG_ZLIB_LEVEL)),
            chunk(b"IEND", b""),
        )
    )


def svg_bytes(figure: Figure) -> bytes:
    """The figure as SVG in points: text stays text, heatmaps are embedded images."""
    data, buffer = _buffer()
    generator = QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setSize(QSize(math.ceil(figure.width), math.ceil(figure.height)))
    generator.setViewBox(QRectF(0, 0, figure.width, figure.height))
    generator.setResolution(72)  # one user unit per point
    generator.setTitle(figure.title)
    generator.setDescription(f"Made with {CREATOR}")
    _painted(generator, figure, 1.0)
    buffer.close()
    # Viewers without DejaVu Sans should still pick a sans-serif face, not a serif default.
    return bytes(data.data()).replace(b'font-family="DejaVu Sans"', SVG_FONT_FAMILY)


def pdf_bytes(figure: Figure) -> bytes:
    """The figure as a one-page PDF whose page is exactly the figure's size."""
    data, buffer = _buffer()
    writer = QPdfWriter(buffer)
    writer.setCreator(CREATOR)
    writer.setTitle(figure.title)
    writer.setResolution(PDF_RESOLUTION)
    page = QPageSize(
        QSizeF(figure.width, figure.height), QPageSize.Unit.Point, "figure", QPageSize.SizeMatchPolicy.ExactMatch
    )
    writer.setPageLayout(
        QPageLayout(page, QPageLayout.Orientation.Portrait, QMarginsF(0, 0, 0, 0), QPageLayout.Unit.Point)
    )
    _painted(writer, figure, PDF_RESOLUTION / 72)
    buffer.close()
    return bytes(data.data())


def image_format(path: str | os.PathLike) -> str:
    """The figure format a file name asks for; anything else is a ``ValueError`` naming the choices."""
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_FORMATS:
        raise ValueError(
            f"cannot tell the image format from {Path(path).name!r}; use a name ending in {', '.join(IMAGE_FORMATS)}"
        )
    return suffix


def figure_png_bytes(request: FigureRequest, scale: float = DEFAULT_SCALE) -> bytes:
    """The request's figure as PNG bytes (for the clipboard)."""
    return png_bytes(build_figure(request), scale)


def export_figure(request: FigureRequest, path: str | os.PathLike, scale: float = DEFAULT_SCALE) -> Path:
    """Write the request's figure to ``path``; the extension (.png, .svg, .pdf) picks the format.

    ``scale`` is PNG pixels per point (2 = crisp on high-density screens and in print at
    144 dpi); vector formats ignore it. The file appears complete or not at all.
    """
    image_format(path)  # refuses an unknown extension before anything is drawn
    return write_figure(build_figure(request), path, scale)


def write_figure(figure: Figure, path: str | os.PathLike, scale: float = DEFAULT_SCALE) -> Path:
    """Write a laid-out figure to ``path`` as PNG, SVG or PDF (by extension), atomically."""
    suffix = image_format(path)
    if suffix == ".png":
        data = png_bytes(figure, scale)
    elif suffix == ".svg":
        data = svg_bytes(figure)
    else:
        data = pdf_bytes(figure)
    return write_file(path, lambda handle: handle.write(data))

"""``attention-explorer export``: one figure or the whole trace's data, headless.

The file extension picks what is written: .png/.svg/.pdf a figure of one attention kind
(``--head all`` the layer × head grid; cross-attention of one head adds the alignment
drawing), .npz/.csv every matrix of the trace.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import colormaps
from .data import DATA_FORMATS, export_trace_data
from .files import IMAGE_FORMATS
from .request import FigureRequest


def parse_head(text: str) -> int | None | str:
    """``"mean"`` → None, ``"all"`` → ``"all"``, a number → that head; anything else is a ValueError."""
    if text in ("mean", "all"):
        return None if text == "mean" else "all"
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--head must be a head number, mean or all; got {text!r}") from None


def run(args: argparse.Namespace, user_error: type[Exception]) -> str:
    """Do the export and return the line to print; ``user_error`` is raised for bad arguments."""
    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in IMAGE_FORMATS + DATA_FORMATS:
        raise user_error(f"--out must end in one of {', '.join(IMAGE_FORMATS + DATA_FORMATS)}; got {out.name!r}")
    head = parse_head(args.head)
    if suffix in IMAGE_FORMATS and args.kind is None:
        raise user_error("--kind is needed for an image: encoder_self, decoder_self or cross")
    colormaps.colormap(args.colormap)  # an unknown name fails before the model loads
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise user_error(f"cannot write {out}: the folder {folder} does not exist")

    from model import load_checkpoint

    model = load_checkpoint(args.checkpoint)
    # Data files keep float32 however long the input; figures look the same either way.
    precision = "float32" if suffix in DATA_FORMATS else None
    trace = model.trace(args.text, target=args.target, pair=args.pair, precision=precision)
    for notice in trace.notices:
        print(notice, file=sys.stderr)
    if suffix in DATA_FORMATS:
        export_trace_data(trace, out)
        return f"wrote {out} ({', '.join(trace.kinds)})"

    from . import export_figure

    figure = "grid" if head == "all" else ("cross" if args.kind == "cross" else "head")
    request = FigureRequest(
        trace=trace,
        figure=figure,
        kind=args.kind,
        layer=args.layer,
        head=None if head == "all" else head,
        values="scores" if args.scores else "weights",
        colormap=args.colormap,
        show_mean_column=head == "all",
    )
    export_figure(request, out, scale=args.scale)
    return f"wrote {out}"

"""``attention-explorer export``: one figure or the whole trace's data, headless.

The file extension picks what is written: .png/.svg/.pdf a figure of one attention kind
(``--head all`` the layer × head grid; cross-attention of one head adds the alignment
drawing; ``--aggregate`` the mean or max over heads, or the rollout or flow through the
layers; ``--compare-text`` or ``--compare-checkpoint`` the A, B and B − A heatmaps of a
second input or a second checkpoint), .npz/.csv every matrix of the trace.
``--hide-special`` drops the special-token key columns of any figure.
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


def _region(args: argparse.Namespace, user_error: type[Exception]) -> tuple[slice, slice] | None:
    """``--rows A-B`` and ``--keys C-D`` (inclusive) as the head figure's region; None without either."""
    rows, keys = getattr(args, "rows", None), getattr(args, "keys", None)
    if rows is None and keys is None:
        return None
    parts = []
    for option, text in (("--rows", rows), ("--keys", keys)):
        if text is None:
            parts.append(slice(None))
            continue
        first, dash, last = text.partition("-")
        if not (first.isdigit() and dash and last.isdigit()) or int(last) < int(first):
            raise user_error(f"{option} takes a run of token positions such as 100-199, not {text!r}")
        parts.append(slice(int(first), int(last) + 1))
    return parts[0], parts[1]


def run(args: argparse.Namespace, user_error: type[Exception]) -> str:
    """Do the export and return the line to print; ``user_error`` is raised for bad arguments."""
    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in IMAGE_FORMATS + DATA_FORMATS:
        raise user_error(f"--out must end in one of {', '.join(IMAGE_FORMATS + DATA_FORMATS)}; got {out.name!r}")
    head = parse_head(args.head)
    values = getattr(args, "values", None) or ("scores" if args.scores else "weights")
    if args.scores and values != "scores":
        raise user_error(f"--scores and --values {values} ask for different things: give one of them")
    aggregate = getattr(args, "aggregate", None)
    hide_special = bool(getattr(args, "hide_special", False))
    if suffix in IMAGE_FORMATS and args.kind is None:
        raise user_error("--kind is needed for an image: encoder_self, decoder_self or cross")
    if aggregate is not None and suffix in DATA_FORMATS:
        raise user_error("--aggregate draws a figure: --out must end in .png, .svg or .pdf")
    if aggregate is not None and values != "weights":
        given = "--scores" if args.scores else f"--values {values}"
        raise user_error(f"--aggregate combines probabilities; it cannot be used with {given}")
    comparing = bool(getattr(args, "compare_text", None) or getattr(args, "compare_checkpoint", None))
    if comparing and (suffix in DATA_FORMATS or aggregate is not None or head == "all" or values != "weights"):
        raise user_error(
            "--compare-text and --compare-checkpoint draw the A, B and B − A heatmaps of one head or the "
            "mean of probabilities: use a .png, .svg or .pdf --out, without --aggregate, --head all or --scores"
        )
    if aggregate in ("rollout", "flow") and args.kind == "cross":
        raise user_error(
            f"--aggregate {aggregate} needs self-attention (queries and keys on one sequence); "
            "choose --kind encoder_self or decoder_self"
        )
    region = _region(args, user_error)
    if region is not None and (suffix in DATA_FORMATS or aggregate is not None or comparing or head == "all" or args.kind == "cross"):
        raise user_error("--rows and --keys pick the region of one head's figure (--kind encoder_self or decoder_self, a head or mean)")
    colormaps.colormap(args.colormap)  # an unknown name fails before the model loads
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise user_error(f"cannot write {out}: the folder {folder} does not exist")

    from model import load_checkpoint

    model = load_checkpoint(args.checkpoint, dtype=args.dtype)
    # Data files keep float32 however long the input; figures look the same either way.
    precision = "float32" if suffix in DATA_FORMATS else None
    trace = model.trace(args.text, target=args.target, pair=args.pair, precision=precision, chat=args.chat)
    for notice in trace.notices:
        print(notice, file=sys.stderr)
    if suffix in DATA_FORMATS:
        export_trace_data(trace, out, values=values)
        return f"wrote {out} ({', '.join(trace.kinds)})"

    if comparing:
        return _export_comparison(args, model, trace, out)

    from . import export_figure

    layer = args.layer
    if layer is None:
        # A rollout or flow is most telling through every layer (a kind the model lacks is
        # refused with its own sentence when the request is validated).
        across = aggregate in ("rollout", "flow") and args.kind in trace.kinds
        layer = trace.attention[args.kind].n_layers - 1 if across else 0
    if aggregate is not None:
        figure = "aggregate"
    else:
        figure = "grid" if head == "all" else ("cross" if args.kind == "cross" else "head")
    request = FigureRequest(
        trace=trace,
        figure=figure,
        kind=args.kind,
        layer=layer,
        head=None if head == "all" else head,
        values=values,
        colormap=args.colormap,
        show_mean_column=head == "all",
        aggregate=aggregate or "rollout",
        hide_special=hide_special,
        colour_range=getattr(args, "colour_range", None) or "all",
        theme=args.theme,
        region=region,
    )
    export_figure(request, out, scale=args.scale)
    return f"wrote {out}"


def _export_comparison(args: argparse.Namespace, model, trace, out: Path) -> str:
    """The diff figure: trace B as the app's compare mode makes it, then A, B and B − A."""
    from ..analysis.compare_job import CompareInputs, SecondCheckpoint, run_comparison
    from .diff_figure import export_diff_figure

    inputs = CompareInputs(
        args.text, args.target, args.pair, text_b=args.compare_text or "", checkpoint_b=args.compare_checkpoint
    )
    result = run_comparison(model, trace, inputs, SecondCheckpoint())
    if args.kind in result.refusals:
        raise ValueError(result.refusals[args.kind])
    export_diff_figure(
        result.trace_a,
        result.trace_b,
        args.kind,
        args.layer or 0,
        parse_head(args.head),
        out,
        labels=(result.label_a, result.label_b),
        colormap=args.colormap,
        scale=args.scale,
        hide_special=bool(getattr(args, "hide_special", False)),
        theme=args.theme,
    )
    return f"wrote {out}"

"""The ``attention-explorer`` command: the desktop app by default, headless subcommands beside it.

Every failure a user can cause (bad arguments, bad checkpoints, unwritable files) ends
as one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

from model.precision import DTYPE_CHOICES

from .colormaps import DEFAULT as DEFAULT_COLORMAP
from .colormaps import SEQUENTIAL
from .errors import first_line

PROGRAM = "attention-explorer"


class UserError(Exception):
    """A problem the user can fix; its message is printed as is."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + error
        raise UserError(f"{message} (see {self.prog} --help)")


def _add_checkpoint(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        metavar="PATH|REPO_ID",
        help="checkpoint folder, a file inside one, or a repo id from the local Hugging Face cache "
        "(default: the bundled model)",
    )
    parser.add_argument(
        "--dtype",
        choices=DTYPE_CHOICES,
        default="auto",
        help="what the network computes in: auto is float32 on the CPU and the checkpoint's own dtype on "
        "CUDA and MPS (attention is always computed in float32)",
    )


# Every option that takes text, and its --…-file twin (``-`` reads standard input).
TEXT_OPTIONS = ("text", "target", "pair", "compare_text")


def _add_text_option(parser: argparse.ArgumentParser, name: str, help: str, required: bool = False) -> None:
    flag = "--" + name.replace("_", "-")
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument(flag, metavar="TEXT", help=help)
    group.add_argument(
        f"{flag}-file", metavar="PATH", dest=f"{name}_file", help=f"read {flag[2:]} from a UTF-8 file (- for standard input)"
    )


def _add_input(parser: argparse.ArgumentParser, required: bool) -> None:
    _add_text_option(parser, "text", "source text (the whole text for decoder-only models)", required)
    _add_text_option(parser, "target", "encoder–decoder: decoder text to teacher-force (default: generate greedily)")
    _add_text_option(parser, "pair", "encoder-only: second segment of a sentence pair")
    parser.add_argument(
        "--chat",
        action="store_true",
        help="wrap the text as one user turn of the model's chat template (tokenizer_config.json), with the "
        "generation prompt",
    )


def read_text_files(args: argparse.Namespace, stdin=None) -> None:
    """Replace each ``--…-file`` option the user gave by the text it names, in place."""
    from .text_files import STDIN, read_text_file

    given = {name: getattr(args, f"{name}_file", None) for name in TEXT_OPTIONS}
    from_stdin = [name for name, location in given.items() if location == STDIN]
    if len(from_stdin) > 1:
        flags = " and ".join(f"--{name.replace('_', '-')}-file" for name in from_stdin)
        raise UserError(f"only one option can read standard input, but {flags} both name -")
    for name, location in given.items():
        if location is not None:
            setattr(args, name, read_text_file(location, stdin))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROGRAM,
        description="Look inside a transformer while you type. Without a subcommand, opens the desktop app.",
    )
    _add_checkpoint(parser)
    _add_input(parser, required=False)
    parser.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: cpu)")
    parser.add_argument("--screenshot", metavar="PNG", help="lay the window out offscreen, save it as PNG and exit")
    parser.add_argument(
        "--values",
        choices=("weights", "scores", "value-weighted"),
        help="what the heatmaps colour: probabilities (default), raw scores or value-weighted attention",
    )
    parser.add_argument("--induction-probe", action="store_true",
                        help="head statistics: show the induction probe's table (a random sequence repeated twice)")
    parser.add_argument("--corpus", metavar="LINES.txt", help="head statistics: show the mean ± sd over a file's lines")
    parser.add_argument("--open-trace", metavar="FILE.npz", help="show a trace saved with File ▸ Save trace…, without its model")
    parser.add_argument("--kind", choices=("encoder_self", "decoder_self", "cross"), help="the attention kind to show first")
    parser.add_argument("--layer", type=int, metavar="L", help="the layer to show first (from 0)")
    parser.add_argument("--head", metavar="H|mean", help="the head to show first (from 0), or mean")
    parser.add_argument(
        "--colour-range",
        choices=("auto", "all", "first", "special"),
        help="keys the head views' colour range leaves out: auto (an attention sink, the default), every key kept, "
        "the first key, or every special token",
    )
    parser.add_argument(
        "--show",
        choices=("grid", "head", "distribution", "cross", "stats", "aggregation", "compare", "timeline", "stepping", "lens"),
        help="bring this panel or analysis mode to the front",
    )
    _add_text_option(parser, "compare_text", "compare mode: the second input, on the same model")
    parser.add_argument(
        "--compare-checkpoint", metavar="PATH|REPO_ID", help="compare mode: a second checkpoint of the same architecture"
    )
    parser.add_argument("--run", metavar="DIR", help="open a training run folder (as `train` writes it) on the timeline")
    parser.add_argument("--step", type=int, metavar="N", help="with --run: the training step to show (default: the last)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    dump = commands.add_parser("dump", help="write every attention matrix of one input to an NPZ file")
    _add_checkpoint(dump)
    _add_input(dump, required=True)
    dump.add_argument("--out", required=True, metavar="FILE.npz", help="where to write the arrays")
    dump.add_argument("--saved-trace", action="store_true",
                      help="write the file File ▸ Save trace… writes (token axes, value norms, residuals, the model's "
                      "description), which the app opens without the model")
    for name, what in (("layers", "layers"), ("heads", "heads"), ("rows", "query rows (token positions)")):
        dump.add_argument(
            f"--{name}",
            metavar="LIST",
            help=f"only these {what}, from 0: e.g. 3 or 0,2,5 or 4-7 (default: all); a dense dump above "
            "2 GB is refused and asks for a selection",
        )

    train = commands.add_parser("train", help="train the bundled encoder–decoder from scratch")
    train.add_argument("--out", required=True, metavar="DIR", help="run folder for checkpoints and the log")
    train.add_argument("--steps", type=int, default=4000)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--checkpoint-every", type=int, default=500, metavar="N")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, default=2)
    train.add_argument("--eval-examples", type=int, default=50, metavar="N", help="examples per task scored at each checkpoint")

    commands.add_parser("models", help="list the models in the local Hugging Face cache that can be opened")

    export = commands.add_parser(
        "export", help="write a figure (PNG, SVG, PDF) or every attention matrix (NPZ, CSV) of one input"
    )
    _add_checkpoint(export)
    _add_input(export, required=True)
    export.add_argument("--kind", choices=("encoder_self", "decoder_self", "cross"), help="attention kind of a figure")
    export.add_argument(
        "--layer",
        type=int,
        metavar="L",
        help="layer, from 0 (default 0; with --aggregate rollout or flow, the last layer)",
    )
    export.add_argument(
        "--head", default="mean", metavar="H|mean|all", help="head from 0, mean over heads, or all for the grid (default mean)"
    )
    export.add_argument("--out", required=True, metavar="FILE", help="FILE.png, .svg or .pdf (a figure); .npz or .csv (data)")
    export.add_argument("--scale", type=float, default=2.0, metavar="N", help="PNG pixels per point (default 2)")
    export.add_argument("--colormap", default=DEFAULT_COLORMAP, metavar="NAME", help=f"one of {', '.join(SEQUENTIAL)}")
    export.add_argument("--scores", action="store_true", help="colour by pre-softmax scores instead of probabilities")
    export.add_argument(
        "--values",
        choices=("weights", "scores", "value-weighted"),
        help="what a figure colours: probabilities (default), pre-softmax scores (as --scores), or value-weighted "
        "attention α·‖f(x)‖ (Kobayashi et al. 2020; the mean is the norm of the summed heads)",
    )
    export.add_argument(
        "--theme", choices=("light", "dark"), default="light", help="the figure's page (default light, whatever the desktop)"
    )
    export.add_argument(
        "--aggregate",
        choices=("mean", "max", "rollout", "flow"),
        help="instead of one head: the mean or max over the heads of --layer, or attention rollout or "
        "flow (widest-path approximation, up to 512 tokens) through layers 0 to --layer (self-attention kinds)",
    )
    export.add_argument("--rows", metavar="A-B", help="a head figure of only these query rows (token positions, inclusive)")
    export.add_argument("--keys", metavar="A-B", help="a head figure of only these key columns (inclusive)")
    export.add_argument(
        "--colour-range",
        choices=("auto", "all", "first", "special"),
        default="all",
        help="keys a head figure's colour range leaves out: every key kept (default), auto (the first key where the "
        "head puts over half of its weight there), the first key, or every special token",
    )
    export.add_argument(
        "--hide-special",
        action="store_true",
        help="hide special-token and padding key columns and renormalise the rows, in any figure",
    )
    _add_text_option(export, "compare_text", "draw A (--text), B (this text, same model) and B − A side by side")
    export.add_argument(
        "--compare-checkpoint",
        metavar="PATH|REPO_ID",
        help="draw A (--checkpoint), B (this checkpoint, same architecture, same input) and B − A side by side",
    )

    stats = commands.add_parser(
        "stats", help="print every head's statistics of one input, of the induction probe or of a corpus as CSV"
    )
    _add_checkpoint(stats)
    _add_input(stats, required=False)
    stats.add_argument("--induction-probe", action="store_true",
                       help="instead of a text: a random token sequence of the model's vocabulary, repeated twice")
    stats.add_argument("--probe-length", type=int, default=24, metavar="N", help="tokens in one copy of the probe (24)")
    stats.add_argument("--seed", type=int, default=0, help="the probe's random seed (0)")
    stats.add_argument("--corpus", metavar="LINES.txt",
                       help="one input per line: each head's mean and standard deviation over the inputs")
    stats.add_argument("--batch-size", type=int, default=8, metavar="N", help="inputs per forward with --corpus (8)")
    stats.add_argument("--csv", metavar="FILE.csv", help="with --corpus: also write every input's own table here")
    stats.add_argument("--presets", action="store_true",
                       help="print each preset (previous-token, induction, attention-sink, …), its threshold and the "
                       "heads it finds, instead of the table")
    stats.add_argument(
        "--kind", choices=("encoder_self", "decoder_self", "cross"), help="one attention kind (default: every kind)"
    )
    stats.add_argument("--out", metavar="FILE.csv", help="write the table here instead of to stdout")
    return parser


def _run_dump(args: argparse.Namespace) -> int:
    from model import load_checkpoint

    from .export import export_trace_data

    out = Path(args.out)
    if out.suffix != ".npz":
        raise UserError(f"--out must end in .npz, got {out.name}")
    selection = {name: parse_positions(getattr(args, name), f"--{name}") for name in ("layers", "heads", "rows")}
    model = load_checkpoint(args.checkpoint, dtype=args.dtype)
    # A dump is data, not a picture: keep float32 however long the input.
    trace = model.trace(args.text, target=args.target, pair=args.pair, precision="float32", chat=args.chat)
    for notice in trace.notices:
        print(notice, file=sys.stderr)
    if args.saved_trace:
        from model.trace_file import save_trace

        save_trace(trace, out, model.describe())
        print(f"wrote {out} ({', '.join(trace.kinds)}; open it with --open-trace or File ▸ Open saved trace…)")
        return 0
    check_selection(trace, selection)
    export_trace_data(trace, out, **selection)
    chosen = [f"{name} {getattr(args, name)}" for name in selection if selection[name] is not None]
    print(f"wrote {out} ({', '.join(trace.kinds)}{'; ' + ', '.join(chosen) if chosen else ''})")
    return 0


def parse_positions(text: str | None, option: str) -> list[int] | None:
    """``"0,2,5-7"`` → ``[0, 2, 5, 6, 7]`` (ranges inclusive); None for None."""
    if text is None:
        return None
    positions: list[int] = []
    for part in text.split(","):
        part = part.strip()
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise UserError(f"{option} takes positions from 0 such as 3, 0,2,5 or 4-7, not {text!r}")
        start, stop = int(first), int(last) if dash else int(first)
        if stop < start:
            raise UserError(f"{option}: the range {part} runs backwards; write it as {stop}-{start}")
        positions.extend(range(start, stop + 1))
    return positions


def check_selection(trace, selection: dict[str, list[int] | None]) -> None:
    """Refuse a selection some attention kind of ``trace`` does not have, naming what it has."""
    from model.trace import KIND_TITLES

    for kind in trace.kinds:
        sizes = dict(zip(("layers", "heads", "rows"), trace.attention[kind].weights.shape[:3]))
        for name, positions in selection.items():
            if positions and max(positions) >= sizes[name]:
                what = "query rows" if name == "rows" else name
                raise UserError(
                    f"--{name} {max(positions)} is out of range: {KIND_TITLES[kind]} has {what} 0–{sizes[name] - 1}"
                )


def _run_train(args: argparse.Namespace) -> int:
    from model.train import TrainingSettings, train

    for name in ("steps", "batch_size", "checkpoint_every", "threads", "eval_examples"):
        if getattr(args, name) <= 0:
            raise UserError(f"--{name.replace('_', '-')} must be positive")
    settings = TrainingSettings(
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
        threads=args.threads,
        eval_examples=args.eval_examples,
    )
    train(args.out, settings, log=lambda line: print(line, flush=True))
    return 0


def _run_models(args: argparse.Namespace) -> int:
    from model.hf.cache import cache_folder, list_cached_models

    found = list_cached_models()
    if not found:
        print(f"no model that can be opened in {cache_folder()}")
    for entry in found:
        print(f"{entry.repo_id}\t{entry.model_type}\t{entry.folder}")
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from .export.command import run

    print(run(args, UserError))
    return 0


def _run_stats(args: argparse.Namespace) -> int:
    from .stats_command import run

    return run(args, UserError)


def _run_app(args: argparse.Namespace) -> int:
    if args.step is not None and not args.run:
        raise UserError("--step needs --run: the training run folder whose step to show")
    if args.head is not None and args.head != "mean" and not args.head.isdigit():
        raise UserError(f"--head must be a head number or mean; got {args.head!r}")
    if args.layer is not None and args.layer < 0:
        raise UserError(f"--layer must be 0 or more; got {args.layer}")
    if args.induction_probe and args.corpus:
        raise UserError("--induction-probe and --corpus both fill the head statistics: give one of them")
    from .app import run_app

    return run_app(args)


COMMANDS: dict[str | None, Callable[[argparse.Namespace], int]] = {
    None: _run_app,
    "dump": _run_dump,
    "train": _run_train,
    "models": _run_models,
    "export": _run_export,
    "stats": _run_stats,
}


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format=f"{PROGRAM}: %(message)s")
    try:
        args = build_parser().parse_args(argv)
        read_text_files(args)
        return COMMANDS[args.command](args)
    except (UserError, ValueError, OSError) as error:
        # CheckpointError is a ValueError; OSError covers unwritable folders and full disks.
        print(f"{PROGRAM}: error: {first_line(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

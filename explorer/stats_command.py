"""``attention-explorer stats``: the head table of one input, of the induction probe, or of a corpus.

- ``--text`` (or ``--text-file``): every head's statistics of one input, as CSV.
- ``--induction-probe``: the same of the induction probe (``model.induction``: a random
  token sequence repeated twice), where ``induction_share`` is the induction score.
- ``--corpus lines.txt``: one input per line, traced in padded batches of
  ``--batch-size``, with a progress bar on stderr and a total; the CSV holds each head's
  mean over the inputs and its standard deviation (``analysis.corpus_stats``), and
  ``--csv FILE`` writes every input's own table as well.
- ``--presets``: instead of the table, each preset's definition, threshold and the heads
  it finds (strongest first).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

PROGRESS_WIDTH = 30


def _progress(done: int, total: int, stream) -> None:
    filled = PROGRESS_WIDTH * done // max(total, 1)
    stream.write(f"\r[{'#' * filled}{'.' * (PROGRESS_WIDTH - filled)}] {done:,}/{total:,} inputs")
    stream.flush()


def _read_corpus(location: str, user_error) -> list[str]:
    from .analysis.corpus_stats import read_corpus

    try:
        return read_corpus(location)
    except ValueError as error:
        raise user_error(f"--corpus: {error}") from None


def corpus_table(model, lines: list[str], kinds, batch_size: int, keep_inputs: bool, progress=None):
    """The accumulated statistics of ``lines``, ``batch_size`` at a time; ``progress(done, total)`` after each batch."""
    from model.batch import trace_batch

    from .analysis.corpus_stats import CorpusAccumulator

    accumulator = CorpusAccumulator(kinds=kinds, keep_inputs=keep_inputs)
    for start in range(0, len(lines), batch_size):
        for trace in trace_batch(model, lines[start : start + batch_size]):
            accumulator.add(trace)
        if progress is not None:
            progress(min(start + batch_size, len(lines)), len(lines))
    return accumulator


def presets_text(table: dict) -> str:
    """Each preset's definition and threshold, then the heads it finds with their scores."""

    from .analysis.head_stats import PRESETS, preset_note

    lines = []
    for key, preset in PRESETS.items():
        found = [(kind, *hit) for kind, stats in table.items() for hit in stats.find(preset)]
        found.sort(key=lambda entry: -entry[3])
        lines.append(f"{key}: {preset.name}, {preset.description} ({preset.statistic} ≥ {preset.threshold:g}): "
                     f"{len(found)} head{'s' if len(found) != 1 else ''}")
        for kind, layer, head, value in found:
            lines.append(f"  {kind} layer {layer} head {head}: {value:.3f}")
        lines.extend(f"  ({note})" for kind in table if (note := preset_note(kind, preset)))
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, user_error) -> int:
    from model import load_checkpoint
    from model.trace import KIND_TITLES

    from .analysis.corpus_stats import corpus_csv, per_input_csv
    from .analysis.head_stats import table_csv, trace_head_statistics
    from .atomic_write import write_atomically

    sources = [name for name, given in (("--text", args.text is not None), ("--induction-probe", args.induction_probe),
                                        ("--corpus", args.corpus is not None)) if given]
    if len(sources) != 1:
        raise user_error("give exactly one of --text (or --text-file), --induction-probe and --corpus"
                         + (f"; got {' and '.join(sources)}" if sources else ""))
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix != ".csv":
        raise user_error(f"--out must end in .csv, got {out.name}")
    if args.csv and args.corpus is None:
        raise user_error("--csv writes each input's table of a --corpus; for one input use --out")
    if args.csv and Path(args.csv).suffix != ".csv":
        raise user_error(f"--csv must end in .csv, got {Path(args.csv).name}")
    if args.batch_size < 1:
        raise user_error(f"--batch-size must be at least 1, got {args.batch_size}")
    lines = _read_corpus(args.corpus, user_error) if args.corpus is not None else None
    model = load_checkpoint(args.checkpoint, dtype=getattr(args, "dtype", "auto"))
    kinds_of_model = model.config.architecture
    available = {"encoder": ("encoder_self",), "decoder": ("decoder_self",)}.get(
        kinds_of_model, ("encoder_self", "decoder_self", "cross"))
    if args.kind is not None and args.kind not in available:
        raise user_error(f"this model has no {KIND_TITLES[args.kind]}; it has {', '.join(available)}")
    kinds = [args.kind] if args.kind else list(available)
    per_input = None
    if lines is not None:
        started = time.perf_counter()
        accumulator = corpus_table(model, lines, tuple(kinds), args.batch_size, bool(args.csv),
                                   lambda done, total: _progress(done, total, sys.stderr))
        seconds = time.perf_counter() - started
        batches = -(-len(lines) // args.batch_size)
        sys.stderr.write(f"\n{accumulator.inputs:,} inputs, {accumulator.tokens:,} tokens, {batches:,} batches "
                         f"in {seconds:.1f} s\n")
        table = accumulator.result()
        text = corpus_csv(table)
        if args.csv:
            per_input = per_input_csv(accumulator.per_input)
    else:
        if args.induction_probe:
            from model.induction import trace_probe

            trace = trace_probe(model, args.probe_length, args.seed)
        else:
            trace = model.trace(args.text, target=args.target, pair=args.pair, chat=args.chat)
        for notice in trace.notices:
            print(notice, file=sys.stderr)
        table = {kind: trace_head_statistics(trace, kind) for kind in kinds}
        text = table_csv(list(table.values()))
    if args.presets:
        text = presets_text(table)
        if out is not None:
            raise user_error("--presets prints the presets' heads as text; leave out --out")
    if per_input is not None:
        write_atomically(Path(args.csv), lambda handle: handle.write(per_input.encode("utf-8")))
        print(f"wrote {args.csv} (each input's table)", file=sys.stderr)
    if out is None:
        sys.stdout.write(text)
        return 0
    write_atomically(out, lambda handle: handle.write(text.encode("utf-8")))
    print(f"wrote {out} ({', '.join(kinds)})", file=sys.stderr)
    return 0

"""Tiny training run folders, laid out as ``attention-explorer train`` writes them.

No training happens: each ``step-NNNNNN/`` holds a tiny network of its own seed, so the
checkpoints differ the way a run's do, ``final/`` repeats the last step, and
``log.jsonl`` holds made-up loss and exact-match records in the trainer's format.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from model import save_checkpoint
from tiny_models import task_tokenizer, tiny_config, tiny_network

RUN_STEPS = (10, 20, 30)
MAX_POSITIONS = 32


def write_checkpoint(folder: Path, step: int, seed: int, architecture: str = "encoder-decoder", **overrides) -> Path:
    """Write one tiny checkpoint of a run (``overrides`` change its config, e.g. ``n_heads``)."""
    config = tiny_config(
        architecture, **{"n_heads": 2, "max_positions": MAX_POSITIONS, "lm_head": architecture != "encoder", **overrides}
    )
    return save_checkpoint(
        folder / f"step-{step:06d}", tiny_network(config, seed), task_tokenizer(MAX_POSITIONS), name=f"tiny run, step {step}"
    )


def write_run(
    folder: Path,
    architecture: str = "encoder-decoder",
    steps: tuple[int, ...] = RUN_STEPS,
    seeds: tuple[int, ...] | None = None,
) -> Path:
    """Write a run folder with one checkpoint per step (seeds 0, 1, … unless given) and return it."""
    folder.mkdir(parents=True)
    records = []
    for seed, step in zip(seeds or range(len(steps)), steps):
        write_checkpoint(folder, step, seed, architecture)
        exact_match = {"sort": 0.1 * seed, "date": 0.3 * seed}
        records.append({"step": step, "loss": 3.0 / (seed + 1), "exact_match": exact_match, "seconds": step})
    shutil.copytree(folder / f"step-{steps[-1]:06d}", folder / "final")
    (folder / "settings.json").write_text(json.dumps({"steps": steps[-1], "checkpoint_every": steps[0]}) + "\n")
    (folder / "log.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    return folder

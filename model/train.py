"""Training the bundled encoder–decoder on the generated tasks, deterministically on CPU.

A run folder holds a native checkpoint every ``checkpoint_every`` steps
(``step-000500/``, …), the last one as ``final/``, and ``log.jsonl`` with the loss and
per-task exact match at each checkpoint — what the timeline view scrubs through.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from . import tasks
from .native import save_checkpoint
from .config import ModelConfig
from .generation import greedy_generate
from .inference import AttentionModel
from .tokenization import TextTokenizer
from .transformer import Transformer

MAX_POSITIONS = 64


def bundled_config() -> ModelConfig:
    """The bundled model: small enough to train in minutes on two cores."""
    return ModelConfig(
        architecture="encoder-decoder",
        vocab_size=len(tasks.vocabulary()),
        d_model=128,
        n_heads=4,
        d_ff=512,
        n_encoder_layers=3,
        n_decoder_layers=3,
        max_positions=MAX_POSITIONS,
        norm_placement="pre",
        activation="gelu",
        positions="sinusoidal",
        scale_embedding=True,
        tie_embeddings=True,
        pad_token_id=tasks.PAD,
        bos_token_id=tasks.BOS,
        eos_token_id=tasks.EOS,
        decoder_start_token_id=tasks.BOS,
    )


@dataclass(frozen=True)
class TrainingSettings:
    steps: int = 6000
    batch_size: int = 64
    learning_rate: float = 1e-3
    warmup_steps: int = 300
    checkpoint_every: int = 500
    seed: int = 0
    threads: int = 2
    eval_examples: int = 50


@dataclass
class Batch:
    source: torch.Tensor  # (B, Ts)
    source_mask: torch.Tensor  # (B, Ts), True for real tokens
    decoder_input: torch.Tensor  # (B, Tt): <s> t1 … tn
    labels: torch.Tensor  # (B, Tt): t1 … tn </s>, pad where there is none


def _pad(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), tasks.PAD, dtype=torch.long)
    for index, row in enumerate(rows):
        ids[index, : len(row)] = torch.tensor(row)
    mask = torch.zeros_like(ids, dtype=torch.bool)
    for index, row in enumerate(rows):
        mask[index, : len(row)] = True
    return ids, mask


def make_batch(tokenizer: TextTokenizer, examples: list[tuple[str, str]]) -> Batch:
    sources = [tokenizer.encode(source).ids for source, _ in examples]
    targets = [tokenizer.encode(target).ids for _, target in examples]
    source, source_mask = _pad(sources)
    labels, label_mask = _pad(targets)
    decoder_input, _ = _pad([[tasks.BOS, *target[:-1]] for target in targets])
    return Batch(source, source_mask, decoder_input, labels.masked_fill(~label_mask, -100))


def mixed_examples(rng: random.Random, count: int) -> list[tuple[str, str]]:
    return [tasks.sample(rng.choice(tasks.TASKS), rng) for _ in range(count)]


def exact_match(model: AttentionModel, task: str, count: int, seed: int, batch_size: int = 100) -> float:
    """Share of ``count`` fresh examples of ``task`` whose greedy output equals the target."""
    rng = random.Random(f"{task}:{seed}")
    examples = [tasks.sample(task, rng) for _ in range(count)]
    correct = 0
    for start in range(0, count, batch_size):
        chunk = examples[start : start + batch_size]
        batch = make_batch(model.tokenizer, chunk)
        prefix = torch.full((len(chunk), 1), tasks.BOS, dtype=torch.long)
        output = greedy_generate(model.network, prefix, MAX_POSITIONS - 1, batch.source, batch.source_mask)
        for row, (_, target) in zip(output.tolist(), chunk):
            produced = row[1:]
            if tasks.EOS in produced:
                produced = produced[: produced.index(tasks.EOS) + 1]
            correct += produced == model.tokenizer.encode(target).ids
    return correct / count


def _learning_rate(step: int, settings: TrainingSettings) -> float:
    """Linear warm-up, then inverse square-root decay."""
    warmup = max(settings.warmup_steps, 1)
    return settings.learning_rate * min((step + 1) / warmup, (warmup / (step + 1)) ** 0.5)


def train(out_dir: str | Path, settings: TrainingSettings = TrainingSettings(), log: Callable[[str], None] = print) -> Path:
    """Train from scratch and return the folder of the final checkpoint."""
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(settings.threads)
    torch.use_deterministic_algorithms(True)
    try:
        return _train(Path(out_dir), settings, log)
    finally:
        # Training is often called from a longer-lived process (tests, the app): leave torch as found.
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_deterministic)


def _train(out_dir: Path, settings: TrainingSettings, log: Callable[[str], None]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)

    config = bundled_config()
    tokenizer = TextTokenizer(tasks.build_tokenizer(), config.max_positions)
    network = Transformer(config)
    with torch.no_grad():
        network.embed_tokens.weight.normal_(0.0, config.d_model**-0.5)
    optimizer = torch.optim.AdamW(network.parameters(), lr=settings.learning_rate, betas=(0.9, 0.98), weight_decay=0.01)
    model = AttentionModel(network, tokenizer, name="bundled tasks model")
    (out_dir / "settings.json").write_text(json.dumps(asdict(settings), indent=2) + "\n")
    with open(out_dir / "log.jsonl", "w", encoding="utf-8") as log_file:
        started = time.perf_counter()
        running_loss = 0.0
        for step in range(1, settings.steps + 1):
            network.train()
            batch = make_batch(tokenizer, mixed_examples(rng, settings.batch_size))
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(step, settings)
            encoded, decoded = network(batch.source, batch.decoder_input, source_padding_mask=batch.source_mask)
            logits = network.logits(decoded.hidden)
            loss = F.cross_entropy(logits.flatten(0, 1), batch.labels.flatten(), ignore_index=-100)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimizer.step()
            running_loss += loss.item()
            if step % 100 == 0:
                log(f"step {step:5d}/{settings.steps}  loss {running_loss / 100:.4f}  {time.perf_counter() - started:6.0f} s")
                running_loss = 0.0
            if step % settings.checkpoint_every == 0 or step == settings.steps:
                network.eval()
                accuracy = {task: exact_match(model, task, settings.eval_examples, seed=-step) for task in tasks.TASKS}
                save_checkpoint(out_dir / f"step-{step:06d}", network, tokenizer, name=f"bundled tasks model, step {step}")
                record = {"step": step, "loss": loss.item(), "exact_match": accuracy, "seconds": time.perf_counter() - started}
                log_file.write(json.dumps(record) + "\n")
                log_file.flush()
                log(f"checkpoint step {step}: exact match " + ", ".join(f"{t} {a:.2f}" for t, a in accuracy.items()))
    final = save_checkpoint(out_dir / "final", network, tokenizer, name="bundled tasks model")
    log(f"done in {time.perf_counter() - started:.0f} s; final checkpoint in {final}")
    return final

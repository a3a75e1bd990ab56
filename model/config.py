"""The one configuration dataclass that describes every network this project runs.

Encoder-only (BERT-like), decoder-only (GPT-2-like) and encoder–decoder (T5-, BART-,
Marian-like) models all map onto these fields; the Hugging Face importer only
translates names, it never needs a second model class.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

ARCHITECTURES = ("encoder", "decoder", "encoder-decoder")
NORMS = ("layernorm", "rmsnorm")
NORM_PLACEMENTS = ("pre", "post")
ACTIVATIONS = ("relu", "gelu", "gelu_tanh", "silu")
POSITIONS = ("learned", "sinusoidal", "relative", "none")

# Refuse configurations whose weights alone would exceed this many parameters before
# anything is allocated: a hostile config.json must not be able to exhaust memory.
MAX_PARAMETERS = 4_000_000_000
MAX_LAYERS = 256
MAX_POSITIONS = 1 << 20
# A sinusoidal position table is computed, not read from the weight file, so its size
# is not vouched for by the file: cap it (Marian's is 512 × 512; this allows 8192 × 1024).
MAX_SINUSOID_ENTRIES = 1 << 23


@dataclass(frozen=True)
class ModelConfig:
    """Shape and flavour of a transformer.

    Attributes use the paper's names (``d_model``, ``n_heads``, ``d_ff``). Fields
    that only some families need default to the plain Vaswani et al. choice.
    """

    architecture: str = "encoder-decoder"
    vocab_size: int = 128
    d_model: int = 128
    n_heads: int = 4
    # Per-head width; None means d_model // n_heads. T5 sets it independently.
    d_head: int | None = None
    d_ff: int = 512
    n_encoder_layers: int = 2
    n_decoder_layers: int = 2
    max_positions: int = 128

    norm: str = "layernorm"
    norm_eps: float = 1e-5
    norm_placement: str = "pre"
    # A norm right after the embeddings (BERT, BART's layernorm_embedding).
    embedding_norm: bool = False
    # A norm after the last layer of each stack; pre-norm models need it.
    final_norm: bool = True

    activation: str = "gelu"
    # Gated feed-forward, act(x W_gate) * (x W_up) (T5 v1.1).
    gated_ffn: bool = False
    bias: bool = True

    positions: str = "sinusoidal"
    # Learned position tables that start at an offset (BART: 2, RoBERTa: pad + 1).
    position_offset: int = 0
    # RoBERTa numbers positions by counting non-padding tokens.
    positions_skip_padding: bool = False
    relative_buckets: int = 32
    relative_max_distance: int = 128
    # Segment (token type) embeddings for sentence pairs; 0 = none.
    type_vocab_size: int = 0

    # Multiply token embeddings by sqrt(d_model) (Vaswani, Marian).
    scale_embedding: bool = False
    # Divide q·k by sqrt(d_head). T5 folds the scale into its initialisation instead.
    scale_scores: bool = True

    # The LM head; encoder-only models used for inspection need none.
    lm_head: bool = True
    tie_embeddings: bool = True
    # T5 rescales the decoder output by d_model**-0.5 before a tied LM head.
    tied_output_scale: bool = False
    final_logits_bias: bool = False

    pad_token_id: int = 0
    bos_token_id: int | None = 1
    eos_token_id: int | None = 2
    decoder_start_token_id: int | None = 1

    dropout: float = 0.0
    # Free-form name shown to users (e.g. the Hugging Face model_type).
    family: str = "attention-explorer"

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("invalid model configuration: " + "; ".join(problems))

    @property
    def head_dim(self) -> int:
        return self.d_head if self.d_head is not None else self.d_model // self.n_heads

    @property
    def has_encoder(self) -> bool:
        return self.architecture in ("encoder", "encoder-decoder")

    @property
    def has_decoder(self) -> bool:
        return self.architecture in ("decoder", "encoder-decoder")

    @property
    def attention_kinds(self) -> tuple[str, ...]:
        kinds = []
        if self.has_encoder:
            kinds.append("encoder_self")
        if self.has_decoder:
            kinds.append("decoder_self")
        if self.architecture == "encoder-decoder":
            kinds.append("cross")
        return tuple(kinds)

    def problems(self) -> list[str]:
        """Every reason this configuration cannot be built, as short phrases."""
        found: list[str] = []

        def positive(name: str, limit: int | None = None) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                found.append(f"{name} must be a positive integer, got {value!r}")
            elif limit is not None and value > limit:
                found.append(f"{name} = {value} is larger than the supported {limit}")

        for name, allowed in (
            ("architecture", ARCHITECTURES),
            ("norm", NORMS),
            ("norm_placement", NORM_PLACEMENTS),
            ("activation", ACTIVATIONS),
            ("positions", POSITIONS),
        ):
            if getattr(self, name) not in allowed:
                found.append(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name in ("vocab_size", "d_model", "n_heads", "d_ff"):
            positive(name, 1 << 24)
        positive("max_positions", MAX_POSITIONS)
        if self.d_head is not None:
            positive("d_head", 1 << 16)
        for name, needed in (("n_encoder_layers", self.has_encoder), ("n_decoder_layers", self.has_decoder)):
            if needed:
                positive(name, MAX_LAYERS)
        if found:
            return found
        if self.d_head is None and self.d_model % self.n_heads:
            found.append(f"d_model ({self.d_model}) is not divisible by n_heads ({self.n_heads})")
        if not (isinstance(self.norm_eps, (int, float)) and 0 < self.norm_eps < 1):
            found.append(f"norm_eps must be between 0 and 1, got {self.norm_eps!r}")
        if not (isinstance(self.dropout, (int, float)) and 0 <= self.dropout < 1):
            found.append(f"dropout must be in [0, 1), got {self.dropout!r}")
        for name in ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and 0 <= value < self.vocab_size):
                found.append(f"{name} = {value!r} is outside the vocabulary of {self.vocab_size}")
        if self.architecture != "encoder" and self.decoder_start_token_id is None and self.bos_token_id is None:
            found.append("a decoder needs decoder_start_token_id or bos_token_id")
        for name in ("position_offset", "type_vocab_size", "relative_buckets", "relative_max_distance"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                found.append(f"{name} must be a non-negative integer, got {value!r}")
        if found:
            return found
        if self.positions == "relative" and not (
            # Encoders halve the buckets for the two directions and keep half of those
            # exact; the rest cover distances up to relative_max_distance on a log scale.
            self.relative_buckets >= 4 and self.relative_max_distance > self.relative_buckets // 2
        ):
            found.append(
                "relative positions need relative_buckets of at least 4 and a relative_max_distance above "
                f"half of them, got {self.relative_buckets} and {self.relative_max_distance}"
            )
        if self.positions == "sinusoidal":
            entries = (self.max_positions + self.position_offset) * self.d_model
            if entries > MAX_SINUSOID_ENTRIES:
                found.append(
                    f"a sinusoidal position table of {self.max_positions + self.position_offset} positions × "
                    f"{self.d_model} is larger than the supported {MAX_SINUSOID_ENTRIES:,} entries"
                )
        if not found and self.parameter_count() > MAX_PARAMETERS:
            found.append(
                f"the configuration describes about {self.parameter_count():,} parameters, "
                f"more than the supported {MAX_PARAMETERS:,}"
            )
        return found

    def parameter_count(self) -> int:
        """Approximate number of weights, computed without allocating any."""
        d, inner, ff = self.d_model, self.n_heads * self.head_dim, self.d_ff
        attention = 4 * d * inner
        ffn = (3 if self.gated_ffn else 2) * d * ff
        count = self.vocab_size * d
        if self.positions == "learned":
            count += (self.max_positions + self.position_offset) * d * (int(self.has_encoder) + int(self.has_decoder))
        count += self.type_vocab_size * d
        if self.has_encoder:
            count += self.n_encoder_layers * (attention + ffn)
        if self.has_decoder:
            cross = attention if self.architecture == "encoder-decoder" else 0
            count += self.n_decoder_layers * (attention + cross + ffn)
        if self.lm_head and not self.tie_embeddings:
            count += self.vocab_size * d
        return count

    @property
    def start_token_id(self) -> int:
        """The first decoder input: decoder_start_token_id, else BOS."""
        token = self.decoder_start_token_id if self.decoder_start_token_id is not None else self.bos_token_id
        assert token is not None  # problems() refuses decoders without one
        return token

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
        """Build from a mapping, refusing unknown fields by name."""
        if not isinstance(values, dict):
            raise ValueError(f"the configuration must be a JSON object, got {type(values).__name__}")
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise ValueError(f"unknown configuration field(s): {', '.join(unknown[:5])}{more}")
        try:
            return cls(**values)
        except TypeError as error:  # a field of the wrong JSON type
            raise ValueError(f"invalid model configuration: {error}") from None


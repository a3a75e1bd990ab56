"""The one configuration dataclass that describes every network this project runs.

Encoder-only (BERT-like), decoder-only (GPT-2-, Llama-like) and encoder–decoder (T5-,
BART-, Marian-like) models all map onto these fields; the Hugging Face importer only
translates names, it never needs a second model class.

It also answers the structural questions a viewer asks without building the network:
which key/value head a query head reads (``kv_head_of``, ``query_heads_of``), and each
layer's attention window and rotary settings (``layer_window``, ``layer_is_local``,
``layer_rotary``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .rotary import Rotary

ARCHITECTURES = ("encoder", "decoder", "encoder-decoder")
NORMS = ("layernorm", "rmsnorm")
# pre: x + f(norm(x)); post: norm(x + f(x)); sandwich: x + norm'(f(norm(x))) (Gemma 2/3);
# after: x + norm(f(x)) (OLMo 2).
NORM_PLACEMENTS = ("pre", "post", "sandwich", "after")
ACTIVATIONS = ("relu", "gelu", "gelu_tanh", "silu")
POSITIONS = ("learned", "sinusoidal", "relative", "rotary", "none")
# none; head: an RMS norm over each head's query and key (Qwen 3, Gemma 3); projection:
# an RMS norm over the whole query and key projections before the heads are split (OLMo 2).
QK_NORMS = ("none", "head", "projection")


# Refuse configurations whose weights alone would exceed this many parameters before
# anything is allocated: a hostile config.json must not be able to exhaust memory.
MAX_PARAMETERS = 4_000_000_000
MAX_LAYERS = 256
MAX_POSITIONS = 1 << 20
# A sinusoidal position table is computed, not read from the weight file, so its size
# is not vouched for by the file: cap it (Marian's is 512 × 512; this allows 8192 × 1024).
MAX_SINUSOID_ENTRIES = 1 << 23


# Fields that to_dict writes only when they differ from their defaults.
_LATER_FIELDS = frozenset({
    "n_kv_heads", "n_decoder_heads", "d_decoder_ff", "norm_offset", "norm_bias", "first_attention_norm", "qkv_bias", "out_bias", "ffn_bias", "score_scale", "scale_by_inverse_layer",
    "attention_softcap", "logit_softcap", "qk_norm", "rotary", "local_rotary", "layer_windows", "rope_layers",
})


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
    # Per-head width; None means d_model // n_heads. T5, Gemma and some Llamas set it independently.
    d_head: int | None = None
    # Key/value heads (grouped-query attention: each serves n_heads // n_kv_heads query
    # heads, in order); None means n_heads, 1 is multi-query attention.
    n_kv_heads: int | None = None
    d_ff: int = 512
    n_encoder_layers: int = 2
    n_decoder_layers: int = 2
    # An encoder–decoder's decoder may have its own head count and feed-forward width
    # (BART's and Marian's decoder_attention_heads, decoder_ffn_dim); None: the encoder's.
    # Its cross-attention has the decoder's heads.
    n_decoder_heads: int | None = None
    d_decoder_ff: int | None = None
    max_positions: int = 128

    norm: str = "layernorm"
    norm_eps: float = 1e-5
    # RMS norms multiply by (norm_offset + weight): Gemma stores weight − 1, so 1.0.
    norm_offset: float = 0.0
    norm_placement: str = "pre"
    # LayerNorms with a bias (ModernBERT's have none).
    norm_bias: bool = True
    # A pre-norm before the first encoder layer's attention; ModernBERT has none there
    # (the embedding norm precedes it).
    first_attention_norm: bool = True
    # A norm right after the embeddings (BERT, BART's layernorm_embedding).
    embedding_norm: bool = False
    # A norm after the last layer of each stack; pre-norm models need it.
    final_norm: bool = True

    activation: str = "gelu"
    # Gated feed-forward, act(x W_gate) * (x W_up) (T5 v1.1).
    gated_ffn: bool = False
    bias: bool = True
    # Finer bias switches (None: as ``bias``): Qwen 2 biases q, k, v but not the output.
    qkv_bias: bool | None = None
    out_bias: bool | None = None
    ffn_bias: bool | None = None

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
    # Multiply q·k by this instead (Gemma 2/3: query_pre_attn_scalar ** -0.5); None: as above.
    score_scale: float | None = None
    # GPT-2's scale_attn_by_inverse_layer_idx: layer i's scores are also divided by i + 1.
    scale_by_inverse_layer: bool = False
    # Soft-capping, cap · tanh(x / cap): of the scores before the mask and softmax (the
    # trace keeps the capped scores, which are what enter the softmax), and of the logits.
    attention_softcap: float | None = None
    logit_softcap: float | None = None
    # RMS norm of queries and keys before the rotary positions: see QK_NORMS.
    qk_norm: str = "none"

    # Rotary positions (positions = "rotary"), and those of local (windowed) layers when
    # they differ (Gemma 3, ModernBERT); None: the same as ``rotary``.
    rotary: Rotary | None = None
    local_rotary: Rotary | None = None
    # Per layer of the self-attention stack (the encoder of an encoder, the decoder of a
    # decoder): its window, None for global attention. A causal query i sees keys j with
    # i − window < j ≤ i; a bidirectional one keys with |i − j| ≤ window // 2. () = all global.
    layer_windows: tuple[int | None, ...] = ()
    # Per layer: whether it applies rotary positions (SmolLM3's no_rope_layers). () = all.
    rope_layers: tuple[bool, ...] = ()

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

    def stack_config(self, stack: str) -> "ModelConfig":
        """The configuration the ``"encoder"`` or ``"decoder"`` stack is built from: the
        decoder of an encoder–decoder with its own heads or width sees them as n_heads, d_ff."""
        if stack != "decoder" or (self.n_decoder_heads is None and self.d_decoder_ff is None):
            return self
        return dataclasses.replace(
            self,
            n_heads=self.n_decoder_heads if self.n_decoder_heads is not None else self.n_heads,
            d_ff=self.d_decoder_ff if self.d_decoder_ff is not None else self.d_ff,
            n_decoder_heads=None,
            d_decoder_ff=None,
        )

    def heads_of(self, kind: str) -> int:
        """Query heads of one attention kind (``encoder_self``, ``decoder_self``, ``cross``)."""
        return self.stack_config("encoder" if kind == "encoder_self" else "decoder").n_heads

    @property
    def kv_heads(self) -> int:
        """Key/value heads of every attention (n_heads unless grouped or multi-query)."""
        return self.n_kv_heads if self.n_kv_heads is not None else self.n_heads

    def kv_head_of(self, head: int) -> int:
        """The key/value head query head ``head`` reads (Hugging Face's repeat_kv order)."""
        if not 0 <= head < self.n_heads:
            raise ValueError(f"head {head} is out of range: this model has heads 0–{self.n_heads - 1}")
        return head // (self.n_heads // self.kv_heads)

    def query_heads_of(self, kv_head: int) -> range:
        """The query heads that share key/value head ``kv_head``."""
        if not 0 <= kv_head < self.kv_heads:
            raise ValueError(f"key/value head {kv_head} is out of range: this model has {self.kv_heads}")
        group = self.n_heads // self.kv_heads
        return range(kv_head * group, (kv_head + 1) * group)

    @property
    def self_attention_layers(self) -> int:
        """Layers of the stack ``layer_windows`` and ``rope_layers`` describe."""
        return self.n_decoder_layers if self.architecture == "decoder" else self.n_encoder_layers

    def layer_window(self, layer: int) -> int | None:
        """Layer ``layer``'s attention window in tokens, or None when it attends globally."""
        return self.layer_windows[layer] if self.layer_windows else None

    def layer_is_local(self, layer: int) -> bool:
        return self.layer_window(layer) is not None

    def layer_rotary(self, layer: int) -> Rotary | None:
        """The rotary settings layer ``layer`` applies, or None when it adds no positions."""
        if self.rotary is None or (self.rope_layers and not self.rope_layers[layer]):
            return None
        if self.local_rotary is not None and self.layer_is_local(layer):
            return self.local_rotary
        return self.rotary

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
            ("qk_norm", QK_NORMS),
        ):
            if getattr(self, name) not in allowed:
                found.append(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name in ("vocab_size", "d_model", "n_heads", "d_ff"):
            positive(name, 1 << 24)
        positive("max_positions", MAX_POSITIONS)
        if self.d_head is not None:
            positive("d_head", 1 << 16)
        if self.n_kv_heads is not None:
            positive("n_kv_heads", 1 << 16)
        for name in ("n_decoder_heads", "d_decoder_ff"):
            if getattr(self, name) is not None:
                positive(name, 1 << 24)
                if self.architecture != "encoder-decoder":
                    found.append(f"{name} is only for encoder–decoder models")
        for name, needed in (("n_encoder_layers", self.has_encoder), ("n_decoder_layers", self.has_decoder)):
            if needed:
                positive(name, MAX_LAYERS)
        if found:
            return found
        if self.d_head is None and self.d_model % self.n_heads:
            found.append(f"d_model ({self.d_model}) is not divisible by n_heads ({self.n_heads})")
        if self.d_head is None and self.n_decoder_heads is not None and self.d_model % self.n_decoder_heads:
            found.append(f"d_model ({self.d_model}) is not divisible by n_decoder_heads ({self.n_decoder_heads})")
        if self.n_heads % self.kv_heads:
            found.append(f"n_heads ({self.n_heads}) is not divisible by n_kv_heads ({self.kv_heads})")
        found.extend(self._attention_problems())
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

    def _attention_problems(self) -> list[str]:
        """The problems of the fields that modern decoders brought (windows, rotary, caps)."""
        found: list[str] = []
        if not (isinstance(self.norm_offset, (int, float)) and not isinstance(self.norm_offset, bool)
                and self.norm_offset in (0, 1)):
            found.append(f"norm_offset must be 0 or 1, got {self.norm_offset!r}")
        for name in ("score_scale", "attention_softcap", "logit_softcap"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < 1e6)
            ):
                found.append(f"{name} must be a positive number below 10⁶, got {value!r}")
        for name in ("qkv_bias", "out_bias", "ffn_bias", "scale_by_inverse_layer", "norm_bias", "first_attention_norm"):
            value = getattr(self, name)
            if value not in (None, True, False) or (value is None and name not in ("qkv_bias", "out_bias", "ffn_bias")):
                found.append(f"{name} must be true or false, got {value!r}")
        rotaries = [("rotary", self.rotary), ("local_rotary", self.local_rotary)]
        for where, rotary in rotaries:
            if rotary is not None and not isinstance(rotary, Rotary):
                found.append(f"{where} must be rotary settings, got {type(rotary).__name__}")
            elif rotary is not None:
                found.extend(rotary.problems(self.head_dim, where))
        if (self.positions == "rotary") != (self.rotary is not None):
            found.append("rotary settings go with positions = 'rotary' and only with it")
        n_layers = self.self_attention_layers
        stacks_of_one_kind = self.architecture != "encoder-decoder"
        for name in ("layer_windows", "rope_layers"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                found.append(f"{name} must be a list, got {type(value).__name__}")
            elif value and (not stacks_of_one_kind or len(value) != n_layers):
                found.append(f"{name} must give one entry for each of the {n_layers} layers, got {len(value)}")
        if found:
            return found
        for window in self.layer_windows:
            if window is not None and (isinstance(window, bool) or not isinstance(window, int) or not 0 < window <= MAX_POSITIONS):
                found.append(f"an attention window must be a whole number of tokens from 1 to {MAX_POSITIONS}, got {window!r}")
                break
        if any(not isinstance(used, bool) for used in self.rope_layers):
            found.append("rope_layers must hold true or false for each layer")
        return found

    def parameter_count(self) -> int:
        """Approximate number of weights, computed without allocating any."""
        d = self.d_model

        def layer(config: "ModelConfig") -> tuple[int, int]:
            inner, kv_inner = config.n_heads * config.head_dim, config.kv_heads * config.head_dim
            attention = 2 * d * inner + 2 * d * kv_inner
            return attention, (3 if config.gated_ffn else 2) * d * config.d_ff

        count = self.vocab_size * d
        if self.positions == "learned":
            count += (self.max_positions + self.position_offset) * d * (int(self.has_encoder) + int(self.has_decoder))
        count += self.type_vocab_size * d
        if self.has_encoder:
            attention, ffn = layer(self)
            count += self.n_encoder_layers * (attention + ffn)
        if self.has_decoder:
            attention, ffn = layer(self.stack_config("decoder"))
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
        """The fields as JSON-ready values. Fields added for the Llama-era families are
        left out while they hold their defaults, so a classic model's config.json stays
        what earlier versions wrote and read."""
        values = dataclasses.asdict(self)
        for field in dataclasses.fields(self):
            if field.name in _LATER_FIELDS and getattr(self, field.name) == field.default:
                del values[field.name]
        return values

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
        values = dict(values)
        try:
            for name in ("rotary", "local_rotary"):  # JSON objects back into settings
                if isinstance(values.get(name), dict):
                    rotary = dict(values[name])
                    for factors in ("short_factor", "long_factor"):
                        if isinstance(rotary.get(factors), list):
                            rotary[factors] = tuple(rotary[factors])
                    values[name] = Rotary(**rotary)
            for name in ("layer_windows", "rope_layers"):  # JSON lists back into tuples
                if isinstance(values.get(name), list):
                    values[name] = tuple(values[name])
            return cls(**values)
        except TypeError as error:  # a field of the wrong JSON type
            raise ValueError(f"invalid model configuration: {error}") from None


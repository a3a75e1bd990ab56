"""A loaded model with its tokenizer: text in, attention trace out.

``AttentionModel.trace`` is the one call the CLI and the desktop app make. Text goes to
the encoder of encoder-only and encoder–decoder models and to the decoder of
decoder-only ones; an encoder–decoder without a target generates greedily, and the
trace then covers the whole generated sequence. While typing (``reuse``), the previous
generated sequence is tried first as a draft: the trace's own pass over it gives the
logits at every position, and where they confirm it (``model.generation.check_draft``)
that pass is the trace and no generation step runs; where they part from it, greedy
decoding continues from the confirmed tokens.

Three costs are chosen here on purpose. The trace's storage: dense (every cell kept)
while the float32 trace would take at most ``DENSE_TRACE_BYTES``, recomputed beyond
(queries, keys and log-sum-exps kept, cells recomputed when read: ``model.trace``,
``model.incremental``). A dense trace's precision: float32 (exact, what
``dump`` and the parity tests read) or float16 (half the memory); ``"auto"``, the
default, keeps float32 until the float32 trace would exceed ``AUTO_FLOAT16_BYTES`` and
stores float16 beyond, so a dense 2,048-token GPT-2-small trace takes 2.4 GB instead
of 4.8 GB (``"auto"`` storage recomputes that one: 0.24 GB). The forward always computes in float32; only the stored copy is rounded (the
choice reaches the network as an ``AttentionRecorder``, with any overview size). And
the intra-op thread count: every core but one (see ``default_threads``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import torch

from .chat import ChatTemplate
from .config import ModelConfig
from .generation import DRAFT_MARGIN, check_draft, greedy_generate, greedy_steps
from .incremental import IncrementalTracer, recomputed_maps
from .probes import TraceProbe
from .progress import Progress
from .recorder import AttentionRecorder, AttentionStack
from .tokenization import Encoded, TextTokenizer, clean_text
from .trace import AttentionMaps, TokenAxis, Trace
from .transformer import Transformer

DEFAULT_MAX_NEW_TOKENS = 64
TRACE_PRECISIONS = ("auto", "float32", "float16")
# Above this many bytes of float32 weights + scores, "auto" stores the trace as float16.
# 512 MiB keeps every input of encoders up to BERT-base size at 512 tokens exact
# (302 MB) and halves GPT-2-small from 1,024 tokens on (1.2 GB, 4.8 GB at 2,048).
AUTO_FLOAT16_BYTES = 512 * 2**20
_TRACE_DTYPES = {"float32": torch.float32, "float16": torch.float16}
TRACE_STORAGES = ("auto", "dense", "recomputed")
# "auto" storage keeps a trace dense while its float32 weights + scores take at most this
# many bytes (GPT-2-small up to 682 tokens) and recomputes cells from stored queries and
# keys beyond: dense reads cost nothing, but a dense 2,048-token GPT-2-small trace is 4.8 GB.
DENSE_TRACE_BYTES = 512 * 2**20


def default_threads() -> int:
    """Intra-op threads for a forward: every usable core but one, and at least one.

    The forward runs on a worker thread beside the GUI thread; leaving it a core keeps
    painting smooth, and on small inputs one thread is faster anyway (on a 2-core machine
    a second OpenMP thread made a 32-token MiniLM forward 10× slower whenever the other
    core was busy, because every small op waits at a barrier for it).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def trace_nbytes(config: ModelConfig, n_source: int, n_target: int, itemsize: int = 4) -> int:
    """Bytes of a trace's weights and scores at ``itemsize`` bytes per value.

    ``n_source`` is the encoder length, ``n_target`` the decoder length (either 0 when
    the model has no such stack).
    """
    values = 0
    if config.has_encoder:
        values += config.n_encoder_layers * config.heads_of("encoder_self") * n_source * n_source
    if config.has_decoder:
        cross = n_source if config.architecture == "encoder-decoder" else 0
        values += config.n_decoder_layers * config.heads_of("decoder_self") * n_target * (n_target + cross)
    return 2 * values * itemsize  # weights and scores


def resolve_storage(storage: str, float32_nbytes: int) -> str:
    """``"dense"`` or ``"recomputed"``: what ``storage`` means for a trace of that size."""
    if storage not in TRACE_STORAGES:
        raise ValueError(f"trace storage must be one of {', '.join(TRACE_STORAGES)}, not {storage!r}")
    if storage == "auto":
        return "recomputed" if float32_nbytes > DENSE_TRACE_BYTES else "dense"
    return storage


def resolve_precision(precision: str, float32_nbytes: int) -> str:
    """``"float32"`` or ``"float16"``: what ``precision`` means for a trace of that size."""
    if precision not in TRACE_PRECISIONS:
        raise ValueError(f"trace precision must be one of {', '.join(TRACE_PRECISIONS)}, not {precision!r}")
    if precision == "auto":
        return "float16" if float32_nbytes > AUTO_FLOAT16_BYTES else "float32"
    return precision


class AttentionModel:
    """A network, its tokenizer and a name, on one device.

    ``trace_precision`` (``"auto"``, ``"float32"`` or ``"float16"``) is the default of
    ``trace``'s ``precision``. ``threads`` is the intra-op thread count set on the
    calling thread before each forward: None picks ``default_threads()``, 0 leaves
    torch's setting alone.
    """

    def __init__(
        self,
        network: Transformer,
        tokenizer: TextTokenizer,
        name: str,
        source: str = "",
        trace_precision: str = "auto",
        threads: int | None = None,
    ) -> None:
        self.network = network.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.source = source
        resolve_precision(trace_precision, 0)  # refuses an unknown name now, not at the first trace
        self.trace_precision = trace_precision
        self.threads = default_threads() if threads is None else threads
        # The checkpoint's chat template (tokenizer_config.json), if it has one; the loader sets it.
        self.chat_template: ChatTemplate | None = None
        # The running trace's options, read by the per-architecture steps below.
        self._progress: Progress | None = None
        self._storage, self._reuse = "auto", False
        # Recomputed traces, and the state an incremental (reuse) trace continues from.
        self.incremental = IncrementalTracer(self.network)
        # The last reuse trace's generated decoder ids: the next reuse trace's draft.
        self.draft: tuple[int, ...] | None = None
        # Greedy decoder steps the last trace ran (0 when a draft was confirmed whole).
        self.generation_steps = 0

    def _set_threads(self) -> None:
        # torch keeps the count per calling thread, so it is set where the forward runs.
        if self.threads and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)

    @property
    def config(self) -> ModelConfig:
        return self.network.config

    @property
    def dtype(self) -> torch.dtype:
        """The network's compute dtype (its embedding table's)."""
        return self.network.embed_tokens.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.network.embed_tokens.weight.device

    def to(self, device: str | torch.device) -> "AttentionModel":
        self.network.to(device)
        self.incremental.forget()  # its tensors live on the previous device
        return self

    def describe(self) -> str:
        config = self.config
        layers = []
        if config.has_encoder:
            layers.append(f"{config.n_encoder_layers} encoder")
        if config.has_decoder:
            layers.append(f"{config.n_decoder_layers} decoder")
        heads = f"{config.n_heads}" if config.kv_heads == config.n_heads else f"{config.n_heads} ({config.kv_heads} key/value)"
        if config.has_decoder and config.heads_of("decoder_self") != config.n_heads:
            heads = f"{config.n_heads} encoder / {config.heads_of('decoder_self')} decoder"
        return f"{config.family} {config.architecture}, {' + '.join(layers)} layers × {heads} heads, d_model {config.d_model}"

    def _axis(self, ids: list[int], tokens: list[str] | None = None, special: list[bool] | None = None,
              template: list[bool] | None = None) -> TokenAxis:
        if tokens is None:
            tokens = self.tokenizer.tokens(ids)
        if special is None:
            special = [token_id in self.tokenizer.special_ids for token_id in ids]
        return TokenAxis(
            ids=np.asarray(ids, dtype=np.int64),
            tokens=tokens,
            special=np.asarray(special, dtype=bool),
            padding=np.zeros(len(ids), dtype=bool),
            template=np.asarray(template, dtype=bool) if template else None,
        )

    def _input_axis(self, encoded: Encoded) -> TokenAxis:
        return self._axis(encoded.ids, encoded.tokens, encoded.special, encoded.template)

    def encode_chat(self, text: str) -> Encoded:
        """``text`` as one user turn of the model's chat template, with the generation prompt.

        The template writes its own special tokens, so none are added; ``template`` marks
        the tokens the template wrote. Raises ``ValueError`` for a model without a
        template and ``CheckpointError`` (one sentence) for a template that fails.
        """
        if self.chat_template is None:
            raise ValueError(f"{self.name} has no chat template (its tokenizer_config.json holds no chat_template)")
        rendered = self.chat_template.render(clean_text(text))
        encoded = self.tokenizer.encode(rendered.text, add_special_tokens=False)
        # A token counts as the user's if any of its characters is; the rest the template wrote.
        encoded.template = [end <= rendered.user_start or start >= rendered.user_end for start, end in encoded.offsets]
        return encoded

    def _tensor(self, ids: list[int]) -> torch.Tensor:
        return torch.tensor([ids], dtype=torch.long, device=self.device)  # (1, T)

    def decoder_ids(self, target: str) -> tuple[list[int], bool]:
        """``[decoder_start] + target ids`` as the tokenizer encodes them, and whether cut."""
        encoded = self.tokenizer.encode(target)
        ids = [self.config.start_token_id, *encoded.ids][: self.config.max_positions]
        return ids, encoded.truncated or len(encoded.ids) + 1 > self.config.max_positions

    @torch.inference_mode()
    def generate(self, text: str, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> list[int]:
        """Greedy continuation: for encoder–decoder models the decoder ids from the start token."""
        config = self.config
        if not config.has_decoder or not config.lm_head:
            raise ValueError("this model cannot generate: it has no decoder with a language-model head")
        encoded = self.tokenizer.encode(text)
        self._set_threads()
        if config.architecture == "encoder-decoder":
            return self.generate_from_ids(self._tensor(encoded.ids), max_new_tokens)
        return greedy_generate(self.network, self._tensor(encoded.ids), max_new_tokens)[0].tolist()

    @torch.inference_mode()
    def trace(
        self,
        text: str,
        target: str | None = None,
        pair: str | None = None,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        precision: str | None = None,
        overview_side: int | None = None,
        chat: bool = False,
        storage: str = "auto",
        progress: Progress | None = None,
        reuse: bool = False,
    ) -> Trace:
        """Run the model on ``text`` and return every attention matrix it computed.

        Args:
            text: the source (encoder) text, or the whole text for decoder-only models.
            target: encoder–decoder only: the decoder text for teacher forcing. None or
                empty generates greedily.
            pair: encoder-only only: the second segment of a sentence pair.
            precision: the dtype the trace's arrays are stored in: ``"float32"``,
                ``"float16"`` or ``"auto"`` (float16 only when the float32 trace would
                exceed ``AUTO_FLOAT16_BYTES``); None uses ``self.trace_precision``.
            overview_side: also pool every map's float32 weights to at most this many
                cells a side during the forward (``AttentionMaps.overview``).
            chat: wrap ``text`` as one user turn of the model's chat template (see
                ``encode_chat``); the axis's ``template`` marks the template's tokens.
            storage: ``"dense"`` (every cell stored), ``"recomputed"`` (queries, keys and
                log-sum-exps stored, cells recomputed when read; see ``model.trace``) or
                ``"auto"``: dense while the float32 weights and scores would take at most
                ``DENSE_TRACE_BYTES``, recomputed beyond. ``precision`` applies to dense
                storage; recomputed cells are always float32.
            progress: called at every layer boundary with ``(stack, layers done,
                n_layers)``; it cancels the trace by raising ``TraceCancelled`` or
                returning True (``model.progress``).
            reuse: keep this trace's keys, values and queries, and start the next
                ``reuse`` trace from the first token id that differs (see
                ``model.incremental``); one thread at a time.
        """
        config = self.config
        precision = precision or self.trace_precision
        resolve_precision(precision, 0)
        resolve_storage(storage, 0)
        self._progress, self._storage, self._reuse = progress, storage, reuse
        self._set_threads()
        notices: list[str] = []
        started = time.perf_counter()
        if chat:
            encoded = self.encode_chat(text)
        else:
            encoded = self.tokenizer.encode(text, pair if config.architecture == "encoder" else None)
        tokenise_ms = (time.perf_counter() - started) * 1000
        if encoded.truncated:
            notices.append(
                f"The input was cut to the model's maximum of {self.tokenizer.max_length} tokens."
            )
        if config.architecture == "encoder":
            trace = self._trace_encoder(encoded, notices, precision, overview_side)
        elif config.architecture == "decoder":
            trace = self._trace_decoder(encoded, notices, precision, overview_side)
        else:
            trace = self._trace_encoder_decoder(encoded, target, max_new_tokens, notices, precision, overview_side)
        trace.tokenise_ms = tokenise_ms
        return trace

    def _recomputed(self, n_source: int, n_target: int) -> bool:
        """Whether this trace is recomputed (``storage``); a dense one drops the kept state."""
        storage = resolve_storage(self._storage, trace_nbytes(self.config, n_source, n_target))
        if storage == "dense":
            self.incremental.forget()
        return storage == "recomputed"

    def _recorder(self, precision: str, overview_side: int | None, n_source: int, n_target: int) -> AttentionRecorder:
        """How this trace's attention is kept: its dtype for this size, and any overview."""
        dtype = _TRACE_DTYPES[resolve_precision(precision, trace_nbytes(self.config, n_source, n_target))]
        return AttentionRecorder(dtype=dtype, overview_side=overview_side, progress=self._progress)

    def _trace_encoder(self, encoded: Encoded, notices: list[str], precision: str, overview_side: int | None) -> Trace:
        probe = None  # a recomputed trace has no value norms nor residuals (no hooks run)
        if self._recomputed(len(encoded.ids), 0):
            run = self.incremental.encoder_only(
                encoded.ids, encoded.type_ids if self.config.type_vocab_size else None, overview_side, self._progress, self.device
            )
            maps = recomputed_maps(run.self_attention, attention_structure(self.config, "encoder_self"))
        else:
            type_ids = torch.tensor([encoded.type_ids], dtype=torch.long, device=self.device) if self.config.type_vocab_size else None
            recorder = self._recorder(precision, overview_side, len(encoded.ids), 0)
            with TraceProbe(self.network) as probe:
                output = self.network.encode(self._tensor(encoded.ids), type_ids=type_ids, recorder=recorder)
            maps = _maps(output.self_attention, self.config, "encoder_self")
        return _probed(probe, Trace(
            model_name=self.name,
            architecture=self.config.architecture,
            encoder=self._input_axis(encoded),
            decoder=None,
            attention={"encoder_self": maps},
            notices=notices,
        ))

    def _trace_decoder(self, encoded: Encoded, notices: list[str], precision: str, overview_side: int | None) -> Trace:
        probe = None
        if self._recomputed(0, len(encoded.ids)):
            run, _ = self.incremental.decoder_only(encoded.ids, overview_side, self._progress, self._reuse, self.device)
            maps = recomputed_maps(run.self_attention, attention_structure(self.config, "decoder_self"))
            hidden = run.hidden
        else:
            recorder = self._recorder(precision, overview_side, 0, len(encoded.ids))
            with TraceProbe(self.network) as probe:
                output = self.network.decode(self._tensor(encoded.ids), recorder=recorder)
            maps, hidden = _maps(output.self_attention, self.config, "decoder_self"), output.hidden
        return _probed(probe, Trace(
            model_name=self.name,
            architecture=self.config.architecture,
            encoder=None,
            decoder=self._input_axis(encoded),
            attention={"decoder_self": maps},
            notices=notices,
            decoder_hidden=_hidden(hidden),
        ))

    def _trace_encoder_decoder(
        self,
        encoded: Encoded,
        target: str | None,
        max_new_tokens: int,
        notices: list[str],
        precision: str,
        overview_side: int | None,
    ) -> Trace:
        generated = not target
        self.generation_steps = 0
        traced = earlier = None  # the trace's pass, and a parted draft's pass over the same source
        if generated:
            previous = self.incremental.same_source(encoded.ids, overview_side) if self._reuse else None
            if previous is not None and previous.generated and previous.decoder_ids is not None:
                decoder_ids = list(previous.decoder_ids)  # greedy generation from the same source: the same tokens
            elif self._drafts() and self.draft is not None and self.draft[:1] == (self.config.start_token_id,):
                decoder_ids, earlier = self._from_draft(encoded, list(self.draft), max_new_tokens, precision, overview_side)
                if decoder_ids == list(self.draft):  # the draft's own ids: its pass is the trace
                    traced = earlier
                    self.incremental.confirm_generated()
            else:
                decoder_ids = self._generated(self._tensor(encoded.ids), max_new_tokens)
        else:
            decoder_ids, cut = self.decoder_ids(target)
            if cut:
                notices.append(f"The target was cut to the model's maximum of {self.config.max_positions} tokens.")
        if traced is None:
            traced = self._traced_pass(encoded, decoder_ids, generated, precision, overview_side, earlier)
        self.draft = tuple(decoder_ids) if self._reuse and generated else None
        return _probed(traced.probe, Trace(
            model_name=self.name,
            architecture=self.config.architecture,
            encoder=self._input_axis(encoded),
            decoder=self._axis(decoder_ids),
            attention=traced.attention,
            generated=generated,
            notices=notices,
            decoder_hidden=_hidden(traced.hidden),
        ))

    def _drafts(self) -> bool:
        """Whether this trace tries the previous generation as a draft: a reuse trace of a
        float32 network. A half-precision network's computations of the same logits differ
        by far more than ``DRAFT_MARGIN`` allows for, so it generates every time."""
        return self._reuse and self.dtype == torch.float32

    def _from_draft(
        self, encoded: Encoded, draft: list[int], max_new_tokens: int, precision: str, overview_side: int | None
    ) -> tuple[list[int], "_TracedPass"]:
        """Greedy decoding's ids for ``encoded``, tried from ``draft`` first, and the draft's pass.

        The draft's traced pass gives the logits at every position. Confirmed whole
        (``check_draft``), the ids returned are the draft and that pass is the trace; a
        parted draft's pass still lends its encoder to the trace's pass. Otherwise greedy
        decoding continues from the tokens it is sure of, on the pass's encoder
        output; a step whose choice is a near-tie (``DRAFT_MARGIN``) hands over to plain
        greedy decoding from the start, so the ids are plain greedy decoding's (see
        ``model.generation``). The pass is kept as not generated until it is confirmed:
        a cancelled trace must not leave unconfirmed tokens as the source's generation.
        """
        traced = self._traced_pass(encoded, draft, False, precision, overview_side)
        check = check_draft(self.network, draft, self.network.logits(traced.hidden[0]), 1, max_new_tokens)
        if check.confirmed:
            return draft, traced
        if check.finished:
            return check.ids, traced
        continued = greedy_steps(
            self.network, self._tensor(check.ids), max_new_tokens - (len(check.ids) - 1), traced.memory, margin=DRAFT_MARGIN
        )
        self.generation_steps += continued.steps
        if continued.decided:
            return continued.ids[0].tolist(), traced
        return self._generated(self._tensor(encoded.ids), max_new_tokens), traced

    def _generated(self, source: torch.Tensor, max_new_tokens: int) -> list[int]:
        """``generate_from_ids``, counting its steps in ``generation_steps``."""
        ids = self.generate_from_ids(source, max_new_tokens)
        self.generation_steps += len(ids) - 1  # one step per token after the start token
        return ids

    def _traced_pass(
        self,
        encoded: Encoded,
        decoder_ids: list[int],
        generated: bool,
        precision: str,
        overview_side: int | None,
        earlier: "_TracedPass | None" = None,
    ) -> "_TracedPass":
        """The encoder–decoder forward over ``encoded`` and ``decoder_ids`` that a trace shows.

        ``earlier``: a dense pass of this trace over the same source (a parted draft's);
        its encoder output, maps and probe serve this one when it is dense at the same
        dtype, so only the decoder runs (the same forward: ``Transformer.forward`` is
        ``encode`` then ``decode`` on its output). A recomputed pass reuses the encoder
        through ``model.incremental`` (which continues the decoder from the tokens it
        shares with the draft, to rounding, as typing does).
        """
        if self._recomputed(len(encoded.ids), len(decoder_ids)):
            encoder, encoder_maps, run = self.incremental.encoder_decoder(
                encoded.ids, decoder_ids, generated, overview_side, self._progress, self._reuse,
                attention_structure(self.config, "encoder_self"), self.device,
            )
            attention = {
                "encoder_self": encoder_maps,
                "decoder_self": recomputed_maps(run.self_attention, attention_structure(self.config, "decoder_self")),
                "cross": recomputed_maps(run.cross_attention, attention_structure(self.config, "cross")),
            }
            return _TracedPass(attention, run.hidden, encoder.hidden, None, None)
        recorder = self._recorder(precision, overview_side, len(encoded.ids), len(decoder_ids))
        reused = earlier is not None and earlier.probe is not None and earlier.dtype == recorder.dtype
        if reused:
            probe = earlier.probe
            probe.keep_only(("encoder_self",))
            encoder_maps, memory = earlier.attention["encoder_self"], earlier.memory
        else:
            probe = TraceProbe(self.network)
        with probe:
            if not reused:
                encoder_output = self.network.encode(self._tensor(encoded.ids), recorder=recorder)
                encoder_maps, memory = _maps(encoder_output.self_attention, self.config, "encoder_self"), encoder_output.hidden
            decoder_output = self.network.decode(self._tensor(decoder_ids), memory, recorder=recorder)
        attention = {
            "encoder_self": encoder_maps,
            "decoder_self": _maps(decoder_output.self_attention, self.config, "decoder_self"),
            "cross": _maps(decoder_output.cross_attention, self.config, "cross"),
        }
        return _TracedPass(attention, decoder_output.hidden, memory, probe, recorder.dtype)

    def generate_from_ids(self, source: torch.Tensor, max_new_tokens: int) -> list[int]:
        prefix = self._tensor([self.config.start_token_id])
        return greedy_generate(self.network, prefix, max_new_tokens, source)[0].tolist()


@dataclass(frozen=True)
class _TracedPass:
    """One traced encoder–decoder forward: what the trace shows, and what a draft check reads."""

    attention: dict[str, AttentionMaps]
    hidden: torch.Tensor  # (1, T, d_model): the decoder's last hidden states
    memory: torch.Tensor  # (1, Tk, d_model): the encoder's output
    probe: TraceProbe | None  # a dense pass's value norms and residuals
    dtype: torch.dtype | None  # a dense pass's stored dtype


def _maps(stack: AttentionStack | None, config: ModelConfig | None = None, kind: str = "") -> AttentionMaps:
    """The batch's only row as numpy, at the dtype the stack holds (on the CPU the arrays
    are views of the stack's buffers, so nothing is copied), with the kind's structure
    when the model's ``config`` is given."""
    assert stack is not None  # a forward given a recorder always returns a stack
    with_overview = stack.overview is not None and stack.overview_means is not None
    steps = None
    if with_overview:
        # Recovered from the shapes as pool_steps made them: ceil(n / side) per cell, so
        # ceil(n / cells) for n ≥ cells (an axis that fits keeps one cell per token).
        Q, K = stack.weights.shape[-2:]
        q, k = stack.overview.shape[-2:]
        steps = (-(-Q // q) if q else 1, -(-K // k) if k else 1)  # an empty input: one token a cell
    return AttentionMaps(
        weights=stack.weights[0].cpu().numpy(),  # (L, H, Q, K)
        scores=stack.scores[0].cpu().numpy(),  # (L, H, Q, K)
        overview=stack.overview[0].cpu().numpy() if with_overview else None,  # (L, H, q, k)
        overview_means=stack.overview_means[0].cpu().numpy() if with_overview else None,  # (L, q, k)
        overview_steps=steps,
        **(attention_structure(config, kind) if config is not None else {}),
    )


def _probed(probe: TraceProbe | None, trace: Trace) -> Trace:
    """``trace`` with what the dense forward's probe collected (value norms, residuals)."""
    return probe.attach(trace) if probe is not None else trace


def _hidden(hidden: torch.Tensor) -> np.ndarray:
    return hidden[0].float().cpu().numpy()  # (T, d_model)


def attention_structure(config: ModelConfig, kind: str) -> dict:
    """``AttentionMaps``' ``kv_heads`` and ``windows`` of one kind of a model.

    Grouped-query sharing applies to the self-attention of each stack and to
    cross-attention alike; sliding windows only to the self-attention of the stack they
    were configured for (the encoder of encoder-only and encoder–decoder models).
    """
    stack = config.stack_config("encoder" if kind == "encoder_self" else "decoder")
    kv_heads = None
    if stack.kv_heads != stack.n_heads:
        kv_heads = np.asarray([stack.kv_head_of(head) for head in range(stack.n_heads)], dtype=np.int64)
    windowed_kind = "decoder_self" if config.architecture == "decoder" else "encoder_self"
    windows = None
    if kind == windowed_kind and config.layer_windows and any(window is not None for window in config.layer_windows):
        windows = tuple(config.layer_windows)
    return {"kv_heads": kv_heads, "windows": windows}

"""What a trace keeps beside the attention: value-vector norms and the decoder's residual stream.

Two analyses need more of the forward than the attention matrices:

- **Value-weighted attention** (Kobayashi et al., EMNLP 2020, "Attention is Not Only a
  Weight"). A head's output at query i is Σ_j α_ij f(x_j) (plus the output bias, once),
  with f(x_j) = (x_j W_V + b_V) W_O^h: the value vector of key j mapped through the
  head's share W_O^h of the output projection (the columns of W_O that read head h).
  ‖α_ij f(x_j)‖ = α_ij ‖f(x_j)‖ is what key j actually contributes: a head can give a
  token 90 % of its weight and still add almost nothing, when that token's f(x_j) is
  tiny. The probe keeps ‖f(x_j)‖ of every layer, head and key, ``(L, H, K)``, always
  (it is the size of one row of each map); and, while it fits under ``VALUE_GRAM_CAP``
  values, the heads' Gram matrix per key, G[h, g, j] = f^h(x_j) · f^g(x_j),
  ``(L, H, H, K)``, from which the per-layer norm of the summed heads follows exactly:
  ‖Σ_h α^h_ij f^h(x_j)‖² = Σ_h Σ_g α^h_ij α^g_ij G[h, g, j]
  (``explorer.core.value_weighted``). The Gram is H × H per key where the vectors would be
  H × d_model, so it is kept for inputs d_model / H times longer.
- **The logit lens** (nostalgebraist 2020): the residual stream of a decoder at the
  input of every layer and after the last, ``(L + 1, T, d_model)``, kept while it fits
  under ``RESIDUAL_CAP`` values; ``model.logit_lens`` reads it.

Both are read with forward hooks on the network's own modules for the duration of one
forward, and the hooks are removed on leaving the ``with`` block: the network keeps no
state, and the hook's arguments are exactly the module's inputs, so nothing is recomputed
differently from the forward itself. Biases follow the paper: b_V is inside f, the
output bias b_O (added once per query, not per key) is not.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch import Tensor, nn

from .attention import MultiHeadAttention
from .trace import Trace

# The heads' Gram matrices are kept while L · H · H · K stays at or under this many values
# (64 MiB of float32): GPT-2 small up to 9,700 tokens, a 32-head 16-layer decoder to 1,024.
# Longer traces keep the norms only, and the per-layer sum says why it is missing.
VALUE_GRAM_CAP = 2**24
# Tokens per step while the Gram is made, so its (H, tokens, d_model) temporary stays small.
_GRAM_VALUES_PER_STEP = 2**22
# The decoder's residual stream (L + 1, T, d_model) is kept up to this many values
# (128 MiB of float32): GPT-2 small up to 3,300 tokens, a 2,048-wide 16-layer decoder to 960.
RESIDUAL_CAP = 2**25


def head_value_vectors(module: MultiHeadAttention, source: Tensor) -> Tensor:
    """f^h(x_j) = (x_j W_V + b_V) W_O^h for every head h and key j: ``(B, H, T, d_model)``.

    ``source`` is the module's key/value input ``(B, T, d_model)`` (its memory for
    cross-attention). Under grouped-query attention query head h reads key/value head
    ``h // group``, as ``MultiHeadAttention.forward`` repeats them.
    """
    B, T, _ = source.shape
    dh, H, KV = module.head_dim, module.n_heads, module.n_kv_heads
    v = module.v(source).view(B, T, KV, dh).transpose(1, 2)  # (B, KV, T, dh), b_V included
    if KV != H:
        v = v.repeat_interleave(H // KV, dim=1)  # (B, H, T, dh)
    w_o = module.o.weight.view(module.o.weight.shape[0], H, dh)  # (d_model, H, dh): W_O's columns per head
    return torch.einsum("bhtd,mhd->bhtm", v, w_o)  # (B, H, T, d_model)


def head_value_norms(module: MultiHeadAttention, source: Tensor) -> Tensor:
    """‖f^h(x_j)‖ for every head and key, ``(B, H, T)``, one head at a time (no ``(H, T, d)`` temporary)."""
    B, T, _ = source.shape
    dh, H, KV = module.head_dim, module.n_heads, module.n_kv_heads
    v = module.v(source).view(B, T, KV, dh)  # (B, T, KV, dh)
    norms = torch.empty(B, H, T, dtype=torch.float32, device=source.device)
    for head in range(H):
        w_o = module.o.weight[:, head * dh : (head + 1) * dh]  # (d_model, dh)
        f = v[:, :, head // (H // KV)] @ w_o.T  # (B, T, d_model)
        norms[:, head] = torch.linalg.vector_norm(f.float(), dim=-1)
    return norms


def head_value_gram(module: MultiHeadAttention, source: Tensor) -> Tensor:
    """G[h, g, j] = f^h(x_j) · f^g(x_j) of the batch's first row, ``(H, H, T)`` float32.

    Made a few tokens at a time so the ``(H, tokens, d_model)`` vectors never exist for
    the whole input at once.
    """
    source = source[:1]
    H, T, d_model = module.n_heads, source.shape[1], module.o.weight.shape[0]
    step = max(1, _GRAM_VALUES_PER_STEP // max(H * d_model, 1))
    gram = torch.empty(H, H, T, dtype=torch.float32, device=source.device)
    for start in range(0, T, step):
        vectors = head_value_vectors(module, source[:, start : start + step])[0].float()  # (H, t, d_model)
        gram[:, :, start : start + step] = torch.einsum("htm,gtm->hgt", vectors, vectors)
    return gram


def _attention_modules(network: nn.Module) -> Iterator[tuple[str, int, MultiHeadAttention]]:
    """(kind, layer, module) of every attention module of the network, in order."""
    if getattr(network, "encoder", None) is not None:
        for index, layer in enumerate(network.encoder.layers):
            yield "encoder_self", index, layer.self_attn
    if getattr(network, "decoder", None) is not None:
        for index, layer in enumerate(network.decoder.layers):
            yield "decoder_self", index, layer.self_attn
            if layer.cross_attn is not None:
                yield "cross", index, layer.cross_attn


class TraceProbe:
    """Forward hooks that collect value norms (and their Gram matrices) and the decoder's residuals.

    Use around the one forward a trace is taken from, then ``attach`` to its trace::

        with TraceProbe(network) as probe:
            network.decode(ids, recorder=recorder)
        probe.attach(trace)

    Only the batch's first row is kept (a trace is one input). A probe entered again keeps
    what it collected before, and each module that runs again replaces its own arrays;
    ``keep_only`` first drops the kinds that will run again (an encoder–decoder trace
    whose decoder runs a second time on the same encoder output).
    """

    def __init__(self, network: nn.Module, value_gram_cap: int = VALUE_GRAM_CAP,
                 residual_cap: int = RESIDUAL_CAP) -> None:
        self.network = network
        self.value_gram_cap = value_gram_cap
        self.residual_cap = residual_cap
        self._handles: list = []
        self.norms: dict[str, dict[int, np.ndarray]] = {}
        self.grams: dict[str, dict[int, Tensor]] = {}
        self.residuals: list[Tensor] = []
        self._layers: dict[str, int] = {}

    def __enter__(self) -> "TraceProbe":
        for kind, index, module in _attention_modules(self.network):
            self._layers[kind] = index + 1
            self._handles.append(module.register_forward_hook(self._value_hook(kind, index), with_kwargs=True))
        decoder = getattr(self.network, "decoder", None)
        if decoder is not None and len(decoder.layers):
            self._handles.append(decoder.layers[0].register_forward_pre_hook(self._first_residual))
            for layer in decoder.layers:
                self._handles.append(layer.register_forward_hook(self._layer_residual))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def keep_only(self, kinds: tuple[str, ...]) -> None:
        """Drop the collected arrays of every kind not in ``kinds``, and the residuals."""
        for collected in (self.norms, self.grams):
            for kind in [kind for kind in collected if kind not in kinds]:
                del collected[kind]
        self.residuals = []

    def _value_hook(self, kind: str, index: int):
        def hook(module: MultiHeadAttention, args: tuple, kwargs: dict, _output) -> None:
            x = args[0] if args else kwargs["x"]
            memory = kwargs.get("memory", args[1] if len(args) > 1 else None)
            source = (x if memory is None else memory)[:1]  # (1, T, d_model)
            H, T = module.n_heads, source.shape[1]
            if self._layers[kind] * H * H * T <= self.value_gram_cap:
                gram = head_value_gram(module, source)  # (H, H, T)
                self.grams.setdefault(kind, {})[index] = gram.cpu()
                norms = torch.diagonal(gram, dim1=0, dim2=1).T.clamp_min(0).sqrt()  # (H, T)
            else:
                norms = head_value_norms(module, source)[0]  # (H, T)
            self.norms.setdefault(kind, {})[index] = norms.cpu().numpy()

        return hook

    def _first_residual(self, _module, args: tuple) -> None:
        self.residuals = [args[0][0]]  # (T, d_model): the embeddings entering layer 0

    def _layer_residual(self, _module, _args, output) -> None:
        self.residuals.append(output[0][0])  # (T, d_model): the residual after this layer

    def attach(self, trace: Trace) -> Trace:
        """Set the collected arrays on ``trace``'s maps (and residuals for a decoder); returns it."""
        for kind, layers in self.norms.items():
            if kind not in trace.attention:
                continue
            maps = trace.attention[kind]
            maps.value_norms = np.stack([layers[index] for index in sorted(layers)])  # (L, H, K)
            grams = self.grams.get(kind)
            if grams is not None and len(grams) == len(layers):
                maps.value_gram = torch.stack([grams[index] for index in sorted(grams)]).numpy()  # (L, H, H, K)
        if self.residuals and trace.decoder is not None:
            T, d_model = self.residuals[0].shape
            # Over the cap none is kept; the logit lens then says why (``model.logit_lens``).
            if len(self.residuals) * T * d_model <= self.residual_cap:
                trace.decoder_residuals = torch.stack(self.residuals).float().cpu().numpy()  # (L + 1, T, d_model)
        return trace

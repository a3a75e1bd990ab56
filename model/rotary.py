"""Rotary position embeddings: their settings, frequencies and rotation.

``Rotary`` is the part of ``ModelConfig`` that describes one kind of layer's rotary
positions, scaling included; ``rotary_tables`` turns it into the cos and sin tables of
one forward (computed as Hugging Face computes them, in float32, so the rotated queries
and keys agree to rounding), and ``apply_rotary`` rotates queries or keys where the
attention makes its scores. The scores the trace keeps are those of the rotated q and k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

ROTARY_KINDS = ("default", "linear", "dynamic", "llama3", "yarn", "longrope")
# A rope scaling factor beyond this is not a configuration anyone trained.
MAX_ROPE_FACTOR = 1024.0
MAX_POSITIONS = 1 << 20


@dataclass(frozen=True)
class Rotary:
    """Rotary position embedding (Su et al.) of one kind of layer, with its scaling.

    ``kind`` names Hugging Face's rope types: ``default``; ``linear`` (positions divided
    by ``factor``); ``dynamic`` (NTK: the base grows once the input is longer than
    ``original_max_positions``); ``llama3`` (long wavelengths divided by ``factor``, a
    smooth ramp between ``low_freq_factor`` and ``high_freq_factor``); ``yarn`` (ramp
    between ``beta_fast`` and ``beta_slow`` rotations, cos and sin times
    ``attention_factor``); ``longrope`` (per-frequency ``short_factor`` up to
    ``original_max_positions``, ``long_factor`` beyond). ``fraction`` of each head's
    dimensions rotate (Phi-3's partial rotary); the rest pass unchanged.
    """

    theta: float = 10000.0
    kind: str = "default"
    factor: float = 1.0
    original_max_positions: int | None = None
    fraction: float = 1.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    beta_fast: float = 32.0
    beta_slow: float = 1.0
    # None: derived from factor (and mscale / mscale_all_dim) as Hugging Face does.
    attention_factor: float | None = None
    mscale: float | None = None
    mscale_all_dim: float | None = None
    truncate: bool = True
    short_factor: tuple[float, ...] | None = None
    long_factor: tuple[float, ...] | None = None

    def dims(self, head_dim: int) -> int:
        """How many of a head's ``head_dim`` dimensions rotate."""
        return int(head_dim * self.fraction)

    def problems(self, head_dim: int, where: str = "rotary") -> list[str]:
        found: list[str] = []

        def number(name: str, low: float, high: float, optional: bool = False) -> None:
            value = getattr(self, name)
            if value is None and optional:
                return
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (low <= value <= high):
                found.append(f"{where} {name} must be a number from {low:g} to {high:g}, got {value!r}")

        if self.kind not in ROTARY_KINDS:
            found.append(f"{where} kind must be one of {', '.join(ROTARY_KINDS)}, got {self.kind!r}")
        number("theta", 1.0, 1e12)
        number("factor", 1.0 if self.kind in ("linear", "dynamic", "llama3", "yarn") else 0.0, MAX_ROPE_FACTOR)
        number("fraction", 1e-6, 1.0)
        for name in ("low_freq_factor", "high_freq_factor", "beta_fast", "beta_slow"):
            number(name, 1e-6, 1e6)
        for name in ("attention_factor", "mscale", "mscale_all_dim"):
            number(name, 0.0, 1e3, optional=True)
        if found:
            return found
        if self.kind == "llama3" and self.high_freq_factor <= self.low_freq_factor:
            found.append(f"{where} high_freq_factor must be above low_freq_factor")
        original = self.original_max_positions
        needed = self.kind in ("dynamic", "llama3", "yarn", "longrope")
        if (original is not None or needed) and (
            isinstance(original, bool) or not isinstance(original, int) or not 0 < original <= MAX_POSITIONS
        ):
            found.append(f"{where} {self.kind} scaling needs original_max_positions from 1 to {MAX_POSITIONS}, got {original!r}")
        if not isinstance(self.truncate, bool):
            found.append(f"{where} truncate must be true or false, got {self.truncate!r}")
        dims = self.dims(head_dim)
        if dims < 2 or dims % 2:
            found.append(f"{where} rotates {dims} of {head_dim} head dimensions; it needs an even number, at least 2")
            return found
        for name in ("short_factor", "long_factor"):
            factors = getattr(self, name)
            if factors is None and self.kind != "longrope":
                continue
            if not isinstance(factors, tuple) or len(factors) != dims // 2 or not all(
                isinstance(f, (int, float)) and not isinstance(f, bool) and 0 < f <= MAX_ROPE_FACTOR for f in factors
            ):
                found.append(f"{where} longrope {name} must be {dims // 2} positive numbers")
        return found


def inverse_frequencies(rotary: Rotary, head_dim: int, length: int) -> tuple[Tensor, float]:
    """``(dims / 2,)`` inverse frequencies for an input of ``length`` tokens, and the factor
    cos and sin are multiplied by (YaRN's and LongRoPE's attention factor, else 1)."""
    dim = rotary.dims(head_dim)
    base = rotary.theta
    exponents = torch.arange(0, dim, 2, dtype=torch.int64).float() / dim  # (dim / 2,)
    kind, factor, original = rotary.kind, rotary.factor, rotary.original_max_positions
    if kind == "dynamic" and original is not None and length > original:
        # NTK-aware: the base grows with the input once it outruns the trained length.
        base = base * ((factor * length / original) - (factor - 1)) ** (dim / (dim - 2))
    if kind == "longrope":
        assert original is not None and rotary.short_factor is not None and rotary.long_factor is not None
        chosen = rotary.long_factor if length > original else rotary.short_factor
        scaling = rotary.attention_factor
        if scaling is None:
            scaling = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original))
        return 1.0 / (torch.tensor(chosen, dtype=torch.float32) * base**exponents), scaling
    inv_freq = 1.0 / (base**exponents)
    if kind == "linear":
        inv_freq = inv_freq / factor
    elif kind == "llama3":
        assert original is not None
        low_wavelength = original / rotary.low_freq_factor
        high_wavelength = original / rotary.high_freq_factor
        wavelength = 2 * math.pi / inv_freq
        scaled = torch.where(wavelength > low_wavelength, inv_freq / factor, inv_freq)
        smooth = (original / wavelength - rotary.low_freq_factor) / (rotary.high_freq_factor - rotary.low_freq_factor)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelength < high_wavelength) * ~(wavelength > low_wavelength)
        inv_freq = torch.where(medium, smoothed, scaled)
    elif kind == "yarn":
        assert original is not None
        return _yarn(rotary, dim, base, original)
    return inv_freq, 1.0


def _yarn(rotary: Rotary, dim: int, base: float, original: int) -> tuple[Tensor, float]:
    factor = rotary.factor

    def mscale(scale: float, m: float = 1.0) -> float:
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    scaling = rotary.attention_factor
    if scaling is None:
        if rotary.mscale and rotary.mscale_all_dim:
            scaling = float(mscale(factor, rotary.mscale) / mscale(factor, rotary.mscale_all_dim))
        else:
            scaling = mscale(factor)

    def correction_dim(rotations: float) -> float:
        return (dim * math.log(original / (rotations * 2 * math.pi))) / (2 * math.log(base))

    low, high = correction_dim(rotary.beta_fast), correction_dim(rotary.beta_slow)
    if rotary.truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001  # as Hugging Face does, to avoid dividing by zero
    ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)  # (dim / 2,)
    frequencies = base ** (torch.arange(0, dim, 2).float() / dim)
    extrapolation = 1 - ramp
    inv_freq = (1.0 / (factor * frequencies)) * (1 - extrapolation) + (1.0 / frequencies) * extrapolation
    return inv_freq, scaling


def rotary_tables(rotary: Rotary, head_dim: int, length: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """cos and sin of every position's angles, ``(T, dims)`` each (the halves repeat)."""
    inv_freq, scaling = inverse_frequencies(rotary, head_dim, length)
    positions = torch.arange(length, device=device).float()
    angles = positions[:, None] * inv_freq.to(device)[None, :]  # (T, dims / 2)
    doubled = torch.cat((angles, angles), dim=-1)  # (T, dims)
    return doubled.cos() * scaling, doubled.sin() * scaling


def _rotate_half(x: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary(x: Tensor, tables: tuple[Tensor, Tensor]) -> Tensor:
    """Rotate ``x`` ``(B, H, T, dh)`` by its positions; dimensions past the table's pass unchanged."""
    cos, sin = (table.to(x.dtype) for table in tables)  # (T, dims) each; computed in float32, applied in x's dtype
    dims = cos.shape[-1]
    if dims == x.shape[-1]:
        return x * cos + _rotate_half(x) * sin
    rotated, passed = x[..., :dims], x[..., dims:]
    return torch.cat((rotated * cos + _rotate_half(rotated) * sin, passed), dim=-1)

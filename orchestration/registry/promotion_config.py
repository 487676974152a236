"""When a registered candidate may replace the champion: a floor against the trivial baseline, then
metric gates against the champion, both on one eval snapshot.

The floor's defaults: diffusion SR trades fidelity for perceptual quality, so on Real-ESRGAN-style
degradations it scores below regression baselines on PSNR and SSIM. The published x4 comparisons
on DIV2K-val / RealSR / DRealSR (StableSR, DiffBIR, PASD, SeeSR against BSRGAN and Real-ESRGAN, in
the StableSR and SeeSR papers' tables) put diffusion models roughly 0.5-2 dB of PSNR and 0.02-0.10
of SSIM below the best of those, and those in turn near bicubic on PSNR. So a candidate may trail
bicubic by at most 2 dB of PSNR and 0.10 of SSIM: a model further below than that is broken, not
perceptual (docs/promotion.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class MetricGate:
    """The candidate must beat the champion on ``metric`` by more than ``margin``.

    The improvement is ``candidate - champion`` when higher is better, else
    ``champion - candidate``; the gate passes when it is ``> margin`` (``>=`` with
    ``promotion.accept_ties``; a negative margin tolerates a bounded regression).
    """

    metric: str
    """A metric name ``mmsr evaluate`` logs: ``eval_psnr`` (dB) or ``eval_ssim``."""
    margin: float = 0.0
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        if not self.metric:
            raise ValueError("promotion.gates[].metric must not be empty")
        if not math.isfinite(self.margin):
            raise ValueError(f"promotion.gates[].margin of {self.metric} must be finite, got {self.margin}")


@dataclass(frozen=True)
class MetricFloor:
    """Every candidate's ``metric`` must be at least the trivial baseline's ``baseline`` metric minus
    ``margin`` (higher is better), or at most plus ``margin`` (lower is better), whatever the champion."""

    metric: str
    """A metric ``mmsr evaluate`` logs for the model (``eval_psnr``, ``eval_ssim``)."""
    baseline: str
    """The same metric of bicubic upscaling of the same LRs (``eval_bicubic_psnr``, ``eval_bicubic_ssim``)."""
    margin: float
    """How far the candidate may trail the baseline (>= 0, in the metric's unit)."""
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        if not self.metric or not self.baseline:
            raise ValueError("promotion.floor[].metric and .baseline must not be empty")
        if not (math.isfinite(self.margin) and self.margin >= 0):
            raise ValueError(f"promotion.floor[].margin of {self.metric} must be finite and >= 0, got {self.margin}")


DEFAULT_FLOOR: tuple[MetricFloor, ...] = (
    MetricFloor("eval_psnr", "eval_bicubic_psnr", 2.0),
    MetricFloor("eval_ssim", "eval_bicubic_ssim", 0.10),
)
"""Bicubic minus 2 dB PSNR and 0.10 SSIM (see the module docstring for why)."""


@dataclass(frozen=True)
class PromotionConfig:
    gates: tuple[MetricGate, ...] = (MetricGate("eval_psnr", 0.0), MetricGate("eval_ssim", 0.0))
    """Every gate must pass for ``champion`` to move (no champion yet: the candidate is promoted)."""
    floor: tuple[MetricFloor, ...] = DEFAULT_FLOOR
    """Every candidate, the first one included, must clear each floor; ``[]`` turns the floor off."""
    accept_ties: bool = False
    """Whether an improvement exactly equal to a gate's margin passes it (by default it must exceed
    the margin: a candidate scoring the same as the champion does not replace it)."""
    challenger_alias: str = "challenger"
    """Alias set on every newly registered version."""
    eval_snapshot: int | str | None = None
    """Feature-store snapshot id or tag both models are scored on; None = the current snapshot."""
    eval_limit: int | None = None
    """Score at most this many eval rows (None = all)."""
    lock_timeout_s: float = 600.0
    """A promotion lock held this long by one owner is taken as stale (its holder died) and broken."""

    def __post_init__(self) -> None:
        if not self.gates:
            raise ValueError("promotion.gates must name at least one metric")
        names = [gate.metric for gate in self.gates]
        if len(set(names)) != len(names):
            raise ValueError(f"promotion.gates names a metric twice: {names}")
        floored = [floor.metric for floor in self.floor]
        if len(set(floored)) != len(floored):
            raise ValueError(f"promotion.floor names a metric twice: {floored}")
        if not self.challenger_alias:
            raise ValueError("promotion.challenger_alias must not be empty")
        if self.eval_limit is not None and self.eval_limit < 1:
            raise ValueError(f"promotion.eval_limit must be >= 1 or null, got {self.eval_limit}")
        if not self.lock_timeout_s > 0:
            raise ValueError(f"promotion.lock_timeout_s must be > 0, got {self.lock_timeout_s}")

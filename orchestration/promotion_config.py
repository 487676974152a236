"""When a registered candidate may replace the champion: metric gates on one eval snapshot."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class MetricGate:
    """The candidate must beat the champion on ``metric`` by at least ``margin``.

    The improvement is ``candidate - champion`` when higher is better, else
    ``champion - candidate``; the gate passes when it is ``>= margin`` (so ``margin=0`` accepts a
    tie, a negative margin tolerates a bounded regression).
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
class PromotionConfig:
    gates: tuple[MetricGate, ...] = (MetricGate("eval_psnr", 0.0), MetricGate("eval_ssim", 0.0))
    """Every gate must pass for ``champion`` to move (no champion yet: the candidate is promoted)."""
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
        if not self.challenger_alias:
            raise ValueError("promotion.challenger_alias must not be empty")
        if self.eval_limit is not None and self.eval_limit < 1:
            raise ValueError(f"promotion.eval_limit must be >= 1 or null, got {self.eval_limit}")
        if not self.lock_timeout_s > 0:
            raise ValueError(f"promotion.lock_timeout_s must be > 0, got {self.lock_timeout_s}")

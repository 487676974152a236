"""Real-ESRGAN second-order degradation (HR -> LR) as fast, seeded pure functions.

``degrade(hr, config, rng)`` is the entry point; ``derive_rng(sample_key, seed)`` gives the
per-sample generator that makes the result reproducible byte for byte.
"""

from __future__ import annotations

from pipelines.degradation.config import DegradationConfig
from pipelines.degradation.second_order import DegradationResult, degrade
from pipelines.degradation.seeding import derive_rng

__all__ = ["DegradationConfig", "DegradationResult", "degrade", "derive_rng"]

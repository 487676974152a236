"""The learning rate of each optimizer step: a pure function of the step, so a resumed run
continues the schedule exactly (nothing to checkpoint).

``constant``: the peak rate at every step after warm-up. ``cosine``: after warm-up, half a cosine
from the peak down to 0 at the last step (diffusers' ``get_cosine_schedule_with_warmup`` with
``num_cycles=0.5``, the schedule of its training examples). Warm-up is linear from 0.
"""

from __future__ import annotations

import math
from typing import Literal

LrSchedule = Literal["constant", "cosine"]
LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine")


def learning_rate_at(step: int, total_steps: int, peak: float, schedule: LrSchedule, warmup_steps: int = 0) -> float:
    """The rate of optimizer step ``step`` (0-based) of a run of ``total_steps`` steps."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    if schedule == "constant":
        return peak
    if schedule == "cosine":
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return peak * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {schedule!r}")

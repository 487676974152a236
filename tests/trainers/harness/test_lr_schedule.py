from __future__ import annotations

import math

import pytest
import torch
from diffusers.optimization import get_cosine_schedule_with_warmup

from trainers.harness.lr_schedule import learning_rate_at
from trainers.recipes.train_config import TrainConfig


def test_cosine_with_warmup_equals_diffusers_schedule_at_every_step() -> None:
    """Same rates as diffusers' ``get_cosine_schedule_with_warmup`` (what its training examples use)."""
    total, warmup, peak = 50, 5, 1e-3
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    reference = get_cosine_schedule_with_warmup(optimizer, warmup, total)
    for step in range(total):
        # diffusers' warm-up starts at 0 for step 0; ours reaches the peak at the last warm-up step
        expected = peak * (step + 1) / warmup if step < warmup else reference.get_last_lr()[0]
        assert math.isclose(learning_rate_at(step, total, peak, "cosine", warmup), expected, rel_tol=1e-9), step
        optimizer.step()
        reference.step()


def test_constant_is_the_peak_after_warmup_and_cosine_ends_at_zero() -> None:
    assert [learning_rate_at(s, 10, 2.0, "constant", 2) for s in range(4)] == [1.0, 2.0, 2.0, 2.0]
    assert learning_rate_at(0, 10, 2.0, "cosine") == 2.0
    assert learning_rate_at(9, 10, 2.0, "cosine") == pytest.approx(2.0 * 0.5 * (1 + math.cos(math.pi * 0.9)))
    assert learning_rate_at(10, 10, 2.0, "cosine") == pytest.approx(0.0)
    rates = [learning_rate_at(s, 100, 1.0, "cosine", 10) for s in range(100)]
    assert all(a >= b for a, b in zip(rates[9:], rates[10:]))  # never rises after warm-up


def test_the_schedule_is_validated_at_the_boundary() -> None:
    with pytest.raises(ValueError, match="lr_warmup_steps"):
        TrainConfig(steps=10, lr_warmup_steps=10)
    with pytest.raises(ValueError, match="lr_schedule"):
        learning_rate_at(0, 10, 1.0, "linear")  # type: ignore[arg-type]

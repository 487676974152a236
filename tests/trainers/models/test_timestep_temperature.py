from __future__ import annotations

import math

import torch

from trainers.models.timestep_temperature import TimestepTemperature, timestep_tau


def test_tau_matches_the_m3esr_formula_by_hand() -> None:
    t, a, b = 0.3, 0.8, 0.5
    g = a * math.exp(-b)
    expected = t * g + (1 - t) * (1 - g)
    tau = timestep_tau(torch.tensor([t]), torch.tensor([[a]]), torch.tensor([[b]]))
    assert abs(float(tau) - expected) < 1e-6


def test_tau_interpolates_between_g_and_one_minus_g() -> None:
    a, b = torch.tensor([[0.9]]), torch.tensor([[0.1]])
    g = float(a * torch.exp(-b))
    assert abs(float(timestep_tau(torch.tensor([1.0]), a, b)) - g) < 1e-6
    assert abs(float(timestep_tau(torch.tensor([0.0]), a, b)) - (1 - g)) < 1e-6


def test_untrained_multiplier_is_close_to_one_for_every_timestep() -> None:
    module = TimestepTemperature(num_modalities=3, num_train_timesteps=1000)
    values = module(torch.tensor([0, 250, 500, 999]))
    assert values.shape == (4, 3)
    assert ((values > 0.85) & (values < 1.15)).all()
    assert values[0, 0] > values[-1, 0]  # g < 0.5 at init: cleaner steps get a slightly softer attention

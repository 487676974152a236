"""M3ESR's timestep-aware per-modality temperature (``temperature_mode="timestep"`` of the MMLC).

tau_m(t) = t * g_m(t) + (1 - t) * (1 - g_m(t)),  g_m(t) = a_m(t) * exp(-b_m(t)),
with t = timestep / num_train_timesteps in [0, 1], a_m = sigmoid(.) in (0, 1) and b_m = softplus(.)
>= 0 read from a small learned timestep embedding. Our normalisation: the MMLC multiplies the
user's s_m by 2 * tau_m(t), which is close to 1 at initialisation (g ~ 0.5), so an untrained
timestep model behaves like the fixed temperature.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from torch import nn

B_BIAS_INIT = -2.0
"""Initial pre-softplus bias of b: b ~ 0.13, so g ~ 0.44 and 2 * tau stays within [0.88, 1.12]."""
MIN_TEMPERATURE = 0.05


def timestep_tau(t: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """M3ESR's tau: t (B,) in [0, 1]; a, b (B, M) -> (B, M)."""
    g = a * torch.exp(-b)
    t = t[:, None]
    return t * g + (1.0 - t) * (1.0 - g)


class TimestepTemperature(nn.Module):
    """Timesteps (B,) in [0, num_train_timesteps) -> (B, num_modalities) temperature multipliers 2 * tau."""

    def __init__(self, num_modalities: int, num_train_timesteps: int, channels: int = 32) -> None:
        super().__init__()
        self.num_modalities = num_modalities
        self.num_train_timesteps = num_train_timesteps
        self.time_proj = Timesteps(channels, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(channels, channels)
        self.head = nn.Linear(channels, 2 * num_modalities)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        with torch.no_grad():
            self.head.bias[num_modalities:] = B_BIAS_INIT

    def forward(self, timesteps: torch.Tensor) -> torch.Tensor:
        embedding = self.time_embedding(self.time_proj(timesteps).to(self.head.weight.dtype))
        raw_a, raw_b = self.head(embedding).chunk(2, dim=-1)
        t = timesteps.to(raw_a.dtype) / self.num_train_timesteps
        tau = timestep_tau(t, torch.sigmoid(raw_a), F.softplus(raw_b))
        return (2.0 * tau).clamp_min(MIN_TEMPERATURE)

"""How much do HR Canny edges tell about the HR beyond the LR? A ceiling for the learning check.

A small CNN regresses the HR pixels (pixel-unshuffled by ``grid_factor``) from the LR (resized to
the same grid), and a second one from the LR plus the pixel-unshuffled HR edge maps; both are
scored on crops of held-out photos. The relative drop in held-out MSE bounds what edge
conditioning can add to a model that already sees the LR: if it is a few percent, no denoising
loss measured in CPU minutes will resolve it.

The measured ceilings (x4 and x8) are in the README's learning check row.

Run it: ``python -m trainers.experiments.edge_information_probe --crops-per-photo 512 --scale 4``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pipelines.degradation import DegradationConfig
from trainers.experiments.learning_check import CropSet, LearningCheckConfig, demo_photos, make_crops, split_photos
from trainers.models.conditional_unet import resize_lr


@dataclass(frozen=True)
class ProbeConfig:
    steps: int = 3000
    batch_size: int = 32
    learning_rate: float = 1e-3
    hidden: int = 64
    grid_factor: int = 4
    """HR pixels per probe grid cell (the tiny VAE's factor)."""
    eval_every: int = 250
    """The reported error is the best held-out MSE over these evaluations."""

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "hidden", "grid_factor", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"probe.{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"probe.learning_rate must be > 0, got {self.learning_rate}")


@dataclass(frozen=True)
class EdgeInformation:
    lr_error: float
    """Held-out MSE of the HR regressed from the LR alone."""
    lr_edges_error: float
    """Held-out MSE of the HR regressed from the LR and the HR edge maps."""

    @property
    def relative_gain(self) -> float:
        """Fraction of the LR-only error that the edges remove (> 0 when they inform)."""
        return (self.lr_error - self.lr_edges_error) / self.lr_error


def probe_error(
    train_inputs: torch.Tensor, train_targets: torch.Tensor, eval_inputs: torch.Tensor, eval_targets: torch.Tensor,
    config: ProbeConfig, generator: torch.Generator,
) -> float:
    """Fit a 3-layer CNN (B, C, h, w) -> (B, T, h, w) with Adam; its best held-out MSE.

    The CNN is initialised and its batches drawn from ``generator``.
    """
    channels, hidden = train_inputs.shape[1], config.hidden
    net = nn.Sequential(
        nn.Conv2d(channels, hidden, 3, padding=1), nn.SiLU(), nn.Conv2d(hidden, hidden, 3, padding=1), nn.SiLU(),
        nn.Conv2d(hidden, train_targets.shape[1], 3, padding=1),
    )
    with torch.no_grad():
        for parameter in net.parameters():
            if parameter.dim() == 4:
                bound = 1.0 / (parameter.shape[1] * 9) ** 0.5
                parameter.uniform_(-bound, bound, generator=generator)
            else:
                parameter.zero_()
    optimizer = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    best = float("inf")
    for step in range(1, config.steps + 1):
        rows = torch.randperm(len(train_inputs), generator=generator)[: config.batch_size]
        loss = F.mse_loss(net(train_inputs[rows]), train_targets[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % config.eval_every == 0 or step == config.steps:
            with torch.no_grad():
                best = min(best, float(F.mse_loss(net(eval_inputs), eval_targets)))
    return best


def probe_inputs(crops: CropSet, grid_factor: int, with_edges: bool) -> torch.Tensor:
    """The LR resized to the HR / ``grid_factor`` grid as the UNet sees it (``resize_lr``), plus the
    unshuffled edges if asked."""
    side = crops.hr.shape[-1] // grid_factor
    lr = resize_lr(crops.lr, (side, side))
    if not with_edges:
        return lr
    edges = torch.from_numpy(crops.edges).float()[:, None] / 255.0
    return torch.cat([lr, F.pixel_unshuffle(edges, grid_factor)], dim=1)


def edge_information(train: CropSet, held_out: CropSet, config: ProbeConfig, seed: int) -> EdgeInformation:
    """Held-out HR regression error from the LR alone and from LR + edges (same seed, same batches)."""
    f = config.grid_factor
    targets = F.pixel_unshuffle(train.hr, f), F.pixel_unshuffle(held_out.hr, f)
    errors = [
        probe_error(
            probe_inputs(train, f, with_edges), targets[0], probe_inputs(held_out, f, with_edges), targets[1],
            config, torch.Generator().manual_seed(seed),
        )
        for with_edges in (False, True)
    ]
    return EdgeInformation(lr_error=errors[0], lr_edges_error=errors[1])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops-per-photo", type=int, default=512)
    parser.add_argument("--eval-crops-per-photo", type=int, default=128)
    parser.add_argument("--scale", type=int, default=4, help="Real-ESRGAN degradation factor")
    parser.add_argument("--steps", type=int, default=ProbeConfig.steps)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--canny", type=int, nargs=2, metavar=("LOW", "HIGH"), default=[50, 100])
    args = parser.parse_args(argv)
    check = LearningCheckConfig(canny_low=args.canny[0], canny_high=args.canny[1])
    degradation = DegradationConfig(scale=args.scale)
    train_photos, eval_photos = split_photos(demo_photos(), check.eval_photos)
    train = make_crops(train_photos, args.crops_per_photo, check, args.seed, degradation)
    held_out = make_crops(eval_photos, args.eval_crops_per_photo, check, args.seed, degradation)
    result = edge_information(train, held_out, ProbeConfig(steps=args.steps), args.seed)
    print(
        f"held-out HR MSE: LR {result.lr_error:.4f}  LR + edges {result.lr_edges_error:.4f}  "
        f"edges remove {100 * result.relative_gain:.1f} % of the LR-only error"
    )


if __name__ == "__main__":
    main()

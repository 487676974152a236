"""The LR conditioning check: its result arithmetic, a short run, and the slow experiment itself."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
import torch

from pipelines.degradation import DegradationConfig
from trainers.experiments.learning_check import (
    CropSet,
    LearningCheckConfig,
    heldout_loss,
    make_crops,
    demo_photos,
    split_photos,
)
from trainers.experiments.lr_conditioning_check import (
    DEFAULT_SCALE,
    ConditioningCheckResult,
    ConditioningOutcome,
    run_conditioning_check,
)
from trainers.models.conditional_unet import LrConditioning
from trainers.models.sr_pipeline import MMSRPipeline


def test_latent_gain_is_the_paired_mean_difference_with_its_standard_error() -> None:
    result = ConditioningCheckResult(
        (ConditioningOutcome(0, {"latent": 0.9, "pixel": 1.0}), ConditioningOutcome(1, {"latent": 1.0, "pixel": 1.3}))
    )
    assert result.latent_gain == pytest.approx(0.2)
    assert result.latent_gain_stderr == pytest.approx(0.1)
    assert result.mean_loss("latent") == pytest.approx(0.95) and result.mean_loss("pixel") == pytest.approx(1.15)


@pytest.mark.integration  # fits a VAE and trains both variants
def test_a_short_check_trains_and_scores_both_conditionings(tmp_path: Path) -> None:
    config = LearningCheckConfig(
        seeds=(0,), steps=2, vae_fit_steps=2, vae_fit_crops_per_photo=2, train_crops_per_photo=2,
        eval_crops_per_photo=2, eval_repeats=1,
    )
    (outcome,) = run_conditioning_check(tmp_path, config).outcomes
    assert sorted(outcome.losses) == ["latent", "pixel"]
    assert np.isfinite(list(outcome.losses.values())).all()
    assert outcome.losses["latent"] != outcome.losses["pixel"]  # two different UNet inputs
    # Each variant's model takes its own LR channels (the latent's C, or 3 RGB), and its LR reaches
    # the UNet: the same held-out crops with the LR zeroed score differently.
    held_out = make_crops(
        split_photos(demo_photos(), config.eval_photos)[1], config.eval_crops_per_photo, config, 0,
        DegradationConfig(scale=DEFAULT_SCALE),
    )
    blank = CropSet(hr=held_out.hr, lr=torch.zeros_like(held_out.lr), edges=held_out.edges)
    for conditioning in get_args(LrConditioning):
        pipeline = MMSRPipeline.from_pretrained(tmp_path / conditioning / "calibrated-seed0")
        latent = pipeline.vae.config.latent_channels
        assert pipeline.config.lr_conditioning == conditioning
        assert pipeline.unet.config.in_channels == latent + (latent if conditioning == "latent" else 3)
        variant = replace(config, lr_conditioning=conditioning)
        with_lr, without_lr = heldout_loss(pipeline, held_out, None, variant), heldout_loss(pipeline, blank, None, variant)
        assert abs(with_lr - without_lr) > 1e-4 * with_lr, f"{conditioning}: the LR does not reach the UNet"


@pytest.mark.slow(minutes=25, minutes_each=25)  # 2026-12-07: still running after 21 min (12-06: under 15)
def test_latent_lr_conditioning_against_pixel(tmp_path: Path) -> None:
    """3 seeds x (latent, pixel) x 500 steps, no modality, at the default scale. Issue 17 asks whether
    the latent conditioning reaches a lower held-out loss; the README row has the measured answer
    (a tie at x4, where the tiny f4 VAE's latent grid is the LR's own size). This asserts the check
    trains and scores both variants on every seed, and that neither collapses next to the other."""
    result = run_conditioning_check(tmp_path)
    numbers = ", ".join(
        f"seed {o.seed}: latent {o.losses['latent']:.5f} pixel {o.losses['pixel']:.5f}" for o in result.outcomes
    )
    assert len(result.outcomes) == 3, numbers
    assert all(np.isfinite(list(o.losses.values())).all() for o in result.outcomes), numbers
    assert all(o.losses["latent"] != o.losses["pixel"] for o in result.outcomes), numbers
    assert abs(result.latent_gain) < 0.1 * result.mean_loss("pixel"), (
        f"latent gain {result.latent_gain:.5f} +- {result.latent_gain_stderr:.5f} ({numbers})"
    )

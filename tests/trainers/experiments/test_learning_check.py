"""The learning check: fast checks of its pairing, and the slow experiment itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from trainers.experiments.learning_check import (
    LearningCheckConfig,
    LearningCheckResult,
    SeedOutcome,
    heldout_loss,
    make_crops,
    run_learning_check,
    demo_photos,
    split_photos,
)
from trainers.experiments.learning_check_arms import edge_codes, edge_features
from trainers.models.sr_pipeline import MMSRPipeline


def test_crops_are_seeded_and_do_not_depend_on_the_other_photos() -> None:
    photos = demo_photos()
    config = LearningCheckConfig(crop_size=32)
    both = make_crops({k: photos[k] for k in ("chelsea.png", "coffee.png")}, 2, config, seed=3)
    alone = make_crops({"coffee.png": photos["coffee.png"]}, 2, config, seed=3)
    other_seed = make_crops({"coffee.png": photos["coffee.png"]}, 2, config, seed=4)
    assert both.hr.shape == (4, 3, 32, 32) and both.lr.shape == (4, 3, 8, 8) and both.edges.shape == (4, 32, 32)
    assert torch.equal(both.hr[2:], alone.hr)  # sorted names: chelsea's crops first
    assert not torch.equal(alone.hr, other_seed.hr)
    assert set(np.unique(both.edges)) <= {0, 255}


def test_split_photos_holds_out_exactly_the_named_photos() -> None:
    photos = {name: np.full((2, 2, 3), i, np.uint8) for i, name in enumerate(("a.png", "b.jpg", "c.png"))}
    train, held_out = split_photos(photos, ("b.jpg", "missing.png"))
    assert sorted(train) == ["a.png", "c.png"] and sorted(held_out) == ["b.jpg"]
    assert held_out["b.jpg"] is photos["b.jpg"]


def test_heldout_loss_scores_every_arm_at_the_same_noise_and_timesteps(base_model_dir: Path) -> None:
    config = LearningCheckConfig(crop_size=64, eval_repeats=2, batch_size=4)
    crops = make_crops({"coffee.png": demo_photos()["coffee.png"]}, 6, config, seed=0)
    pipeline = MMSRPipeline.from_pretrained(base_model_dir)
    codes = edge_codes(pipeline, crops.edges)
    assert codes.shape == (6, 256) and codes.dtype == torch.int64
    features = edge_features(pipeline, crops.edges)
    assert torch.equal(features, pipeline.vq.quantize.embedding.weight[codes])
    lr_only = heldout_loss(pipeline, crops, None, config)
    assert heldout_loss(MMSRPipeline.from_pretrained(base_model_dir), crops, None, config) == lr_only
    with_edges = heldout_loss(pipeline, crops, features, config)
    assert np.isfinite(with_edges) and with_edges != lr_only


def test_edges_gain_is_the_paired_mean_difference_with_its_standard_error() -> None:
    result = LearningCheckResult((SeedOutcome(0, 0.9, 1.0, 1.2, 0.7), SeedOutcome(1, 1.1, 1.0, 1.2, 0.9)))
    assert result.edges_gain == pytest.approx(0.0, abs=1e-12)
    assert result.edges_gain_stderr == pytest.approx(0.1)
    assert result.lr_helps and not result.edges_help
    assert result.oracle_gain == pytest.approx(0.2)


@pytest.mark.slow(minutes=30, minutes_each=30)
def test_edge_conditioning_against_lr_only(tmp_path: Path) -> None:
    """3 seeds x (edges, LR-only, no-LR, oracle) x 500 steps (one VAE fitted 1500 steps on 768 crops).

    Asserts the control (the LR lowers the loss) and that edges do not raise it beyond noise (the
    measured numbers are in the README's learning check row).
    """
    result = run_learning_check(tmp_path)
    numbers = ", ".join(
        f"seed {o.seed}: edges {o.edges_loss:.5f} LR-only {o.lr_only_loss:.5f} no-LR {o.no_lr_loss:.5f} "
        f"oracle {o.oracle_loss:.5f}"
        for o in result.outcomes
    )
    losses = [[o.edges_loss, o.lr_only_loss, o.no_lr_loss, o.oracle_loss] for o in result.outcomes]
    assert np.isfinite(losses).all(), numbers
    # the control: the check does see a conditioning signal (the LR, concatenated to the UNet input)
    assert result.lr_helps, numbers
    # Fresh-clone CI of 2026-12-05 (README row): edges help on average but within noise (gain 0.00034
    # +- 0.00098, one seed worse); asserted: edges do not raise the loss beyond two standard errors.
    assert result.edges_gain > -2 * result.edges_gain_stderr, (
        f"edge tokens did not lower the held-out loss: gain {result.edges_gain:.5f} +- {result.edges_gain_stderr:.5f}; "
        f"oracle gain {result.oracle_gain:.5f} ({numbers})"
    )

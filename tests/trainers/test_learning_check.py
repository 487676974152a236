"""The learning check: fast checks of its pairing, and the slow experiment itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from trainers.learning_check import (
    LearningCheckConfig,
    edge_codes,
    heldout_loss,
    make_crops,
    run_learning_check,
    sample_photos,
)
from trainers.models.sr_pipeline import MMSRPipeline


def test_crops_are_seeded_and_do_not_depend_on_the_other_photos() -> None:
    photos = sample_photos()
    config = LearningCheckConfig(crop_size=32)
    both = make_crops({k: photos[k] for k in ("chelsea.png", "coffee.png")}, 2, config, seed=3)
    alone = make_crops({"coffee.png": photos["coffee.png"]}, 2, config, seed=3)
    other_seed = make_crops({"coffee.png": photos["coffee.png"]}, 2, config, seed=4)
    assert both.hr.shape == (4, 3, 32, 32) and both.lr.shape == (4, 3, 8, 8) and both.edges.shape == (4, 32, 32)
    assert torch.equal(both.hr[2:], alone.hr)  # sorted names: chelsea's crops first
    assert not torch.equal(alone.hr, other_seed.hr)
    assert set(np.unique(both.edges)) <= {0, 255}


def test_heldout_loss_scores_every_arm_at_the_same_noise_and_timesteps(base_model_dir: Path) -> None:
    config = LearningCheckConfig(crop_size=64, eval_repeats=2, batch_size=4)
    crops = make_crops({"coffee.png": sample_photos()["coffee.png"]}, 6, config, seed=0)
    pipeline = MMSRPipeline.from_pretrained(base_model_dir)
    codes = edge_codes(pipeline, crops.edges)
    assert codes.shape == (6, 256) and codes.dtype == torch.int64
    lr_only = heldout_loss(pipeline, crops, None, config)
    assert heldout_loss(MMSRPipeline.from_pretrained(base_model_dir), crops, None, config) == lr_only
    with_edges = heldout_loss(pipeline, crops, codes, config)
    assert np.isfinite(with_edges) and with_edges != lr_only


@pytest.mark.slow
def test_edge_conditioning_against_lr_only(tmp_path: Path) -> None:
    """3 seeds x (edges, LR-only, no-LR) x 300 steps; ~6-9 min on 2 cores."""
    result = run_learning_check(tmp_path)
    numbers = ", ".join(
        f"seed {o.seed}: edges {o.edges_loss:.5f} LR-only {o.lr_only_loss:.5f} no-LR {o.no_lr_loss:.5f}"
        for o in result.outcomes
    )
    assert all(np.isfinite([o.edges_loss, o.lr_only_loss, o.no_lr_loss]).all() for o in result.outcomes)
    # the control: the check does see a conditioning signal (the LR, concatenated to the UNet input)
    assert result.lr_helps, numbers
    if not result.edges_help:
        pytest.xfail(f"edge tokens do not lower the held-out loss yet at this scale ({numbers})")

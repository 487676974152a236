"""Calibration of the learning check's stand-ins: one seeded VAE shared by every seed's base model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trainers.experiments.learning_check import LearningCheckConfig, demo_photos, make_crops
from trainers.experiments.learning_check_calibration import calibrated_base, fitted_vae
from trainers.models.sr_pipeline import MMSRPipeline


@pytest.mark.integration  # fits two VAEs and builds three base models
def test_every_seed_base_carries_the_one_fitted_vae(tmp_path: Path) -> None:
    config = LearningCheckConfig(vae_fit_steps=2, vae_fit_batch_size=2)
    crops = make_crops({"coffee.png": demo_photos()["coffee.png"]}, 4, config, seed=0)
    vae_dir = fitted_vae(tmp_path / "a", crops.hr, config)
    again = fitted_vae(tmp_path / "b", crops.hr, config)
    bases = [MMSRPipeline.from_pretrained(calibrated_base(tmp_path, crops.edges, vae_dir, config, s)) for s in (0, 1)]
    stand_in = MMSRPipeline.from_pretrained(calibrated_base(tmp_path / "c", crops.edges, again, config, 0)).vae
    for name, weight in stand_in.state_dict().items():
        assert all(torch.equal(base.vae.state_dict()[name], weight) for base in bases), name
    assert bases[0].vae.config.scaling_factor == stand_in.config.scaling_factor != 0.18215
    assert not torch.equal(bases[0].unet.conv_in.weight, bases[1].unet.conv_in.weight)  # seeds differ elsewhere
    assert not torch.equal(bases[0].vq.quantize.embedding.weight, bases[1].vq.quantize.embedding.weight)

"""The learning check's arm tokens: the oracle's layout and the no-modality arms."""

from __future__ import annotations

from pathlib import Path

import torch

from featurestore.modality import Modality
from trainers.experiments.learning_check import LearningCheckConfig, demo_photos, make_crops
from trainers.experiments.learning_check_arms import arm_features, arm_tokens, oracle_features
from trainers.models.sr_pipeline import MMSRPipeline


def test_oracle_tokens_are_the_scaled_vae_means_on_the_token_grid(base_model_dir: Path) -> None:
    config = LearningCheckConfig(crop_size=64)
    crops = make_crops({"coffee.png": demo_photos()["coffee.png"]}, 3, config, seed=0)
    pipeline = MMSRPipeline.from_pretrained(base_model_dir)
    tokens = oracle_features(pipeline, crops.hr, batch_size=2)
    assert tokens.shape == (3, 256, pipeline.mmlc.config.vq_dim)
    means = pipeline.vae.encode(crops.hr).latent_dist.mean * pipeline.vae.config.scaling_factor
    channels, side = means.shape[1], means.shape[-1]
    grid = tokens[..., :channels].transpose(1, 2).reshape(3, channels, 16, 16)
    step = 16 // side
    torch.testing.assert_close(grid[..., ::step, ::step], means, rtol=1e-5, atol=1e-5)
    assert torch.all(tokens[..., channels:] == 0)


def test_lr_only_arms_have_no_modality_and_the_edges_arm_fills_only_the_edge_slot(base_model_dir: Path) -> None:
    config = LearningCheckConfig(crop_size=64)
    crops = make_crops({"coffee.png": demo_photos()["coffee.png"]}, 2, config, seed=0)
    pipeline = MMSRPipeline.from_pretrained(base_model_dir)
    assert arm_features("lr_only", pipeline, crops.hr, crops.edges) is None
    assert arm_features("no_lr", pipeline, crops.hr, crops.edges) is None
    features = arm_features("edges", pipeline, crops.hr, crops.edges)
    tokens = arm_tokens(features, torch.tensor([1]))
    assert tokens.modalities == (Modality.EDGES,) and torch.equal(tokens.feature(Modality.EDGES), features[1:])
    assert arm_tokens(None, torch.tensor([0, 1])).modalities == ()

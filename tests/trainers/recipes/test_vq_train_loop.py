"""The VQ loop's pieces without Ray: loss, initial model, checkpoint round trip, evaluation."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import VQModel

from featurestore.modality import Modality
from pipelines.modality_codes import maps_to_vq_input, render_modality_map
from trainers.harness.mixed_precision import autocast_context
from trainers.models.presets import TINY, VQSizes
from trainers.models.vq_tokenizer import build_vq_tokenizer
from trainers.recipes.vq_train_config import VqTrainConfig
from trainers.recipes.vq_train_loop import (
    VQ_DIR,
    VQ_STATE_DIR,
    evaluate_reconstruction,
    initial_vq_model,
    load_vq_train_state,
    save_vq_train_state,
    vq_training_loss,
)

TEST_VQ = VQSizes(block_out_channels=(4, 4, 8, 8, 8), layers_per_block=1, latent_channels=4, embed_dim=4, norm_num_groups=4)
"""A VQModel smaller than the tiny preset's (still f16: 256 -> 16x16, 1024 codes)."""
CPU = torch.device("cpu")


def _tiny_vq(seed: int = 0) -> VQModel:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_vq_tokenizer(dataclasses.replace(TINY, vq=TEST_VQ))


def _rendered() -> dict[str, np.ndarray]:
    edges = np.zeros((64, 64), dtype=np.uint8)
    edges[20, :] = 255
    labels = np.where(np.mgrid[0:64, 0:64][1] < 30, 2, 9).astype(np.int32)
    images = [render_modality_map(edges, Modality.EDGES), render_modality_map(labels, Modality.SEGMENTATION)]
    return {"image": np.stack(images), "modality": np.array(["edges", "segmentation"])}


def test_loss_is_reconstruction_plus_weighted_commitment_and_reaches_the_codebook() -> None:
    vq, pixels = _tiny_vq(), maps_to_vq_input(list(_rendered()["image"]))
    loss = vq_training_loss(vq, pixels, VqTrainConfig(commitment_weight=0.5))
    assert loss.total.dtype == torch.float32 and torch.isfinite(loss.total)
    assert loss.total.item() == pytest.approx((loss.reconstruction + 0.5 * loss.commitment).item(), rel=1e-6)
    with torch.no_grad():
        expected_l1 = torch.nn.functional.l1_loss(vq(pixels).sample, pixels)
    assert loss.reconstruction.item() == pytest.approx(expected_l1.item(), rel=1e-5)
    loss.total.backward()
    assert vq.quantize.embedding.weight.grad.abs().sum() > 0
    assert vq.encoder.conv_in.weight.grad.abs().sum() > 0


def test_cpu_bf16_loss_is_finite_float32_with_float32_weights() -> None:
    vq, pixels = _tiny_vq(), maps_to_vq_input(list(_rendered()["image"]))
    with autocast_context(CPU, "bf16"):
        loss = vq_training_loss(vq, pixels, VqTrainConfig(reconstruction_loss="mse", mixed_precision="bf16"))
    loss.total.backward()
    assert torch.isfinite(loss.total) and loss.total.dtype == torch.float32
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in vq.parameters())


def test_initial_model_is_seeded_random_or_loaded_through_from_pretrained(tmp_path: Path) -> None:
    first, again = initial_vq_model(VqTrainConfig(seed=3)), initial_vq_model(VqTrainConfig(seed=3))
    other = initial_vq_model(VqTrainConfig(seed=4))
    weight = "encoder.conv_in.weight"
    assert torch.equal(first.state_dict()[weight], again.state_dict()[weight])
    assert not torch.equal(first.state_dict()[weight], other.state_dict()[weight])
    _tiny_vq(7).save_pretrained(tmp_path / "pipeline" / "vq")
    loaded = initial_vq_model(VqTrainConfig(init_model=str(tmp_path / "pipeline"), init_subfolder="vq"))
    assert torch.equal(loaded.state_dict()[weight], _tiny_vq(7).state_dict()[weight])


def test_train_state_round_trips_weights_optimizer_and_step(tmp_path: Path) -> None:
    vq, pixels = _tiny_vq(), maps_to_vq_input(list(_rendered()["image"]))
    optimizer = torch.optim.AdamW(vq.parameters(), lr=1e-3)
    vq_training_loss(vq, pixels, VqTrainConfig()).total.backward()
    optimizer.step()
    save_vq_train_state(tmp_path, 7, vq, optimizer, None)
    assert {p.name for p in (tmp_path / VQ_DIR).iterdir()} == {"config.json", "diffusion_pytorch_model.safetensors"}
    assert json.loads((tmp_path / VQ_STATE_DIR / "state.json").read_text()) == {"step": 7}
    fresh = _tiny_vq(seed=1)
    fresh_optimizer = torch.optim.AdamW(fresh.parameters(), lr=1e-3)
    assert load_vq_train_state(tmp_path, fresh, fresh_optimizer, None) == 7
    assert all(torch.equal(a, b) for a, b in zip(vq.state_dict().values(), fresh.state_dict().values()))
    restored = fresh_optimizer.state_dict()["state"]
    assert all(torch.equal(restored[k]["exp_avg"], v["exp_avg"]) for k, v in optimizer.state_dict()["state"].items())


def test_evaluation_reports_per_modality_errors_and_restores_train_mode() -> None:
    vq = _tiny_vq().train()
    empty = {"image": np.zeros((0, 256, 256, 3), dtype=np.uint8), "modality": np.array([], dtype=str)}
    metrics = evaluate_reconstruction(vq, [_rendered(), empty, _rendered()], CPU, "no")
    assert vq.training
    assert metrics["eval/edges/count"] == 2.0 and metrics["eval/segmentation/count"] == 2.0
    assert "eval/depth/mse" not in metrics
    for key in ("eval/edges/mse", "eval/edges/pixel_accuracy", "eval/edges/edge_f1", "eval/segmentation/pixel_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert 0.0 < metrics["eval/codebook_usage"] <= 2 * 256 / 1024
    assert metrics["eval/commit_loss"] >= 0.0

"""The VQ tokenizer task for the shared worker loop (``trainers.harness.worker_loop``): rendered maps, step, evaluate.

Loss (``vq_training_loss``): reconstruction (L1 or MSE, rendered map vs ``VQModel(x).sample``)
plus ``commitment_weight`` * the ``commit_loss`` diffusers' VQModel returns (codebook + beta *
commitment term; gradients pass the quantizer straight-through). DDP over the workers; forward
and loss under ``trainers.harness.mixed_precision``; weights stay float32.

Checkpoints: ``vq/`` (``save_pretrained``: config.json + safetensors weights) and
``vq_train_state/`` (optimizer and fp16 loss-scaler state, loaded ``weights_only``; step). A
(re)started worker group resumes from the checkpoint Ray Train hands it. Rank 0 evaluates the
unwrapped model on at most ``eval_max_rows`` rows of the eval split (the whole split when it is
smaller, whatever the number of workers) every ``eval_every`` steps and at the last step, and logs to MLflow; a step
already in the run's ``loss`` history is never logged twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import ray.train
import ray.train.torch
import torch
from diffusers import VQModel
from safetensors.torch import load_file

from featurestore.modality import Modality
from pipelines.modality_codes import maps_to_vq_input
from trainers.data.shard_batches import shard_batches
from trainers.harness.mixed_precision import PrecisionMode, autocast_context, backward, make_grad_scaler, optimizer_step
from trainers.harness.worker_loop import LoopSchedule, run_worker_loop
from trainers.models.vq_tokenizer import build_vq_tokenizer
from trainers.recipes.vq_reconstruction import mean_errors, reconstruction_errors, reconstruction_to_rgb
from trainers.recipes.vq_train_config import VqTrainConfig

VQ_DIR = "vq"
"""Checkpoint subfolder holding the VQModel (``save_pretrained`` layout)."""
VQ_STATE_DIR = "vq_train_state"
VQ_WEIGHTS = "diffusion_pytorch_model.safetensors"


@dataclass(frozen=True)
class VqLoopSpec:
    """Everything a worker needs; pickled once by Ray to every worker."""

    config: VqTrainConfig
    tracking_uri: str
    mlflow_run_id: str


@dataclass(frozen=True)
class VqLoss:
    total: torch.Tensor
    """Scalar float32: reconstruction + commitment_weight * commitment."""
    reconstruction: torch.Tensor
    commitment: torch.Tensor


def vq_training_loss(model: torch.nn.Module, pixels: torch.Tensor, config: VqTrainConfig) -> VqLoss:
    """(B, 3, 256, 256) maps in [-1, 1] through a (possibly DDP-wrapped) VQModel -> the loss terms."""
    output = model(pixels)
    reconstruction_fn = torch.nn.functional.l1_loss if config.reconstruction_loss == "l1" else torch.nn.functional.mse_loss
    reconstruction = reconstruction_fn(output.sample.float(), pixels.float())
    commitment = output.commit_loss.float().mean()
    return VqLoss(reconstruction + config.commitment_weight * commitment, reconstruction, commitment)


def initial_vq_model(config: VqTrainConfig) -> VQModel:
    """``init_model`` through ``VQModel.from_pretrained``, or a random VQModel of ``preset`` seeded by ``seed``."""
    if config.init_model is not None:
        return VQModel.from_pretrained(
            config.init_model, subfolder=config.init_subfolder, revision=config.init_revision, use_safetensors=True
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return build_vq_tokenizer(config.preset)


class VqTask:
    """The VQModel of one worker: DDP-wrapped for training, raw for checkpoints and evaluation."""

    def __init__(self, config: VqTrainConfig) -> None:
        self.config = config
        self.device = ray.train.torch.get_device()
        self.vq = initial_vq_model(config).to(self.device).train()
        self.model = ray.train.torch.prepare_model(self.vq, move_to_device=False)
        self.optimizer = torch.optim.AdamW(self.vq.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
        self.scaler = make_grad_scaler(self.device, config.mixed_precision)
        self.batches = shard_batches(config.batch_size, "vq_train.batch_size", "maps")

    def restore(self, directory: Path) -> int:
        return load_vq_train_state(directory, self.vq, self.optimizer, self.scaler)

    def start(self, step: int) -> None:
        pass

    def step(self) -> dict[str, float]:
        pixels = maps_to_vq_input(list(next(self.batches)["image"])).to(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        with autocast_context(self.device, self.config.mixed_precision):
            loss = vq_training_loss(self.model, pixels, self.config)
        backward(loss.total, self.scaler)
        norm = optimizer_step(self.optimizer, self.scaler, self.vq.parameters(), self.config.max_grad_norm)
        metrics = {
            "loss": float(loss.total.detach()), "reconstruction_loss": float(loss.reconstruction.detach()),
            "commit_loss": float(loss.commitment.detach()),
        }
        return metrics if norm is None else metrics | {"grad_norm": norm}

    def images(self, step: int) -> dict[str, np.ndarray]:
        return {}

    def evaluate(self) -> dict[str, float]:
        batches = ray.train.get_dataset_shard("eval").iter_batches(batch_size=self.config.batch_size, batch_format="numpy")
        return evaluate_reconstruction(self.vq, batches, self.device, self.config.mixed_precision)

    def save(self, directory: Path, step: int, final: bool) -> None:
        save_vq_train_state(directory, step, self.vq, self.optimizer, self.scaler)


def _errors_by_modality(batch: dict[str, np.ndarray], reconstructed: np.ndarray) -> dict[Modality, dict[str, np.ndarray]]:
    """Per-image errors of one batch, split by its ``modality`` column; ``reconstructed`` (N, H, W, 3) uint8."""
    errors = {}
    for name in np.unique(batch["modality"]):
        rows = batch["modality"] == name
        errors[Modality(name)] = reconstruction_errors(Modality(name), batch["image"][rows], reconstructed[rows])
    return errors


@torch.no_grad()
def evaluate_reconstruction(
    vq: VQModel, batches: Any, device: torch.device, mixed_precision: PrecisionMode
) -> dict[str, float]:
    """Per-modality reconstruction errors (``trainers.recipes.vq_reconstruction``) over rendered-map batches
    (``image`` (N, 256, 256, 3) uint8, ``modality`` (N,) str), plus ``eval/codebook_usage`` (share
    of the codebook used) and ``eval/commit_loss``."""
    was_training = vq.training
    vq.eval()
    per_batch, codes, commits = [], set(), []
    for batch in batches:
        if len(batch["image"]) == 0:
            continue
        pixels = maps_to_vq_input(list(batch["image"])).to(device)
        with autocast_context(device, mixed_precision):
            quantized, commit, (_, _, indices) = vq.quantize(vq.encode(pixels).latents)
            decoded = vq.decode(quantized, force_not_quantize=True).sample
        codes.update(indices.reshape(-1).tolist())
        commits.append(float(commit))
        per_batch.append(_errors_by_modality(batch, reconstruction_to_rgb(decoded.float().cpu().numpy())))
    vq.train(was_training)
    metrics = mean_errors(per_batch)
    if commits:
        metrics["eval/commit_loss"] = float(np.mean(commits))
        metrics["eval/codebook_usage"] = len(codes) / vq.config.num_vq_embeddings
    return metrics


def save_vq_train_state(
    directory: Path, step: int, vq: VQModel, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None
) -> None:
    """Write ``directory/vq/`` (``save_pretrained``, safetensors) and ``directory/vq_train_state/``."""
    vq.save_pretrained(directory / VQ_DIR, safe_serialization=True)
    state_dir = directory / VQ_STATE_DIR
    state_dir.mkdir(parents=True, exist_ok=True)
    scaler_state = {} if scaler is None else scaler.state_dict()
    torch.save({"optimizer": optimizer.state_dict(), "scaler": scaler_state}, state_dir / "optimizer.pt")
    (state_dir / "state.json").write_text(json.dumps({"step": step}))


def load_vq_train_state(
    directory: Path, vq: VQModel, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None
) -> int:
    """Restore what ``save_vq_train_state`` wrote into the given objects; return the step."""
    device = next(vq.parameters()).device
    vq.load_state_dict(load_file(directory / VQ_DIR / VQ_WEIGHTS, device=str(device)))
    state = torch.load(directory / VQ_STATE_DIR / "optimizer.pt", map_location=device, weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and state["scaler"]:
        scaler.load_state_dict(state["scaler"])
    return int(json.loads((directory / VQ_STATE_DIR / "state.json").read_text())["step"])


def vq_train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    spec: VqLoopSpec = loop_config["spec"]
    config = spec.config
    world = ray.train.get_context().get_world_size()
    schedule = LoopSchedule(
        steps=config.steps, checkpoint_every=config.checkpoint_every, log_every=config.log_every,
        items_per_step=config.batch_size * world, unit="maps", eval_every=config.eval_every, label="vq step",
    )
    run_worker_loop(VqTask(config), schedule, spec.tracking_uri, spec.mlflow_run_id)

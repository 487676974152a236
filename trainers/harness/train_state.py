"""Checkpoints of a training run: trainable weights, EMA weights, optimizer state, step.

Weights are safetensors; the optimizer state is a torch file loaded with ``weights_only=True``
(no arbitrary unpickling). The final checkpoint also holds the EMA pipeline (``pipeline/``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

STATE_DIR = "train_state"
PIPELINE_DIR = "pipeline"


@dataclass(frozen=True)
class TrainState:
    step: int
    """Optimizer steps completed."""
    epoch: int = 0
    """Epoch of the last batch the checkpointed step consumed (a resume restarts it); 0 in older checkpoints."""


def save_train_state(
    directory: Path, step: int, trainable: torch.nn.Module, ema: torch.nn.Module, optimizer: torch.optim.Optimizer,
    epoch: int = 0,
) -> None:
    """Write ``directory/train_state/`` (weights, EMA weights, optimizer, step and epoch)."""
    state_dir = directory / STATE_DIR
    state_dir.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in trainable.state_dict().items()}, state_dir / "trainable.safetensors")
    save_file({k: v.detach().contiguous().cpu() for k, v in ema.state_dict().items()}, state_dir / "ema.safetensors")
    torch.save(optimizer.state_dict(), state_dir / "optimizer.pt")
    (state_dir / "state.json").write_text(json.dumps({"step": step, "epoch": epoch}))


def load_train_state(
    directory: Path, trainable: torch.nn.Module, ema: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> TrainState:
    """Restore what ``save_train_state`` wrote into the given modules; return the step and epoch."""
    state_dir = directory / STATE_DIR
    device = next(trainable.parameters()).device
    trainable.load_state_dict(load_file(state_dir / "trainable.safetensors", device=str(device)))
    ema.load_state_dict(load_file(state_dir / "ema.safetensors", device=str(device)))
    optimizer.load_state_dict(torch.load(state_dir / "optimizer.pt", map_location=device, weights_only=True))
    state = json.loads((state_dir / "state.json").read_text())
    return TrainState(step=int(state["step"]), epoch=int(state.get("epoch", 0)))

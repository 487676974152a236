"""Mixed precision for the training loops: autocast around forward + loss, loss scaling for fp16.

Modes (``train.mixed_precision`` / ``vq_train.mixed_precision``):

- ``"no"``: float32 everywhere.
- ``"bf16"``: ``torch.autocast(dtype=torch.bfloat16)`` on CUDA, and on CPU too (PyTorch's CPU
  autocast runs matmuls/convolutions in bfloat16). No loss scaling: bfloat16 has float32's range.
- ``"fp16"``: ``torch.autocast(dtype=torch.float16)`` plus a ``torch.amp.GradScaler`` (dynamic loss
  scaling, gradients unscaled before clipping). CUDA only: on CPU it is refused with a
  :class:`ValueError` (configs refuse it earlier, naming their field).

Parameters, optimizer state and EMA weights stay float32 in every mode (autocast casts copies for
each op; it never changes a parameter's dtype).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Literal

import torch

PrecisionMode = Literal["no", "bf16", "fp16"]

_DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(device: torch.device, mode: PrecisionMode) -> None:
    """Raise ValueError when ``mode`` cannot run on ``device`` (fp16 off CUDA, unknown modes)."""
    if mode not in ("no", "bf16", "fp16"):
        raise ValueError(f"mixed_precision must be 'no', 'bf16' or 'fp16', got {mode!r}")
    if mode == "fp16" and device.type != "cuda":
        raise ValueError(f"mixed_precision 'fp16' needs a CUDA device (got {device.type}); use 'bf16' on CPU")


def autocast_dtype(mode: PrecisionMode) -> torch.dtype | None:
    """The autocast dtype of a mode; None for ``"no"``."""
    return _DTYPES.get(mode)


def autocast_context(device: torch.device, mode: PrecisionMode) -> contextlib.AbstractContextManager[object]:
    """A context for the forward pass and loss: ``torch.autocast`` for bf16/fp16, a no-op for "no"."""
    check_precision(device, mode)
    dtype = autocast_dtype(mode)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_grad_scaler(device: torch.device, mode: PrecisionMode) -> torch.amp.GradScaler | None:
    """A dynamic loss scaler for fp16 (CUDA); None for "no" and "bf16", which need none."""
    check_precision(device, mode)
    return torch.amp.GradScaler(device.type) if mode == "fp16" else None


def backward(loss: torch.Tensor, scaler: torch.amp.GradScaler | None) -> None:
    """``loss.backward()``, through the scaler when there is one."""
    (loss if scaler is None else scaler.scale(loss)).backward()


def optimizer_step(
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    parameters: Iterable[torch.nn.Parameter],
    max_grad_norm: float | None,
) -> float | None:
    """Unscale (fp16), clip to ``max_grad_norm`` (if set), step, update the scale.

    Returns the total gradient norm before clipping (None when not clipping). With a scaler,
    a step whose gradients hold inf/NaN is skipped and the scale lowered, as GradScaler does.
    """
    norm = None
    if scaler is not None:
        scaler.unscale_(optimizer)
    if max_grad_norm is not None:
        norm = float(torch.nn.utils.clip_grad_norm_(list(parameters), max_grad_norm))
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()
    return norm

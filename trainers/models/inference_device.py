"""Where and in which precision a pipeline runs at inference (``serve.device``, ``serve.precision``).

torch is imported by the two resolvers, not by this module: the configs that name a device load
without it (``mmsr --help`` and config errors answer in well under a second)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

InferenceDevice = Literal["auto", "cpu", "cuda"]
InferencePrecision = Literal["auto", "fp32", "bf16", "fp16"]
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")


def resolve_device(device: str, cuda_available: bool | None = None) -> torch.device:
    """``auto``: the first CUDA device when there is one, else the CPU; ``cuda`` without one is an error."""
    import torch

    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    has_cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
    if device == "cuda" and not has_cuda:
        raise ValueError("device 'cuda' was asked for but no CUDA device is available")
    return torch.device("cuda" if device == "cuda" or (device == "auto" and has_cuda) else "cpu")


def resolve_dtype(precision: str, device: torch.device, bf16_supported: bool | None = None) -> torch.dtype:
    """``auto``: bf16 on a GPU that supports it, else fp16 on a GPU, fp32 on the CPU (where fp16
    kernels are slow or missing). fp16 on the CPU is an error; bf16 on the CPU is allowed."""
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        if device.type != "cuda":
            return torch.float32
        supported = torch.cuda.is_bf16_supported() if bf16_supported is None else bf16_supported
        return torch.bfloat16 if supported else torch.float16
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision 'fp16' needs a CUDA device (use bf16 or fp32 on the CPU)")
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]

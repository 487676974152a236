from __future__ import annotations

import pytest
import torch

from trainers.models.inference_device import resolve_device, resolve_dtype

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_auto_takes_a_gpu_when_there_is_one_and_cuda_without_one_is_an_error() -> None:
    assert resolve_device("auto", cuda_available=True) == CUDA
    assert resolve_device("auto", cuda_available=False) == CPU
    assert resolve_device("cpu", cuda_available=True) == CPU
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_device("cuda", cuda_available=False)
    with pytest.raises(ValueError, match="device must be one of"):
        resolve_device("tpu")


def test_auto_precision_is_bf16_or_fp16_on_a_gpu_and_fp32_on_the_cpu() -> None:
    assert resolve_dtype("auto", CUDA, bf16_supported=True) == torch.bfloat16
    assert resolve_dtype("auto", CUDA, bf16_supported=False) == torch.float16
    assert resolve_dtype("auto", CPU) == torch.float32
    assert resolve_dtype("bf16", CPU) == torch.bfloat16
    with pytest.raises(ValueError, match="needs a CUDA device"):
        resolve_dtype("fp16", CPU)
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_dtype("int8", CPU)

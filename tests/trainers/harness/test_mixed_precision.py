from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.trainers.models.conftest import random_tokens
from trainers.harness.mixed_precision import (
    autocast_context,
    autocast_dtype,
    backward,
    check_precision,
    make_grad_scaler,
    optimizer_step,
)
from trainers.models.sr_pipeline import MMSRPipeline
from trainers.models.training_step import DiffusionParts, diffusion_loss, freeze_conditioning_models
from trainers.recipes.train_config import TrainConfig

CPU = torch.device("cpu")


def _tiny_net() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.SiLU(), torch.nn.Conv2d(8, 3, 3, padding=1))


def _inputs() -> torch.Tensor:
    return torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))


def test_no_precision_is_a_float32_no_op() -> None:
    net, x = _tiny_net(), _inputs()
    with autocast_context(CPU, "no"):
        out = net(x)
    assert out.dtype == torch.float32
    assert autocast_dtype("no") is None and make_grad_scaler(CPU, "no") is None


def test_cpu_bf16_autocasts_the_forward_and_keeps_float32_weights() -> None:
    net, x = _tiny_net(), _inputs()
    before = [p.detach().clone() for p in net.parameters()]
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    scaler = make_grad_scaler(CPU, "bf16")
    with autocast_context(CPU, "bf16"):
        out = net(x)
        loss = torch.nn.functional.mse_loss(out, x)
    assert out.dtype == torch.bfloat16
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    backward(loss, scaler)
    norm = optimizer_step(optimizer, scaler, net.parameters(), max_grad_norm=1e-3)
    assert scaler is None and norm is not None and norm > 1e-3
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in net.parameters())
    moved = [float((p.detach() - b).abs().max()) for p, b in zip(net.parameters(), before)]
    assert all(0 < m <= 0.1 * 1e-3 + 1e-7 for m in moved)  # clipped: each step is at most lr * max_norm


def test_fp16_off_cuda_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="fp16.*CUDA"):
        autocast_context(CPU, "fp16")
    with pytest.raises(ValueError, match="fp16.*CUDA"):
        make_grad_scaler(CPU, "fp16")
    with pytest.raises(ValueError, match="mixed_precision"):
        check_precision(CPU, "fp8")  # type: ignore[arg-type]


def test_train_config_allows_cpu_bf16_and_refuses_cpu_fp16() -> None:
    assert TrainConfig(mixed_precision="bf16", use_gpu=False).mixed_precision == "bf16"
    with pytest.raises(ValueError, match="train.mixed_precision: fp16 needs train.use_gpu"):
        TrainConfig(mixed_precision="fp16", use_gpu=False)
    with pytest.raises(ValueError, match="train.max_grad_norm"):
        TrainConfig(max_grad_norm=0.0)


def test_cpu_bf16_diffusion_step_is_finite_with_float32_weights_and_ema(base_model_dir: Path) -> None:
    pipeline = MMSRPipeline.from_pretrained(base_model_dir)
    parameters = freeze_conditioning_models(pipeline)
    pipeline.unet.train()
    ema = torch.optim.swa_utils.AveragedModel(pipeline.unet)
    optimizer = torch.optim.AdamW(parameters, lr=1e-3)
    hr = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    lr = torch.nn.functional.avg_pool2d(hr, 4)
    with autocast_context(CPU, "bf16"):
        loss = diffusion_loss(DiffusionParts.of(pipeline), hr, lr, random_tokens(pipeline, 2), torch.Generator().manual_seed(0))
    assert torch.isfinite(loss) and loss.dtype == torch.float32
    backward(loss, make_grad_scaler(CPU, "bf16"))
    optimizer_step(optimizer, None, parameters, max_grad_norm=1.0)
    ema.update_parameters(pipeline.unet)
    assert all(p.dtype == torch.float32 for p in parameters)
    assert all(v.dtype == torch.float32 for v in ema.module.state_dict().values() if v.is_floating_point())
    assert all(s["exp_avg"].dtype == torch.float32 for s in optimizer.state.values())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("mode", "dtype"), [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_cuda_autocast_step(mode: str, dtype: torch.dtype) -> None:
    device = torch.device("cuda")
    net, x = _tiny_net().to(device), _inputs().to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    scaler = make_grad_scaler(device, mode)  # type: ignore[arg-type]
    with autocast_context(device, mode):  # type: ignore[arg-type]
        out = net(x)
        loss = torch.nn.functional.mse_loss(out.float(), x)
    assert out.dtype == dtype and torch.isfinite(loss)
    backward(loss, scaler)
    optimizer_step(optimizer, scaler, net.parameters(), max_grad_norm=1.0)
    assert (scaler is not None) == (mode == "fp16")
    if scaler is not None:
        assert scaler.get_scale() > 0
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in net.parameters())

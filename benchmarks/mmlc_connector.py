"""MMLC + UNet vs the UNet cross-attending directly to every modality token (issue 5 benchmark).

Real SD2 sizes with random weights (same FLOPs as trained ones). Both arms run the same UNet on the
same latent; arm A conditions on the MMLC's 128 latents (MMLC cost included), arm B on all
256 x 3 + 77 = 845 modality tokens padded to 1024. Reports time and FLOPs of each and the ratios.

    python -m benchmarks.mmlc_connector [--latent 64] [--repeat 2]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from featurestore.modality import CAPTION_TOKENS, SPATIAL_MODALITIES, VQ_TOKENS, Modality
from trainers.models.conditional_unet import build_conditional_unet
from trainers.models.conditioning import ModalityTokens
from trainers.models.mmlc import build_mmlc
from trainers.models.presets import model_sizes


def _timed(fn: Callable[[], torch.Tensor], repeat: int) -> float:
    fn()  # warm-up
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) / repeat


def _flops(fn: Callable[[], torch.Tensor]) -> int:
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:  # counts attention FLOPs
        fn()
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latent", type=int, default=64, help="latent side (64 = 512x512 output)")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    sizes = model_sizes("sd2")
    generator = torch.Generator().manual_seed(0)
    unet = build_conditional_unet("sd2", latent_channels=sizes.vae.latent_channels).eval().requires_grad_(False)
    mmlc = build_mmlc("sd2").eval().requires_grad_(False)
    width = sizes.unet.cross_attention_dim
    features = {m: torch.randn(1, VQ_TOKENS, sizes.vq.embed_dim, generator=generator) for m in SPATIAL_MODALITIES}
    features[Modality.CAPTION] = torch.randn(1, CAPTION_TOKENS, sizes.text.hidden_size, generator=generator)
    tokens = ModalityTokens(1, features)
    direct = torch.randn(1, VQ_TOKENS * len(SPATIAL_MODALITIES) + CAPTION_TOKENS, width, generator=generator)
    sample = torch.randn(1, unet.config.in_channels, args.latent, args.latent, generator=generator)
    timestep = torch.tensor([500])

    def with_mmlc() -> torch.Tensor:
        return unet(sample, timestep, encoder_hidden_states=mmlc(tokens, timesteps=timestep)).sample

    def direct_tokens() -> torch.Tensor:
        return unet(sample, timestep, encoder_hidden_states=direct).sample

    flops_a, flops_b = _flops(with_mmlc), _flops(direct_tokens)
    time_a, time_b = _timed(with_mmlc, args.repeat), _timed(direct_tokens, args.repeat)
    print(f"latent {args.latent}x{args.latent}, {direct.shape[1]} modality tokens, {mmlc.config.num_latents} MMLC latents")
    print(f"MMLC + UNet        : {time_a:8.2f} s  {flops_a / 1e9:9.1f} GFLOP")
    print(f"UNet on all tokens : {time_b:8.2f} s  {flops_b / 1e9:9.1f} GFLOP  (baseline)")
    print(f"ours / baseline    : time {time_a / time_b:.3f}x, FLOPs {flops_a / flops_b:.3f}x")


if __name__ == "__main__":
    main()

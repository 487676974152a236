"""Single-thread throughput of the Real-ESRGAN degradation: ours vs a BasicSR-style baseline.

    python -m benchmarks.degradation_throughput --images 32 --size 512 --repeat 3

Both run the same degradation model with the same parameter samplers on the same real photos
(scikit-image / scikit-learn sample images, square crops). The baseline does the image work the
way BasicSR does on the CPU: numpy kernels padded to 21x21, ``filter2D`` as reflect-pad + torch
``conv2d`` (USM with a dense 51x51 kernel), ``F.interpolate``, torch Gaussian / Poisson noise with
``torch.unique`` counting, and a PIL JPEG round trip.

Throughput is images per second of the one thread, from process CPU time (what a dedicated core
gives, stable when other jobs share the machine) and from the wall clock; both are printed, and
the exit status is 1 if ours is below ``--min-throughput`` on ``--clock`` (default: CPU time).
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from threadpoolctl import threadpool_limits

from pipelines.degradation import DegradationConfig, degrade, derive_rng
from pipelines.degradation.jpeg import draw_jpeg_quality
from pipelines.degradation.kernels import KernelSpec, draw_blur_kernel, draw_final_sinc
from pipelines.degradation.noise import NoiseSpec, draw_noise
from pipelines.degradation.resize import draw_random_resize, draw_resize_mode

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "china.jpg", "flower.jpg")
_PAD_TO = 21  # Real-ESRGAN pads every kernel to 21x21


# ----------------------------------------------------------------------------- inputs


def load_photos() -> list[np.ndarray]:
    """The bundled demo photos as (H, W, 3) uint8 RGB (no download needed)."""
    from skimage import data
    from sklearn.datasets import load_sample_image

    return [load_sample_image(name) if name.endswith(".jpg") else getattr(data, name)() for name in PHOTOS]


def make_crops(photos: Sequence[np.ndarray], count: int, size: int, seed: int) -> list[np.ndarray]:
    """``count`` random (size, size, 3) crops, cycling over ``photos`` (upscaled when too small)."""
    rng = np.random.default_rng(seed)
    crops = []
    for index in range(count):
        photo = photos[index % len(photos)]
        short = min(photo.shape[:2])
        if short < size:
            factor = size / short
            width, height = math.ceil(photo.shape[1] * factor), math.ceil(photo.shape[0] * factor)
            photo = cv2.resize(photo, (width, height), interpolation=cv2.INTER_CUBIC)
        top = int(rng.integers(0, photo.shape[0] - size + 1))
        left = int(rng.integers(0, photo.shape[1] - size + 1))
        crops.append(np.ascontiguousarray(photo[top : top + size, left : left + size]))
    return crops


# ----------------------------------------------------------------------------- baseline


def _bsr_kernel(spec: KernelSpec) -> np.ndarray:
    """BasicSR ``degradations.py`` math (mesh grid, ``np.linalg.inv``, ``np.dot``), padded to 21x21."""
    from scipy import special

    size = spec.size
    ax = np.arange(-size // 2 + 1.0, size // 2 + 1.0)
    xx, yy = np.meshgrid(ax, ax)
    if spec.kernel_type == "sinc":
        omega = spec.omega_c or 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            kernel = omega * special.j1(omega * np.hypot(xx, yy)) / (2 * np.pi * np.hypot(xx, yy))
        kernel[size // 2, size // 2] = omega**2 / (4 * np.pi)
    else:
        sx = spec.sigma_x or 0.0
        sy, theta = spec.sigma_y or sx, spec.theta or 0.0
        rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        sigma = np.dot(rotation, np.dot(np.diag([sx**2, sy**2]), rotation.T))
        grid = np.stack([xx, yy], axis=-1)
        quad = np.sum(np.dot(grid, np.linalg.inv(sigma)) * grid, 2)
        if spec.kernel_type.startswith("generalized"):
            kernel = np.exp(-0.5 * np.power(quad, spec.beta))
        elif spec.kernel_type.startswith("plateau"):
            kernel = np.reciprocal(np.power(quad, spec.beta) + 1)
        else:
            kernel = np.exp(-0.5 * quad)
    kernel = kernel / np.sum(kernel)
    pad = (_PAD_TO - size) // 2
    return np.pad(kernel, ((pad, pad), (pad, pad)))


def _bsr_filter2d(image: torch.Tensor, kernel: np.ndarray) -> torch.Tensor:
    """BasicSR ``filter2D``: reflect pad + ``conv2d`` per channel; image (1, C, H, W)."""
    size = kernel.shape[-1]
    _, channels, height, width = image.shape
    padded = F.pad(image, (size // 2,) * 4, mode="reflect")
    weight = torch.from_numpy(kernel).float().view(1, 1, size, size)
    return F.conv2d(padded.view(channels, 1, *padded.shape[-2:]), weight).view(1, channels, height, width)


def _bsr_usm(image: torch.Tensor, weight: float = 0.5, threshold: float = 10.0) -> torch.Tensor:
    """BasicSR ``USMSharp`` with its dense 51x51 Gaussian."""
    gaussian = cv2.getGaussianKernel(51, 0)
    kernel = np.dot(gaussian, gaussian.T)
    blur = _bsr_filter2d(image, kernel)
    residual = image - blur
    soft = _bsr_filter2d((torch.abs(residual) * 255 > threshold).float(), kernel)
    sharp = torch.clip(image + weight * residual, 0, 1)
    return soft * sharp + (1 - soft) * image


def _bsr_noise(image: torch.Tensor, spec: NoiseSpec, generator: torch.Generator) -> torch.Tensor:
    """``random_add_{gaussian,poisson}_noise_pt`` with clip=True (colour noise always computed)."""
    if spec.kind == "gaussian":
        sigma = (spec.sigma or 0.0) / 255.0
        noise = torch.randn(image.shape, generator=generator) * sigma
        if spec.gray:
            noise = torch.randn(image.shape[-2:], generator=generator).view(1, 1, *image.shape[-2:]) * sigma
        return torch.clamp(image + noise, 0, 1)

    def shot(img: torch.Tensor) -> torch.Tensor:
        img = torch.clamp((img * 255.0).round(), 0, 255) / 255.0
        vals = 2 ** np.ceil(np.log2(len(torch.unique(img))))
        return torch.poisson(img * vals, generator=generator) / vals - img

    noise = shot(image)
    if spec.gray:
        gray = 0.299 * image[:, 0:1] + 0.587 * image[:, 1:2] + 0.114 * image[:, 2:3]
        noise = shot(gray).expand_as(image)
    return torch.clamp(image + noise * (spec.scale or 0.0), 0, 1)


def _pil_jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    array = (image.clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(decoded).permute(2, 0, 1)[None]


def basicsr_style_degrade(hr: np.ndarray, config: DegradationConfig, rng: np.random.Generator) -> np.ndarray:
    """The same model as ``degrade`` implemented the BasicSR way; (H, W, 3) uint8 -> LR uint8."""
    generator = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
    height, width = hr.shape[:2]
    lr_size = (height // config.scale, width // config.scale)
    out = torch.from_numpy(hr.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    if config.usm_sharpen:
        out = _bsr_usm(out)
    out = _bsr_filter2d(out, _bsr_kernel(draw_blur_kernel(config.blur_settings(1), rng)))
    resize = draw_random_resize(config.resize_settings(1), rng)
    out = F.interpolate(out, scale_factor=resize.scale, mode=resize.mode)
    out = _bsr_noise(out, draw_noise(config.noise_settings(1), rng), generator)
    out = _pil_jpeg(out, draw_jpeg_quality(config.jpeg_range, rng))
    if rng.uniform() < config.second_blur_prob:
        out = _bsr_filter2d(out, _bsr_kernel(draw_blur_kernel(config.blur_settings(2), rng)))
    resize = draw_random_resize(config.resize_settings(2), rng)
    size = (max(1, int(lr_size[0] * resize.scale)), max(1, int(lr_size[1] * resize.scale)))
    out = F.interpolate(out, size=size, mode=resize.mode)
    out = _bsr_noise(out, draw_noise(config.noise_settings(2), rng), generator)
    jpeg_first = rng.uniform() >= 0.5
    mode = draw_resize_mode(config.resize_modes, rng)
    sinc = draw_final_sinc(config.kernel_size_range, rng) if rng.uniform() < config.final_sinc_prob else None
    quality = draw_jpeg_quality(config.jpeg_range2, rng)
    if jpeg_first:
        out = _pil_jpeg(out, quality)
    out = F.interpolate(out, size=lr_size, mode=mode)
    pulse = np.zeros((_PAD_TO, _PAD_TO))
    pulse[_PAD_TO // 2, _PAD_TO // 2] = 1.0
    out = _bsr_filter2d(out, pulse if sinc is None else _bsr_kernel(sinc))
    if not jpeg_first:
        out = _pil_jpeg(out, quality)
    out = torch.clamp((out * 255.0).round(), 0, 255)
    return out[0].permute(1, 2, 0).numpy().astype(np.uint8)


# ----------------------------------------------------------------------------- measurement


Clock = Literal["cpu", "wall"]


@dataclass(frozen=True)
class Measurement:
    """Images per second of one implementation, one entry per timed pass, by process CPU time and wall clock."""

    cpu: list[float]
    wall: list[float]

    def best(self, clock: Clock) -> float:
        """Best pass: the machine's capability, least disturbed by other load."""
        return max(self.cpu if clock == "cpu" else self.wall)

    def describe(self) -> str:
        runs = ", ".join(f"{rate:.2f}" for rate in self.wall)
        return (
            f"{self.best('cpu'):7.2f} img/s by CPU time, {self.best('wall'):7.2f} by wall clock (wall passes: {runs})"
        )


def measure(
    run: Callable[[np.ndarray, np.random.Generator], np.ndarray],
    images: Sequence[np.ndarray],
    repeat: int,
    tag: str,
) -> Measurement:
    """Time ``run`` over ``images`` ``repeat`` times (after one warm-up image), fresh seeds each pass."""
    run(images[0], derive_rng(f"{tag}-warmup", 0))
    wall, cpu = [], []
    for rep in range(repeat):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        for index, image in enumerate(images):
            run(image, derive_rng(f"{tag}-{index}", rep))
        wall.append(len(images) / (time.perf_counter() - start_wall))
        cpu.append(len(images) / max(time.process_time() - start_cpu, 1e-9))
    return Measurement(cpu=cpu, wall=wall)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=32, help="HR crops timed per repeat (ours)")
    parser.add_argument("--baseline-images", type=int, default=6, help="HR crops timed per repeat (baseline)")
    parser.add_argument("--size", type=int, default=512, help="side of the square HR crops")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes of ours; the best is reported")
    parser.add_argument("--baseline-repeat", type=int, default=1, help="timed passes of the baseline")
    parser.add_argument("--min-throughput", type=float, default=30.0, help="fail below this many img/s (ours)")
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="what --min-throughput is checked against: process CPU time (robust on a shared machine) or wall clock",
    )
    parser.add_argument("--no-usm", action="store_true", help="skip Real-ESRGAN's USM sharpening of the HR")
    parser.add_argument("--seed", type=int, default=0, help="seed of the crop positions")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    config = DegradationConfig(usm_sharpen=not args.no_usm)
    images = make_crops(load_photos(), max(args.images, args.baseline_images), args.size, args.seed)
    with threadpool_limits(limits=1):
        ours = measure(lambda hr, rng: degrade(hr, config, rng).lr, images[: args.images], args.repeat, "ours")
        base = measure(
            lambda hr, rng: basicsr_style_degrade(hr, config, rng),
            images[: args.baseline_images],
            args.baseline_repeat,
            "base",
        )
    lr_side = args.size // config.scale
    print(
        f"Real-ESRGAN degradation, 1 thread, {args.size}x{args.size} HR -> {lr_side}x{lr_side} LR, "
        f"usm_sharpen={config.usm_sharpen}, crops of {len(PHOTOS)} photos, best pass"
    )
    print(f"  ours (pipelines.degradation)  {ours.describe()}  [{args.repeat} x {args.images} images]")
    base_passes = f"[{args.baseline_repeat} x {args.baseline_images} images]"
    print(f"  baseline (basicsr-style)      {base.describe()}  {base_passes}")
    print(f"  ratio ours / baseline         {ours.best(args.clock) / base.best(args.clock):7.2f}x ({args.clock})")
    share = ours.best("wall") / ours.best("cpu")
    if share < 0.9:
        print(f"  note: the machine is busy; this process got about {share:.0%} of a core (wall vs CPU time)")
    if ours.best(args.clock) < args.min_throughput:
        print(f"FAIL: ours {ours.best(args.clock):.2f} img/s ({args.clock}) < --min-throughput {args.min_throughput}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

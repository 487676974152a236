"""The GPU check, in one process: every number the README wants from a GPU, one command away.

    python -m benchmarks.gpu_suite            # real sizes on cuda (under 8 minutes on one GPU)
    python -m benchmarks.gpu_suite --smoke    # the same code, tiny models, CPU, seconds

Real-size models have random weights (same FLOPs as trained ones); nothing is downloaded.

1. Depth RunInference: the Depth Anything V2 Small architecture through the preprocessing job's
   own handler and ``RunInference``, ``max_batch_size`` 8 vs 1 (baseline), and the model called
   directly on fixed batches for reference (``benchmarks.runinference_batching``).
2. Training throughput: MMLC + UNet (SD2 sizes) with the VAE encode, the diffusion loss, AdamW
   and gradient clipping exactly as the training loop runs them (``trainers.harness.mixed_precision``),
   bf16 autocast vs fp32 (baseline): images/s at 512 px HR.
3. fp16 with the gradient scaler: a few steps; images/s, the final loss scale, steps skipped.
4. Inference: one 128 -> 512 upscale through the serving path (``super_resolve``: LR edges, VQ,
   MMLC, DDIM) for each guidance mode, fp32 and bf16 autocast; ratio to ``none`` in fp32.

Prints one Markdown table (section, what, ours, baseline measured in the same run, ratio), row by
row as sections finish; a section that fails is one row saying why, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from featurestore.modality import CAPTION_TOKENS, SPATIAL_MODALITIES, VQ_TOKENS, Modality
from orchestration.serving.super_resolution import GuidanceMode, SamplingOptions, super_resolve
from pipelines.modalities.depth import build_tiny_depth_model
from trainers.harness.mixed_precision import PrecisionMode, autocast_context, backward, make_grad_scaler, optimizer_step
from trainers.models.conditioning import ModalityTokens
from trainers.models.presets import ModelPreset, model_sizes
from trainers.models.sr_pipeline import MMSRPipeline, build_pipeline_components
from trainers.models.training_step import DiffusionParts, diffusion_loss, freeze_conditioning_models

GUIDANCE_MODES: tuple[GuidanceMode, ...] = ("none", "cfg", "m_empty-cfg", "m-cfg")


@dataclass(frozen=True)
class SuiteSettings:
    preset: ModelPreset
    device: str
    depth_images: int
    depth_size: int
    depth_batch: int
    train_batch: int
    train_steps: int
    fp16_steps: int
    lr_size: int
    inference_steps: int
    repeats: int

    @classmethod
    def full(cls, device: str) -> SuiteSettings:
        return cls("sd2", device, depth_images=256, depth_size=518, depth_batch=8, train_batch=8, train_steps=8,
                   fp16_steps=5, lr_size=128, inference_steps=50, repeats=2)

    @classmethod
    def smoke(cls) -> SuiteSettings:
        return cls("tiny", "cpu", depth_images=4, depth_size=56, depth_batch=2, train_batch=2, train_steps=2,
                   fp16_steps=2, lr_size=16, inference_steps=2, repeats=1)


@dataclass(frozen=True)
class Row:
    section: str
    what: str
    ours: str
    baseline: str
    ratio: str


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(call: Callable[[], object], device: str) -> float:
    _sync(device)
    started = time.perf_counter()
    call()
    _sync(device)
    return time.perf_counter() - started


def depth_rows(settings: SuiteSettings, workdir: Path) -> list[Row]:
    """RunInference batched vs per-image, and the model called directly, on the depth stage."""
    from benchmarks.runinference_batching import sample_crops, save_random_small_v2, time_direct, time_run_inference

    if settings.preset == "sd2":
        model_dir = save_random_small_v2(workdir / "depth-small-v2", seed=0)
    else:
        model_dir = build_tiny_depth_model(workdir / "depth-tiny")
    samples = sample_crops(settings.depth_images, settings.depth_size, seed=0)
    log = workdir / "batches.txt"
    time_run_inference(model_dir, samples[:2], 2, log, settings.device)  # warm-up
    single = time_run_inference(model_dir, samples, 1, log, settings.device)
    batched = time_run_inference(model_dir, samples, settings.depth_batch, log, settings.device)
    direct_single = time_direct(model_dir, samples, 1, settings.device)
    direct_batched = time_direct(model_dir, samples, settings.depth_batch, settings.device)
    what = f"{settings.depth_images} images {settings.depth_size}px, max_batch_size {settings.depth_batch} vs 1"
    return [
        Row("depth RunInference", what, f"{batched.images_per_s:.1f} img/s", f"{single.images_per_s:.1f} img/s",
            f"{batched.images_per_s / single.images_per_s:.2f}x (target >= 1.5x)"),
        Row("depth, model called directly", f"batch {settings.depth_batch} vs 1",
            f"{direct_batched.images_per_s:.1f} img/s", f"{direct_single.images_per_s:.1f} img/s",
            f"{direct_batched.images_per_s / direct_single.images_per_s:.2f}x"),
    ]


def random_tokens(preset: ModelPreset, batch: int, device: str, generator: torch.Generator) -> ModalityTokens:
    """Every modality present: VQ code vectors (256 per spatial modality) and 77 caption states."""
    sizes = model_sizes(preset)
    features = {m: torch.randn(batch, VQ_TOKENS, sizes.vq.embed_dim, generator=generator) for m in SPATIAL_MODALITIES}
    features[Modality.CAPTION] = torch.randn(batch, CAPTION_TOKENS, sizes.text.hidden_size, generator=generator)
    return ModalityTokens(batch, {m: f.to(device) for m, f in features.items()})


@dataclass(frozen=True)
class TrainingRun:
    images_per_s: float
    final_loss: float
    loss_scale: float | None
    skipped_steps: int


def train_steps(pipeline: MMSRPipeline, settings: SuiteSettings, mode: PrecisionMode, steps: int) -> TrainingRun:
    """``steps`` optimizer steps (after one warm-up step) as the training loop takes them; images/s."""
    device = torch.device(settings.device)
    trainable = freeze_conditioning_models(pipeline)
    parts = DiffusionParts.of(pipeline)
    pipeline.unet.train()
    pipeline.mmlc.train()
    optimizer = torch.optim.AdamW(trainable, lr=1e-5)
    scaler = make_grad_scaler(device, mode)
    generator = torch.Generator().manual_seed(0)
    hr_side = settings.lr_size * pipeline.config.scale
    hr = torch.rand(settings.train_batch, 3, hr_side, hr_side, generator=generator).mul(2).sub(1).to(device)
    lr = torch.nn.functional.interpolate(hr, scale_factor=1 / pipeline.config.scale, mode="area")
    tokens = random_tokens(settings.preset, settings.train_batch, settings.device, generator)
    skipped, losses = 0, []

    def step() -> None:
        nonlocal skipped
        optimizer.zero_grad(set_to_none=True)
        with autocast_context(device, mode):
            loss = diffusion_loss(parts, hr, lr, tokens, generator)
        backward(loss, scaler)
        scale = None if scaler is None else scaler.get_scale()
        optimizer_step(optimizer, scaler, trainable, max_grad_norm=1.0)
        skipped += int(scaler is not None and scaler.get_scale() < scale)
        losses.append(float(loss.detach()))

    step()
    seconds = _timed(lambda: [step() for _ in range(steps)], settings.device)
    pipeline.unet.eval()
    pipeline.mmlc.eval()
    return TrainingRun(settings.train_batch * steps / seconds, losses[-1], None if scaler is None else scaler.get_scale(), skipped)


def training_rows(pipeline: MMSRPipeline, settings: SuiteSettings) -> list[Row]:
    hr_side = settings.lr_size * pipeline.config.scale
    what = f"MMLC + UNet ({settings.preset}), batch {settings.train_batch}, {hr_side}px HR, VAE encode included"
    fp32 = train_steps(pipeline, settings, "no", settings.train_steps)
    bf16 = train_steps(pipeline, settings, "bf16", settings.train_steps)
    rows = [Row("training bf16 vs fp32", what, f"{bf16.images_per_s:.2f} img/s", f"{fp32.images_per_s:.2f} img/s",
                f"{bf16.images_per_s / fp32.images_per_s:.2f}x")]
    if not settings.device.startswith("cuda"):
        return [*rows, Row("training fp16 + GradScaler", what, "not run: fp16 needs CUDA", "", "")]
    fp16 = train_steps(pipeline, settings, "fp16", settings.fp16_steps)
    ours = f"{fp16.images_per_s:.2f} img/s, loss {fp16.final_loss:.4f}, scale {fp16.loss_scale:.0f}, {fp16.skipped_steps} of {settings.fp16_steps} steps skipped"
    return [*rows, Row("training fp16 + GradScaler", what, ours, f"{fp32.images_per_s:.2f} img/s (fp32)",
                       f"{fp16.images_per_s / fp32.images_per_s:.2f}x")]


def _latency(pipeline: MMSRPipeline, settings: SuiteSettings, mode: GuidanceMode, bf16: bool) -> float:
    lr = np.random.default_rng(0).integers(0, 256, (settings.lr_size, settings.lr_size, 3), dtype=np.uint8)
    options = SamplingOptions(guidance_mode=mode, steps=settings.inference_steps)
    device = torch.device(settings.device)
    precision = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def call() -> None:
        with precision:
            super_resolve(pipeline, lr, "a photo", options)

    call()  # warm-up
    return statistics.median(_timed(call, settings.device) for _ in range(settings.repeats))


def inference_rows(pipeline: MMSRPipeline, settings: SuiteSettings) -> list[Row]:
    side = settings.lr_size
    base = _latency(pipeline, settings, "none", bf16=False)
    rows = []
    for bf16 in (False, True):
        for mode in GUIDANCE_MODES:
            seconds = base if (mode, bf16) == ("none", False) else _latency(pipeline, settings, mode, bf16)
            what = f"{side} -> {side * pipeline.config.scale} px, {settings.inference_steps} steps, {mode}, {'bf16' if bf16 else 'fp32'}"
            rows.append(Row("inference latency", what, f"{seconds * 1000:.0f} ms", f"{base * 1000:.0f} ms (none, fp32)",
                            f"{seconds / base:.2f}x"))
    return rows


def run_suite(settings: SuiteSettings, sections: Sequence[str]) -> Iterator[Row]:
    """Rows section by section as they are measured; a section that fails yields one row saying why
    (the others still run: a GPU lease is too short to lose to one broken section)."""
    with tempfile.TemporaryDirectory(prefix="mmsr-gpu-suite-") as tmp:
        workdir = Path(tmp)
        pipeline: MMSRPipeline | None = None
        for section in sections:
            try:
                if section == "depth":
                    yield from depth_rows(settings, workdir)
                    continue
                if pipeline is None:
                    pipeline = build_pipeline_components(settings.preset, workdir / "clip").to(settings.device)
                yield from (inference_rows if section == "inference" else training_rows)(pipeline, settings)
            except Exception as error:  # noqa: BLE001 - reported in the table, with the traceback on stderr
                traceback.print_exc()
                yield Row(section, "failed", f"{type(error).__name__}: {' '.join(str(error).split())[:200]}", "", "")


HEADER = "| section | what | ours | baseline (same run) | ratio |\n| --- | --- | --- | --- | --- |"


def table_row(row: Row) -> str:
    return f"| {row.section} | {row.what} | {row.ours} | {row.baseline} | {row.ratio} |"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny models on the CPU (seconds; the default test suite runs it)")
    parser.add_argument("--device", default="cuda", help="device of the full run (default cuda)")
    parser.add_argument("--sections", nargs="+", default=["depth", "inference", "training"],
                        choices=["depth", "inference", "training"])
    parser.add_argument("--output", help="also write the table (Markdown) to this file, row by row")
    parser.add_argument("--depth-images", type=int, help="images through the depth stage (default 256; 4 with --smoke)")
    args = parser.parse_args(argv)
    if not args.smoke and args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_suite: no CUDA device here; run with --smoke for the CPU check", file=sys.stderr)
        return 2
    settings = SuiteSettings.smoke() if args.smoke else SuiteSettings.full(args.device)
    if args.depth_images is not None:
        settings = replace(settings, depth_images=args.depth_images)
    device = torch.cuda.get_device_name() if settings.device.startswith("cuda") else "CPU"
    print(f"gpu_suite on {device}, torch {torch.__version__}, preset {settings.preset}", flush=True)
    started = time.perf_counter()
    lines = [HEADER]
    print(HEADER, flush=True)
    for row in run_suite(settings, args.sections):
        lines.append(table_row(row))
        print(lines[-1], flush=True)
        if args.output:
            Path(args.output).write_text("\n".join(lines) + "\n")
    print(f"gpu_suite: {time.perf_counter() - started:.0f} s", flush=True)
    return 1 if any("| failed |" in line for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())

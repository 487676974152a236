"""Peak memory of one x4 upscale as the LR grows: the tiled UNet and VAE keep it bounded.

    python -m benchmarks.upscale_memory                     # tiny preset, LR 128 (baseline), 512, 1024 px
    python -m benchmarks.upscale_memory --preset sd2 --device cuda

Each size runs in a fresh process (peak RSS is per process): load the pipeline, note the resident
memory, upscale once through the serving path (``super_resolve``, LR-side edges, m-cfg, 1 DDIM
step: memory does not grow with steps), then report the process's peak RSS (and, on CUDA, the
peak allocated GPU memory). Prints one Markdown table: the added memory per size, and its ratio to
the 128 px baseline and to the output's pixel count.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import psutil
import torch

from orchestration.serving.super_resolution import SamplingOptions, super_resolve
from trainers.models.presets import ModelPreset
from trainers.models.sr_pipeline import MMSRPipeline, build_pipeline_components


def measure_one(pipeline_dir: str, side: int, device: str) -> dict[str, float]:
    """In this process: MiB resident after loading, peak MiB (RSS; GPU allocated on CUDA), seconds."""
    pipeline = MMSRPipeline.from_pretrained(pipeline_dir, device=device)
    loaded = psutil.Process().memory_info().rss / 2**20
    lr = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    super_resolve(pipeline, lr, "a photo", SamplingOptions(guidance_mode="m-cfg", steps=1))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    gpu = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else 0.0
    return {"loaded_mib": loaded, "peak_mib": peak, "gpu_peak_mib": gpu, "seconds": seconds}


def _run_child(pipeline_dir: Path, side: int, device: str) -> dict[str, float]:
    command = [sys.executable, "-m", "benchmarks.upscale_memory", "--child", str(pipeline_dir), str(side), device]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode:
        raise RuntimeError(f"the {side} px run failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=["tiny", "quickstart", "sd2"], default="tiny")
    parser.add_argument("--baseline-side", type=int, default=128, help="the LR side the others are compared with")
    parser.add_argument("--sides", type=int, nargs="+", default=[512, 1024], help="LR sides besides the baseline")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--child", nargs=3, metavar=("PIPELINE", "SIDE", "DEVICE"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(argv)
    if args.child:
        pipeline_dir, side, device = args.child
        print(json.dumps(measure_one(pipeline_dir, int(side), device)))
        return
    preset: ModelPreset = args.preset
    with tempfile.TemporaryDirectory(prefix="mmsr-upscale-memory-") as tmp:
        pipeline_dir = build_pipeline_components(preset, Path(tmp) / "clip").save_pretrained(Path(tmp) / "pipeline")
        scale = MMSRPipeline.from_pretrained(pipeline_dir).config.scale
        print(f"x{scale} upscale, {preset} preset, m-cfg, 1 step, {args.device}; each size in a fresh process\n")
        print(f"| LR -> SR | added memory (peak - loaded) | baseline: {args.baseline_side} px LR | ratio "
              "| per SR megapixel | time |")
        print("| --- | --- | --- | --- | --- | --- |")
        base = _run_child(pipeline_dir, args.baseline_side, args.device)
        base_added = max(base["peak_mib"] - base["loaded_mib"], 1.0)  # MiB; a tiny run may add next to nothing
        for side in [args.baseline_side, *args.sides]:
            run = base if side == args.baseline_side else _run_child(pipeline_dir, side, args.device)
            added = run["peak_mib"] - run["loaded_mib"]
            megapixels = (side * scale) ** 2 / 1e6
            gpu = f" (GPU peak {run['gpu_peak_mib']:.0f} MiB)" if run["gpu_peak_mib"] else ""
            print(f"| {side} -> {side * scale} px | {added:.0f} MiB{gpu} | {base_added:.0f} MiB | "
                  f"{added / base_added:.1f}x | {added / megapixels:.0f} MiB | {run['seconds']:.1f} s |", flush=True)


if __name__ == "__main__":
    main()

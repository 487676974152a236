"""RunInference batching for the depth stage: batches of up to 8 vs one image per call.

    python -m benchmarks.runinference_batching --images 16 --size 518 --torch-threads 1

The model is a real-size Depth Anything V2 Small (the architecture of
``depth-anything/Depth-Anything-V2-Small-hf``: DINOv2-S backbone, hidden 384, 12 layers, 6 heads,
patch 14, features from layers 3/6/9/12; DPT neck 48/96/192/384, fusion 64, head 32) with random
weights, saved and loaded back through ``DepthEstimator`` (``from_pretrained``), with its 518 px
bicubic processor. Inputs are ``--images`` square crops of the demo photos, each a
``PreparedSample``; both runs push them through the job's own ``SampleModelHandler`` +
``RunInference`` on the local runner (in_memory), differing only in ``max_batch_size``
(the crops' pixels are read by the workers from one ``.npy`` file, as the job reads its inputs:
a ``beam.Create`` of full images would pickle and bz2-compress every pixel into the job graph,
a fixed cost per image that swamped what batching changes)
(``--batch-size`` vs 1, the baseline). Throughput is images/s of the whole pipeline run after
the model is loaded once per run (loading is timed apart). The batch sizes RunInference actually
formed are printed: Beam's BatchElements grows batches adaptively from 1. For reference, the same
model is also called directly (no Beam) on fixed batches of ``--batch-size`` vs 1: the most any
batching can gain on this hardware.
"""

from __future__ import annotations

import argparse
import functools
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import apache_beam as beam
import cv2
import numpy as np
import torch
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import PipelineOptions
from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessorPil

from featurestore.modality import Modality
from pipelines.demo_photos import DEMO_PHOTOS
from pipelines.modalities.depth import DepthEstimator
from pipelines.model_stages import apply_depth
from pipelines.prepared_sample import PreparedSample
from pipelines.sample_model_handler import SampleModelHandler

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


@dataclass(frozen=True)
class Throughput:
    max_batch_size: int
    seconds: float
    images: int
    batch_sizes: list[int]
    """Sizes of the batches RunInference passed to the model, in call order."""

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds


def small_v2_config() -> DepthAnythingConfig:
    """The architecture of Depth-Anything-V2-Small-hf (its config.json, with defaults spelled out)."""
    backbone = Dinov2Config(
        hidden_size=384, num_hidden_layers=12, num_attention_heads=6, mlp_ratio=4, image_size=518, patch_size=14,
        out_indices=[3, 6, 9, 12], reshape_hidden_states=False,
    )
    return DepthAnythingConfig(
        backbone_config=backbone, patch_size=14, reassemble_hidden_size=384, reassemble_factors=[4, 2, 1, 0.5],
        neck_hidden_sizes=[48, 96, 192, 384], fusion_hidden_size=64, head_hidden_size=32, head_in_index=-1,
        depth_estimation_type="relative",
    )


def save_random_small_v2(path: Path, seed: int) -> Path:
    """Random-weight Depth Anything V2 Small and its 518 px processor, saved for ``from_pretrained``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DepthAnythingForDepthEstimation(small_v2_config()).eval()
    processor = DPTImageProcessorPil(
        size={"height": 518, "width": 518}, keep_aspect_ratio=True, ensure_multiple_of=14, resample=3,
        image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD,
    )
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def sample_crops(count: int, size: int, seed: int) -> list[PreparedSample]:
    """``count`` (size, size, 3) crops cycling over the demo photos (upscaled when smaller)."""
    rng = np.random.default_rng(seed)
    photos = [cv2.cvtColor(cv2.imdecode(np.frombuffer(p.read(), np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
              for p in DEMO_PHOTOS]
    samples = []
    for index in range(count):
        photo = photos[index % len(photos)]
        factor = max(1.0, size / min(photo.shape[:2]))
        if factor > 1.0:
            photo = cv2.resize(photo, (math.ceil(photo.shape[1] * factor), math.ceil(photo.shape[0] * factor)),
                               interpolation=cv2.INTER_CUBIC)
        top = int(rng.integers(0, photo.shape[0] - size + 1))
        left = int(rng.integers(0, photo.shape[1] - size + 1))
        crop = np.ascontiguousarray(photo[top : top + size, left : left + size])
        samples.append(PreparedSample(
            sample_id=f"bench-{index:03d}", split="train", source_uri=f"bench://{index}", source_sha256="0" * 64,
            crop_box=(top, left, size, size), seed=seed, hr=crop, lr=crop[::4, ::4], scale=4, degradation={},
            modality_source="hr",
        ))
    return samples


def logged_apply(log: str, model: DepthEstimator, samples: Sequence[PreparedSample]) -> list[PreparedSample]:
    """``apply_depth``, appending the batch size to the file ``log``."""
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"{len(samples)}\n")
    return apply_depth(model, samples)


def time_run_inference(
    model_dir: Path, samples: list[PreparedSample], max_batch_size: int, log: Path, device: str = "cpu"
) -> Throughput:
    """Samples through ``RunInference`` with the job's handler; seconds without the model load."""
    load = functools.partial(DepthEstimator, str(model_dir), device=device)
    handler = SampleModelHandler("depth", load, functools.partial(logged_apply, str(log)), max_batch_size)
    log.write_text("")
    started = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as pipeline:
        done = staged_inputs(pipeline, samples, log.parent) | RunInference(handler)
        _ = done | beam.Map(lambda s: s.maps[Modality.DEPTH].shape)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    load()
    load_s = time.perf_counter() - started
    sizes = [int(line) for line in log.read_text().split()]
    assert sum(sizes) == len(samples), sizes
    return Throughput(max_batch_size=max_batch_size, seconds=seconds - load_s, images=len(samples), batch_sizes=sizes)


def _with_pixels(indexed: tuple[int, PreparedSample], pixels_path: str) -> PreparedSample:
    """The sample with its HR / LR read from the staged ``.npy`` files (row ``index``)."""
    index, sample = indexed
    hr = np.load(pixels_path + ".hr.npy", mmap_mode="r")[index]
    lr = np.load(pixels_path + ".lr.npy", mmap_mode="r")[index]
    return replace(sample, hr=np.ascontiguousarray(hr), lr=np.ascontiguousarray(lr))


def staged_inputs(pipeline: beam.Pipeline, samples: Sequence[PreparedSample], directory: Path) -> beam.PCollection:
    """``samples`` as a PCollection whose pixels the workers read from files in ``directory``."""
    pixels = str(directory / "pixels")
    np.save(pixels + ".hr.npy", np.stack([s.hr for s in samples]))
    np.save(pixels + ".lr.npy", np.stack([s.lr for s in samples]))
    empty = np.zeros((0, 0, 3), np.uint8)
    skeletons = [(i, replace(s, hr=empty, lr=empty)) for i, s in enumerate(samples)]
    return pipeline | beam.Create(skeletons) | beam.Map(_with_pixels, pixels)


def time_direct(model_dir: Path, samples: list[PreparedSample], batch_size: int, device: str = "cpu") -> Throughput:
    """``apply_depth`` on fixed batches of ``batch_size`` in a plain loop (model loaded beforehand)."""
    model = DepthEstimator(str(model_dir), device=device)
    started = time.perf_counter()
    for index in range(0, len(samples), batch_size):
        apply_depth(model, samples[index : index + batch_size])
    sizes = [len(samples[i : i + batch_size]) for i in range(0, len(samples), batch_size)]
    return Throughput(batch_size, time.perf_counter() - started, len(samples), sizes)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--size", type=int, default=518, help="side of the square input crops")
    parser.add_argument("--batch-size", type=int, default=8, help="max_batch_size of the batched run")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(argv)
    torch.set_num_threads(args.torch_threads)
    with tempfile.TemporaryDirectory(prefix="mmsr-bench-") as workdir:
        model_dir = save_random_small_v2(Path(workdir) / "depth-anything-v2-small-random", args.seed)
        samples = sample_crops(args.images, args.size, args.seed)
        log = Path(workdir) / "batches.txt"
        time_run_inference(model_dir, samples[:2], 2, log)  # warm-up: imports, allocator, kernels
        single = time_run_inference(model_dir, samples, 1, log)
        batched = time_run_inference(model_dir, samples, args.batch_size, log)
        direct_single = time_direct(model_dir, samples, 1)
        direct_batched = time_direct(model_dir, samples, args.batch_size)
    params = sum(p.numel() for p in DepthAnythingForDepthEstimation(small_v2_config()).parameters())
    print(f"Depth Anything V2 Small architecture ({params / 1e6:.1f}M params, random weights), {args.images} images "
          f"{args.size}x{args.size}, CPU, torch threads {args.torch_threads}")
    print(f"RunInference max_batch_size=1 (baseline): {single.images_per_s:.3f} img/s ({single.seconds:.1f}s)")
    print(f"RunInference max_batch_size={args.batch_size}:          {batched.images_per_s:.3f} img/s "
          f"({batched.seconds:.1f}s; batches formed: {batched.batch_sizes})")
    ratio = batched.images_per_s / single.images_per_s
    print(f"ratio batched / per-image: {ratio:.2f} (target >= 1.5: {'met' if ratio >= 1.5 else 'NOT met'})")
    direct = direct_batched.images_per_s / direct_single.images_per_s
    print(f"reference, model called directly: batch 1 {direct_single.images_per_s:.3f} img/s, batch {args.batch_size} "
          f"{direct_batched.images_per_s:.3f} img/s, ratio {direct:.2f}")


if __name__ == "__main__":
    main()

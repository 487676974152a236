"""Evaluation throughput: 2 Ray Data workers vs 1 in-process worker, same batches, same scores.

    python -m benchmarks.evaluate_throughput                     # tiny model, CPU
    python -m benchmarks.evaluate_throughput --images 64 --steps 8
    python -m benchmarks.evaluate_throughput --smoke             # seconds

One tiny MMSR pipeline is registered in a temporary MLflow (SQLite); ``--images`` photo crops
(``--lr-size`` LR, x4 HR) are evaluated by ``orchestration.evaluation.eval_runner`` as ``mmsr
evaluate`` runs them: ``evaluate.num_workers`` 1 (the model in this process) and 2 (a Ray Data
actor pool), each worker with ``--threads`` torch threads (default: half the cores, so 2 workers
fill the machine and 1 worker is one replica of the same size: torch's CPU reductions may round
differently at another thread count, and the scores are to be compared bit for bit). Ray is
started before either is timed; each timing includes loading the model(s), planning, predicting
and scoring.
Each row also gives the predict time per image inside the workers and what the wall time holds
besides predicting (start-up: Ray actors, imports, model loads; scoring). The last line is
``evaluate_2w_vs_1w=<ratio> max_metric_diff=<x>``: throughput ratio, and the largest difference
between the two runs' per-image scores (0: identical).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import ray

from orchestration.evaluation.eval_batch import EvalItem, ScoredImage
from orchestration.evaluation.eval_runner import EvalJob, run_batches
from orchestration.evaluation.quality_metrics_config import QualityMetricsConfig
from orchestration.ray_runtime import quiet_data_progress
from orchestration.registry.model_registry import register_pipeline
from orchestration.serving.serve_config import ServeConfig
from pipelines.demo_photos import DEMO_PHOTOS
from pipelines.feature_rows import encode_png
from pipelines.image_decoding import decode_image
from trainers.models.sampling_options import SamplingOptions
from trainers.models.sr_pipeline import build_tiny_pipeline
from trainers.tracking.mlflow_runs import create_run, experiment_id, tracking_client
from trainers.tracking.tracking_config import TrackingConfig


@dataclass(frozen=True)
class Timing:
    workers: int
    seconds: float
    scored: list[ScoredImage]


def photo_items(count: int, lr_size: int) -> list[EvalItem]:
    """``count`` HR crops (4 * ``lr_size`` square) walking over the demo photos, area-downsampled LRs."""
    photos = [decode_image(photo.read()) for photo in DEMO_PHOTOS]
    hr_size, items = 4 * lr_size, []
    for index in range(count):
        photo = photos[index % len(photos)]
        step = index // len(photos)
        top = (step * 17) % (photo.shape[0] - hr_size)
        left = (step * 29) % (photo.shape[1] - hr_size)
        hr = np.ascontiguousarray(photo[top:top + hr_size, left:left + hr_size])
        lr = cv2.resize(hr, (lr_size, lr_size), interpolation=cv2.INTER_AREA)
        items.append(EvalItem(f"crop-{index:04d}", encode_png(lr), encode_png(hr)))
    return items


def register_tiny(root: Path) -> tuple[str, TrackingConfig]:
    """A tiny pipeline registered in an SQLite MLflow under ``root``: (model URI, tracking)."""
    tracking = TrackingConfig(tracking_uri=f"sqlite:///{root}/mlflow.db", artifact_location=str(root / "artifacts"))
    client = tracking_client(tracking)
    run_id = create_run(client, experiment_id(client, tracking), "benchmark", {"source": "benchmark"})
    version = register_pipeline(tracking, ServeConfig(), run_id, str(build_tiny_pipeline(root / "tiny")), {})
    return version.model_uri, tracking


def timed(job: EvalJob, items: Sequence[EvalItem], workers: int) -> Timing:
    worker_job = replace(job, quality=replace(job.quality, num_workers=workers))
    start = time.perf_counter()
    scored = run_batches(worker_job, items)
    return Timing(workers, time.perf_counter() - start, scored)


def max_score_diff(a: Sequence[ScoredImage], b: Sequence[ScoredImage]) -> float:
    """Largest |difference| of any score of any image (inf if the images or metrics differ)."""
    if [s.name for s in a] != [s.name for s in b] or any(x.scores.keys() != y.scores.keys() for x, y in zip(a, b)):
        return float("inf")
    return max((abs(x.scores[k] - y.scores[k]) for x, y in zip(a, b) for k in x.scores), default=0.0)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=192)
    parser.add_argument("--lr-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) // 2), help="torch threads per worker")
    parser.add_argument("--smoke", action="store_true", help="4 images, 16 px, 1 step")
    args = parser.parse_args(argv)
    images, lr_size, steps = (4, 16, 1) if args.smoke else (args.images, args.lr_size, args.steps)
    with tempfile.TemporaryDirectory(prefix="mmsr-eval-bench-") as root:
        model_uri, tracking = register_tiny(Path(root))
        quality = QualityMetricsConfig(metrics=(), batch_size=args.batch_size, threads_per_worker=args.threads)
        serve = ServeConfig(sampling=SamplingOptions(steps=steps), device="cpu", precision="fp32")
        job = EvalJob(model_uri, tracking, serve.placement(), quality, serve.sampling, args.batch_size)
        items = photo_items(images, lr_size)
        ray.init(include_dashboard=False, configure_logging=False, log_to_driver=False)
        quiet_data_progress()
        try:
            one, two = timed(job, items, 1), timed(job, items, 2)
        finally:
            ray.shutdown()
    print(f"{images} x {lr_size} px LR, x4, {steps} steps, batch {args.batch_size}, {args.threads} threads/worker")
    print("| workers | images | seconds | images/s | predict s/image in the workers | wall - predict / workers |")
    for timing in (one, two):
        predict = sum(scored.seconds for scored in timing.scored)
        overhead = timing.seconds - predict / timing.workers
        print(f"| {timing.workers} | {images} | {timing.seconds:.2f} | {images / timing.seconds:.2f} | {predict / images:.3f} | {overhead:.1f} |")
    print(f"evaluate_2w_vs_1w={one.seconds / two.seconds:.2f} max_metric_diff={max_score_diff(one.scored, two.scored):.3g}")


if __name__ == "__main__":
    main()

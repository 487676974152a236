"""Training feed throughput: on-the-fly LR draws (ours) vs stored LRs (baseline), and the step they feed.

``python -m benchmarks.training_feed [--rows N] [--batch-size B] [--num-cpus C] [--smoke]``

Builds a samples table as ``benchmarks.featurestore_read`` does (128 x 128 HR and 32 x 32 LR PNGs,
the quickstart's crop), then streams its train split the way a training worker does, in the same
process and on the same Ray (``--num-cpus``, default 2):

* baseline (``train.degradation: stored``): ``trainers.recipes.train_job.training_dataset`` (PNG decode of
  HR and LR in Ray Data tasks) -> ``iter_batches``;
* ours (``on_the_fly``): the same dataset without ``lr_png`` -> each batch's LRs drawn by
  ``trainers.data.lr_draws.fresh_lr_batches`` (``preprocess.degradation``'s defaults, Real-ESRGAN second
  order) on a thread pool of ``--num-cpus`` threads, as ``trainers.recipes.train_loop`` does.

It prints rows/s of both and their ratio (target >= 0.7), then the time of one optimizer step of
the quickstart model (``quickstart`` preset, batch ``--batch-size``, torch on ``--num-cpus``
threads, CPU) on stored batches and whether each feed keeps up with it (rows/s of the feed >=
rows/s the step consumes). ``--smoke``: a tiny table and step count, for the test.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.featurestore_read import build_table
from featurestore.config import FeatureStoreConfig
from pipelines.degradation import DegradationConfig
from pipelines.pixel_range import to_model_range
from trainers.data.lr_draws import fresh_lr_batches
from trainers.data.shard_batches import EpochBatch
from trainers.models.conditioning import tokens_from_feature_batch
from trainers.models.sr_pipeline import build_pipeline_components
from trainers.models.training_step import DiffusionParts, encode_pair, encoded_diffusion_loss, freeze_conditioning_models
from trainers.recipes.train_job import training_dataset


@dataclass(frozen=True)
class FeedResult:
    rows: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def read_feed(
    store: FeatureStoreConfig, snapshot_id: int, batch_size: int, threads: int, degradation: DegradationConfig | None
) -> FeedResult:
    """Stream one epoch of the train split; ``degradation`` None: stored LRs, else drawn on the fly."""
    dataset = training_dataset(store, snapshot_id, with_stored_lr=degradation is None)
    rows, started = 0, time.perf_counter()
    stream: Iterator[EpochBatch] = (
        EpochBatch(0, batch) for batch in dataset.iter_batches(batch_size=batch_size, batch_format="numpy", drop_last=True)
    )
    with ThreadPoolExecutor(threads) as pool:
        if degradation is not None:
            stream = fresh_lr_batches(stream, degradation, 0, pool.map)
        for item in stream:
            rows += len(item.batch["lr"])
    return FeedResult(rows=rows, seconds=time.perf_counter() - started)


def step_seconds(batch: dict[str, np.ndarray], steps: int, workdir: Path) -> float:
    """Mean seconds of one quickstart-model optimizer step on ``batch`` (after one warm-up step)."""
    pipeline = build_pipeline_components("quickstart", workdir / "clip")
    parameters = freeze_conditioning_models(pipeline)
    parts = DiffusionParts.of(pipeline)
    optimizer = torch.optim.AdamW(parameters, lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    batch = _in_vocabulary(batch, pipeline.text_encoder.config.vocab_size, pipeline.vq.config.num_vq_embeddings)
    times = []
    for _ in range(steps + 1):
        started = time.perf_counter()
        tokens = tokens_from_feature_batch(batch, pipeline.vq, pipeline.text_encoder)
        hr, lr = (to_model_range(torch.from_numpy(batch[name])) for name in ("hr", "lr"))
        loss = encoded_diffusion_loss(parts, encode_pair(parts, hr, lr), tokens, generator, dropout_p=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    return float(np.mean(times[1:]))


def _in_vocabulary(batch: dict[str, np.ndarray], caption_vocab: int, codes: int) -> dict[str, np.ndarray]:
    """The synthetic table's token ids folded into the small models' vocabularies (same shapes, same cost)."""
    folded = {name: values % (caption_vocab if name == "caption_tokens" else codes)
              for name, values in batch.items() if name.endswith("_tokens")}
    return {**batch, **folded}


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.training_feed", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2048, help="rows in the synthetic table (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=4, help="rows per batch (default: %(default)s, the quickstart's)")
    parser.add_argument("--num-cpus", type=int, default=2, help="Ray CPUs, draw threads, torch threads (default: 2)")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=2, help="timed epochs per feed; the best counts")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (for the test)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.rows, args.steps, args.repeats = 64, 1, 1
    for name in ("rows", "batch_size", "num_cpus", "steps", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def _measure(args: argparse.Namespace, store: FeatureStoreConfig, snapshot_id: int, workdir: Path) -> None:
    degradation = DegradationConfig()
    read_feed(store, snapshot_id, args.batch_size, args.num_cpus, None)  # start Ray's workers, warm the cache
    feeds = {}
    for name, settings in (("stored", None), ("on_the_fly", degradation)):
        reads = [read_feed(store, snapshot_id, args.batch_size, args.num_cpus, settings) for _ in range(args.repeats)]
        feeds[name] = max(reads, key=lambda result: result.rows_per_s)
    ratio = feeds["on_the_fly"].rows_per_s / feeds["stored"].rows_per_s
    print(f"feed, stored LRs (baseline):  {feeds['stored'].rows_per_s:,.0f} rows/s ({feeds['stored'].rows} rows)")
    print(f"feed, on-the-fly LRs (ours):  {feeds['on_the_fly'].rows_per_s:,.0f} rows/s ({feeds['on_the_fly'].rows} rows)")
    print(f"ratio on_the_fly/stored: {ratio:.2f} (target >= 0.7: {'met' if ratio >= 0.7 else 'NOT met'}); "
          f"{args.num_cpus} CPUs, batch {args.batch_size}, load average {os.getloadavg()[0]:.2f}")
    dataset = training_dataset(store, snapshot_id)
    batch = next(iter(dataset.iter_batches(batch_size=args.batch_size, batch_format="numpy", drop_last=True)))
    torch.set_num_threads(args.num_cpus)
    seconds = step_seconds(batch, args.steps, workdir)
    needed = args.batch_size / seconds
    print(f"quickstart model step (CPU, {args.num_cpus} threads, batch {args.batch_size}): {seconds * 1000:.0f} ms "
          f"= {needed:,.1f} rows/s consumed")
    for name, feed in feeds.items():
        verdict = "keeps up" if feed.rows_per_s >= needed else "does NOT keep up"
        print(f"  {name} feed {verdict} ({feed.rows_per_s / needed:.1f}x the step's rows/s)")


def run(args: argparse.Namespace, workdir: Path) -> None:
    import ray
    import ray.data

    store = FeatureStoreConfig(catalog_uri=f"sqlite:///{workdir}/catalog.db", warehouse=str(workdir / "warehouse"))
    built = build_table(store, args.rows, max(1, args.rows // 512), np.random.default_rng(0))
    ray.init(num_cpus=args.num_cpus, object_store_memory=256 * 2**20, include_dashboard=False,
             log_to_driver=False, logging_level=logging.WARNING)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        _measure(args, store, built.snapshot_id, workdir)
    finally:
        ray.shutdown()


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(argv)
    with tempfile.TemporaryDirectory(prefix="mmsr-bench-") as workdir:
        run(args, Path(workdir))


if __name__ == "__main__":
    main()

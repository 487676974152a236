"""Feature-store read throughput: Ray Data streaming (ours) vs a plain pyarrow loop (baseline).

``python -m benchmarks.featurestore_read [--rows N] [--rows-per-file R] [--batch-size B] [--memory-check]``

Builds a samples table in a temporary directory (rows shaped like the real ones: 128x128 HR and
32x32 LR PNGs, 16-bit/8-bit modality maps, 256 VQ codes per spatial modality, 77 caption ids;
images are drawn from a pool of distinct smooth-noise pictures, so encoding stays cheap while
every value decodes like a photo crop), commits it through :func:`featurestore.commit.commit_run`,
then reads the training columns of that snapshot both ways in the same process, with the same
decode training uses (``trainers.data.feature_batches.decode_feature_batch``: PNG -> uint8 RGB arrays,
token lists -> int64 matrices; scaling to [-1, 1] happens on the training device) and the same batch size:

* ours: ``ray_dataset(...).map_batches(decode_feature_batch).iter_torch_batches(...)`` (the decode
  fuses into each file's read task, as in ``trainers.recipes.train_job.training_dataset``);
* baseline: ``pq.ParquetFile(url).iter_batches(...)`` over ``snapshot_files(...)`` + decode + torch.

It prints rows/s for both and their ratio (target >= 0.8). ``--memory-check`` instead samples the
resident memory of this process and all its descendants (Ray's GCS, raylet and workers) while
streaming (private pages summed, Ray's shared object store once) and reports each reader's peak
growth next to the table's size: streaming must stay far below it, whatever ``--rows`` is.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from featurestore.commit import commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.modality import CAPTION_TOKENS, SPATIAL_MODALITIES, VQ_CODEBOOK_SIZE, VQ_TOKENS, Modality
from featurestore.readers import ray_dataset, snapshot_files
from featurestore.schema import SAMPLES_SCHEMA, SCHEMA_VERSION
from featurestore.staging import SAMPLES_DIR, staging_dir
from trainers.data.feature_batches import TRAINING_COLUMNS, decode_feature_batch

HR_SIZE, LR_SIZE = 128, 32
IMAGE_POOL = 256
_DICTIONARY_COLUMNS = [f.name for f in SAMPLES_SCHEMA if not pa.types.is_binary(f.type)]
"""Image columns are written without dictionaries: the pool's repeats must not shrink files unlike real data."""
READ_COLUMNS = list(TRAINING_COLUMNS)
"""What a training step reads: images and every modality's tokens."""


@dataclass(frozen=True)
class ReadResult:
    rows: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


@dataclass(frozen=True)
class BuiltTable:
    snapshot_id: int
    rows: int
    files: list[str]
    bytes: int


def _smooth_image(rng: np.random.Generator, size: int, channels: int, dtype: type = np.uint8) -> np.ndarray:
    """(size, size[, channels]) low-frequency picture plus mild noise, like a natural-image crop."""
    top = np.iinfo(dtype).max
    coarse = rng.integers(0, top, size=(8, 8, channels), dtype=np.int64).astype(np.float32)
    image = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC).reshape(size, size, channels)
    image += rng.normal(0.0, top * 0.03, size=image.shape)
    return np.clip(image, 0, top).astype(dtype).squeeze()


def _png(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"PNG encoding failed for shape {image.shape}")
    return encoded.tobytes()


def image_pool(rng: np.random.Generator, size: int) -> list[dict[str, bytes]]:
    """``size`` distinct sets of hr/lr/modality-map PNG bytes."""
    pool = []
    for _ in range(size):
        hr = _smooth_image(rng, HR_SIZE, 3)
        pool.append({
            "hr_png": _png(hr),
            "lr_png": _png(cv2.resize(hr, (LR_SIZE, LR_SIZE), interpolation=cv2.INTER_AREA)),
            Modality.DEPTH.map_column: _png(_smooth_image(rng, HR_SIZE, 1, np.uint16)),
            Modality.SEGMENTATION.map_column: _png((_smooth_image(rng, HR_SIZE, 1) // 32).astype(np.uint16)),
            Modality.EDGES.map_column: _png(np.where(_smooth_image(rng, HR_SIZE, 1) > 200, 255, 0).astype(np.uint8)),
        })
    return pool


def synthetic_rows(rng: np.random.Generator, pool: list[dict[str, bytes]], start: int, count: int) -> pa.Table:
    """Rows ``start .. start+count-1`` of SAMPLES_SCHEMA; tokens random, images from ``pool``."""
    spatial = {m.tokens_column: rng.integers(0, VQ_CODEBOOK_SIZE, (count, VQ_TOKENS)) for m in SPATIAL_MODALITIES}
    caption = rng.integers(0, 49408, (count, CAPTION_TOKENS), dtype=np.int32)
    rows = []
    for offset in range(count):
        index = start + offset
        row = {
            "sample_id": f"{index:064x}", "split": "eval" if index % 10 == 0 else "train",
            "source_uri": f"gs://bench/hr/{index:08d}.png", "source_sha256": f"{index:064x}",
            "crop_box": [0, 0, HR_SIZE, HR_SIZE], "seed": index, "scale": HR_SIZE // LR_SIZE,
            "degradation": '{"blur_sigma": 1.2, "jpeg_quality": 70, "noise_sigma": 3.0}', "modality_source": "hr",
            "caption": f"a synthetic photo number {index}", Modality.CAPTION.tokens_column: caption[offset],
            "extractors": '{"depth": "bench@0"}', "config_hash": "bench", "pipeline_version": "bench",
            "schema_version": SCHEMA_VERSION, **pool[index % len(pool)],
        }
        rows.append(row | {column: tokens[offset] for column, tokens in spatial.items()})
    return pa.Table.from_pylist(rows, SAMPLES_SCHEMA)


def build_table(store: FeatureStoreConfig, rows: int, files: int, rng: np.random.Generator) -> BuiltTable:
    """Stage ``rows`` synthetic rows in ``files`` zstd Parquet files (like the Beam sink's) and commit them."""
    pool = image_pool(rng, IMAGE_POOL)
    bounds = np.linspace(0, rows, files + 1).astype(int)
    root = f"{staging_dir(store, 'bench')}/{SAMPLES_DIR}".removeprefix("file://")
    Path(root).mkdir(parents=True, exist_ok=True)
    for shard, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        writer = None
        for chunk in range(start, stop, 1024):  # bounded memory while writing large tables
            table = synthetic_rows(rng, pool, chunk, min(1024, stop - chunk))
            path = f"{root}/part-{shard:05d}.parquet"
            writer = writer or pq.ParquetWriter(
                path, SAMPLES_SCHEMA, compression="zstd", use_dictionary=_DICTIONARY_COLUMNS
            )
            writer.write_table(table)
        if writer is not None:
            writer.close()
    snapshot_id = commit_run(store, "bench", {"config_hash": "bench"}).snapshot_id
    assert snapshot_id is not None
    urls = snapshot_files(store, snapshot_id)
    size = sum(os.path.getsize(url.removeprefix("file://")) for url in urls)
    return BuiltTable(snapshot_id=snapshot_id, rows=rows, files=urls, bytes=size)


def _arrow_to_numpy(batch: pa.RecordBatch) -> dict[str, np.ndarray]:
    return {name: batch.column(name).to_numpy(zero_copy_only=False) for name in batch.schema.names}


def read_with_pyarrow(urls: list[str], batch_size: int) -> ReadResult:
    """Baseline: one process, files in order, ``iter_batches`` + decode + ``torch.from_numpy``."""
    rows, started = 0, time.perf_counter()
    for url in urls:
        with open(url.removeprefix("file://"), "rb") as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=batch_size, columns=READ_COLUMNS):
                decoded = decode_feature_batch(_arrow_to_numpy(batch))
                tensors = {name: torch.from_numpy(value) for name, value in decoded.items()}
                rows += tensors["hr"].shape[0]
    return ReadResult(rows=rows, seconds=time.perf_counter() - started)


def read_with_ray(store: FeatureStoreConfig, snapshot_id: int, batch_size: int) -> ReadResult:
    """Ours: streaming Ray Dataset of the snapshot -> decode in Ray tasks -> torch batches."""
    rows, started = 0, time.perf_counter()
    # No batch_size: the decode fuses into the read task and runs on each 256-row block as read.
    dataset = ray_dataset(store, snapshot_id, columns=READ_COLUMNS).map_batches(decode_feature_batch, batch_format="numpy")
    for batch in dataset.iter_torch_batches(batch_size=batch_size):
        rows += batch["hr"].shape[0]
    return ReadResult(rows=rows, seconds=time.perf_counter() - started)


@dataclass(frozen=True)
class TreeMemory:
    """Resident memory of a process tree: private pages summed, shared memory counted once."""

    private: int
    """Sum of ``RssAnon`` over the processes (heaps, Arrow/numpy buffers)."""
    shared: int
    """Largest ``RssShmem`` of any one process (Ray's object store is one shared mapping)."""

    @property
    def total(self) -> int:
        return self.private + self.shared


def _status_kib(pid: int) -> dict[str, int]:
    """PPid, RssAnon, RssShmem of a process from /proc/<pid>/status ({} if it is gone)."""
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                name, _, value = line.partition(":")
                if name in ("PPid", "RssAnon", "RssShmem"):
                    fields[name] = int(value.split()[0])
    except (OSError, ValueError):
        return {}
    return fields


def tree_memory(root: int) -> TreeMemory:
    """Memory of ``root`` and all its descendants (Ray's GCS, raylet, workers), from /proc (Linux only)."""
    status = {int(entry): _status_kib(int(entry)) for entry in os.listdir("/proc") if entry.isdigit()}
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, fields in status.items() if fields.get("PPid") == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    found = [status[pid] for pid in tree if status.get(pid)]
    return TreeMemory(
        private=1024 * sum(fields.get("RssAnon", 0) for fields in found),
        shared=1024 * max((fields.get("RssShmem", 0) for fields in found), default=0),
    )


@dataclass
class _Peak:
    start: TreeMemory
    memory: TreeMemory

    @property
    def grown(self) -> int:
        """Peak total over the total when sampling started, in bytes."""
        return self.memory.total - self.start.total


@contextmanager
def peak_tree_memory(interval_s: float = 0.05) -> Iterator[_Peak]:
    """Sample this process tree's memory every ``interval_s`` while the block runs; the peak lands in the yield."""
    start = tree_memory(os.getpid())
    peak, stop = _Peak(start, start), threading.Event()

    def sample() -> None:
        while not stop.wait(interval_s):
            now = tree_memory(os.getpid())
            if now.total > peak.memory.total:
                peak.memory = now

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.featurestore_read", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=4096, help="rows in the synthetic table (default: %(default)s)")
    parser.add_argument(
        "--rows-per-file", type=int, default=512,
        help="rows per data file (default: %(default)s, the Beam sink's preprocess.rows_per_file)",
    )
    parser.add_argument("--batch-size", type=int, default=256, help="rows per torch batch (default: %(default)s)")
    parser.add_argument(
        "--repeats", type=int, default=2, help="timed reads per reader; the best counts (default: %(default)s)"
    )
    parser.add_argument("--num-cpus", type=int, default=os.cpu_count() or 1, help="CPUs given to Ray (default: all)")
    parser.add_argument(
        "--memory-check", action="store_true", help="instead of throughput: peak memory while streaming vs table size"
    )
    parser.add_argument("--object-store-mb", type=int, default=512, help="Ray object store size (default: %(default)s)")
    parser.add_argument("--workdir", help="where to build the table (default: a temporary directory, removed after)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("rows", "rows_per_file", "batch_size", "repeats", "num_cpus", "object_store_mb"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def _mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"


def _best(reads: Iterator[ReadResult]) -> ReadResult:
    return max(reads, key=lambda result: result.rows_per_s)


def _throughput(args: argparse.Namespace, store: FeatureStoreConfig, built: BuiltTable) -> None:
    read_with_pyarrow(built.files, args.batch_size)  # warm the page cache and imports for both readers
    read_with_ray(store, built.snapshot_id, args.batch_size)  # start Ray's workers
    baseline = _best(read_with_pyarrow(built.files, args.batch_size) for _ in range(args.repeats))
    ours = _best(read_with_ray(store, built.snapshot_id, args.batch_size) for _ in range(args.repeats))
    assert ours.rows == baseline.rows == built.rows, (ours, baseline, built.rows)
    ratio = ours.rows_per_s / baseline.rows_per_s
    print(f"pyarrow iter_batches + decode (baseline): {baseline.rows_per_s:,.0f} rows/s ({baseline.seconds:.2f}s)")
    print(f"ray_dataset + iter_torch_batches (ours):   {ours.rows_per_s:,.0f} rows/s ({ours.seconds:.2f}s)")
    print(f"ratio ray/pyarrow: {ratio:.2f} (target >= 0.8: {'met' if ratio >= 0.8 else 'NOT met'}); "
          f"{args.num_cpus} CPUs, batch {args.batch_size}")


def _memory_check(args: argparse.Namespace, store: FeatureStoreConfig, built: BuiltTable) -> None:
    """Peak memory growth while streaming, each reader over the tree's memory just before it ran."""
    with peak_tree_memory() as arrow_peak:
        read_with_pyarrow(built.files, args.batch_size)
    with peak_tree_memory() as ray_peak:
        read_with_ray(store, built.snapshot_id, args.batch_size)
    print(f"memory: table {_mib(built.bytes)}; peak growth of the process tree (driver + Ray) while streaming:")
    for name, peak in (("pyarrow", arrow_peak), ("ray", ray_peak)):
        print(f"  {name:8s} +{_mib(peak.grown)} = {peak.grown / built.bytes:.2f}x table bytes (peak private "
              f"{_mib(peak.memory.private)} + shared {_mib(peak.memory.shared)}; before {_mib(peak.start.total)})")
    print(f"  (Ray object store capped at {args.object_store_mb} MiB; Ray's growth includes starting its workers)")


def run(args: argparse.Namespace, workdir: Path) -> None:
    """Build the table under ``workdir``, start a local Ray, measure, print."""
    import ray
    import ray.data

    store = FeatureStoreConfig(catalog_uri=f"sqlite:///{workdir}/catalog.db", warehouse=str(workdir / "warehouse"))
    started = time.perf_counter()
    files = -(-args.rows // args.rows_per_file)
    built = build_table(store, args.rows, files, np.random.default_rng(args.seed))
    print(f"table: {built.rows} rows, {len(built.files)} files, {_mib(built.bytes)} "
          f"(built in {time.perf_counter() - started:.1f}s)")
    ray.init(num_cpus=args.num_cpus, object_store_memory=args.object_store_mb * 2**20, include_dashboard=False,
             log_to_driver=False, logging_level=logging.WARNING)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        if args.memory_check:
            _memory_check(args, store, built)
        else:
            _throughput(args, store, built)
    finally:
        ray.shutdown()


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(argv)
    if args.workdir:
        run(args, Path(args.workdir).resolve())
        return
    with tempfile.TemporaryDirectory(prefix="mmsr-bench-") as workdir:
        run(args, Path(workdir))


if __name__ == "__main__":
    main()

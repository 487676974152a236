"""The preprocessing job's size on the driver does not grow with the dataset.

    python -m benchmarks.pipeline_scale [--inputs 1000000] [--committed 1000000]

In one run:

1. the serialized Beam job graph (``Pipeline.to_runner_api()``, what a runner such as Dataflow
   receives) of ``mmsr preprocess`` over a synthetic ``.txt`` manifest of 1,000 and of
   ``--inputs`` URIs (no image files are needed to build a graph), into an empty store;
2. the same over ``--inputs`` URIs as a rerun against a synthetic store of ``--committed``
   committed rows (narrow rows: empty image bytes, 500 rows per file);
3. the driver's peak RSS while planning that rerun (resolving the input, loading the base
   snapshot, building and serializing the graph), measured in a fresh process, next to the peak
   RSS of a fresh process that only imports the same modules (the baseline).

The baseline for the graph sizes is a graph of the previous design, built in the same run: the
URI list as a ``beam.Create`` and the committed ids pickled into a DoFn. Targets: graph under
1 MB and within 10% between 1,000 and ``--inputs`` inputs; driver peak RSS under 1 GiB. The last
line is ``graph_1k_bytes=... graph_1m_bytes=... graph_rerun_1m_bytes=... driver_peak_rss_mib=...``.
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

import pyarrow as pa
import pyarrow.parquet as pq

ROWS_PER_FILE = 500
_IMPORTS = (
    "import apache_beam, featurestore.snapshot_manifests, pipelines.preprocess_job, pipelines.sources, "
    "pipelines.preprocess_config, featurestore.config"
)


def write_manifest(path: Path, count: int) -> Path:
    """A ``.txt`` manifest of ``count`` synthetic image URIs (the files need not exist)."""
    with path.open("w") as handle:
        for start in range(0, count, 100_000):
            handle.write("".join(f"gs://bench-bucket/hr/{index:09d}.png\n" for index in range(start, min(count, start + 100_000))))
    return path


def synthetic_rows(start: int, count: int, content_hash: str) -> pa.Table:
    """``count`` narrow rows of the samples schema: real ids and hashes, empty images and maps."""
    from featurestore.schema import SAMPLES_SCHEMA

    ids = [f"{index:032x}" for index in range(start, start + count)]
    empty = pa.array([b""] * count, pa.binary())
    columns = {
        "sample_id": pa.array(ids), "split": pa.array(["train"] * count),
        "source_uri": pa.array([f"gs://bench-bucket/hr/{index:09d}.png" for index in range(start, start + count)]),
        "source_sha256": pa.array([f"{index:064x}" for index in range(start, start + count)]),
        "crop_box": pa.array([[0, 0, 512, 512]] * count, pa.list_(pa.int32())), "seed": pa.array([0] * count, pa.int64()),
        "hr_png": empty, "lr_png": empty, "scale": pa.array([4] * count, pa.int32()),
        "degradation": pa.array(["{}"] * count), "modality_source": pa.array(["hr"] * count),
        "extractors": pa.array(['{"edges": "bench"}'] * count), "config_hash": pa.array([content_hash] * count),
        "pipeline_version": pa.array(["bench"] * count), "schema_version": pa.array([1] * count, pa.int32()),
    }
    arrays = [columns[field.name] if field.name in columns else pa.nulls(count, field.type) for field in SAMPLES_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=SAMPLES_SCHEMA)


def build_store(root: Path, rows: int, content_hash: str) -> dict[str, str]:
    """A feature store under ``root`` whose one snapshot holds ``rows`` synthetic rows; its config fields."""
    import fsspec

    from featurestore.commit import commit_run
    from featurestore.config import FeatureStoreConfig
    from featurestore.staging import SAMPLES_DIR, staging_dir

    fields = {"catalog_uri": f"sqlite:///{root}/catalog.db", "warehouse": str(root / "warehouse")}
    store = FeatureStoreConfig(**fields)
    folder = f"{staging_dir(store, 'synthetic')}/{SAMPLES_DIR}"
    fs, path = fsspec.core.url_to_fs(folder)
    fs.makedirs(path, exist_ok=True)
    for number, start in enumerate(range(0, rows, ROWS_PER_FILE)):
        pq.write_table(synthetic_rows(start, min(ROWS_PER_FILE, rows - start), content_hash), f"{path}/part-{number:05d}.parquet")
    commit_run(store, "synthetic", {"config_hash": content_hash})
    return fields


def plan_job(manifest: str, store_fields: dict[str, str]) -> dict[str, float]:
    """What the driver does for one run (without running it): the serialized graph's bytes, the time."""
    import apache_beam as beam

    from featurestore.config import FeatureStoreConfig
    from featurestore.snapshot_manifests import current_snapshot_ref
    from pipelines.preprocess_config import PreprocessConfig
    from pipelines.preprocess_job import build_pipeline, pipeline_options
    from pipelines.sources import resolve_spec

    started = time.perf_counter()
    config = PreprocessConfig(input=manifest)
    store = FeatureStoreConfig(**store_fields)
    pipeline = beam.Pipeline(options=pipeline_options(config))
    build_pipeline(pipeline, resolve_spec(config.input), config, store, "bench", current_snapshot_ref(store))
    graph = len(pipeline.to_runner_api().SerializeToString())
    return {"graph_bytes": graph, "seconds": time.perf_counter() - started}


def previous_design_graph(uris: list[str], committed_ids: list[str]) -> int:
    """Graph bytes of the previous design's driver side: the URI list as ``beam.Create`` and the
    committed ids pickled into the DoFn that skips them."""
    import apache_beam as beam

    class SkipCommitted(beam.DoFn):
        def __init__(self, ids: frozenset[str]) -> None:
            self._ids = ids

        def process(self, uri: str):  # pragma: no cover - never run, only serialized
            yield uri

    pipeline = beam.Pipeline()
    _ = pipeline | beam.Create(uris, reshuffle=True) | beam.ParDo(SkipCommitted(frozenset(committed_ids)))
    return len(pipeline.to_runner_api().SerializeToString())


def _child(argv: Sequence[str]) -> dict[str, float]:
    """Run this module's ``--child`` mode in a fresh process; its JSON answer."""
    done = subprocess.run([sys.executable, "-m", "benchmarks.pipeline_scale", "--child", *argv], check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child_main(args: argparse.Namespace) -> None:
    if args.manifest:
        answer = plan_job(args.manifest, json.loads(args.store))
    else:
        exec(_IMPORTS)  # noqa: S102 - the baseline: the same imports, no planning
        answer = {}
    print(json.dumps({**answer, "peak_rss_mib": _peak_rss_mib()}))


def run(args: argparse.Namespace, workdir: Path) -> None:
    from featurestore.config import FeatureStoreConfig  # noqa: F401 - import cost outside the timings
    from pipelines.preprocess_config import PreprocessConfig
    from pipelines.sample_identity import content_hash

    small = write_manifest(workdir / "inputs-1k.txt", 1000)
    large = write_manifest(workdir / f"inputs-{args.inputs}.txt", args.inputs)
    empty = {"catalog_uri": f"sqlite:///{workdir}/empty/catalog.db", "warehouse": str(workdir / "empty" / "warehouse")}
    started = time.perf_counter()
    committed = build_store(workdir / "committed", args.committed, content_hash(PreprocessConfig(input=str(large))))
    print(f"synthetic store: {args.committed:,} committed rows in {args.committed // ROWS_PER_FILE:,} files "
          f"({time.perf_counter() - started:.0f} s to build)")
    one_k = _child(["--manifest", str(small), "--store", json.dumps(empty)])
    one_m = _child(["--manifest", str(large), "--store", json.dumps(empty)])
    rerun = _child(["--manifest", str(large), "--store", json.dumps(committed)])
    imports = _child([])
    uris = large.read_text().splitlines()
    old = previous_design_graph(uris, [f"{index:032x}" for index in range(args.committed)])
    old_1k = previous_design_graph(uris[:1000], [])
    ratio = one_m["graph_bytes"] / one_k["graph_bytes"]
    print(f"job graph, 1,000 inputs:         {one_k['graph_bytes']:,} bytes (built in {one_k['seconds']:.1f} s)")
    print(f"job graph, {args.inputs:,} inputs:     {one_m['graph_bytes']:,} bytes (built in {one_m['seconds']:.1f} s); "
          f"ratio to 1,000: {ratio:.3f} (target within 10%: {'met' if abs(ratio - 1) <= 0.1 else 'NOT met'})")
    print(f"job graph, rerun over {args.committed:,} committed rows: {rerun['graph_bytes']:,} bytes "
          f"(built in {rerun['seconds']:.1f} s; target < 1 MB: {'met' if rerun['graph_bytes'] < 1e6 else 'NOT met'})")
    print(f"baseline, the previous design's driver side alone (URI list as beam.Create, committed ids pickled in a "
          f"DoFn): {old_1k:,} bytes at 1,000 inputs, {old:,} bytes at {args.inputs:,} inputs + {args.committed:,} ids; "
          f"growth from 1,000 inputs to the rerun: previous {old - old_1k:+,} bytes, "
          f"ours {rerun['graph_bytes'] - one_k['graph_bytes']:+,} bytes")
    print(f"driver peak RSS planning the rerun: {rerun['peak_rss_mib']:.0f} MiB (a process that only imports the "
          f"same modules: {imports['peak_rss_mib']:.0f} MiB, ratio {rerun['peak_rss_mib'] / imports['peak_rss_mib']:.2f}; "
          f"target < 1024 MiB: {'met' if rerun['peak_rss_mib'] < 1024 else 'NOT met'})")
    print(f"graph_1k_bytes={one_k['graph_bytes']} graph_1m_bytes={one_m['graph_bytes']} "
          f"graph_rerun_1m_bytes={rerun['graph_bytes']} driver_peak_rss_mib={rerun['peak_rss_mib']:.0f}")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=1_000_000, help="URIs in the large manifest")
    parser.add_argument("--committed", type=int, default=1_000_000, help="rows in the synthetic store")
    parser.add_argument("--workdir", default=None, help="keep the manifests and the store here (default: a tmp dir)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--manifest", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(argv)
    if args.child:
        child_main(args)
        return
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        run(args, Path(args.workdir).resolve())
        return
    with tempfile.TemporaryDirectory(prefix="mmsr-scale-") as workdir:
        run(args, Path(workdir))


if __name__ == "__main__":
    main()

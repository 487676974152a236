"""The job graph does not grow with the inputs or the committed rows (``benchmarks.pipeline_scale`` in small),
and the synthetic inputs it plans over."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.pipeline_scale import build_store, plan_job, previous_design_graph, synthetic_rows, write_manifest
from featurestore.schema import SAMPLES_SCHEMA
from pipelines.preprocess_config import PreprocessConfig
from pipelines.sample_identity import content_hash


def test_manifest_and_synthetic_rows_are_what_the_benchmark_plans_over(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m.txt", 3)
    assert manifest.read_text().splitlines() == [f"gs://bench-bucket/hr/{index:09d}.png" for index in range(3)]
    rows = synthetic_rows(5, 3, "hash")
    assert rows.schema.equals(SAMPLES_SCHEMA) and rows.num_rows == 3
    assert rows["sample_id"].to_pylist() == [f"{index:032x}" for index in (5, 6, 7)]
    assert set(rows["config_hash"].to_pylist()) == {"hash"}


@pytest.mark.integration  # commits 5,000 rows and builds five Beam job graphs: ~11 s
def test_graph_bytes_do_not_depend_on_inputs_or_committed_rows(tmp_path: Path) -> None:
    small = write_manifest(tmp_path / "a.txt", 100)
    large = write_manifest(tmp_path / "b.txt", 5_000)
    empty = {"catalog_uri": f"sqlite:///{tmp_path}/empty.db", "warehouse": str(tmp_path / "empty")}
    committed = build_store(tmp_path / "store", 5_000, content_hash(PreprocessConfig(input=str(large))))
    sizes = [plan_job(str(manifest), store)["graph_bytes"] for manifest, store in
             ((small, empty), (large, empty), (large, committed))]
    assert max(sizes) - min(sizes) < 2000 and max(sizes) < 1_000_000, sizes
    uris = large.read_text().splitlines()
    grown = previous_design_graph(uris, [json.dumps(index) for index in range(5_000)]) - previous_design_graph(uris[:100], [])
    assert grown > 10 * (max(sizes) - min(sizes))  # the previous design grew with both, ours by a path or two

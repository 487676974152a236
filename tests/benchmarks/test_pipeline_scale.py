"""The job graph does not grow with the inputs or the committed rows (``benchmarks.pipeline_scale`` in small)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.pipeline_scale import build_store, plan_job, previous_design_graph, write_manifest
from pipelines.preprocess_config import PreprocessConfig
from pipelines.sample_identity import content_hash


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

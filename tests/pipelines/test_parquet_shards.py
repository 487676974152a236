from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.parquet_shards import WriteParquetShards, shard_of, write_shard
from pipelines.runner_options import LOCAL_RUNNER

SCHEMA = pa.schema([pa.field("key", pa.string(), nullable=False), pa.field("value", pa.int64())])


def test_shard_of_is_stable_and_in_range() -> None:
    shards = [shard_of(f"id-{i}", 4) for i in range(200)]
    assert shards == [shard_of(f"id-{i}", 4) for i in range(200)]
    assert set(shards) == {0, 1, 2, 3}


def test_write_shard_is_byte_identical_on_rewrite(tmp_path: Path) -> None:
    rows = [{"key": "b", "value": 2}, {"key": "a", "value": 1}]
    url = write_shard(str(tmp_path), "part", 3, rows, SCHEMA)
    first = Path(url).read_bytes()
    write_shard(str(tmp_path), "part", 3, list(reversed(rows)), SCHEMA)
    assert Path(url).read_bytes() == first
    assert Path(url).name == "part-00003.parquet"
    assert pq.read_table(url).to_pylist() == sorted(rows, key=lambda r: r["key"])


@pytest.mark.integration  # runs a Beam pipeline
def test_transform_writes_each_row_once_even_with_bundle_repeats(tmp_path: Path) -> None:
    """Every bundle is replayed once (FnApiRunner honours ``--direct_runner_bundle_repeat``; the
    default TestPipeline's Prism runner ignores it): the write stage runs twice, rows land once."""
    rows = [{"key": f"k{i}", "value": i} for i in range(50)]
    out, log = tmp_path / "out", tmp_path / "writes.log"

    def log_write(url: str) -> str:
        # Fused into the write stage, so this side effect counts how often that stage ran per shard.
        with open(log, "a") as handle:
            handle.write(Path(url).name + "\n")
        return url

    options = PipelineOptions(["--direct_runner_bundle_repeat=1"])
    with TestPipeline(runner=LOCAL_RUNNER, options=options) as pipeline:
        urls = pipeline | beam.Create(rows) | WriteParquetShards(str(out), "part", SCHEMA, 4, "key") | beam.Map(log_write)
        assert_that(urls | beam.Map(lambda u: Path(u).name), equal_to([f"part-0000{i}.parquet" for i in range(4)]))
    names = [f"part-0000{i}.parquet" for i in range(4)]
    assert sorted(log.read_text().split()) == sorted(names * 2), "every shard's write ran twice (a replay)"
    table = pq.read_table(sorted(str(p) for p in out.glob("*.parquet")))
    assert sorted(table.column("key").to_pylist()) == sorted(r["key"] for r in rows)
    assert table.schema.equals(SCHEMA)


@pytest.mark.integration  # runs a Beam pipeline
def test_rows_per_file_derives_the_shard_count_inside_the_job(tmp_path: Path) -> None:
    rows = [{"key": f"k{i}", "value": i} for i in range(10)]
    with TestPipeline() as pipeline:
        urls = pipeline | beam.Create(rows) | WriteParquetShards(str(tmp_path), "part", SCHEMA, None, "key", rows_per_file=4)
        assert_that(urls | beam.Map(lambda u: Path(u).name), equal_to([f"part-0000{i}.parquet" for i in range(3)]))
    table = pq.read_table(sorted(str(p) for p in tmp_path.glob("*.parquet")))
    assert sorted(table.column("value").to_pylist()) == list(range(10))

"""The job on shared services, as a cluster runs it: inputs and warehouse in S3 (a moto server),
the Iceberg catalog on PostgreSQL, two ``mmsr preprocess`` processes committing at once.

Both processes find S3 the way a deployment would (``AWS_ENDPOINT_URL`` and keys in the
environment for s3fs; ``s3.*`` io_properties for pyiceberg) and race for the catalog commit
(the barrier of :mod:`tests.pipelines.test_concurrent_runs`): each sample id lands exactly once.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import fsspec
import pytest

from featurestore.config import FeatureStoreConfig
from featurestore.readers import read_arrow, snapshot_files
from featurestore.validation import validate_snapshot
from pipelines.demo_photos import DemoPhotos
from tests.pipelines.conftest import FEW_PHOTOS, TinyModels, small_job
from tests.pipelines.test_concurrent_runs import config_file, start_racing_run
from tests.services.postgres_server import PostgresServer
from tests.services.s3_server import S3Server

CROPS = 2


def _upload(photos: DemoPhotos, bucket: str, folder: str, names: tuple[str, ...]) -> str:
    fs = fsspec.filesystem("s3")
    for name in names:
        fs.put_file(str(photos.image_dir / name), f"{bucket}/{folder}/{name}")
    return f"s3://{bucket}/{folder}"


def test_two_processes_on_s3_and_a_postgres_catalog_commit_each_sample_once(
    postgres: PostgresServer, s3: S3Server, tiny_models: TinyModels, demo_photos: DemoPhotos,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    inputs, warehouse = s3.create_bucket("mmsr-inputs"), s3.create_bucket("mmsr-warehouse")
    first = _upload(demo_photos, "mmsr-inputs", "a", FEW_PHOTOS[:3])  # two photos in common
    second = _upload(demo_photos, "mmsr-inputs", "b", FEW_PHOTOS[1:])
    captions = f"{inputs}/captions.jsonl"
    fsspec.filesystem("s3").put_file(str(demo_photos.captions_path), captions.removeprefix("s3://"))
    store = FeatureStoreConfig(
        catalog_uri=postgres.create_database("catalog"), warehouse=f"{warehouse}/featurestore",
        io_properties=s3.iceberg_properties(),
    )
    job = small_job(tiny_models, demo_photos, first, tmp_path / "unused").with_(crops_per_image=CROPS)
    job = dataclasses.replace(job, store=store)
    job = job.with_(modalities=dataclasses.replace(job.preprocess.modalities, captions_path=captions))
    config = config_file(job, tmp_path / "mmsr.yaml")
    (tmp_path / "barrier").mkdir()

    runs = [start_racing_run(config, spec, tmp_path / "barrier", name)
            for name, spec in (("a", first), ("b", second))]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n".join(outputs)
    assert sorted(path.name for path in (tmp_path / "barrier").iterdir()) == ["a", "b"]  # both raced

    table = read_arrow(store, columns=["sample_id", "source_uri", "caption"])
    ids = table["sample_id"].to_pylist()
    assert len(ids) == len(set(ids)) == len(FEW_PHOTOS) * CROPS
    assert all(uri.startswith("s3://mmsr-inputs/") for uri in table["source_uri"].to_pylist())
    assert all(table["caption"].to_pylist()), "captions from the S3 sidecar were not joined"
    files = snapshot_files(store)
    assert files and all(path.startswith("s3://mmsr-warehouse/featurestore/") for path in files), files
    assert any(key.endswith(".parquet") for key in s3.keys("mmsr-warehouse"))
    report = validate_snapshot(store, spot_check_rows=2)
    assert report.ok and report.rows == len(FEW_PHOTOS) * CROPS, report

"""The job against Google Cloud Storage, served by ``gcp-storage-emulator`` on 127.0.0.1.

HR images, the captions sidecar and the feature-store warehouse all live in ``gs://`` (gcsfs
finds the emulator through ``STORAGE_EMULATOR_HOST``); the SQLite catalog stays local. pyiceberg
writes table metadata and reads Parquet footers through its own FileIO, which needs the emulator
named in its properties: both FileIOs are checked, configured the way a user would, through
``FeatureStoreConfig.io_properties`` (:data:`ICEBERG_EMULATOR_PROPERTIES`).
"""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import apache_beam as beam
import fsspec
import gcsfs
import pyarrow.parquet as pq
import pytest
from fsspec.asyn import AsyncFileSystem
from gcsfs.core import GCSFileSystem

from featurestore.config import FeatureStoreConfig
from featurestore.readers import read_arrow, snapshot_files
from featurestore.staging import list_staged
from orchestration.config_loading import parse_config
from pipelines.demo_photos import DemoPhotos
from pipelines.preprocess_job import build_pipeline, pipeline_options, run_preprocess
from pipelines.sources import expand_sources, resolve_spec
from tests.pipelines.conftest import SmallJob, TinyModels, small_job
from tests.services.marker import starts_service
from tests.services.ports import free_port, stop, wait_for_port

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BUCKET = "mmsr-test"
PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png")
EMULATOR = Path(sys.executable).parent / "gcp-storage-emulator"
FAR_FUTURE_MS = "4102444800000"  # 2100-01-01: the emulator accepts any token that has not expired

ICEBERG_EMULATOR_PROPERTIES: dict[str, tuple[tuple[str, str], ...]] = {
    # pyiceberg's default FileIO for gs:// (pyarrow's GcsFileSystem): without a token it looks for
    # Application Default Credentials and hangs; pyarrow wants a token and its expiry together.
    "pyarrow-io": (
        ("gcs.service.host", "{endpoint}"), ("gcs.oauth2.token", "emulator"),
        ("gcs.oauth2.token-expires-at", FAR_FUTURE_MS),
    ),
    # gcsfs, the file system the rest of the job uses, as pyiceberg's FileIO.
    "fsspec-io": (
        ("py-io-impl", "pyiceberg.io.fsspec.FsspecFileIO"), ("gcs.service.host", "{endpoint}"),
        ("gcs.oauth2.token", "anon"), ("gcs.project-id", "emulator"),
    ),
}


def use_plain_gcsfs(env: pytest.MonkeyPatch) -> None:
    """Use gcsfs's plain GCSFileSystem for ``gs://`` in this process.

    ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT`` is read once, when gcsfs is imported (here, at test
    collection), and its default "true" selects a subclass that asks the storage-control gRPC API
    for each bucket's layout: against the single-threaded HTTP emulator every such call stalls
    on TLS handshakes, and unknown layouts are not cached, so the job crawls to a halt.
    The emulator also lacks the ``objects.moveTo`` API: gcsfs would retry it for ~30 s per file
    before falling back to copy + delete, so moves go straight to copy + delete here.
    """
    GCSFileSystem.clear_instance_cache()
    env.setattr(GCSFileSystem, "_mv_file", AsyncFileSystem._mv_file)
    env.setattr(gcsfs, "GCSFileSystem", GCSFileSystem)  # what pyiceberg's FsspecFileIO imports
    for protocol in GCSFileSystem.protocol:
        env.setitem(sys.modules["fsspec.registry"]._registry, protocol, GCSFileSystem)


@pytest.fixture(scope="module")
@starts_service
def gcs(demo_photos: DemoPhotos, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An in-memory emulator with ``gs://mmsr-test/hr/`` holding three photos and their captions;
    yields its endpoint URL while the environment points gcsfs at it."""
    if not EMULATOR.exists():
        pytest.fail("gcp-storage-emulator is not installed (pip install -e '.[test]')")
    port, log = free_port(), tmp_path_factory.mktemp("gcs-emulator") / "emulator.log"
    command = [str(EMULATOR), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process, log, "gcp-storage-emulator")
        with pytest.MonkeyPatch.context() as env:
            env.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
            env.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
            use_plain_gcsfs(env)
            fs = gcsfs.GCSFileSystem()
            fs.mkdir(BUCKET)
            for name in PHOTOS:
                fs.pipe(f"{BUCKET}/hr/{name}", (demo_photos.image_dir / name).read_bytes())
            fs.pipe(f"{BUCKET}/hr/captions.jsonl", demo_photos.captions_path.read_bytes())
            yield f"http://127.0.0.1:{port}"
            GCSFileSystem.clear_instance_cache()
    finally:
        stop(process, signal.SIGTERM, timeout_s=10)  # kills it if a keep-alive request thread holds SIGTERM up


def gcs_job(
    models: TinyModels, photos: DemoPhotos, root: Path, warehouse: str, io_properties: tuple[tuple[str, str], ...] = ()
) -> SmallJob:
    job = small_job(models, photos, f"gs://{BUCKET}/hr/*.png", root)
    modalities = dataclasses.replace(job.preprocess.modalities, captions_path=f"gs://{BUCKET}/hr/captions.jsonl")
    store = dataclasses.replace(job.store, warehouse=warehouse, io_properties=io_properties)
    return dataclasses.replace(job.with_(modalities=modalities), store=store)


def read_parquet(urls: list[str]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for url in urls:
        with fsspec.open(url, "rb") as handle:
            rows += pq.read_table(handle, columns=["source_uri", "caption", "depth_tokens"]).to_pylist()
    return rows


def test_hr_images_are_read_from_gcs_and_rows_staged_in_gcs(
    gcs: str, tiny_models: TinyModels, demo_photos: DemoPhotos, tmp_path: Path
) -> None:
    job = gcs_job(tiny_models, demo_photos, tmp_path, f"gs://{BUCKET}/staged-only")
    uris = expand_sources(job.preprocess.input)
    assert uris == [f"gs://{BUCKET}/hr/{name}" for name in sorted(PHOTOS)]
    pipeline = beam.Pipeline(options=pipeline_options(job.preprocess))
    build_pipeline(pipeline, resolve_spec(job.preprocess.input), job.preprocess, job.store, "gcs-run", None)
    pipeline.run().wait_until_finish()
    staged = list_staged(job.store, "gcs-run")
    assert staged.samples and all(url.startswith(f"gs://{BUCKET}/staged-only/_staging/gcs-run/") for url in staged.samples)
    rows = read_parquet(staged.samples)
    assert sorted(row["source_uri"] for row in rows) == uris
    assert all(row["caption"] and len(row["depth_tokens"]) == 256 for row in rows)
    assert read_parquet(staged.errors) == []


@pytest.mark.parametrize("file_io", sorted(ICEBERG_EMULATOR_PROPERTIES))
def test_job_commits_to_a_gcs_warehouse(
    gcs: str, file_io: str, tiny_models: TinyModels, demo_photos: DemoPhotos, tmp_path: Path
) -> None:
    settings = {
        "warehouse": f"gs://{BUCKET}/warehouse-{file_io}",
        "io_properties": [[key, value.format(endpoint=gcs)] for key, value in ICEBERG_EMULATOR_PROPERTIES[file_io]],
    }
    store = parse_config(FeatureStoreConfig, settings, "featurestore")  # as from the featurestore section of a YAML file
    warehouse = store.warehouse
    job = gcs_job(tiny_models, demo_photos, tmp_path, warehouse, store.io_properties)
    result = run_preprocess(job.preprocess, job.store)
    assert (result.inputs, result.added, result.rejected) == (3, 3, 0)
    table = read_arrow(job.store, columns=["source_uri", "caption"])
    assert sorted(table.column("source_uri").to_pylist()) == [f"gs://{BUCKET}/hr/{name}" for name in sorted(PHOTOS)]
    assert all(table.column("caption").to_pylist())
    assert snapshot_files(job.store) and all(url.startswith(f"{warehouse}/") for url in snapshot_files(job.store))
    assert not GCSFileSystem().exists(f"{BUCKET}/warehouse-{file_io}/_staging/{result.run_id}")
    assert run_preprocess(job.preprocess, job.store).already_present == 3


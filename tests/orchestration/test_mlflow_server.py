"""Tracking-server mode: a real ``mlflow server`` on 127.0.0.1 (SQLite backend, proxied artifacts);
register, evaluate + promote, race promoters, roll back and serve the champion, all through HTTP.
Then the shared deployment: the server backed by PostgreSQL, artifacts proxied to S3 (moto)."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg2
import pytest
from mlflow.tracking import MlflowClient

from featurestore.config import FeatureStoreConfig
from orchestration.mmsr_config import MmsrConfig
from orchestration.registry.model_registry import register_pipeline
from orchestration.registry.promotion import AGAINST_TAG, DECISION_TAG, EVIDENCE_TAG, current_champion, promote_version
from orchestration.registry.promotion_config import MetricGate, PromotionConfig
from orchestration.serving.serve_config import ServeConfig
from pipelines.feature_rows import encode_png
from tests.orchestration.conftest import make_eval_store
from tests.orchestration.registry.test_promotion import assert_concurrent_promotions_are_gated
from tests.services.marker import starts_service
from tests.services.postgres_server import PostgresServer
from tests.services.processes import stop_process_group
from tests.services.s3_server import S3Server
from trainers.models.sampling_options import SamplingOptions
from trainers.tracking.mlflow_runs import create_run, experiment_id, tracking_client
from trainers.tracking.tracking_config import TrackingConfig

pytestmark = [pytest.mark.slow(minutes=3, minutes_each=1.5), pytest.mark.services]  # mlflow servers on SQLite and PostgreSQL + S3: ~80 s

STARTUP_S = 120


@dataclass(frozen=True)
class Server:
    url: str
    artifacts: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url} exited: {log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(1)
    pytest.fail(f"{url} did not answer within {STARTUP_S} s: {log.read_text()[-3000:]}")


@contextmanager
def _running_server(root: Path, backend_uri: str, artifacts: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``mlflow server`` on a free loopback port with proxied artifacts; its URL."""
    port = _free_port()
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", backend_uri, "--artifacts-destination", artifacts,
    ]
    log = root / "server.log"
    with log.open("w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, **(env or {})})
    try:
        _wait_until_up(process, f"http://127.0.0.1:{port}/health", log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process_group(process)


@pytest.fixture(scope="module")
@starts_service
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("mlflow-server")
    with _running_server(root, f"sqlite:///{root}/mlflow.db", str(root / "artifacts")) as url:
        yield Server(url=url, artifacts=root / "artifacts")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FeatureStoreConfig:
    return make_eval_store(tmp_path_factory.mktemp("store"))


def _config(server: Server, store: FeatureStoreConfig, name: str, promotion: PromotionConfig) -> MmsrConfig:
    # No artifact location: runs use the server's proxied artifact store (``mlflow-artifacts:/``).
    tracking = TrackingConfig(
        tracking_uri=server.url, experiment="mmsr-over-http", registered_model=name, artifact_location=None
    )
    return MmsrConfig(featurestore=store, tracking=tracking, serve=ServeConfig(sampling=SamplingOptions(steps=2)), promotion=promotion)


def _serve(server: Server, config: MmsrConfig, log: Path) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    settings = [f"tracking.tracking_uri={server.url}", f"tracking.registered_model={config.tracking.registered_model}",
                f"serve.port={port}"]
    command = [sys.executable, "-m", "orchestration.cli", "serve", *[a for s in settings for a in ("--set", s)]]
    with log.open("w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    return process, port


def _aliases(client: MlflowClient) -> dict[str, str]:
    return {alias: str(version) for alias, version in client.get_registered_model("mmsr-sr").aliases.items()}


def test_register_promote_and_serve_through_the_server(
    server: Server, store: FeatureStoreConfig, tiny_pipeline_dir: Path, tmp_path: Path
) -> None:
    config = _config(server, store, "mmsr-sr", PromotionConfig(gates=(MetricGate("eval_psnr", 0.5),)))
    client = tracking_client(config.tracking)
    run_id = create_run(client, experiment_id(client, config.tracking), "server-test", {"source": "test"})
    first = register_pipeline(config.tracking, config.serve, run_id, str(tiny_pipeline_dir), {}, alias="challenger")
    assert _aliases(client) == {"challenger": str(first.version)}
    assert any(p.suffix == ".safetensors" for p in server.artifacts.rglob("*")), "artifacts did not go through the proxy"

    promoted = promote_version(config, first.version)
    assert promoted.promote and current_champion(client, config.tracking) == first.version
    # The same weights again: identical scores cannot clear a +0.5 dB gate.
    run_id = create_run(client, experiment_id(client, config.tracking), "server-test-twin", {"source": "test"})
    twin = register_pipeline(config.tracking, config.serve, run_id, str(tiny_pipeline_dir), {}, alias="challenger").version
    assert _aliases(client) == {"challenger": str(twin), "champion": str(first.version)}
    rejected = promote_version(config, twin)
    assert not rejected.promote and current_champion(client, config.tracking) == first.version
    tags = client.get_model_version("mmsr-sr", str(twin)).tags
    assert tags[DECISION_TAG] == "rejected" and tags[AGAINST_TAG] == str(first.version)
    assert json.loads(tags[EVIDENCE_TAG])["champion"]["eval_psnr"] == pytest.approx(promoted.candidate_metrics["eval_psnr"])
    assert rejected.candidate_metrics["eval_psnr"] == pytest.approx(promoted.candidate_metrics["eval_psnr"])

    process, port = _serve(server, config, tmp_path / "serve.log")
    try:
        _wait_until_up(process, f"http://127.0.0.1:{port}/ping", tmp_path / "serve.log")
        lr = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
        body = {"dataframe_records": [{"image": base64.b64encode(encode_png(lr)).decode()}], "params": {"steps": 2}}
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.loads(response.read())
        assert base64.b64decode(answer["predictions"][0]["image"])[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        stop_process_group(process)


def test_concurrent_promotions_through_the_server(
    server: Server, store: FeatureStoreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_concurrent_promotions_are_gated(_config(server, store, "raced-over-http", PromotionConfig()), monkeypatch)


def test_promotion_through_a_server_on_postgres_with_artifacts_in_s3(
    postgres: PostgresServer, s3: S3Server, store: FeatureStoreConfig, tiny_pipeline_dir: Path,
    tmp_path: Path,
) -> None:
    backend = postgres.create_database("mlflow")
    bucket = s3.create_bucket("mmsr-mlflow")
    with _running_server(tmp_path, backend, f"{bucket}/artifacts", env=s3.env()) as url:
        config = _config(Server(url=url, artifacts=tmp_path / "unused"), store, "mmsr-shared", PromotionConfig())
        client = tracking_client(config.tracking)
        run_id = create_run(client, experiment_id(client, config.tracking), "shared-test", {"source": "test"})
        version = register_pipeline(config.tracking, config.serve, run_id, str(tiny_pipeline_dir), {}).version
        assert any(key.endswith(".safetensors") for key in s3.keys("mmsr-mlflow")), "artifacts did not reach S3"
        decision = promote_version(config, version)  # evaluates the version it downloads through the proxy
        assert decision.promote and current_champion(client, config.tracking) == version
    connection = psycopg2.connect(backend.replace("postgresql+psycopg2", "postgresql"))
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT alias, version FROM registered_model_aliases WHERE name = %s", ("mmsr-shared",))
            assert cursor.fetchall() == [("champion", int(version))]
    finally:
        connection.close()

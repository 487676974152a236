"""A moto S3 server on 127.0.0.1 (``moto_server`` from the ``moto[server]`` test extra), in its own process.

Clients find it the way they would find any S3-compatible endpoint: boto3/botocore and s3fs through
``AWS_ENDPOINT_URL``, MLflow's artifact store through ``MLFLOW_S3_ENDPOINT_URL``, pyiceberg through
its ``s3.endpoint`` property (:meth:`S3Server.iceberg_properties`), all with moto's fixed test keys.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3

from tests.services.ports import free_port, stop, wait_for_port

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def env(self) -> dict[str, str]:
        """Environment variables pointing S3 clients (boto3, s3fs, MLflow) at this server."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint, "MLFLOW_S3_ENDPOINT_URL": self.endpoint,
        }

    def iceberg_properties(self) -> tuple[tuple[str, str], ...]:
        """``FeatureStoreConfig.io_properties`` for pyiceberg's FileIO on this server."""
        return (
            ("s3.endpoint", self.endpoint), ("s3.access-key-id", ACCESS_KEY),
            ("s3.secret-access-key", SECRET_KEY), ("s3.region", REGION),
        )

    def client(self):  # noqa: ANN201 - boto3's client type is generated at run time
        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY, region_name=REGION,
        )

    def create_bucket(self, name: str) -> str:
        """Create ``name``; its ``s3://`` URL."""
        self.client().create_bucket(Bucket=name)
        return f"s3://{name}"

    def keys(self, bucket: str) -> list[str]:
        """Every object key in ``bucket``."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


@contextmanager
def running_s3() -> Iterator[S3Server]:
    """A fresh, empty moto S3 server for the duration of the block."""
    moto_server = Path(sys.executable).parent / "moto_server"
    if not moto_server.exists():
        raise RuntimeError(f"{moto_server} not found: install the test extra (pip install -e '.[test]')")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="mmsr-moto-") as root:
        log = Path(root) / "server.log"
        with log.open("w") as sink:
            process = subprocess.Popen([moto_server, "-H", "127.0.0.1", "-p", str(port)], stdout=sink,
                                       stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, process, log, "moto_server")
            yield S3Server(endpoint=f"http://127.0.0.1:{port}")
        finally:
            stop(process, signal.SIGTERM)

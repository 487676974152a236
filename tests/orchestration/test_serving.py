"""``mmsr serve`` for real: the champion behind ``mlflow models serve`` on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest

from orchestration.registry import RegisteredVersion, set_alias
from orchestration.serve_config import ServeConfig
from orchestration.serving import serve_command
from orchestration.tracking_config import TrackingConfig
from pipelines.feature_rows import encode_png


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _post(port: int, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_serve_command_uses_this_environment() -> None:
    argv = serve_command("models:/m@champion", ServeConfig(port=6000))
    assert argv[:3] == [sys.executable, "-m", "mlflow"]
    assert ["--env-manager", "local"] == argv[argv.index("--env-manager") : argv.index("--env-manager") + 2]
    assert "6000" in argv


@pytest.fixture(scope="module")
def server(tracking: TrackingConfig, registered: RegisteredVersion) -> Iterator[int]:
    set_alias(tracking, "champion", registered.version)
    port = _free_port()
    overrides = [f"tracking.tracking_uri={tracking.tracking_uri}", f"serve.port={port}"]
    command = [sys.executable, "-m", "orchestration.cli", "serve", *[a for o in overrides for a in ("--set", o)]]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited: {process.stderr.read()[-3000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
            break
        except OSError:
            time.sleep(1)
    else:
        process.kill()
        pytest.fail("server did not answer /ping within 120 s")
    yield port
    process.terminate()
    process.wait(timeout=30)


def test_served_champion_super_resolves(server: int) -> None:
    lr = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    body = {"dataframe_records": [{"image": base64.b64encode(encode_png(lr)).decode()}], "params": {"steps": 2}}
    status, answer = _post(server, json.dumps(body).encode())
    assert status == 200, answer
    assert len(answer["predictions"]) == 1
    assert base64.b64decode(answer["predictions"][0]["image"])[:8] == b"\x89PNG\r\n\x1a\n"


def test_malformed_request_is_4xx_and_server_keeps_serving(server: int) -> None:
    status, _ = _post(server, b"{not json")
    assert 400 <= status < 500
    lr = np.zeros((16, 16, 3), dtype=np.uint8)
    body = {"dataframe_records": [{"image": base64.b64encode(encode_png(lr)).decode()}], "params": {"steps": 1}}
    assert _post(server, json.dumps(body).encode())[0] == 200

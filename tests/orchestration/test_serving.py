"""``mmsr serve`` for real: the champion behind ``mlflow models serve`` on 127.0.0.1.

One server (module scope) answers a good request, then each bad request (malformed JSON, a
non-image, an oversized image, a wrong field type) with a 4xx and a clear message, and still
answers a good request after every one of them.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from orchestration.mlflow_runs import create_run, experiment_id, tracking_client
from orchestration.registry import RegisteredVersion, register_pipeline, set_alias
from orchestration.registry_error import RegistryError
from orchestration.serve_config import ServeConfig
from orchestration.serving import SERVING_MODEL_CONFIG, fetch_checked_model, serve_command, serve_environment
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


def _png_b64(side: int, seed: int = 0) -> str:
    lr = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    return base64.b64encode(encode_png(lr)).decode()


def _good_request() -> bytes:
    return json.dumps({"dataframe_records": [{"image": _png_b64(16)}], "params": {"steps": 1}}).encode()


def test_serve_command_uses_this_environment() -> None:
    argv = serve_command("models:/m@champion", ServeConfig(port=6000))
    assert argv[:3] == [sys.executable, "-m", "mlflow"]
    assert ["--env-manager", "local"] == argv[argv.index("--env-manager") : argv.index("--env-manager") + 2]
    assert "6000" in argv


def test_serve_environment_carries_limits_and_this_interpreter() -> None:
    env = serve_environment(TrackingConfig(), ServeConfig(max_input_pixels=99, max_rows=3), {"PATH": "/usr/bin"})
    assert json.loads(env[SERVING_MODEL_CONFIG]) == {"max_input_pixels": 99, "max_rows": 3}
    assert env["PATH"].startswith(str(Path(sys.executable).parent))


@pytest.fixture(scope="module")
def server(tracking: TrackingConfig, registered: RegisteredVersion) -> Iterator[int]:
    set_alias(tracking, "champion", registered.version)
    port = _free_port()
    overrides = [f"tracking.tracking_uri={tracking.tracking_uri}", f"serve.port={port}"]
    command = [sys.executable, "-m", "orchestration.cli", "serve", *[a for o in overrides for a in ("--set", o)]]
    # A session of its own: the CLI, mlflow and uvicorn are stopped together as one process group.
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"server exited: {process.stderr.read()[-3000:]}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("server did not answer /ping within 120 s")
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_served_champion_super_resolves(server: int) -> None:
    body = {"dataframe_records": [{"image": _png_b64(16), "caption": "a cat"}], "params": {"steps": 2, "seed": 1}}
    status, answer = _post(server, json.dumps(body).encode())
    assert status == 200, answer
    assert len(answer["predictions"]) == 1
    assert base64.b64decode(answer["predictions"][0]["image"])[:8] == b"\x89PNG\r\n\x1a\n"


def _oversized_png_b64() -> str:
    """A flat 1025 x 1024 PNG (a few KB): one row over the default 1024 * 1024 pixel limit."""
    return base64.b64encode(encode_png(np.zeros((1025, 1024, 3), dtype=np.uint8))).decode()


def _records(image: object, **params: object) -> bytes:
    return json.dumps({"dataframe_records": [{"image": image}], "params": {"steps": 1, **params}}).encode()


BAD_REQUESTS = {
    "malformed JSON": (b'{"dataframe_records": [{"image": ', "valid JSON"),
    "non-image payload": (_records(base64.b64encode(b"%PDF-1.7 not an image").decode()), "could not be decoded as an image"),
    "not base64": (_records("***"), "not valid base64"),
    "oversized image": (_records(_oversized_png_b64()), "over the limit of 1048576"),
    "wrong param type": (_records(_png_b64(16), steps="many"), "steps"),
    "wrong image type": (_records(12345), "image"),
    "bad option value": (_records(_png_b64(16), guidance_mode="loud"), "guidance_mode"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_request_is_4xx_with_message_and_server_keeps_serving(server: int, case: str) -> None:
    body, expected = BAD_REQUESTS[case]
    status, answer = _post(server, body)
    assert 400 <= status < 500, (status, answer)
    assert expected in answer.get("message", ""), answer
    assert _post(server, _good_request())[0] == 200


def test_model_with_a_pickle_payload_is_refused(tracking: TrackingConfig, tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    poisoned = shutil.copytree(tiny_pipeline_dir, tmp_path / "poisoned")
    torch.save({"weight": torch.zeros(1)}, poisoned / "unet" / "diffusion_pytorch_model.bin")
    client = tracking_client(tracking)
    run_id = create_run(client, experiment_id(client, tracking), "poisoned", {})
    version = register_pipeline(tracking, ServeConfig(steps=1), run_id, str(poisoned), {})
    with pytest.raises(RegistryError, match=r"refused: .*unet/diffusion_pytorch_model\.bin"):
        fetch_checked_model(version.model_uri, tracking, str(tmp_path / "download"))

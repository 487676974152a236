"""``mmsr serve`` for real: the champion behind ``mlflow models serve`` on 127.0.0.1.

One server (module scope) answers a good request, then each bad request (malformed JSON, a
non-image, an oversized image, a wrong field type) with a 4xx and a clear message, and still
answers a good request after every one of them.
"""

from __future__ import annotations

import base64
import json
import os
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

from orchestration.registry.model_registry import RegisteredVersion, set_alias
from orchestration.serving.serve_config import ServeConfig
from orchestration.serving.server import SERVER_MODEL_PATH, SERVING_MODEL_CONFIG, serve_command, serve_environment
from pipelines.feature_rows import encode_png
from tests.services.marker import starts_service
from tests.services.processes import stop_process_group
from trainers.tracking.tracking_config import TrackingConfig


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


def test_serve_command_runs_the_scoring_app_in_this_interpreter() -> None:
    argv = serve_command(ServeConfig(port=6000, workers=3))
    assert argv[:3] == [sys.executable, "-m", "uvicorn"]
    assert argv[-2:] == ["--factory", "orchestration.serving.scoring_app:create_app"]
    assert argv[argv.index("--port") + 1] == "6000" and argv[argv.index("--workers") + 1] == "3"


def test_serve_environment_carries_model_limits_and_threads() -> None:
    serve = ServeConfig(max_input_pixels=99, max_rows=3, workers=2)
    env = serve_environment("/models/m", TrackingConfig(), serve, {"PATH": "/usr/bin"}, cpu_count=8)
    assert json.loads(env[SERVING_MODEL_CONFIG]) == {
        "max_input_pixels": 99, "max_rows": 3, "threads": 4, "device": "auto", "precision": "auto",
    }
    assert env[SERVER_MODEL_PATH] == "/models/m" and env["PATH"] == "/usr/bin"
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "4"
    pinned = serve_environment("/m", TrackingConfig(), ServeConfig(threads=1, workers=2), {}, cpu_count=8)
    assert json.loads(pinned[SERVING_MODEL_CONFIG])["threads"] == 1


@pytest.fixture(scope="module")
@starts_service
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
        stop_process_group(process)


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
    "infinite guidance_scale": (_records(_png_b64(16)).replace(b'"steps": 1', b'"steps": 1, "guidance_scale": Infinity'), "guidance_scale"),
    "NaN guidance_scale": (_records(_png_b64(16)).replace(b'"steps": 1', b'"steps": 1, "guidance_scale": NaN'), "guidance_scale"),
    "seed over 64 bits": (_records(_png_b64(16), seed=2**64), "seed"),
    "steps past the model's timesteps": (_records(_png_b64(16), steps=1001), "steps must be in 1..1000"),
    "unknown param": (_records(_png_b64(16), temperature_bogus=2.0), "temperature_bogus"),
    "timestep-aware temperature of a constant model": (
        _records(_png_b64(16), temperature_schedule="timestep_aware"), "temperature_schedule 'timestep_aware' needs"
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_request_is_4xx_with_message_and_server_keeps_serving(server: int, case: str) -> None:
    body, expected = BAD_REQUESTS[case]
    status, answer = _post(server, body)
    assert 400 <= status < 500, (status, answer)
    assert expected in answer.get("message", ""), answer
    assert "stack_trace" not in answer and "Traceback" not in json.dumps(answer)
    assert _post(server, _good_request())[0] == 200


def test_a_second_server_on_a_busy_port_is_one_line_and_exit_2_before_loading(tracking: TrackingConfig, server: int) -> None:
    overrides = [f"tracking.tracking_uri={tracking.tracking_uri}", f"serve.port={server}"]
    command = [sys.executable, "-m", "orchestration.cli", "serve", *[a for o in overrides for a in ("--set", o)]]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip() == (
        f"mmsr: error: port {server} on 127.0.0.1 is in use (another server is listening there); "
        "choose another with --port N or --set serve.port=N"
    )
    assert "serving" not in result.stdout and time.monotonic() - started < 60


def _port_is_free(port: int) -> bool:
    """Whether a new server can listen on ``port`` (with SO_REUSEADDR, as uvicorn binds: the
    closed /ping connections may leave the port in TIME_WAIT, which is not a live listener)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.slow(minutes=1, minutes_each=1)
@pytest.mark.services
def test_sigterm_stops_the_whole_server_tree_frees_the_port_and_removes_the_download(
    tracking: TrackingConfig, registered: RegisteredVersion, tmp_path: Path
) -> None:
    import psutil

    temp = tmp_path / "tmp"
    temp.mkdir()
    port = _free_port()
    overrides = [f"tracking.tracking_uri={tracking.tracking_uri}", f"serve.port={port}", "serve.workers=2"]
    command = [sys.executable, "-m", "orchestration.cli", "serve", "--model", registered.model_uri]
    command += [a for o in overrides for a in ("--set", o)]
    process = subprocess.Popen(
        command, env={**os.environ, "TMPDIR": str(temp)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        assert process.poll() is None, process.stderr.read()[-3000:]
        tree = psutil.Process(process.pid).children(recursive=True)
        assert len(tree) >= 3  # uvicorn's supervisor and its 2 workers
        assert [p.name for p in temp.iterdir()] and all(p.name.startswith("mmsr-serve-") for p in temp.iterdir())
        os.kill(process.pid, signal.SIGTERM)  # the CLI alone, as a service manager or a user's kill would
        stopped = time.monotonic()
        process.wait(timeout=10)
        _, alive = psutil.wait_procs(tree, timeout=max(0.1, 10 - (time.monotonic() - stopped)))
        while not _port_is_free(port) and time.monotonic() - stopped < 10:
            time.sleep(0.1)
        assert alive == [], alive
        assert _port_is_free(port)
        assert time.monotonic() - stopped < 10
        assert process.returncode == 0
        assert list(temp.iterdir()) == []
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

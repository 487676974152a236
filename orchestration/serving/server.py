"""``mmsr serve``: MLflow's scoring server (uvicorn) for a checked copy of a registered model.

- The model is downloaded into a temporary directory and checked file by file
  (``checked_model.fetch_checked_model``); the server loads that copy.
- The port is checked first (``port_check``): a busy one is an error before anything is loaded.
- uvicorn runs MLflow's scoring app (``scoring_app``: params checked strictly) in a process group of its own, with ``serve.workers`` worker
  processes of ``serve.threads`` torch threads each. Each worker loads the model before it accepts
  a connection, so ``/ping`` (``/health``) answers only once the model is loaded.
- SIGINT or SIGTERM stops the whole group (SIGTERM, then SIGKILL after ``STOP_GRACE_S``) and
  removes the download. If ``mmsr serve`` itself is killed (SIGKILL), the kernel sends uvicorn
  SIGTERM (``PR_SET_PDEATHSIG``), which stops its workers.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType

from mlflow.pyfunc import scoring_server

from orchestration.serving.checked_model import fetch_checked_model
from orchestration.serving.port_check import check_port_free
from orchestration.serving.serve_config import ServeConfig
from trainers.tracking.mlflow_runs import resolved_tracking_uri
from trainers.tracking.tracking_config import TrackingConfig

SERVING_MODEL_CONFIG = scoring_server.SERVING_MODEL_CONFIG
"""Environment variable the MLflow scoring server reads the pyfunc's ``model_config`` from."""
SERVER_MODEL_PATH = scoring_server._SERVER_MODEL_PATH
"""Environment variable MLflow's scoring app (``scoring_server.app``) reads the model path from."""
SCORING_APP = "orchestration.serving.scoring_app:create_app"
"""uvicorn's app factory (``--factory``)."""
STOP_GRACE_S = 5.0
"""After SIGTERM, how long the server's processes may take to exit before they are killed."""
GRACEFUL_SHUTDOWN_S = 2
"""uvicorn's own limit for finishing open requests on SIGTERM (within ``STOP_GRACE_S``)."""
_PR_SET_PDEATHSIG = 1


class ServeStopped(Exception):
    """SIGINT or SIGTERM reached ``mmsr serve``."""


def serving_model_config(serve: ServeConfig) -> dict[str, int | str | None]:
    """The pyfunc ``model_config`` registered with a version: request limits, torch threads, device
    and precision (MLflow accepts a loader's override only for keys registered here)."""
    return {
        "max_input_pixels": serve.max_input_pixels, "max_rows": serve.max_rows, "threads": serve.threads,
        "device": serve.device, "precision": serve.precision,
    }


def serve_command(serve: ServeConfig) -> list[str]:
    """The argv of the scoring server in this interpreter (no new environment per model)."""
    return [
        sys.executable, "-m", "uvicorn", "--host", serve.host, "--port", str(serve.port),
        "--workers", str(serve.workers), "--timeout-graceful-shutdown", str(GRACEFUL_SHUTDOWN_S), "--factory", SCORING_APP,
    ]


def serve_environment(
    model_dir: str | Path, tracking: TrackingConfig, serve: ServeConfig, base: Mapping[str, str], cpu_count: int
) -> dict[str, str]:
    """``base`` (the caller's environment) plus what the server needs: the model directory, the
    tracking URI, the request limits and the thread count of each worker (torch, OpenMP, MKL)."""
    threads = str(serve.worker_threads(cpu_count))
    model_config = {**serving_model_config(serve), "threads": int(threads)}  # versions registered without it: the env
    return {
        **base, SERVER_MODEL_PATH: str(model_dir), "MLFLOW_TRACKING_URI": resolved_tracking_uri(tracking.tracking_uri),
        SERVING_MODEL_CONFIG: json.dumps(model_config), "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
    }


def _die_with_parent() -> None:
    """In the server process before exec: SIGTERM when ``mmsr serve`` dies, however it dies (Linux)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_process_group(process: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM ``process``'s group, SIGKILL whatever of it is left after ``grace_s``; reaps ``process``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise ServeStopped in the main thread while the block runs (an entry
    point's concern: elsewhere, and off the main thread, nothing is installed)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, _frame: FrameType | None) -> None:
        raise ServeStopped(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, _raise) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_server(model_uri: str, tracking: TrackingConfig, serve: ServeConfig, base: Mapping[str, str]) -> int:
    with tempfile.TemporaryDirectory(prefix="mmsr-serve-") as workdir:
        local = fetch_checked_model(model_uri, tracking, workdir)
        env = serve_environment(local, tracking, serve, base, os.cpu_count() or 1)
        server = subprocess.Popen(serve_command(serve), env=env, start_new_session=True, preexec_fn=_die_with_parent)
        try:
            print(
                f"serving {model_uri} on http://{serve.host}:{serve.port}/invocations "
                f"({serve.workers} worker(s) x {serve.worker_threads(os.cpu_count() or 1)} thread(s); Ctrl-C stops)",
                flush=True,
            )
            return server.wait()
        finally:
            stop_process_group(server)


def serve_model(
    model_uri: str, tracking: TrackingConfig, serve: ServeConfig, environment: Mapping[str, str] | None = None
) -> int:
    """Check and serve ``model_uri`` until the server exits or SIGINT/SIGTERM; returns its exit
    status (0 when stopped by a signal). Nothing of the server or the download outlives the call.

    ``environment``: the server's base environment (default: this process's; ``mmsr serve`` is an
    entry point). PortInUseError, before anything is loaded, when ``serve.port`` is taken."""
    check_port_free(serve.host, serve.port)
    with stop_signals_raise():
        try:
            return _run_server(model_uri, tracking, serve, os.environ if environment is None else environment)
        except ServeStopped as stopped:
            print(f"mmsr serve: stopped ({stopped}); server stopped, download removed", file=sys.stderr, flush=True)
            return 0

"""``mmsr serve``: run ``mlflow models serve`` for a registered model on the configured port.

The model is downloaded once, checked for pickle-format files (refused: loading one would run
code), and the checked local copy is what the server loads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import mlflow.artifacts

from orchestration.mlflow_runs import fluent_tracking, resolved_tracking_uri
from orchestration.registry_error import RegistryError
from orchestration.serve_config import ServeConfig
from orchestration.tracking_config import TrackingConfig
from trainers.models.safe_loading import UnsafeArtifactError, assert_no_pickles

SERVING_MODEL_CONFIG = "SERVING_MODEL_CONFIG"
"""Environment variable the MLflow scoring server reads the pyfunc's ``model_config`` from."""


def fetch_checked_model(model_uri: str, tracking: TrackingConfig, destination: str | None = None) -> Path:
    """Download ``model_uri`` (``models:/NAME@alias``, ``models:/NAME/3``, ``runs:/...``) to a local
    directory and return it; RegistryError if any file in it is pickle-format."""
    with fluent_tracking(tracking):
        local = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=destination))
    try:
        assert_no_pickles(local)
    except UnsafeArtifactError as error:
        raise RegistryError(f"model {model_uri} refused: {error}") from None
    return local


def serving_model_config(serve: ServeConfig) -> dict[str, int]:
    """The pyfunc ``model_config`` that carries the request limits of ``serve``."""
    return {"max_input_pixels": serve.max_input_pixels, "max_rows": serve.max_rows}


def serve_command(model_uri: str, serve: ServeConfig) -> list[str]:
    """The argv that serves ``model_uri`` in this environment (no new virtualenv per model)."""
    return [
        sys.executable, "-m", "mlflow", "models", "serve", "--model-uri", model_uri, "--env-manager", "local",
        "--host", serve.host, "--port", str(serve.port), "--workers", str(serve.workers),
    ]


def serve_environment(tracking: TrackingConfig, serve: ServeConfig, base: Mapping[str, str]) -> dict[str, str]:
    """``base`` (the caller's environment) plus what the server needs: tracking URI, request
    limits, and this interpreter's bin first on PATH (mlflow execs ``uvicorn`` by name)."""
    path = os.pathsep.join([str(Path(sys.executable).parent), base.get("PATH", "")])
    return {
        **base, "MLFLOW_TRACKING_URI": resolved_tracking_uri(tracking.tracking_uri), "PATH": path,
        SERVING_MODEL_CONFIG: json.dumps(serving_model_config(serve)),
    }


def serve_model(
    model_uri: str, tracking: TrackingConfig, serve: ServeConfig, environment: Mapping[str, str] | None = None
) -> int:
    """Check and serve ``model_uri`` until interrupted; returns the server's exit status.

    ``environment``: the server's base environment (default: this process's; ``mmsr serve`` is an
    entry point)."""
    env = serve_environment(tracking, serve, os.environ if environment is None else environment)
    with tempfile.TemporaryDirectory(prefix="mmsr-serve-") as workdir:
        local = fetch_checked_model(model_uri, tracking, workdir)
        print(f"serving {model_uri} on http://{serve.host}:{serve.port}/invocations (Ctrl-C stops)", flush=True)
        try:
            return subprocess.call(serve_command(str(local), serve), env=env)
        except KeyboardInterrupt:
            return 0

"""``mmsr serve``: run ``mlflow models serve`` for a registered model on the configured port."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orchestration.mlflow_runs import resolved_tracking_uri
from orchestration.serve_config import ServeConfig
from orchestration.tracking_config import TrackingConfig


def serve_command(model_uri: str, serve: ServeConfig) -> list[str]:
    """The argv that serves ``model_uri`` in this environment (no new virtualenv per model)."""
    return [
        sys.executable, "-m", "mlflow", "models", "serve", "--model-uri", model_uri, "--env-manager", "local",
        "--host", serve.host, "--port", str(serve.port), "--workers", str(serve.workers),
    ]


def serve_model(model_uri: str, tracking: TrackingConfig, serve: ServeConfig) -> int:
    """Serve until interrupted; returns the server's exit status."""
    # mlflow execs `uvicorn` by name: put this interpreter's bin first, activated venv or not.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "MLFLOW_TRACKING_URI": resolved_tracking_uri(tracking.tracking_uri), "PATH": path}
    print(f"serving {model_uri} on http://{serve.host}:{serve.port}/invocations (Ctrl-C stops)", flush=True)
    try:
        return subprocess.call(serve_command(model_uri, serve), env=env)
    except KeyboardInterrupt:
        return 0

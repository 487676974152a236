"""Download a registered model and check it (``model_verification``) before anything loads it.

Every path that loads a registered version (``mmsr serve``, ``mmsr evaluate``/``promote``, the
quickstart's demo) goes through here, so nothing in a version is imported, executed or
unpickled unless it is exactly what ``registry.register_pipeline`` writes.
"""

from __future__ import annotations

import contextlib
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow.artifacts
import mlflow.pyfunc
from mlflow.exceptions import MlflowException

from orchestration.serving.model_verification import verify_model_directory
from orchestration.serving.registry_error import RegistryError
from trainers.models.safe_loading import UnsafeArtifactError
from trainers.tracking.mlflow_runs import fluent_tracking, resolved_tracking_uri
from trainers.tracking.tracking_config import TrackingConfig

HEALTH_TIMEOUT_S = 5.0
"""How long a tracking server may take to answer ``/health`` before it counts as unreachable."""


def check_tracking_reachable(tracking: TrackingConfig) -> None:
    """RegistryError in seconds (not after MLflow's minutes of retries) when an HTTP tracking server does not answer."""
    uri = resolved_tracking_uri(tracking.tracking_uri)
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=HEALTH_TIMEOUT_S):
            pass
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise RegistryError(f"the tracking server {uri} is unreachable ({reason})") from None


def fetch_checked_model(model_uri: str, tracking: TrackingConfig, destination: str | None = None) -> Path:
    """Download ``model_uri`` (``models:/NAME@alias``, ``models:/NAME/3``, ``runs:/...``) and return
    the local directory once it passes ``verify_model_directory``.

    RegistryError (one line) for an unknown model, version or alias, an unreachable tracking
    server, or a refused file (named, with the reason)."""
    check_tracking_reachable(tracking)
    try:
        with fluent_tracking(tracking):
            local = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=destination))
    except MlflowException as error:
        first_line = str(error.message).strip().splitlines()[0] if str(error.message).strip() else type(error).__name__
        raise RegistryError(f"model {model_uri} could not be fetched: {first_line}") from None
    try:
        verify_model_directory(local)
    except UnsafeArtifactError as error:
        raise RegistryError(f"model {model_uri} refused: {error.details}") from None
    return local


@contextlib.contextmanager
def load_checked_model(
    model_uri: str, tracking: TrackingConfig, model_config: dict[str, Any] | None = None
) -> Iterator[mlflow.pyfunc.PyFuncModel]:
    """The pyfunc of ``model_uri``, loaded from a checked download that is removed on exit;
    ``model_config`` overrides the registered one's keys (device, precision, ...)."""
    with tempfile.TemporaryDirectory(prefix="mmsr-model-") as workdir:
        yield mlflow.pyfunc.load_model(str(fetch_checked_model(model_uri, tracking, workdir)), model_config=model_config)

"""Small, explicit-client helpers around MLflow runs (no fluent global state)."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import mlflow
import mlflow.data.dataset
from filelock import FileLock
from mlflow.entities import DatasetInput, InputTag, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from featurestore.workdir_move import WorkdirMovedError, local_path
from trainers.tracking.mlflow_relocation import MlflowStoreLocation, recorded_move
from trainers.tracking.tracking_config import TrackingConfig

_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")
"""A URL's scheme (two characters or more, so a Windows drive letter is a path)."""


def artifact_uri(location: str | None) -> str | None:
    """A local path becomes an absolute file URI; URLs (any ``scheme:``) and None pass through."""
    if location is None or _URL_SCHEME.match(location):
        return location
    return Path(location).resolve().as_uri()


def resolved_tracking_uri(uri: str) -> str:
    """A relative ``sqlite:///path`` made absolute, so other processes (Ray workers, servers
    started elsewhere) reach the same database; other URIs pass through."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix):].startswith("/"):
        return prefix + str(Path(uri[len(prefix):]).resolve())
    return uri


def store_location(tracking: TrackingConfig) -> MlflowStoreLocation | None:
    """Where a ``sqlite:///`` store with a local artifact root lives; None for other stores."""
    uri = resolved_tracking_uri(tracking.tracking_uri)
    root = local_path(artifact_uri(tracking.artifact_location) or "")
    if not uri.startswith("sqlite:///") or root is None:
        return None
    return MlflowStoreLocation(database=Path(uri[len("sqlite:///"):]), experiment=tracking.experiment, artifact_root=root)


def tracking_client(tracking: TrackingConfig) -> MlflowClient:
    """A client on the configured store; a ``sqlite:///`` store is created first if new.

    WorkdirMovedError when a SQLite store records its artifacts at the place it was copied from."""
    uri = resolved_tracking_uri(tracking.tracking_uri)
    if not uri.startswith("sqlite:///"):
        return MlflowClient(tracking_uri=uri)
    store = store_location(tracking)
    move = recorded_move(store) if store is not None else None
    if move is not None:
        raise WorkdirMovedError("MLflow store", move)
    database = Path(uri[len("sqlite:///"):])
    database.parent.mkdir(parents=True, exist_ok=True)
    # MLflow creates and migrates a SQLite store's tables in the first process that opens it (the
    # client opens it at once); two processes doing that on a new file collide ("table ... already
    # exists", alembic's "expected to match one row"). A lock file beside the database serialises
    # the opening; later opens find the tables and pass straight through.
    with FileLock(f"{database}.lock"):
        client = MlflowClient(tracking_uri=uri)
        client.search_registered_models(max_results=1)  # the registry's store opens the same file
    return client


def experiment_id(client: MlflowClient, tracking: TrackingConfig) -> str:
    """The configured experiment's id, created (with the configured artifact root) if absent; when
    another process creates it first, that one is used."""
    found = client.get_experiment_by_name(tracking.experiment)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(tracking.experiment, artifact_location=artifact_uri(tracking.artifact_location))
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return client.get_experiment_by_name(tracking.experiment).experiment_id


def flat_params(section: str, config: object) -> dict[str, str]:
    """A dataclass config as MLflow params named ``<section>.<field>``."""
    return {f"{section}.{key}": str(value) for key, value in dataclasses.asdict(config).items()}  # type: ignore[call-overload]


def create_run(client: MlflowClient, experiment: str, run_name: str | None, params: dict[str, str]) -> str:
    run = client.create_run(experiment, run_name=run_name)
    client.log_batch(
        run.info.run_id, params=[Param(k, v[:6000]) for k, v in sorted(params.items())]
    )
    return run.info.run_id


def log_dataset_input(client: MlflowClient, run_id: str, dataset: mlflow.data.dataset.Dataset, context: str) -> None:
    """Record ``dataset`` as the run's input with the standard ``mlflow.data.context`` tag."""
    tag = InputTag(key="mlflow.data.context", value=context)
    client.log_inputs(run_id, datasets=[DatasetInput(dataset=dataset._to_mlflow_entity(), tags=[tag])])


@contextlib.contextmanager
def fluent_tracking(tracking: TrackingConfig) -> Iterator[None]:
    """MLflow's fluent API (log_model, load_model of ``models:/``) reads a process-wide URI:
    set it to the configured store only for the enclosed calls, then put back exactly what was
    there before (nothing, if nothing was set: restoring the resolved default would pin it)."""
    previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(tracking_client(tracking).tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)

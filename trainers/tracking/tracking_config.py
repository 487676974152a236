"""Where MLflow tracks runs and registers models."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrackingConfig:
    tracking_uri: str = "sqlite:///mmsr-runs/mlflow.db"
    """MLflow tracking/registry URI: ``sqlite:///path``, ``http://host:port`` or ``databricks``."""
    artifact_location: str | None = "mmsr-runs/mlartifacts"
    """Artifact root for a new experiment (local path or a URL MLflow understands: ``gs://...``,
    ``mlflow-artifacts:/...``); None lets the tracking server choose (its ``--default-artifact-root``,
    proxied through the server with ``--serve-artifacts``)."""
    experiment: str = "mmsr"
    registered_model: str = "mmsr-sr"
    champion_alias: str = "champion"

    def __post_init__(self) -> None:
        for name in ("tracking_uri", "experiment", "registered_model", "champion_alias"):
            if not getattr(self, name):
                raise ValueError(f"tracking.{name} must not be empty")

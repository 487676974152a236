"""Rank 0's MLflow metrics for a Ray Train loop that may be restarted from a checkpoint."""

from __future__ import annotations

import time
from dataclasses import dataclass

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient


@dataclass
class MetricLog:
    """Logs per-step metrics to one MLflow run; a step already in the run's ``loss`` history is
    never logged again, so a run resumed from an older checkpoint counts no step twice."""

    client: MlflowClient
    run_id: str
    logged_until: int
    """Highest step whose metrics are in the run."""

    @classmethod
    def open(cls, tracking_uri: str, run_id: str, restored_step: int = 0) -> MetricLog:
        """Read the run's ``loss`` history; record ``restored_step`` (if any) as ``restored_step``."""
        client = MlflowClient(tracking_uri=tracking_uri)
        history = client.get_metric_history(run_id, "loss")
        if restored_step:
            client.log_metric(run_id, "restored_step", restored_step, step=restored_step)
        return cls(client, run_id, max((point.step for point in history), default=0))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        if step <= self.logged_until:
            return
        stamp = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), stamp, step) for k, v in metrics.items()])
        self.logged_until = step

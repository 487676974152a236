"""Fitting a TorchTrainer as one MLflow run: FINISHED with the numeric metrics, or FAILED and re-raised."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from trainers.harness.torch_trainer import fit_tracked

pytestmark = pytest.mark.integration  # ~5.2 s in all, measured on 2 loaded cores


@dataclass
class FakeResult:
    checkpoint: object | None
    metrics: dict[str, Any]


@dataclass
class FakeTrainer:
    """Stands in for TorchTrainer: only ``fit`` is called."""

    result: FakeResult | None = None
    error: Exception | None = None

    def fit(self) -> FakeResult:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


@pytest.fixture
def client_and_run(tmp_path: Path) -> tuple[MlflowClient, str]:
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("t", artifact_location=(tmp_path / "artifacts").as_uri())
    return client, client.create_run(experiment).info.run_id


def _status(client: MlflowClient, run_id: str) -> str:
    return client.get_run(run_id).info.status


def test_a_fit_that_ends_with_a_checkpoint_finishes_the_run(client_and_run: tuple[MlflowClient, str]) -> None:
    client, run_id = client_and_run
    finished: list[FakeResult] = []
    trainer = FakeTrainer(FakeResult(checkpoint="ckpt", metrics={"step": 6, "loss": 0.5, "note": "text"}))
    result, metrics = fit_tracked(trainer, client, run_id, finish=finished.append)  # type: ignore[arg-type]
    assert finished == [result] and metrics == {"step": 6.0, "loss": 0.5}
    assert _status(client, run_id) == "FINISHED"


@pytest.mark.parametrize(
    ("trainer", "finish_error", "message"),
    [
        (FakeTrainer(error=RuntimeError("worker died")), None, "worker died"),
        (FakeTrainer(FakeResult(checkpoint=None, metrics={})), None, "without a checkpoint"),
        (FakeTrainer(FakeResult(checkpoint="ckpt", metrics={})), OSError("disk full"), "disk full"),
    ],
)
def test_a_failed_fit_or_finish_fails_the_run_and_raises(
    client_and_run: tuple[MlflowClient, str], trainer: FakeTrainer, finish_error: Exception | None, message: str
) -> None:
    client, run_id = client_and_run

    def finish(_: object) -> None:
        if finish_error is not None:
            raise finish_error

    with pytest.raises(Exception, match=message):
        fit_tracked(trainer, client, run_id, finish=finish)  # type: ignore[arg-type]
    assert _status(client, run_id) == "FAILED"

"""``mmsr evaluate --sweep``: one evaluation per setting of the sweep, and one table of them all.

MLflow: a parent run (``evaluate-sweep``; params ``model_uri`` and ``sweep``, the flags) holds one
child run per setting (``mlflow.parentRunId``), each the run ``evaluate_model`` logs for that
setting (its params carry the setting, its ``eval.sweep_setting`` tag the label). The table of
every setting (``orchestration.evaluation.sweep_table``) is the parent's artifact
``sweep_table.csv`` and, given ``output_dir``, a file there too. A setting that fails fails the
parent run (FAILED) and stops the sweep. Sweep runs are not recorded on the model version:
promotion reuses only evaluations at the ``serve.*`` defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pandas as pd
from tqdm import tqdm

from featurestore.config import FeatureStoreConfig
from orchestration.evaluation.evaluate import evaluate_model
from orchestration.evaluation.evaluation_sweep import setting_label, sweep_settings
from orchestration.evaluation.quality_metrics_config import QualityMetricsConfig
from orchestration.evaluation.sweep_table import SWEEP_TABLE_FILE, SweepRow, sweep_table, write_sweep_table
from orchestration.serving.serve_config import ServeConfig
from trainers.tracking.mlflow_runs import create_run, experiment_id, tracking_client
from trainers.tracking.tracking_config import TrackingConfig

PARENT_RUN_NAME = "evaluate-sweep"


@dataclass(frozen=True)
class SweepTarget:
    """What every setting is evaluated on."""

    model_uri: str
    store: FeatureStoreConfig
    snapshot: str | None = None
    limit: int | None = None


@dataclass(frozen=True)
class SweepEvaluation:
    parent_run_id: str
    rows: tuple[SweepRow, ...]
    table: pd.DataFrame
    """``sweep_table`` of ``rows``."""
    table_path: Path | None
    """Where the table was written (``output_dir``), or None."""


def evaluate_sweep(
    target: SweepTarget,
    flags: Sequence[str],
    tracking: TrackingConfig,
    serve: ServeConfig,
    quality: QualityMetricsConfig,
    output_dir: Path | None = None,
    progress: TextIO | None = None,
) -> SweepEvaluation:
    """Evaluate ``target`` at every setting of ``flags`` (``--sweep`` values; ValueError before
    anything runs if one is bad), each on top of ``serve.sampling``; see the module docstring."""
    settings = sweep_settings(flags, serve.sampling)
    client = tracking_client(tracking)
    params = {"model_uri": target.model_uri, "sweep": " ".join(flags), "settings": str(len(settings))}
    parent = create_run(client, experiment_id(client, tracking), PARENT_RUN_NAME, params)
    rows: list[SweepRow] = []
    try:
        for setting, sampling in tqdm(settings, desc="evaluate --sweep", unit="setting", file=progress):
            result = evaluate_model(
                target.model_uri, target.store, tracking, serve, target.snapshot, target.limit,
                quality=quality, sampling=sampling, sweep_setting=setting_label(setting),
            )
            client.set_tag(result.mlflow_run_id, "mlflow.parentRunId", parent)
            rows.append(SweepRow({k: str(v) for k, v in setting.items()}, result.metrics, result.mlflow_run_id))
        table = sweep_table(rows)
        client.log_text(parent, table.to_csv(index=False), SWEEP_TABLE_FILE)
    except BaseException:
        client.set_terminated(parent, "FAILED")
        raise
    client.set_terminated(parent, "FINISHED")
    path = write_sweep_table(table, output_dir) if output_dir is not None else None
    return SweepEvaluation(parent, tuple(rows), table, path)

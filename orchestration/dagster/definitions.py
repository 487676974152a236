"""Dagster code location of mmsr: scheduled and image-triggered retraining.

``dagster dev`` from the repository root loads :data:`defs` (``[tool.dagster]`` in
pyproject.toml). This module is an entry point, so it is where two environment variables are
read: ``MMSR_CONFIG`` (an mmsr YAML config; unset = the embedded quickstart defaults under
``./mmsr-runs``) and ``MMSR_RETRAIN_CRON`` (default :data:`DEFAULT_CRON`). The schedule and the
sensor start switched off; turn them on in the UI (or ``dagster schedule start`` /
``dagster sensor start``).
"""

from __future__ import annotations

import os

import dagster as dg

from orchestration.dagster.assets import GROUP, RETRAINING_ASSETS
from orchestration.dagster.resource import MmsrConfigResource
from orchestration.dagster.sensor import (
    DEFAULT_SENSOR_INTERVAL_S,
    build_new_images_sensor,
)

JOB_NAME = "mmsr_retraining"
SCHEDULE_NAME = "mmsr_retraining_schedule"
DEFAULT_CRON = "0 3 * * 1"
"""Mondays at 03:00 UTC."""


def build_definitions(
    mmsr: MmsrConfigResource | None = None,
    cron: str = DEFAULT_CRON,
    sensor_interval_s: int = DEFAULT_SENSOR_INTERVAL_S,
) -> dg.Definitions:
    """The four retraining assets, one job over them, a cron schedule and the new-images sensor.

    The job runs its steps in one process, one after another (each stage already parallelises
    inside: Beam, Ray Train), so a run pays the heavy imports once.
    """
    job = dg.define_asset_job(
        JOB_NAME,
        selection=dg.AssetSelection.groups(GROUP),
        executor_def=dg.in_process_executor,
        description="new snapshot -> train -> evaluate -> promote",
    )
    schedule = dg.ScheduleDefinition(
        name=SCHEDULE_NAME, job=job, cron_schedule=cron, execution_timezone="UTC",
        description=f"Retrain on the current HR images ({cron}, UTC).",
    )
    return dg.Definitions(
        assets=list(RETRAINING_ASSETS),
        jobs=[job],
        schedules=[schedule],
        sensors=[build_new_images_sensor(JOB_NAME, sensor_interval_s)],
        resources={"mmsr": mmsr if mmsr is not None else MmsrConfigResource()},
    )


defs = build_definitions(
    MmsrConfigResource(config_path=os.environ.get("MMSR_CONFIG") or None),
    cron=os.environ.get("MMSR_RETRAIN_CRON") or DEFAULT_CRON,
)

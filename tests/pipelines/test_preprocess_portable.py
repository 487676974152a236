"""The job through Beam's portable job API, on SDK workers that have the project only from its sdist.

The path every cluster runner takes (:mod:`tests.services.beam_portable`): ``mmsr preprocess`` runs
as a user runs it, from a folder outside the checkout, with ``runner.runner: PortableRunner``; the
job service hands the work to a worker pool whose environment got the project from the sdist that
``python -m build --sdist`` makes of this checkout. A module the sdist left out, a path relative to
the driver's working directory or state that only lives in the driver fails here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from featurestore.readers import read_arrow
from featurestore.validation import validate_snapshot
from pipelines.demo_photos import DemoPhotos
from pipelines.image_decoding import content_sha256
from pipelines.runner_options import RunnerConfig
from pipelines.sample_identity import content_hash, sample_id_for
from tests.pipelines.conftest import FEW_PHOTOS, TinyModels, copy_photos, small_job
from tests.pipelines.test_concurrent_runs import config_file
from tests.services.beam_portable import (
    build_sdist,
    running_job_service,
    running_worker_pool,
    worker_env,
    worker_environment,
)

pytestmark = [pytest.mark.slow(minutes=2), pytest.mark.services]  # builds the sdist and starts the portable runner: ~50 s


def test_preprocess_on_the_portable_runner_with_workers_installed_from_the_sdist(
    tiny_models: TinyModels, demo_photos: DemoPhotos, tmp_path: Path
) -> None:
    sdist = build_sdist(tmp_path / "dist")
    python = worker_environment(sdist, tmp_path)
    where = subprocess.run(
        [str(python), "-c", "import pipelines, featurestore, trainers; print(pipelines.__file__)"],
        cwd=tmp_path, env=worker_env(python), capture_output=True, text=True, check=True,
    ).stdout
    assert where.startswith(str(python.parents[1])), f"workers would import the project from {where}"

    photos = copy_photos(demo_photos, tmp_path / "hr")
    job = small_job(tiny_models, demo_photos, str(tmp_path / "hr"), tmp_path / "store")
    with running_job_service(tmp_path) as job_endpoint, running_worker_pool(python, tmp_path) as pool:
        runner = RunnerConfig(
            runner="PortableRunner",
            options=(f"--job_endpoint={job_endpoint}", "--environment_type=EXTERNAL", f"--environment_config={pool}"),
            extra_packages=(str(sdist),),
        )
        job = job.with_(runner=runner)
        config = config_file(job, tmp_path / "mmsr.yaml")
        run = subprocess.run(
            [sys.executable, "-m", "orchestration.cli", "preprocess", "--config", str(config)],
            cwd=tmp_path / "hr", capture_output=True, text=True, timeout=600,
        )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    assert f"{len(FEW_PHOTOS)} inputs = {len(FEW_PHOTOS)} accepted + 0 rejected" in run.stdout, run.stdout
    log = (tmp_path / "worker-pool.log").read_text(errors="replace")
    assert "worker_id" in log, f"no SDK worker was started by the pool:\n{log[-2000:]}"

    chash = content_hash(job.preprocess)
    expected = {sample_id_for(content_sha256(Path(photo).read_bytes()), chash, 0) for photo in photos}
    table = read_arrow(job.store, columns=["sample_id"])
    assert sorted(table["sample_id"].to_pylist()) == sorted(expected)  # the ids an embedded run gives
    report = validate_snapshot(job.store, spot_check_rows=2)
    assert report.ok and report.rows == len(FEW_PHOTOS), report

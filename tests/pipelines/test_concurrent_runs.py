"""Two real ``mmsr preprocess`` processes at once, overlapping inputs, one store: each sample id once.

Each process runs the CLI's ``main`` unchanged; the only test hook holds each one's commit until
both have planned and staged (a file per process in a barrier folder), so both plan against the
same (empty) table and race for the commit, every time.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from featurestore.readers import read_arrow
from featurestore.validation import validate_snapshot
from pipelines.demo_photos import DemoPhotos
from tests.pipelines.conftest import FEW_PHOTOS, SmallJob, TinyModels, copy_photos, small_job

pytestmark = pytest.mark.integration  # ~29 s in all, measured on 2 loaded cores

REPO = Path(__file__).resolve().parents[2]
CROPS = 2

_RUN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pipelines import preprocess_job

    barrier, me, argv = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    commit_run = preprocess_job.commit_run

    def commit_once_both_planned(*args, **kwargs):
        (barrier / me).touch()
        deadline = time.monotonic() + 300
        while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        return commit_run(*args, **kwargs)

    preprocess_job.commit_run = commit_once_both_planned
    from orchestration.cli.main import main
    sys.exit(main(argv))
    """
)


def config_file(job: SmallJob, path: Path) -> Path:
    """``job`` as an ``mmsr`` YAML config file at ``path``."""
    sections = {"preprocess": dataclasses.asdict(job.preprocess), "featurestore": dataclasses.asdict(job.store)}
    path.write_text(yaml.safe_dump(json.loads(json.dumps(sections))))
    return path


def start_racing_run(
    config: Path, input_spec: str, barrier: Path, name: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """``mmsr preprocess --config config --input input_spec`` in a new process whose commit waits
    until two processes have staged (a file each in ``barrier``); ``env`` adds to this environment."""
    command = [sys.executable, "-c", _RUN, str(barrier), name, "preprocess", "--config", str(config), "--input", input_spec]
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_preprocess_processes_at_once_commit_each_sample_id_once(
    tiny_models: TinyModels, demo_photos: DemoPhotos, tmp_path: Path
) -> None:
    first, second = FEW_PHOTOS[:3], FEW_PHOTOS[1:]  # two photos in common
    copy_photos(demo_photos, tmp_path / "a", first)
    copy_photos(demo_photos, tmp_path / "b", second)
    job = small_job(tiny_models, demo_photos, str(tmp_path / "a"), tmp_path / "store").with_(crops_per_image=CROPS)
    config = config_file(job, tmp_path / "mmsr.yaml")
    (tmp_path / "barrier").mkdir()
    runs = [start_racing_run(config, str(tmp_path / name), tmp_path / "barrier", name) for name in ("a", "b")]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n".join(outputs)
    assert sorted(path.name for path in (tmp_path / "barrier").iterdir()) == ["a", "b"]  # both raced

    ids = read_arrow(job.store, columns=["sample_id"])["sample_id"].to_pylist()
    assert len(ids) == len(set(ids)) == len(FEW_PHOTOS) * CROPS  # 8 distinct samples, each once
    summaries = [next(line for line in out.splitlines() if line.startswith("preprocess run")) for out in outputs]
    assert sum("6 added" in line for line in summaries) == 1, summaries
    assert sum("2 added" in line and "4 already present" in line for line in summaries) == 1, summaries
    report = validate_snapshot(job.store, spot_check_rows=0)
    assert report.ok and report.rows == len(FEW_PHOTOS) * CROPS

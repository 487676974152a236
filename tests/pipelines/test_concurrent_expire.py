"""``mmsr features expire`` (grace 0, retain 0, in a tight loop) racing three ``mmsr preprocess``
runs and a replacement run on one store: nothing any run reported is lost.

Each process runs the CLI's ``main`` unchanged. The only test hook holds every commit window open
(a file moved or written into a table's data location waits 0.4 s before its snapshot is
committed), as a slow object store would; before leases were honoured, expire deleted such files
and the runs either crashed or reported snapshots whose files were gone.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from featurestore.catalog import open_catalog
from featurestore.readers import read_arrow
from featurestore.validation import validate_snapshot
from pipelines.demo_photos import DemoPhotos
from pipelines.preprocess_job import run_preprocess
from tests.pipelines.conftest import TinyModels, copy_photos, small_job
from tests.pipelines.test_concurrent_runs import config_file

pytestmark = pytest.mark.integration  # ~118 s in all, measured on 2 loaded cores

REPO = Path(__file__).resolve().parents[2]
CROPS = 2
REPLACED = ("astronaut.png", "chelsea.png")
NEW_INPUTS = (  # overlapping inputs, none of them in REPLACED
    ("coffee.png", "flower.jpg", "hubble_deep_field.jpg"),
    ("flower.jpg", "hubble_deep_field.jpg", "motorcycle_left.png"),
    ("motorcycle_left.png", "rocket.jpg", "china.jpg"),
)

_SLOW_COMMIT = textwrap.dedent(
    """
    import sys, time
    import featurestore.commit as commit
    import featurestore.row_replacement as row_replacement

    move, write = commit._move, row_replacement._write

    def slow_move(source, destination):
        move(source, destination)
        if "/_staging/" not in destination:
            time.sleep(0.4)  # in the table's data location, not committed yet

    def slow_write(table, rows, url):
        found = write(table, rows, url)
        time.sleep(0.4)
        return found

    commit._move, row_replacement._write = slow_move, slow_write
    from orchestration.cli.main import main
    sys.exit(main(sys.argv[1:]))
    """
)

_EXPIRE_LOOP = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from orchestration.cli.main import main

    stop, argv, failures, rounds = Path(sys.argv[1]), sys.argv[2:], 0, 0
    while not stop.exists():
        failures += main(argv) != 0
        rounds += 1
    print(f"expire rounds={rounds} failures={failures}")
    """
)


def _start(script: str, *argv: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", script, *argv]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _summary(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("preprocess run"))


def _reported(output: str) -> tuple[int, int]:
    """(rows added, snapshot id) from a run's summary line."""
    line = _summary(output)
    return int(line.split("rows: ", 1)[1].split(" added", 1)[0]), int(line.rsplit("snapshot ", 1)[1])


def test_expire_in_a_tight_loop_never_loses_what_a_run_committed(
    tiny_models: TinyModels, demo_photos: DemoPhotos, tmp_path: Path
) -> None:
    copy_photos(demo_photos, tmp_path / "replaced", REPLACED)
    job = small_job(tiny_models, demo_photos, str(tmp_path / "replaced"), tmp_path / "store").with_(
        crops_per_image=CROPS
    )
    run_preprocess(job.preprocess, job.store)  # rows the replacement run will rewrite
    config = config_file(job, tmp_path / "mmsr.yaml")
    edges = dataclasses.replace(job.preprocess.modalities, canny_low=10, canny_high=30)
    replace_config = config_file(job.with_(modalities=edges), tmp_path / "replace.yaml")
    stop = tmp_path / "stop"
    expire = _start(
        _EXPIRE_LOOP, str(stop), "features", "expire", "--older-than-days", "0", "--retain-last", "0",
        "--orphan-grace-hours", "0", "--force", "--config", str(config),
    )
    runs = []
    for index, names in enumerate(NEW_INPUTS):
        copy_photos(demo_photos, tmp_path / f"in{index}", names)
        runs.append(_start(_SLOW_COMMIT, "preprocess", "--config", str(config), "--input", str(tmp_path / f"in{index}")))
    runs.append(_start(_SLOW_COMMIT, "preprocess", "--config", str(replace_config)))
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    stop.touch()
    expire_output = expire.communicate(timeout=120)[0]

    assert [run.returncode for run in runs] == [0] * len(runs), "\n".join(outputs)
    problems = [line for line in expire_output.splitlines() if not line.startswith("expired ")]
    assert expire.returncode == 0 and "failures=0" in expire_output, "\n".join(problems)[-3000:]
    assert int(expire_output.rsplit("rounds=", 1)[1].split()[0]) >= 5  # it really looped through the commits
    table = open_catalog(job.store).load_table(job.store.samples_identifier)
    reported = [_reported(output) for output in outputs]
    new_photos = {name for names in NEW_INPUTS for name in names}
    assert sum(added for added, _ in reported) == len(new_photos) * CROPS, [_summary(out) for out in outputs]
    for snapshot_id in {snapshot_id for _, snapshot_id in reported}:
        if table.metadata.snapshot_by_id(snapshot_id) is not None:  # not expired since: every row readable
            assert read_arrow(job.store, snapshot_id).num_rows > 0
    rows = read_arrow(job.store, columns=["sample_id", "source_uri", "extractors"])
    photos = new_photos | set(REPLACED)
    assert rows.num_rows == len(set(rows["sample_id"].to_pylist())) == len(photos) * CROPS  # each id once
    assert {Path(uri).name for uri in rows["source_uri"].to_pylist()} == photos
    replaced = [text for uri, text in zip(rows["source_uri"].to_pylist(), rows["extractors"].to_pylist())
                if Path(uri).name in REPLACED]
    assert len(replaced) == len(REPLACED) * CROPS and all(":10,30" in text for text in replaced)
    report = validate_snapshot(job.store, spot_check_rows=0)
    assert report.ok and not report.issues, report.issues  # no missing file, no duplicate, no orphan left

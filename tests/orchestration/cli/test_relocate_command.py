"""A quickstart-like workdir copied elsewhere: refused until ``mmsr relocate``, then every command
works from the copy with the original deleted (``features ls``, ``features validate``, ``evaluate``,
``serve`` answering one prediction over HTTP)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

from featurestore.catalog import ensure_tables, open_catalog
from featurestore.mlflow_dataset import snapshot_dataset
from featurestore.readers import current_snapshot_id
from orchestration.cli.relocate_command import configured_root
from orchestration.config_loading import parse_config
from orchestration.mmsr_config import MmsrConfig
from orchestration.registry.model_registry import register_pipeline
from orchestration.serving.serve_config import ServeConfig
from pipelines.feature_rows import encode_png
from tests.orchestration.conftest import make_eval_store
from tests.orchestration.serving.test_server import _free_port, _post
from tests.services.processes import stop_process_group
from trainers.models.sampling_options import SamplingOptions
from trainers.tracking.mlflow_runs import create_run, experiment_id, log_dataset_input, tracking_client
from trainers.tracking.tracking_config import TrackingConfig

pytestmark = pytest.mark.integration  # ~83 s in all, measured on 2 loaded cores

CONFIG = {  # the workdir's paths relative to the directory the commands run in, as the quickstart's
    "featurestore": {"catalog_uri": "sqlite:///runs/featurestore/catalog.db", "warehouse": "runs/featurestore/warehouse"},
    "tracking": {"tracking_uri": "sqlite:///runs/mlflow.db", "artifact_location": "runs/mlartifacts"},
    "serve": {"sampling": {"steps": 2}},
}


def _build_workdir(parent: Path, pipeline_dir: Path) -> None:
    """``parent/runs``: a feature store with one snapshot, a run with that snapshot as input and a
    registered champion, laid out as the quickstart lays out ``mmsr-runs``."""
    runs = parent / "runs"
    store = make_eval_store(runs / "featurestore")
    tracking = TrackingConfig(tracking_uri=f"sqlite:///{runs}/mlflow.db", artifact_location=str(runs / "mlartifacts"))
    client = tracking_client(tracking)
    run_id = create_run(client, experiment_id(client, tracking), "train", {"source": "test"})
    snapshot = current_snapshot_id(store)
    assert snapshot is not None
    log_dataset_input(client, run_id, snapshot_dataset(store, snapshot), "training")
    register_pipeline(tracking, ServeConfig(sampling=SamplingOptions(steps=2)), run_id, str(pipeline_dir), {}, alias="champion")
    (parent / "mmsr.yaml").write_text(yaml.safe_dump(CONFIG))


def _mmsr(cwd: Path, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", *argv, "--config", "mmsr.yaml"],
        cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )


def _serve_one_prediction(cwd: Path) -> dict:
    port = _free_port()
    command = [sys.executable, "-m", "orchestration.cli", "serve", "--config", "mmsr.yaml", "--port", str(port)]
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, f"server exited: {process.stderr.read()[-3000:]}"
            assert time.monotonic() < deadline, "server did not answer /ping within 120 s"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except OSError:
                time.sleep(1)
        lr = encode_png(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8))
        body = {"dataframe_records": [{"image": base64.b64encode(lr).decode()}], "params": {"steps": 2, "seed": 1}}
        status, answer = _post(port, json.dumps(body).encode())
        assert status == 200, answer
        return answer
    finally:
        stop_process_group(process)


def _one_line_refusal(result: subprocess.CompletedProcess[str], original: Path) -> None:
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert lines[0].startswith("mmsr: error: this workdir was moved from ") and str(original) in lines[0]
    assert "mmsr relocate" in lines[0]


@pytest.mark.slow(minutes=2, minutes_each=2)
def test_copied_workdir_is_refused_then_relocated_and_works_without_the_original(
    tmp_path: Path, tiny_pipeline_dir: Path
) -> None:
    original, copy = tmp_path / "original", tmp_path / "elsewhere" / "copy"
    _build_workdir(original, tiny_pipeline_dir)
    shutil.copytree(original, copy)
    # With the original still there, the copy must not read it: every command refuses in one line.
    for argv in (["features", "ls"], ["features", "validate"], ["evaluate", "--model", "models:/mmsr-sr@champion"]):
        _one_line_refusal(_mmsr(copy, *argv), original)

    relocated = _mmsr(copy, "relocate")
    assert relocated.returncode == 0, relocated.stderr[-3000:]
    assert "feature store: 2 table(s)" in relocated.stdout and "MLflow store:" in relocated.stdout
    again = _mmsr(copy, "relocate")
    assert again.returncode == 0 and again.stdout.count("nothing to rewrite") == 2, again.stdout
    for database in ("runs/featurestore/catalog.db", "runs/mlflow.db"):
        assert str(original).encode() not in (copy / database).read_bytes(), f"{database} still names the original"
    shutil.rmtree(original)

    listed = _mmsr(copy, "features", "ls")
    assert listed.returncode == 0 and " *" in listed.stdout, listed.stdout + listed.stderr[-3000:]
    validated = _mmsr(copy, "features", "validate")
    assert validated.returncode == 0 and ": OK" in validated.stdout, validated.stdout + validated.stderr[-3000:]
    evaluated = _mmsr(copy, "evaluate", "--model", "models:/mmsr-sr@champion", "--limit", "1")
    assert evaluated.returncode == 0 and "evaluated models:/mmsr-sr@champion" in evaluated.stdout, evaluated.stderr[-3000:]
    answer = _serve_one_prediction(copy)
    assert base64.b64decode(answer["predictions"][0]["image"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not original.exists()


@pytest.mark.parametrize("argv", [["features", "ls"], ["relocate"]])
def test_a_workdir_in_place_is_not_refused(tmp_path: Path, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mmsr.yaml").write_text(yaml.safe_dump(CONFIG))
    monkeypatch.chdir(tmp_path)  # the config's paths are relative to where the commands run
    store = parse_config(MmsrConfig, CONFIG).featurestore
    ensure_tables(open_catalog(store), store)  # an empty store where the config says (read-only commands need one)
    result = _mmsr(tmp_path, *argv)
    assert result.returncode == 0, result.stderr[-3000:]


def test_configured_root_is_the_common_directory_of_the_local_stores(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    config = parse_config(MmsrConfig, {
        "featurestore": {"catalog_uri": f"sqlite:///{runs}/featurestore/catalog.db", "warehouse": str(runs / "featurestore/wh")},
        "tracking": {"tracking_uri": f"sqlite:///{runs}/mlflow.db", "artifact_location": str(runs / "mlartifacts")},
    })
    assert configured_root(config) == str(runs)


def test_relocate_from_an_explicit_old_root(tmp_path: Path) -> None:
    original, copy = tmp_path / "original", tmp_path / "copy"
    make_eval_store(original / "runs" / "featurestore")
    shutil.copytree(original, copy)
    (copy / "mmsr.yaml").write_text(yaml.safe_dump(CONFIG))
    result = _mmsr(copy, "relocate", "--from", str(original / "runs"))
    assert result.returncode == 0 and "feature store: 2 table(s)" in result.stdout, result.stderr[-3000:]
    shutil.rmtree(original)
    assert _mmsr(copy, "features", "validate").returncode == 0
    inside = _mmsr(copy, "relocate", "--from", str(copy))  # the configured root lies inside it
    assert inside.returncode == 2 and inside.stderr.startswith("mmsr: error: --from: cannot relocate"), inside.stderr

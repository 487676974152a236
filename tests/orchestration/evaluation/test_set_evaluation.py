"""``mmsr evaluate --pairs LR HR`` and ``--hr HR`` on tiny sets, end to end through the CLI."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from orchestration.cli.main import main
from orchestration.evaluation.benchmark_set import SetImage
from orchestration.evaluation.set_evaluation import grid_row
from orchestration.registry.model_registry import RegisteredVersion
from pipelines.demo_photos import DEMO_PHOTOS
from pipelines.feature_rows import encode_png
from pipelines.image_decoding import decode_image
from tests.orchestration.cli.test_cli_errors import terminal_lines
from trainers.tracking.mlflow_runs import tracking_client
from trainers.tracking.tracking_config import TrackingConfig

pytestmark = pytest.mark.integration  # ~14 s in all, measured on 2 loaded cores

LR_SIZES = ((97, 75), (40, 32), (40, 32))
"""(width, height) of each LR: one not a multiple of 8, two of one size (batched together)."""


def _flags(tracking: TrackingConfig, registered: RegisteredVersion, *extra: str) -> list[str]:
    settings = [
        f"tracking.tracking_uri={tracking.tracking_uri}", f"tracking.registered_model={registered.name}",
        "serve.sampling.steps=1", "evaluate.metrics=[]", *extra,
    ]
    return [arg for setting in settings for arg in ("--set", setting)]


def _write_pairs(root: Path) -> tuple[Path, Path]:
    """3 photo crops: HR as ``<n>.png``, LR (x4, area) as ``<n>x4.png`` in another folder."""
    lr_dir, hr_dir = root / "LR", root / "HR"
    lr_dir.mkdir(parents=True)
    hr_dir.mkdir(parents=True)
    for index, (photo, (width, height)) in enumerate(zip(DEMO_PHOTOS, LR_SIZES)):
        hr = np.ascontiguousarray(decode_image(photo.read())[: height * 4, : width * 4])
        lr = cv2.resize(hr, (width, height), interpolation=cv2.INTER_AREA)
        (hr_dir / f"{index:04d}.png").write_bytes(encode_png(hr))
        (lr_dir / f"{index:04d}x4.png").write_bytes(encode_png(lr))
    return lr_dir, hr_dir


def test_pairs_scores_every_pair_writes_srs_and_metrics_csv_and_logs_the_set(
    tracking: TrackingConfig, registered: RegisteredVersion, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lr_dir, hr_dir = _write_pairs(tmp_path / "set")
    out = tmp_path / "out"
    args = ["evaluate", "--model", registered.model_uri, "--pairs", str(lr_dir), str(hr_dir), "--output-dir", str(out)]
    assert main([*args, *_flags(tracking, registered)]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["0000x4.png", "0001x4.png", "0002x4.png"]
    assert decode_image((out / "0000x4.png").read_bytes()).shape == (300, 388, 3)
    table = pd.read_csv(out / "metrics.csv")
    assert list(table["name"]) == ["0000x4", "0001x4", "0002x4"]
    assert {"psnr", "ssim", "bicubic_psnr", "bicubic_ssim"} <= set(table.columns)
    assert table[["psnr", "ssim", "bicubic_psnr"]].notna().all().all() and (table["bicubic_psnr"] > 15).all()
    assert "on HR (3 images" in capsys.readouterr().out
    client = tracking_client(tracking)
    runs = client.search_runs(
        [client.get_experiment_by_name(tracking.experiment).experiment_id], filter_string="tags.`eval.set.name` = 'HR'"
    )
    assert len(runs) == 1
    run = runs[0]
    assert run.data.params["eval.set.kind"] == "pairs" and run.data.params["eval.set.images"] == "3"
    assert len(run.data.tags["eval.set.content_hash"]) == 64
    assert run.data.metrics["eval_psnr"] == pytest.approx(table["psnr"].mean())
    assert run.inputs.dataset_inputs[0].dataset.name == "HR"


def test_a_pair_off_the_scale_is_one_line_and_exit_2(
    tracking: TrackingConfig, registered: RegisteredVersion, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # MLflow's download bar, not ours
    lr_dir, hr_dir = _write_pairs(tmp_path / "set")
    hr = decode_image((hr_dir / "0001.png").read_bytes())
    (hr_dir / "0001.png").write_bytes(encode_png(np.ascontiguousarray(hr[:, :-4])))
    args = ["evaluate", "--model", registered.model_uri, "--pairs", str(lr_dir), str(hr_dir)]
    assert main([*args, *_flags(tracking, registered)]) == 2
    errors = [line for line in terminal_lines(capsys.readouterr().err) if not line.startswith("evaluate:")]
    assert len(errors) == 1  # besides the stage's progress bar
    err = errors[0]
    assert err.startswith("mmsr: error: pair ") and "0001x4.png" in err and "156x128" in err and "x4" in err
    assert main(["evaluate", "--model", registered.model_uri, "--center-crop", "64", *_flags(tracking, registered)]) == 2
    assert "--center-crop goes with --pairs or --hr" in capsys.readouterr().err
    assert main(["evaluate", "--model", registered.model_uri, "--output-dir", "x", *_flags(tracking, registered)]) == 2
    assert "--output-dir goes with --pairs, --hr or --sweep" in capsys.readouterr().err
    assert main([*args, "--limit", "2", *_flags(tracking, registered)]) == 2
    assert "--snapshot, --limit and --sweep do not apply" in capsys.readouterr().err
    assert main(["evaluate", "--model", registered.model_uri, "--hr", str(tmp_path / "nowhere"), *_flags(tracking, registered)]) == 2
    assert capsys.readouterr().err.strip() == f"mmsr: error: input '{tmp_path / 'nowhere'}' does not exist"


@pytest.mark.slow(minutes=1.5, minutes_each=1.5)
def test_hr_set_gives_byte_identical_lrs_and_scores_on_every_run_with_one_worker_or_two(
    tracking: TrackingConfig, registered: RegisteredVersion, tmp_path: Path
) -> None:
    _, hr_dir = _write_pairs(tmp_path / "set")
    outputs = [tmp_path / "first", tmp_path / "second"]
    for out, workers in zip(outputs, (1, 2)):  # the second run on a Ray Data actor pool
        args = ["evaluate", "--model", registered.model_uri, "--hr", str(hr_dir), "--center-crop", "64", "--output-dir", str(out)]
        settings = ("evaluate.seed=3", f"evaluate.num_workers={workers}", "evaluate.threads_per_worker=1", "evaluate.batch_size=2")
        assert main([*args, *_flags(tracking, registered, *settings)]) == 0
    first, second = (sorted((out / "lr").glob("*.png")) for out in outputs)
    assert [p.name for p in first] == ["0000.png", "0001.png", "0002.png"]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert decode_image(first[0].read_bytes()).shape == (16, 16, 3)
    assert pd.read_csv(outputs[0] / "metrics.csv").equals(pd.read_csv(outputs[1] / "metrics.csv"))
    assert (outputs[0] / "0001.png").read_bytes() == (outputs[1] / "0001.png").read_bytes()  # the same SR


def test_grid_row_is_the_centre_of_a_large_image_and_a_small_one_whole() -> None:
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (400, 600, 3), dtype=np.uint8)
    big = SetImage("big", np.ascontiguousarray(hr[::4, ::4]), hr)
    row = grid_row(big, hr.copy(), side=256)
    assert row.hr.shape == row.sr.shape == (256, 256, 3) and row.lr.shape == (64, 64, 3)
    np.testing.assert_array_equal(row.hr, hr[72:328, 172:428])
    np.testing.assert_array_equal(row.lr, hr[72:328:4, 172:428:4])
    small = SetImage("small", np.ascontiguousarray(hr[:40:4, :48:4]), hr[:40, :48])
    assert grid_row(small, hr[:40, :48], side=256).hr.shape == (40, 48, 3)

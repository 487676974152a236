from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from featurestore.config import FeatureStoreConfig
from orchestration.cli.main import main
from orchestration.evaluation.evaluation_sweep import setting_label, sweep_settings
from orchestration.evaluation.sweep_evaluation import PARENT_RUN_NAME
from orchestration.evaluation.sweep_table import SWEEP_TABLE_FILE, SweepRow, sweep_table
from orchestration.registry.model_registry import RegisteredVersion
from tests.orchestration.conftest import make_eval_store
from trainers.models.sampling_options import SamplingOptions
from trainers.tracking.mlflow_runs import tracking_client
from trainers.tracking.tracking_config import TrackingConfig

pytestmark = pytest.mark.integration  # ~17 s in all, measured on 2 loaded cores


def test_settings_are_every_combination_in_flag_order_and_checked_up_front() -> None:
    settings = sweep_settings(["temperature.depth=0.5,2", "guidance_mode=cfg,m-cfg"], SamplingOptions(steps=3))
    assert [setting_label(s) for s, _ in settings] == [
        "temperature_depth=0.5 guidance_mode=cfg", "temperature_depth=0.5 guidance_mode=m-cfg",
        "temperature_depth=2 guidance_mode=cfg", "temperature_depth=2 guidance_mode=m-cfg",
    ]
    options = settings[-1][1]
    assert (options.steps, options.guidance_mode, options.temperatures) == (3, "m-cfg", {"depth": 2.0})
    for flags, message in (
        (["temperature.dpth=1"], "unknown key"),
        (["steps"], "expected KEY=V1,V2"),
        (["steps=2,0"], "setting {'steps': '0'}"),
        (["seed=1", "seed=2"], "names an option twice"),
    ):
        with pytest.raises(ValueError, match=message):
            sweep_settings(flags, SamplingOptions())


def test_disable_modalities_and_temperature_schedule_are_sweep_keys() -> None:
    settings = sweep_settings(["disable_modalities=none,caption,depth+edges"], SamplingOptions())
    assert [options.disabled for _, options in settings] == [(), ("caption",), ("depth", "edges")]
    assert [setting_label(s) for s, _ in settings][-1] == "disable_modalities=depth+edges"
    schedules = sweep_settings(["temperature_schedule=constant,timestep_aware"], SamplingOptions())
    assert [options.temperature_schedule for _, options in schedules] == ["constant", "timestep_aware"]
    for flag, message in (("disable_modalities=dpth", "not modalities"), ("temperature_schedule=linear", "temperature_schedule")):
        with pytest.raises(ValueError, match=message):
            sweep_settings([flag], SamplingOptions())


def test_the_sweep_table_has_the_setting_columns_then_one_column_per_metric() -> None:
    rows = [
        SweepRow({"guidance_mode": "cfg", "guidance_scale": "2"}, {"eval_psnr": 20.0, "eval_bicubic_psnr": 19.0}, "a"),
        SweepRow({"guidance_mode": "m-cfg", "guidance_scale": "2"}, {"eval_psnr": 21.0, "eval_lpips": 0.3}, "b"),
    ]
    table = sweep_table(rows)
    assert list(table.columns) == ["guidance_mode", "guidance_scale", "psnr", "bicubic_psnr", "lpips"]
    assert table["guidance_mode"].tolist() == ["cfg", "m-cfg"] and table["psnr"].tolist() == [20.0, 21.0]
    assert pd.isna(table.loc[0, "lpips"]) and pd.isna(table.loc[1, "bicubic_psnr"])
    with pytest.raises(ValueError, match="one setting"):
        sweep_table([])


def _sweep_flags(tracking: TrackingConfig, registered: RegisteredVersion, store: FeatureStoreConfig, steps: int) -> list[str]:
    """``--set`` flags pointing ``mmsr evaluate`` at the test's tracking store, model and eval store."""
    settings = [
        f"tracking.tracking_uri={tracking.tracking_uri}", f"tracking.registered_model={registered.name}",
        f"featurestore.catalog_uri={store.catalog_uri}", f"featurestore.warehouse={store.warehouse}",
        f"serve.sampling.steps={steps}", "evaluate.metrics=[]",
    ]
    return [arg for setting in settings for arg in ("--set", setting)]


def test_sweep_logs_one_run_per_setting_with_its_params_metrics_and_grid(
    tracking: TrackingConfig, registered: RegisteredVersion, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = _sweep_flags(tracking, registered, make_eval_store(tmp_path), steps=2)
    assert main(["evaluate", "--model", registered.model_uri, "--sweep", "temperature.edges=0.2,5", *flags]) == 0
    out = capsys.readouterr().out
    assert "sweeping 2 settings" in out and "temperature_edges=0.2: " in out and "temperature_edges=5: " in out
    client = tracking_client(tracking)
    runs = client.search_runs(
        [client.get_experiment_by_name(tracking.experiment).experiment_id],
        filter_string="tags.`eval.sweep_setting` LIKE 'temperature_edges=%'",
    )
    by_setting = {run.data.tags["eval.sweep_setting"]: run for run in runs}
    assert sorted(by_setting) == ["temperature_edges=0.2", "temperature_edges=5"]
    for label, run in by_setting.items():
        assert run.data.params["temperature_edges"] == str(float(label.split("=")[1]))
        assert run.data.params["steps"] == "2" and "eval_psnr" in run.data.metrics
        assert "eval_grid.png" in {a.path for a in client.list_artifacts(run.info.run_id)}
    # the LR's edge tokens are present at serve time, so their temperature changes the result
    psnr = [run.data.metrics["eval_psnr"] for run in by_setting.values()]
    assert psnr[0] != psnr[1]
    assert main(["evaluate", "--model", registered.model_uri, "--sweep", "temperature.edges=99", *flags]) == 2
    assert "temperature_edges must be in" in capsys.readouterr().err


def test_a_disable_modalities_sweep_is_five_child_runs_and_one_table_of_five_rows(
    tracking: TrackingConfig, registered: RegisteredVersion, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = _sweep_flags(tracking, registered, make_eval_store(tmp_path), steps=1)
    sweep = "disable_modalities=none,caption,depth,segmentation,edges"
    output = tmp_path / "tables"
    assert main(["evaluate", "--model", registered.model_uri, "--sweep", sweep, "--output-dir", str(output), *flags]) == 0
    out = capsys.readouterr().out
    client = tracking_client(tracking)
    experiment = client.get_experiment_by_name(tracking.experiment).experiment_id
    parents = client.search_runs([experiment], filter_string=f"params.sweep = '{sweep}'")
    assert [run.info.run_name for run in parents] == [PARENT_RUN_NAME]
    parent = parents[0]
    children = client.search_runs([experiment], filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert sorted(run.data.params["disable_modalities"] for run in children) == ["", "caption", "depth", "edges", "segmentation"]
    assert [a.path for a in client.list_artifacts(parent.info.run_id)] == [SWEEP_TABLE_FILE]
    logged = pd.read_csv(client.download_artifacts(parent.info.run_id, SWEEP_TABLE_FILE, str(tmp_path)))
    written = pd.read_csv(output / SWEEP_TABLE_FILE)
    pd.testing.assert_frame_equal(logged, written)
    assert logged["disable_modalities"].tolist() == ["none", "caption", "depth", "segmentation", "edges"]
    assert list(logged.columns)[:4] == ["disable_modalities", "psnr", "ssim", "bicubic_psnr"]
    by_setting = {run.data.tags["eval.sweep_setting"]: run.data.metrics["eval_psnr"] for run in children}
    assert logged.set_index("disable_modalities")["psnr"].to_dict() == {
        label.split("=")[1]: psnr for label, psnr in by_setting.items()
    }
    # the LR's edges are extracted at serve time: disabling them changes the SR
    assert by_setting["disable_modalities=edges"] != by_setting["disable_modalities=none"]
    header = next(line.split() for line in out.splitlines() if line.lstrip().startswith("disable_modalities "))
    assert header[:3] == ["disable_modalities", "psnr", "ssim"]  # the printed table
    assert "sweeping 5 settings" in out and parent.info.run_id in out

from __future__ import annotations

from pathlib import Path

import pytest

from featurestore.config import FeatureStoreConfig
from orchestration.cli.main import main
from orchestration.evaluation.evaluation_sweep import setting_label, sweep_settings
from orchestration.registry.model_registry import RegisteredVersion
from tests.orchestration.conftest import make_eval_store
from trainers.mlflow_runs import tracking_client
from trainers.models.sampling_options import SamplingOptions
from trainers.tracking_config import TrackingConfig


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


def test_sweep_logs_one_run_per_setting_with_its_params_metrics_and_grid(
    tracking: TrackingConfig, registered: RegisteredVersion, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store: FeatureStoreConfig = make_eval_store(tmp_path)
    settings = [
        f"tracking.tracking_uri={tracking.tracking_uri}", f"tracking.registered_model={registered.name}",
        f"featurestore.catalog_uri={store.catalog_uri}", f"featurestore.warehouse={store.warehouse}",
        "serve.steps=2", "evaluate.metrics=[]",
    ]
    flags = [arg for setting in settings for arg in ("--set", setting)]
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

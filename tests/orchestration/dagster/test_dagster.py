"""Scheduled retraining with Dagster: the sensor, the schedule, the asset wiring and one full cycle.

Everything runs in-process (``build_sensor_context`` / ``build_schedule_context``,
``materialize``, ``execute_in_process``); no Dagster daemon or webserver.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import fsspec
import numpy as np
import pytest
import ray
from mlflow.tracking import MlflowClient

import orchestration.cycle as cycle
import orchestration.dagster.assets as assets
from orchestration.dagster.assets import (
    RETRAINING_ASSETS,
    TrainedModel,
    feature_snapshot,
)
from orchestration.dagster.definitions import (
    DEFAULT_CRON,
    JOB_NAME,
    SCHEDULE_NAME,
    build_definitions,
)
from orchestration.dagster.resource import MmsrConfigResource
from orchestration.dagster.sensor import SENSOR_NAME, list_inputs
from orchestration.evaluation.evaluate import EvaluationResult
from orchestration.quickstart.quickstart_preset import QUICKSTART_STEPS
from orchestration.ray_runtime import quiet_data_progress
from orchestration.registry.model_registry import RegisteredVersion
from orchestration.registry.promotion import DECISION_TAG, PromotionDecision
from pipelines.degradation import DegradationConfig
from pipelines.demo_photos import CAPTIONS_FILE, DemoPhotos, write_demo_photos
from pipelines.preprocess_job import PreprocessResult
from tests.services.marker import starts_service
from tests.trainers.conftest import RAY_TEST_ENV
from trainers.recipes.train_job import TrainResult

pytestmark = pytest.mark.integration  # ~6.7 s in all, measured on 2 loaded cores

PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def _write(path: Path, data: bytes = PNG_1X1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _tick(sensor: dg.SensorDefinition, mmsr: MmsrConfigResource, cursor: str | None) -> Any:
    return sensor.evaluate_tick(dg.build_sensor_context(cursor=cursor, resources={"mmsr": mmsr}))


# --- listing and digest -------------------------------------------------------------------------


def test_digest_changes_only_when_an_image_changes(tmp_path: Path) -> None:
    _write(tmp_path / "a.png")
    _write(tmp_path / "sub" / "b.jpg")
    first = list_inputs(str(tmp_path))
    assert [Path(f.path).name for f in first.files] == ["a.png", "b.jpg"]
    assert list_inputs(str(tmp_path)).digest == first.digest
    (tmp_path / CAPTIONS_FILE).write_text('{"uri": "a.png", "caption": "x"}\n')
    assert list_inputs(str(tmp_path)).digest == first.digest  # sidecars are not images
    _write(tmp_path / "c.webp")
    added = list_inputs(str(tmp_path))
    assert len(added.files) == 3 and added.digest != first.digest
    _write(tmp_path / "c.webp", PNG_1X1 + b"\0")
    assert list_inputs(str(tmp_path)).digest != added.digest  # same name, new content


def test_listing_follows_globs_manifests_and_urls(tmp_path: Path) -> None:
    _write(tmp_path / "a.png")
    _write(tmp_path / "b.png")
    assert len(list_inputs(str(tmp_path / "*.png")).files) == 2
    manifest = tmp_path / "list.txt"
    manifest.write_text("a.png\n")
    before = list_inputs(str(manifest))
    assert [Path(f.path).name for f in before.files] == ["list.txt"]
    manifest.write_text("a.png\nb.png\n")
    assert list_inputs(str(manifest)).digest != before.digest
    memory = fsspec.filesystem("memory")
    memory.pipe("/mmsr-test-hr/x.png", PNG_1X1)
    try:
        listed = list_inputs("memory://mmsr-test-hr")
        assert [f.size for f in listed.files] == [len(PNG_1X1)] and listed.files[0].stamp
    finally:
        memory.rm("/mmsr-test-hr", recursive=True)
    with pytest.raises(FileNotFoundError):
        list_inputs(str(tmp_path / "missing"))


# --- sensor and schedule ----------------------------------------------------------------------


def test_sensor_requests_one_run_per_change_of_the_images(tmp_path: Path) -> None:
    mmsr = MmsrConfigResource(workdir=str(tmp_path / "runs"))
    inputs = tmp_path / "runs" / "sample_hr"
    sensor = build_definitions(mmsr).resolve_sensor_def(SENSOR_NAME)
    assert sensor.job_name == JOB_NAME

    missing = _tick(sensor, mmsr, None)
    assert not missing.run_requests and missing.cursor is None and "does not exist" in missing.skip_message
    _write(inputs / "a.png")
    _write(inputs / "b.png")
    baseline = _tick(sensor, mmsr, None)
    assert not baseline.run_requests and baseline.cursor == list_inputs(str(inputs)).digest
    unchanged = _tick(sensor, mmsr, baseline.cursor)
    assert not unchanged.run_requests and unchanged.cursor == baseline.cursor

    _write(inputs / "c.png")
    changed = _tick(sensor, mmsr, unchanged.cursor)
    [request] = changed.run_requests
    digest = list_inputs(str(inputs)).digest
    assert request.run_key == digest and changed.cursor == digest
    assert request.tags["mmsr/images"] == "3"
    quiet = _tick(sensor, mmsr, changed.cursor)
    assert not quiet.run_requests and quiet.cursor == digest


def test_schedule_requests_the_retraining_job_on_its_cron() -> None:
    defs = build_definitions(cron="*/30 * * * *")
    schedule = defs.resolve_schedule_def(SCHEDULE_NAME)
    assert schedule.cron_schedule == "*/30 * * * *" and schedule.job_name == JOB_NAME
    assert build_definitions().resolve_schedule_def(SCHEDULE_NAME).cron_schedule == DEFAULT_CRON
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 30, 3, tzinfo=UTC))
    [request] = schedule.evaluate_tick(context).run_requests
    assert isinstance(request, dg.RunRequest)
    job = defs.resolve_job_def(JOB_NAME)
    assert {key.to_user_string() for key in job.asset_layer.executable_asset_keys} == {
        "feature_snapshot", "trained_model", "model_evaluation", "model_promotion",
    }


def test_code_location_loads_on_embedded_defaults() -> None:
    from orchestration.dagster.definitions import defs

    dg.Definitions.validate_loadable(defs)
    resource = defs.resources["mmsr"]
    assert isinstance(resource, MmsrConfigResource) and resource.embedded
    config = resource.load()
    assert config.preprocess.input == str(Path("mmsr-runs/sample_hr").resolve())
    assert config.tracking.tracking_uri.startswith("sqlite:///") and config.train.steps == QUICKSTART_STEPS


def test_resource_reads_the_yaml_and_overrides_like_the_cli(tmp_path: Path) -> None:
    config_file = tmp_path / "mmsr.yaml"
    config_file.write_text("preprocess:\n  input: gs://bucket/hr\ntrain:\n  steps: 7\n")
    mmsr = MmsrConfigResource(config_path=str(config_file), overrides=["train.steps=9"])
    config = mmsr.load()
    assert not mmsr.embedded
    assert config.preprocess.input == "gs://bucket/hr" and config.train.steps == 9
    assert config.preprocess.crops_per_image == 1  # no quickstart preset under a config file


# --- asset wiring (the CLI functions replaced by recorders) --------------------------------------


def _fake_stage_functions(monkeypatch: pytest.MonkeyPatch, calls: dict[str, Any], promote: bool) -> None:
    def run_preprocess(preprocess: Any, store: Any) -> PreprocessResult:
        return PreprocessResult(
            "pre1", inputs=3, accepted=3, rejected=0, added=6, replaced=0, already_present=0, snapshot_id=111,
            config_hash="h",
        )

    def run_training(train: Any, store: Any, tracking: Any, run_name: str | None, lr_degradation: Any) -> TrainResult:
        calls["train_snapshot"] = train.snapshot
        calls["lr_degradation"] = lr_degradation
        return TrainResult(mlflow_run_id="run-train", snapshot_id=111, final_step=2, metrics={}, model_dir="/m")

    def register_pipeline(
        tracking: Any, serve: Any, run_id: str, model_dir: str, tags: dict[str, str], alias: str | None, extractors: Any,
        trained_on: Any,
    ) -> RegisteredVersion:
        calls["register"] = (run_id, tags["featurestore.snapshot_id"], alias)
        calls["extractors"] = extractors.enabled
        calls["trained_on"] = trained_on
        return RegisteredVersion("mmsr-sr", 7, "models:/mmsr-sr/7")

    def evaluate_model(uri: str, store: Any, tracking: Any, serve: Any, snapshot: str, limit: int | None, quality: Any = None
    ) -> EvaluationResult:
        calls["evaluate"] = (uri, snapshot, limit)
        return EvaluationResult("run-eval", snapshot_id=int(snapshot), images=2, metrics={"eval_psnr": 20.0, "eval_ssim": 0.5})

    def promote_version(config: Any, version: int, snapshot: str | None = None) -> PromotionDecision:
        calls["promote"] = (version, snapshot)
        reasons = ("eval_psnr: 20.0000, no champion to beat: pass",)
        return PromotionDecision(promote, reasons, {"eval_psnr": 20.0}, None, version, None, int(snapshot or 0))

    monkeypatch.setattr(assets, "run_preprocess", run_preprocess)
    fakes = {  # the cycle's library calls: the assets reach them only through orchestration.cycle
        "run_training": run_training, "register_pipeline": register_pipeline,
        "training_extractors": lambda store, snapshot_id: ("settings of the train rows of", snapshot_id),
        "evaluate_model": evaluate_model, "promote_version": promote_version,
        "record_result": lambda *args: calls.setdefault("recorded", args[2]),
        "tracking_client": lambda tracking: None,
    }
    for name, fake in fakes.items():
        monkeypatch.setattr(cycle, name, fake)


def _metadata(result: dg.ExecuteInProcessResult, node: str) -> dict[str, Any]:
    [materialization] = result.asset_materializations_for_node(node)
    return {key: value.value for key, value in materialization.metadata.items()}


@pytest.mark.parametrize("eval_snapshot", [None, 42])
def test_assets_chain_the_cli_functions_and_record_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, eval_snapshot: int | None
) -> None:
    calls: dict[str, Any] = {}
    _fake_stage_functions(monkeypatch, calls, promote=True)
    config_file = tmp_path / "mmsr.yaml"
    config_file.write_text("promotion:\n  eval_snapshot: 42\n" if eval_snapshot else "{}\n")
    mmsr = MmsrConfigResource(config_path=str(config_file))
    monkeypatch.setattr(cycle, "local_ray", lambda workers, address, to_driver: contextlib.nullcontext())  # nothing trains here
    result = dg.materialize(list(RETRAINING_ASSETS), resources={"mmsr": mmsr})

    assert result.success
    assert calls["train_snapshot"] == "111"  # trained on the snapshot the first asset committed
    assert calls["lr_degradation"] == DegradationConfig()  # preprocess.degradation, for on-the-fly LRs
    assert calls["register"] == ("run-train", "111", "challenger")
    assert calls["extractors"] == ("caption", "depth", "segmentation", "edges")  # checked against the rows'
    assert calls["trained_on"] == ("settings of the train rows of", 111)  # packaged: those of the training snapshot
    scored_on = str(eval_snapshot or 111)
    assert calls["evaluate"] == ("models:/mmsr-sr/7", scored_on, None)
    assert calls["recorded"] == "models:/mmsr-sr/7"
    assert calls["promote"] == (7, scored_on)
    assert _metadata(result, "feature_snapshot")["snapshot_id"] == "111"
    trained = _metadata(result, "trained_model")
    assert (trained["mlflow_run_id"], trained["model_version"]) == ("run-train", 7)
    assert _metadata(result, "model_evaluation")["eval_psnr"] == 20.0
    promotion = _metadata(result, "model_promotion")
    assert promotion["decision"] == "promoted" and "no champion" in promotion["reasons"]
    assert isinstance(result.output_for_node("trained_model"), TrainedModel)


# --- one full cycle on the embedded defaults ----------------------------------------------------

FIRST_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png")
NEW_PHOTO = "flower.jpg"
CYCLE_OVERRIDES = [
    "preprocess.crops_per_image=2", "preprocess.eval_fraction=0.5", "train.steps=2", "train.checkpoint_every=2", "train.num_workers=1",
    "serve.sampling.steps=2", "promotion.eval_limit=2",
    "promotion.floor=[]",  # a 2-step model is far below bicubic: this test is about the wiring, not quality
]


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> DemoPhotos:
    return write_demo_photos(tmp_path_factory.mktemp("photos"))


@pytest.fixture
@starts_service
def ray_cluster() -> Iterator[None]:
    ray.init(num_cpus=3, include_dashboard=False, configure_logging=False, runtime_env={"env_vars": RAY_TEST_ENV})
    quiet_data_progress()
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.slow(minutes=8, minutes_each=8)
def test_new_images_start_a_cycle_that_snapshots_trains_evaluates_and_promotes(
    tmp_path: Path, photos: DemoPhotos, ray_cluster: None
) -> None:
    runs = tmp_path / "runs"
    inputs = runs / "sample_hr"
    inputs.mkdir(parents=True)
    for name in (*FIRST_PHOTOS, CAPTIONS_FILE):
        shutil.copyfile(photos.image_dir / name, inputs / name)
    mmsr = MmsrConfigResource(workdir=str(runs), overrides=CYCLE_OVERRIDES)
    defs = build_definitions(mmsr)
    instance = dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "dagster"))
    before = dg.materialize([feature_snapshot], resources={"mmsr": mmsr}, instance=instance)
    first = before.output_for_node("feature_snapshot")
    assert first.added == 2 * len(FIRST_PHOTOS)

    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    baseline = _tick(sensor, mmsr, None)
    assert not baseline.run_requests
    shutil.copyfile(photos.image_dir / NEW_PHOTO, inputs / NEW_PHOTO)
    [request] = _tick(sensor, mmsr, baseline.cursor).run_requests
    run = defs.resolve_job_def(JOB_NAME).execute_in_process(instance=instance, tags=request.tags)

    assert run.success
    snapshot: PreprocessResult = run.output_for_node("feature_snapshot")
    assert snapshot.snapshot_id != first.snapshot_id
    assert (snapshot.added, snapshot.already_present) == (2, 2 * len(FIRST_PHOTOS))
    trained: TrainedModel = run.output_for_node("trained_model")
    evaluation: EvaluationResult = run.output_for_node("model_evaluation")
    decision: PromotionDecision = run.output_for_node("model_promotion")
    assert (trained.snapshot_id, trained.final_step) == (snapshot.snapshot_id, 2)
    assert evaluation.snapshot_id == snapshot.snapshot_id and np.isfinite(evaluation.metrics["eval_psnr"])
    assert decision.promote and decision.champion_version is None  # the first version has no champion to beat

    client = MlflowClient(tracking_uri=f"sqlite:///{runs.resolve()}/mlflow.db")
    version = client.get_model_version("mmsr-sr", str(trained.version))
    assert version.tags["featurestore.snapshot_id"] == str(snapshot.snapshot_id)
    assert version.tags[DECISION_TAG] == "promoted"
    assert int(client.get_model_version_by_alias("mmsr-sr", "champion").version) == trained.version
    experiment = client.get_experiment_by_name("mmsr").experiment_id
    evaluations = client.search_runs([experiment], "attributes.run_name = 'evaluate'")
    assert [r.info.run_id for r in evaluations] == [evaluation.mlflow_run_id]  # promotion reused the recorded scores
    promotion = _metadata(run, "model_promotion")
    assert (promotion["decision"], promotion["snapshot_id"]) == ("promoted", str(snapshot.snapshot_id))
    assert not _tick(sensor, mmsr, request.run_key).run_requests

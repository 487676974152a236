"""Evaluation-gated promotion: the pure rule, tags, rollback, a stale lock and concurrent promoters.

Most tests give versions recorded evaluations (the ``mmsr.eval.<snapshot>`` tag ``promote_version``
reuses) instead of scoring a model, so they run in seconds; one test scores the tiny pipeline.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from featurestore.config import FeatureStoreConfig
from featurestore.readers import resolve_snapshot
from orchestration.cli.main import main
from orchestration.evaluation.evaluation_tags import eval_protocol, eval_tag, promotion_quality, record_evaluation
from orchestration.evaluation.quality_metrics_config import QualityMetricsConfig
from orchestration.mmsr_config import MmsrConfig
from orchestration.registry import promotion
from orchestration.registry.model_registry import RegisteredVersion, register_pipeline
from orchestration.registry.promotion import (
    AGAINST_TAG,
    DECISION_TAG,
    EVIDENCE_TAG,
    FLOOR_TAG,
    PREVIOUS_CHAMPION_TAG,
    SNAPSHOT_TAG,
    current_champion,
    decide_promotion,
    promote_version,
    rollback,
)
from orchestration.registry.promotion_config import DEFAULT_FLOOR, MetricFloor, MetricGate, PromotionConfig
from orchestration.registry.registry_lock import OWNER_TAG, lock_name
from orchestration.serving.registry_error import RegistryError
from orchestration.serving.serve_config import ServeConfig
from tests.orchestration.conftest import make_eval_store, make_oracle_store, make_photo_eval_store, oracle_spy
from trainers.models.sampling_options import SamplingOptions
from trainers.tracking.mlflow_runs import create_run, experiment_id, tracking_client
from trainers.tracking.tracking_config import TrackingConfig

pytestmark = pytest.mark.integration  # ~15.5 s in all, measured on 2 loaded cores

GATES = (MetricGate("eval_psnr", 0.0), MetricGate("eval_ssim", 0.0))
BICUBIC = {"eval_bicubic_psnr": 18.0, "eval_bicubic_ssim": 0.45}
"""Baseline scores recorded with every fake version: the default floor is then 16 dB / 0.35."""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FeatureStoreConfig:
    return make_eval_store(tmp_path_factory.mktemp("store"))


def fake_versions(config: MmsrConfig, scores: list[tuple[float, float]]) -> list[int]:
    """Register one artifact-less version (its source is never read) per (psnr, ssim), with that evaluation recorded on the current snapshot."""
    client = tracking_client(config.tracking)
    name = config.tracking.registered_model
    client.create_registered_model(name)
    snapshot_id = resolve_snapshot(config.featurestore, None)
    protocol = eval_protocol(config.serve, config.promotion.eval_limit, promotion_quality(config.evaluate))
    versions = []
    for psnr, ssim in scores:
        version = int(client.create_model_version(name, source="s3://mmsr-test-bucket/no-artifacts").version)
        metrics = {"eval_psnr": psnr, "eval_ssim": ssim, **BICUBIC}
        record_evaluation(client, name, version, snapshot_id, metrics, protocol)
        versions.append(version)
    return versions


def config_for(store: FeatureStoreConfig, tracking: TrackingConfig, name: str, **promotion: object) -> MmsrConfig:
    return MmsrConfig(
        featurestore=store, tracking=replace(tracking, registered_model=name), serve=ServeConfig(sampling=SamplingOptions(steps=2)),
        promotion=PromotionConfig(**promotion),  # type: ignore[arg-type]
    )


def _tags(client: MlflowClient, name: str, version: int) -> dict[str, str]:
    return client.get_model_version(name, str(version)).tags


@pytest.mark.parametrize(
    ("candidate", "champion", "gates", "promote"),
    [
        ({"eval_psnr": 20.0, "eval_ssim": 0.5}, None, GATES, True),
        ({"eval_psnr": 21.0, "eval_ssim": 0.6}, {"eval_psnr": 20.0, "eval_ssim": 0.5}, GATES, True),
        ({"eval_psnr": 20.0, "eval_ssim": 0.5}, {"eval_psnr": 20.0, "eval_ssim": 0.5}, GATES, False),
        ({"eval_psnr": 21.0, "eval_ssim": 0.4}, {"eval_psnr": 20.0, "eval_ssim": 0.5}, GATES, False),
        ({"eval_psnr": 20.3, "eval_ssim": 0.6}, {"eval_psnr": 20.0, "eval_ssim": 0.5}, (MetricGate("eval_psnr", 0.5),), False),
        ({"lpips": 0.2}, {"lpips": 0.3}, (MetricGate("lpips", 0.05, higher_is_better=False),), True),
        ({"lpips": 0.28}, {"lpips": 0.3}, (MetricGate("lpips", 0.05, higher_is_better=False),), False),
        ({"eval_psnr": float("nan"), "eval_ssim": 0.9}, None, GATES, False),
        ({"eval_ssim": 0.9}, {"eval_psnr": 20.0, "eval_ssim": 0.5}, GATES, False),
        ({"eval_psnr": 19.0, "eval_ssim": 0.9}, {"eval_psnr": 20.0, "eval_ssim": 0.5}, (MetricGate("eval_psnr", -1.5),), True),
    ],
)
def test_decide_promotion_rule(candidate: dict, champion: dict | None, gates: tuple, promote: bool) -> None:
    decision = decide_promotion(candidate, champion, gates)
    assert decision.promote is promote
    assert len(decision.reasons) == len(gates)
    assert all(reason.startswith(gate.metric) for reason, gate in zip(decision.reasons, gates))
    assert decision.candidate_metrics == candidate and decision.champion_metrics == champion


def test_an_exact_tie_passes_a_gate_only_when_ties_are_accepted() -> None:
    scores = {"eval_psnr": 20.0, "eval_ssim": 0.5}
    assert not decide_promotion(scores, scores, GATES).promote
    assert decide_promotion(scores, scores, GATES, accept_ties=True).promote
    assert "(needs > +0.0000): fail" in decide_promotion(scores, scores, GATES).reasons[0]


@pytest.mark.parametrize(
    ("candidate", "passed"),
    [
        ({"eval_psnr": 16.5, "eval_ssim": 0.40, **BICUBIC}, True),  # trails bicubic, within the margins
        ({"eval_psnr": 15.9, "eval_ssim": 0.60, **BICUBIC}, False),  # PSNR below 18 - 2
        ({"eval_psnr": 25.0, "eval_ssim": 0.34, **BICUBIC}, False),  # SSIM below 0.45 - 0.10
        ({"eval_psnr": 25.0, "eval_ssim": 0.90}, False),  # no baseline recorded: fail closed
    ],
)
def test_floor_applies_with_and_without_a_champion(candidate: dict, passed: bool) -> None:
    for champion in (None, {"eval_psnr": 1.0, "eval_ssim": 0.0}):
        decision = decide_promotion(candidate, champion, GATES, DEFAULT_FLOOR)
        assert decision.promote is passed and decision.floor_passed is passed
        assert [r.split(":")[0] for r in decision.reasons[:2]] == ["floor eval_psnr", "floor eval_ssim"]
    if passed:
        return
    failed = [r for r in decision.reasons if r.startswith("floor") and r.endswith("fail")]
    assert failed and "rejected (below the bicubic floor)" in decision.summary()


def test_a_worse_candidate_is_never_promoted_and_a_better_one_always_is() -> None:
    rng = np.random.default_rng(7)
    for _ in range(300):
        champion = {"eval_psnr": float(rng.uniform(15, 30)), "eval_ssim": float(rng.uniform(0, 1))}
        candidate = {key: value + float(rng.normal(0, 0.5)) for key, value in champion.items()}
        worse = any(candidate[k] < champion[k] for k in champion)
        decision = decide_promotion(candidate, champion, GATES)
        assert decision.promote is not worse
        failed = [reason for reason in decision.reasons if reason.endswith("fail")]
        assert bool(failed) is worse


def test_promotion_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="promotion.gates must name"):
        PromotionConfig(gates=())
    with pytest.raises(ValueError, match="names a metric twice"):
        PromotionConfig(gates=(MetricGate("eval_psnr"), MetricGate("eval_psnr", 1.0)))
    with pytest.raises(ValueError, match="promotion.eval_limit"):
        PromotionConfig(eval_limit=0)
    with pytest.raises(ValueError, match="margin of eval_psnr must be finite"):
        MetricGate("eval_psnr", float("inf"))
    with pytest.raises(ValueError, match=r"floor\[\].margin of eval_ssim must be finite and >= 0"):
        MetricFloor("eval_ssim", "eval_bicubic_ssim", -0.1)
    with pytest.raises(ValueError, match="promotion.floor names a metric twice"):
        PromotionConfig(floor=(*DEFAULT_FLOOR, DEFAULT_FLOOR[0]))


def test_gate_tags_and_rollback(store: FeatureStoreConfig, tracking: TrackingConfig) -> None:
    config = config_for(store, tracking, "gated")
    first, worse, better = fake_versions(config, [(20.0, 0.50), (19.0, 0.55), (21.0, 0.60)])
    client = tracking_client(config.tracking)
    snapshot_id = resolve_snapshot(store, None)

    assert promote_version(config, first).promote
    rejected = promote_version(config, worse)
    assert not rejected.promote and rejected.champion_version == first
    assert any("eval_psnr" in r and r.endswith("fail") for r in rejected.reasons)
    assert current_champion(client, config.tracking) == first
    tags = _tags(client, "gated", worse)
    assert tags[DECISION_TAG] == "rejected" and tags[AGAINST_TAG] == str(first)
    assert tags[SNAPSHOT_TAG] == str(snapshot_id)
    evidence = json.loads(tags[EVIDENCE_TAG])
    assert evidence["champion"] == {"eval_psnr": 20.0, "eval_ssim": 0.5, **BICUBIC} and evidence["candidate"]["eval_psnr"] == 19.0
    assert evidence["baseline"] == BICUBIC and evidence["floor_passed"] is True and tags[FLOOR_TAG] == "passed"
    assert PREVIOUS_CHAMPION_TAG not in tags

    assert promote_version(config, better).promote
    assert current_champion(client, config.tracking) == better
    assert _tags(client, "gated", better)[PREVIOUS_CHAMPION_TAG] == str(first)
    assert rollback(config) == first
    assert current_champion(client, config.tracking) == first
    with pytest.raises(RegistryError, match="no previous champion"):
        rollback(config)
    with pytest.raises(RegistryError, match="no version 99"):
        promote_version(config, 99)


def assert_concurrent_promotions_are_gated(config: MmsrConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three promoters race against one champion; champion must end on the best, via gated steps only."""
    scores = [(20.0, 0.50), (23.0, 0.80), (21.0, 0.60), (22.0, 0.70)]
    champion, *candidates = fake_versions(config, scores)
    assert promote_version(config, champion).promote
    decide = promotion.decide_promotion

    def slow_decide(*args: object) -> promotion.PromotionDecision:
        time.sleep(0.3)  # widen the compare-and-set window so the promoters overlap
        return decide(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(promotion, "decide_promotion", slow_decide)
    start = threading.Barrier(len(candidates))
    results: dict[int, promotion.PromotionDecision] = {}

    def promote(version: int) -> None:
        start.wait()
        results[version] = promote_version(config, version)

    threads = [threading.Thread(target=promote, args=(v,)) for v in candidates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results) == candidates
    name = config.tracking.registered_model
    client = tracking_client(config.tracking)
    final = current_champion(client, config.tracking)
    assert final == candidates[0]  # the best one passes against anyone, and nobody passes against it
    # Walk the champion history: every promotion replaced exactly the champion it was gated against.
    version = final
    while version != champion:
        tags = _tags(client, name, version)
        assert tags[DECISION_TAG] == "promoted" and tags[AGAINST_TAG] == tags[PREVIOUS_CHAMPION_TAG]
        previous = int(tags[PREVIOUS_CHAMPION_TAG])
        assert scores[version - 1] > scores[previous - 1]
        version = previous
    assert not client.search_registered_models(f"name = '{lock_name(name)}'")
    assert rollback(config) == int(_tags(client, name, final)[PREVIOUS_CHAMPION_TAG])


def test_concurrent_promotions_leave_champion_on_a_version_that_passed(
    store: FeatureStoreConfig, tracking: TrackingConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_concurrent_promotions_are_gated(config_for(store, tracking, "raced"), monkeypatch)


def test_a_stale_lock_is_broken(store: FeatureStoreConfig, tracking: TrackingConfig) -> None:
    config = config_for(store, tracking, "stale", lock_timeout_s=0.5)
    (only,) = fake_versions(config, [(20.0, 0.5)])
    client = tracking_client(config.tracking)
    client.create_registered_model(lock_name("stale"), tags={OWNER_TAG: "a-dead-process"})
    started = time.monotonic()
    assert promote_version(config, only).promote
    assert 0.5 <= time.monotonic() - started < 30


def test_promote_cli_gates_and_rolls_back(
    store: FeatureStoreConfig, tracking: TrackingConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_for(store, tracking, "cli")
    first, better = fake_versions(config, [(20.0, 0.5), (20.5, 0.55)])
    settings = [
        f"tracking.tracking_uri={tracking.tracking_uri}", "tracking.registered_model=cli", "serve.sampling.steps=2",
        f"featurestore.catalog_uri={store.catalog_uri}", f"featurestore.warehouse={store.warehouse}",
    ]
    flags = [arg for setting in settings for arg in ("--set", setting)]
    assert main(["promote", "--version", str(first), *flags]) == 0
    assert main(["promote", "--version", str(better), "--set", "promotion.gates=[{metric: eval_psnr, margin: 1.0}]", *flags]) == 0
    out = capsys.readouterr().out
    assert "rejected version 2" in out and f"cli@champion -> version {first}" in out
    assert main(["promote", "--version", str(better), *flags]) == 0
    assert main(["promote", "--rollback", *flags]) == 0
    assert f"rolled back to version {first}" in capsys.readouterr().out
    assert main(["promote", "--rollback", *flags]) == 2
    assert "records no previous champion" in capsys.readouterr().err


def test_real_evaluation_is_recorded_and_reused(
    store: FeatureStoreConfig, tracking: TrackingConfig, registered: RegisteredVersion
) -> None:
    config = config_for(store, tracking, registered.name, gates=(MetricGate("eval_psnr", 0.5),), floor=())
    client = tracking_client(config.tracking)
    decision = promote_version(config, registered.version)
    assert decision.promote and decision.champion_version is None
    recorded = json.loads(_tags(client, registered.name, registered.version)[eval_tag(decision.snapshot_id)])
    assert recorded["metrics"] == decision.candidate_metrics and recorded["images"] == 2
    assert client.get_run(recorded["run_id"]).data.metrics["eval_psnr"] == pytest.approx(recorded["metrics"]["eval_psnr"])
    # The same weights as a new version: scored identically, so a +0.5 dB gate rejects it; the
    # champion's recorded evaluation is reused (one new evaluate run, for the candidate only).
    source = client.get_model_version(registered.name, str(registered.version))
    weights = client.get_model_version_download_uri(registered.name, str(registered.version))
    twin = int(client.create_model_version(registered.name, weights, run_id=source.run_id).version)
    runs_before = len(client.search_runs([source_experiment(client, source.run_id)]))
    rejected = promote_version(config, twin)
    assert not rejected.promote
    for metric in ("eval_psnr", "eval_ssim"):
        assert rejected.candidate_metrics[metric] == pytest.approx(decision.candidate_metrics[metric])
    assert len(client.search_runs([source_experiment(client, source.run_id)])) == runs_before + 1
    assert current_champion(client, config.tracking) == registered.version


def test_untrained_pipeline_is_refused_by_the_floor_with_no_champion(
    tracking: TrackingConfig, tiny_pipeline_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = make_photo_eval_store(tmp_path / "photos")
    floored = replace(tracking, registered_model="floored")
    client = tracking_client(floored)
    run_id = create_run(client, experiment_id(client, floored), "untrained", {})
    version = register_pipeline(floored, ServeConfig(sampling=SamplingOptions(steps=2)), run_id, str(tiny_pipeline_dir), {}).version
    settings = [
        f"tracking.tracking_uri={tracking.tracking_uri}", "tracking.registered_model=floored", "serve.sampling.steps=2",
        f"featurestore.catalog_uri={photos.catalog_uri}", f"featurestore.warehouse={photos.warehouse}",
    ]
    assert main(["promote", "--version", str(version), *[a for s in settings for a in ("--set", s)]]) == 0
    out = capsys.readouterr().out
    assert f"rejected (below the bicubic floor) version {version} vs no champion" in out
    line = next(part for part in out.split("; ") if "floor eval_psnr" in part)
    value, baseline = (float(x) for x in re.findall(r"floor eval_psnr: ([\d.]+) vs bicubic ([\d.]+) - 2 =", line)[0])
    assert value < baseline - 2 and line.endswith("fail")
    assert current_champion(client, floored) is None
    tags = _tags(client, "floored", version)
    assert tags[FLOOR_TAG] == "failed" and tags[DECISION_TAG] == "rejected"
    assert json.loads(tags[EVIDENCE_TAG])["baseline"]["eval_bicubic_psnr"] == pytest.approx(baseline, abs=1e-4)


def test_promotion_scores_what_serving_sees_even_when_evaluate_asks_for_stored_captions(
    tracking: TrackingConfig, tiny_pipeline_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    oracle = replace(tracking, registered_model="oracle")
    client = tracking_client(oracle)
    run_id = create_run(client, experiment_id(client, oracle), "oracle", {})
    version = register_pipeline(oracle, ServeConfig(sampling=SamplingOptions(steps=1)), run_id, str(tiny_pipeline_dir), {}).version
    config = replace(
        config_for(make_oracle_store(tmp_path), tracking, "oracle", floor=()),
        evaluate=QualityMetricsConfig(metrics=(), caption_source="stored", convention="pyiqa-y"),
    )
    _, received = oracle_spy(monkeypatch)
    decision = promote_version(config, version)
    assert decision.promote and received == ["generated from a 64x64 image"] * 2  # never the stored "ORACLE"
    tags = _tags(client, "oracle", version)
    evidence = json.loads(tags[EVIDENCE_TAG])
    assert evidence["protocol"]["caption_source"] == "lr" and evidence["protocol"]["convention"] == "pyiqa-y"
    recorded = json.loads(tags[eval_tag(decision.snapshot_id)])
    assert recorded["protocol"]["caption_source"] == "lr"
    params = client.get_run(recorded["run_id"]).data.params
    assert params["evaluate.caption_source"] == "lr" and params["evaluate.convention"] == "pyiqa-y"


def source_experiment(client: MlflowClient, run_id: str) -> str:
    return client.get_run(run_id).info.experiment_id

"""Evaluation-gated promotion: ``champion`` moves only to a candidate that clears the floor and
beat the champion on one snapshot.

New versions are registered under the ``challenger`` alias. ``promote_version`` scores the
candidate and the current champion on the same eval snapshot (reusing recorded evaluations, see
``evaluation_tags``), applies the pure rule ``decide_promotion``, writes the decision, its
evidence and the snapshot as tags on the candidate, and moves ``champion`` only if the candidate
cleared every floor (against bicubic upscaling of the same LRs: no model worse than the trivial
baseline is ever promoted, the first one included) and passed every gate against the champion.
``rollback`` moves ``champion`` back to the version it replaced.

Concurrency guarantee: every alias move made here happens under ``registry_lock`` (held only for
the compare-and-set, not during evaluation), after re-reading the champion; if the champion moved
while the candidate was being scored, the comparison is redone against the new one. So as long as
``champion`` is moved only through ``promote_version``/``rollback``, every promotion replaced
exactly the champion it was gated against, on a local SQLite store and through a tracking server
alike. Moving the alias by other means (``set_alias``, the MLflow UI) or breaking a stale lock
while its holder still runs voids that guarantee.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Protocol

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from featurestore.readers import resolve_snapshot
from orchestration.evaluation.evaluation_tags import ScoringSections, eval_protocol, promotion_quality, version_metrics
from orchestration.registry.promotion_config import MetricFloor, MetricGate, PromotionConfig
from orchestration.registry.registry_lock import registry_lock
from orchestration.serving.registry_error import RegistryError
from trainers.tracking.mlflow_runs import tracking_client
from trainers.tracking.tracking_config import TrackingConfig

DECISION_TAG = "mmsr.promotion.decision"
"""``promoted`` or ``rejected``."""
REASONS_TAG = "mmsr.promotion.reasons"
EVIDENCE_TAG = "mmsr.promotion.evidence"
"""JSON: both models' metrics, the gates, the eval protocol (its ``convention`` and its
``caption_source``, always ``lr``: the models got the LR only), the champion compared against."""
SNAPSHOT_TAG = "mmsr.promotion.snapshot_id"
FLOOR_TAG = "mmsr.promotion.floor"
"""``passed`` or ``failed``: the candidate against the trivial baseline (bicubic)."""
AGAINST_TAG = "mmsr.promotion.champion_version"
"""The champion the candidate was compared against (``none`` if there was none)."""
PREVIOUS_CHAMPION_TAG = "mmsr.previous_champion"
"""On a promoted version: the champion it replaced (what ``rollback`` returns to)."""
ROLLED_BACK_TAG = "mmsr.promotion.rolled_back_to"
MAX_ATTEMPTS = 5


class PromotionSections(ScoringSections, Protocol):
    """The config sections promotion reads: scoring's, and the promotion rules themselves."""

    @property
    def promotion(self) -> PromotionConfig: ...


@dataclass(frozen=True)
class GateCheck:
    passed: bool
    reason: str


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reasons: tuple[str, ...]
    """One human-readable line per gate."""
    candidate_metrics: Mapping[str, float]
    champion_metrics: Mapping[str, float] | None
    candidate_version: int | None = None
    champion_version: int | None = None
    """The champion compared against (None: there was none)."""
    snapshot_id: int | None = None
    evidence: Mapping[str, object] = field(default_factory=dict)
    floor_passed: bool = True
    """Whether the candidate cleared every floor (True when no floor is configured)."""

    def summary(self) -> str:
        if self.promote:
            verdict = "promoted"
        elif not self.floor_passed:
            verdict = "rejected (below the bicubic floor)"
        else:
            verdict = "kept the champion; rejected"
        against = "no champion" if self.champion_version is None else f"champion version {self.champion_version}"
        return f"{verdict} version {self.candidate_version} vs {against} on snapshot {self.snapshot_id}: " + "; ".join(
            self.reasons
        )


def check_floor(candidate: Mapping[str, float], floor: MetricFloor) -> GateCheck:
    """One floor: the candidate against the trivial baseline's score on the same images."""
    value, baseline = candidate.get(floor.metric), candidate.get(floor.baseline)
    if value is None or not math.isfinite(value):
        return GateCheck(False, f"floor {floor.metric}: candidate has no finite value ({value}): fail")
    if baseline is None or not math.isfinite(baseline):
        return GateCheck(False, f"floor {floor.metric}: no finite baseline {floor.baseline} ({baseline}) to check against: fail")
    limit = baseline - floor.margin if floor.higher_is_better else baseline + floor.margin
    passed = value >= limit if floor.higher_is_better else value <= limit
    side = "-" if floor.higher_is_better else "+"
    return GateCheck(
        passed,
        f"floor {floor.metric}: {value:.4f} vs bicubic {baseline:.4f} {side} {floor.margin:g} = {limit:.4f}: "
        f"{'pass' if passed else 'fail'}",
    )


def check_gate(
    candidate: Mapping[str, float], champion: Mapping[str, float] | None, gate: MetricGate, accept_ties: bool = False
) -> GateCheck:
    """One gate. The candidate needs a finite value; a champion without one cannot block it."""
    name = gate.metric
    value = candidate.get(name)
    if value is None or not math.isfinite(value):
        return GateCheck(False, f"{name}: candidate has no finite value ({value}): fail")
    if champion is None:
        return GateCheck(True, f"{name}: {value:.4f}, no champion to beat: pass")
    best = champion.get(name)
    if best is None or not math.isfinite(best):
        return GateCheck(True, f"{name}: {value:.4f}, champion has no finite value ({best}): pass")
    gain = value - best if gate.higher_is_better else best - value
    passed = gain >= gate.margin if accept_ties else gain > gate.margin
    return GateCheck(
        passed,
        f"{name}: {value:.4f} vs champion {best:.4f}, improvement {gain:+.4f} "
        f"(needs {'>=' if accept_ties else '>'} {gate.margin:+.4f}): {'pass' if passed else 'fail'}",
    )


def decide_promotion(
    candidate: Mapping[str, float],
    champion: Mapping[str, float] | None,
    gates: Sequence[MetricGate],
    floors: Sequence[MetricFloor] = (),
    accept_ties: bool = False,
) -> PromotionDecision:
    """Promote iff every floor and every gate passes (no champion: every gate passes on a finite
    candidate value, the floors still apply). Reasons: one line per floor, then per gate."""
    floor_checks = [check_floor(candidate, floor) for floor in floors]
    checks = floor_checks + [check_gate(candidate, champion, gate, accept_ties) for gate in gates]
    return PromotionDecision(
        promote=all(check.passed for check in checks),
        reasons=tuple(check.reason for check in checks),
        candidate_metrics=dict(candidate),
        champion_metrics=None if champion is None else dict(champion),
        floor_passed=all(check.passed for check in floor_checks),
    )


def current_champion(client: MlflowClient, tracking: TrackingConfig) -> int | None:
    """The version ``champion`` points at; None if the alias is not set."""
    try:
        aliases = client.get_registered_model(tracking.registered_model).aliases
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise RegistryError(f"no registered model {tracking.registered_model}") from None
        raise
    version = aliases.get(tracking.champion_alias)
    return None if version is None else int(version)


def _require_version(client: MlflowClient, tracking: TrackingConfig, version: int) -> None:
    try:
        client.get_model_version(tracking.registered_model, str(version))
    except MlflowException:
        raise RegistryError(f"model {tracking.registered_model} has no version {version}") from None


def _delete_tag(client: MlflowClient, name: str, version: int, key: str) -> None:
    if key in client.get_model_version(name, str(version)).tags:
        client.delete_model_version_tag(name, str(version), key)


def _record_decision(client: MlflowClient, tracking: TrackingConfig, decision: PromotionDecision) -> None:
    name, version = tracking.registered_model, decision.candidate_version
    tags = {
        DECISION_TAG: "promoted" if decision.promote else "rejected",
        FLOOR_TAG: "passed" if decision.floor_passed else "failed",
        REASONS_TAG: "; ".join(decision.reasons),
        EVIDENCE_TAG: json.dumps(decision.evidence, sort_keys=True),
        SNAPSHOT_TAG: str(decision.snapshot_id),
        AGAINST_TAG: "none" if decision.champion_version is None else str(decision.champion_version),
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)
    if decision.promote:
        _delete_tag(client, name, version, ROLLED_BACK_TAG)
        if decision.champion_version is None:
            _delete_tag(client, name, version, PREVIOUS_CHAMPION_TAG)
        else:
            client.set_model_version_tag(name, str(version), PREVIOUS_CHAMPION_TAG, str(decision.champion_version))


def _decide(
    config: PromotionSections, candidate: dict[str, float], champion: dict[str, float] | None,
    version: int, champion_version: int | None, snapshot_id: int,
) -> PromotionDecision:
    promotion = config.promotion
    decision = decide_promotion(candidate, champion, promotion.gates, promotion.floor, promotion.accept_ties)
    evidence = {
        "candidate_version": version, "candidate": candidate,
        "champion_version": champion_version, "champion": champion,
        "snapshot_id": snapshot_id, "gates": [asdict(gate) for gate in promotion.gates],
        "floor": [asdict(floor) for floor in promotion.floor], "floor_passed": decision.floor_passed,
        "baseline": {floor.baseline: candidate.get(floor.baseline) for floor in promotion.floor},
        "accept_ties": promotion.accept_ties,
        "protocol": eval_protocol(config.serve, promotion.eval_limit, promotion_quality(config.evaluate)),
        "decided_at": time.time(),
    }
    return replace(
        decision, candidate_version=version, champion_version=champion_version, snapshot_id=snapshot_id, evidence=evidence
    )


def promote_version(config: PromotionSections, version: int, snapshot: str | None = None) -> PromotionDecision:
    """Gate ``version`` against the champion on one eval snapshot; move ``champion`` if it passes.

    ``snapshot`` (id or tag; default ``promotion.eval_snapshot``, else the current snapshot) is
    resolved once. Raises RegistryError for an unknown version, or if the champion kept moving
    for ``MAX_ATTEMPTS`` comparisons.
    """
    tracking = config.tracking
    client = tracking_client(tracking)
    _require_version(client, tracking, version)
    snapshot_id = resolve_snapshot(config.featurestore, snapshot if snapshot is not None else config.promotion.eval_snapshot)
    candidate = version_metrics(config, client, version, snapshot_id)
    for _ in range(MAX_ATTEMPTS):
        champion_version = current_champion(client, tracking)
        if champion_version == version:
            reason = f"version {version} is already {tracking.champion_alias}: nothing to do"
            return PromotionDecision(False, (reason,), candidate, None, version, version, snapshot_id)
        champion = None if champion_version is None else version_metrics(config, client, champion_version, snapshot_id)
        with registry_lock(client, tracking.registered_model, config.promotion.lock_timeout_s):
            if current_champion(client, tracking) != champion_version:
                continue  # the champion moved while we scored: compare against the new one
            decision = _decide(config, candidate, champion, version, champion_version, snapshot_id)
            _record_decision(client, tracking, decision)
            if decision.promote:
                client.set_registered_model_alias(tracking.registered_model, tracking.champion_alias, str(version))
            return decision
    raise RegistryError(f"{tracking.registered_model}@{tracking.champion_alias} kept moving; promote again later")


def rollback(config: PromotionSections) -> int:
    """Point ``champion`` back at the version the current champion replaced; returns that version."""
    tracking = config.tracking
    client = tracking_client(tracking)
    name, alias = tracking.registered_model, tracking.champion_alias
    with registry_lock(client, name, config.promotion.lock_timeout_s):
        current = current_champion(client, tracking)
        if current is None:
            raise RegistryError(f"{name} has no {alias} to roll back")
        previous = client.get_model_version(name, str(current)).tags.get(PREVIOUS_CHAMPION_TAG)
        if previous is None:
            raise RegistryError(f"{name}@{alias} (version {current}) records no previous champion to roll back to")
        _require_version(client, tracking, int(previous))
        client.set_registered_model_alias(name, alias, previous)
        client.set_model_version_tag(name, str(current), ROLLED_BACK_TAG, previous)
    return int(previous)

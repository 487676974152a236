"""Tag snapshots and expire old ones (``mmsr features tag`` / ``expire``).

A tag is an immutable name for a dataset version (``train.snapshot: paper-v1``). Expiry uses
pyiceberg 0.12's ``table.maintenance.expire_snapshots()``, which removes snapshots from the
table metadata only; then every orphan data file (referenced by no remaining snapshot: files only
expired snapshots read, such as the ones a replacement rewrote, or files a killed commit left)
older than a grace period is removed (:mod:`featurestore.orphan_files`). Tagged snapshots, branch
heads (the current snapshot is ``main``'s head) and the ``retain_last`` newest snapshots are never
expired. A file a live run has staged, moved into place or is about to commit is never removed,
whatever the grace: the runs' leases and the files they listed protect it (:mod:`featurestore.staging`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import datetime

from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table.refs import SnapshotRefType
from pyiceberg.table.snapshots import Snapshot

from featurestore.config import FeatureStoreConfig
from featurestore.inspection import require_samples_table, snapshot_time, tagged_snapshot_ids
from featurestore.orphan_files import DEFAULT_ORPHAN_GRACE_S, OrphanFile, check_grace, remove_orphans
from featurestore.readers import resolve_snapshot
from featurestore.staging import DEFAULT_STAGING_TTL_S, cleanup_stale_staging, in_flight_targets

_EXPIRE_ATTEMPTS = 30


@dataclass(frozen=True)
class TagResult:
    name: str
    snapshot_id: int
    replaced: int | None
    """The snapshot the tag pointed at before (None if the tag is new)."""


def _check_tag_name(name: str) -> None:
    if not name or name != name.strip() or any(char.isspace() for char in name):
        raise ValueError(f"tag name must be non-empty without whitespace, got {name!r}")
    if name.lstrip("-").isdigit():
        raise ValueError(f"tag name must not be a number (it would read as a snapshot id), got {name!r}")


def tag_snapshot(
    config: FeatureStoreConfig, name: str, snapshot: str | int | None = None, replace: bool = False
) -> TagResult:
    """Point tag ``name`` at ``snapshot`` (id, tag, branch or None = current).

    Raises ValueError if ``name`` is a branch, or an existing tag and ``replace`` is False.
    """
    _check_tag_name(name)
    snapshot_id = resolve_snapshot(config, snapshot)
    table = require_samples_table(config)
    existing = table.metadata.refs.get(name)
    if existing is not None and existing.snapshot_ref_type is SnapshotRefType.BRANCH:
        raise ValueError(f"{name!r} is a branch of {config.samples_identifier}, not a tag: choose another name")
    if existing is not None and not replace:
        raise ValueError(f"tag {name!r} already points at snapshot {existing.snapshot_id}: pass replace to move it")
    with table.manage_snapshots() as manage:
        manage.create_tag(snapshot_id=snapshot_id, tag_name=name)
    return TagResult(name=name, snapshot_id=snapshot_id, replaced=None if existing is None else existing.snapshot_id)


@dataclass(frozen=True)
class ExpireReport:
    expired: tuple[int, ...]
    """Snapshot ids removed (dry run: that would be removed), oldest first."""
    kept: tuple[int, ...]
    """Snapshot ids that stay (dry run: that would stay), oldest first."""
    protected: tuple[int, ...]
    """Snapshots older than the cutoff kept because they are tagged, a branch head or among the newest."""
    dry_run: bool
    orphans: tuple[OrphanFile, ...] = ()
    """Orphan data files older than the grace period removed (dry run: that are orphans now)."""

    @property
    def summary(self) -> str:
        verb = "would expire" if self.dry_run else "expired"
        removed = "would remove" if self.dry_run else "removed"
        size = sum(orphan.bytes for orphan in self.orphans)
        return (
            f"{verb} {len(self.expired)} snapshot(s), kept {len(self.kept)} "
            f"({len(self.protected)} older ones protected); {removed} {len(self.orphans)} orphan data file(s), "
            f"{size / 2**20:.1f} MiB"
        )


def plan_expiry(
    snapshots: list[Snapshot], protected_ids: set[int], older_than: datetime, retain_last: int, dry_run: bool
) -> ExpireReport:
    """Which of ``snapshots`` go: those older than ``older_than`` that are not protected.

    A snapshot is protected if its id is in ``protected_ids`` or it is among the ``retain_last``
    newest snapshots.
    """
    ordered = sorted(snapshots, key=lambda found: (found.timestamp_ms, found.sequence_number or 0))
    newest = {found.snapshot_id for found in ordered[len(ordered) - retain_last:]} if retain_last else set()
    keep = protected_ids | newest
    old = [found.snapshot_id for found in ordered if snapshot_time(found) < older_than]
    expired = [snapshot_id for snapshot_id in old if snapshot_id not in keep]
    gone = set(expired)
    return ExpireReport(
        expired=tuple(expired),
        kept=tuple(found.snapshot_id for found in ordered if found.snapshot_id not in gone),
        protected=tuple(snapshot_id for snapshot_id in old if snapshot_id in keep),
        dry_run=dry_run,
    )


def check_orphan_grace(grace_s: float, force: bool = False, lease_ttl_s: float = DEFAULT_STAGING_TTL_S) -> None:
    """Refuse a grace period that is not a finite number >= 0, or (unless ``force``) one shorter
    than the staging-lease timeout: a run on another host whose heartbeat is late by less than the
    timeout still counts as live, and a shorter grace could remove what its lease no longer covers."""
    check_grace(grace_s)
    if grace_s < lease_ttl_s and not force:
        raise ValueError(
            f"an orphan grace period of {grace_s / 3600:g} h is shorter than the staging-lease timeout "
            f"({lease_ttl_s / 3600:g} h); pass force (--force) to remove younger orphans anyway"
        )


def _expire_ids(config: FeatureStoreConfig, older_than: datetime, retain_last: int, dry_run: bool) -> ExpireReport:
    """Plan on the head and expire, re-planning when a concurrent commit changed the table first."""
    for attempt in range(_EXPIRE_ATTEMPTS):
        table = require_samples_table(config)
        current = table.current_snapshot()
        protected = tagged_snapshot_ids(table) | ({current.snapshot_id} if current is not None else set())
        report = plan_expiry(table.snapshots(), protected, older_than, retain_last, dry_run)
        if not report.expired or dry_run:
            return report
        try:
            table.maintenance.expire_snapshots().by_ids(list(report.expired)).commit()
        except CommitFailedException:
            time.sleep(min(2.0, 0.05 * 2**attempt))
            continue
        return report
    raise CommitFailedException(
        f"{config.samples_identifier}: expiry lost {_EXPIRE_ATTEMPTS} races with concurrent commits in a row; retry"
    )


def expire_snapshots(
    config: FeatureStoreConfig, older_than: datetime, retain_last: int = 1, dry_run: bool = False,
    orphan_grace_s: float = DEFAULT_ORPHAN_GRACE_S, force: bool = False,
) -> ExpireReport:
    """Expire samples-table snapshots committed before ``older_than`` (timezone-aware), then
    remove the orphan data files older than ``orphan_grace_s``.

    Keeps tagged snapshots, branch heads, the current snapshot and the ``retain_last`` newest
    snapshots. Files that a live run listed are never orphans (its commit may be in flight,
    :func:`featurestore.staging.in_flight_targets`); the staging of runs that are gone is cleaned
    up last (:func:`featurestore.staging.cleanup_stale_staging`). A grace period shorter than the staging
    lease timeout needs ``force`` (:func:`check_orphan_grace`). With ``dry_run`` nothing changes
    and the report says what would go (orphans: the ones there are now, before any expiry).
    """
    if older_than.tzinfo is None:
        raise ValueError("older_than must be timezone-aware (e.g. datetime.now(timezone.utc) - timedelta(days=7))")
    if retain_last < 0:
        raise ValueError(f"retain_last must be >= 0, got {retain_last}")
    check_orphan_grace(orphan_grace_s, force)
    report = _expire_ids(config, older_than, retain_last, dry_run)
    orphans = remove_orphans(config, orphan_grace_s, dry_run, in_flight=lambda: in_flight_targets(config))
    if not dry_run:
        cleanup_stale_staging(config)
    return dataclasses.replace(report, orphans=tuple(orphans))

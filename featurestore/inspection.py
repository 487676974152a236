"""List and describe the samples table's snapshots (``mmsr features ls`` / ``show``).

Both read only metadata and a few small columns (split, token columns, lineage strings); image
bytes are never read. Snapshots are named as :func:`featurestore.readers.resolve_snapshot`
accepts them: an id, a tag or branch name, or None for the current one.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot, ancestors_of

from featurestore.catalog import SCHEMA_VERSION_PROPERTY, open_catalog
from featurestore.commit import schema_differences
from featurestore.config import FeatureStoreConfig
from featurestore.modality import Modality
from featurestore.readers import resolve_snapshot
from featurestore.schema import SAMPLES_SCHEMA

_LINEAGE_COLUMNS = ("config_hash", "pipeline_version", "extractors")


def load_samples_table(config: FeatureStoreConfig) -> Table | None:
    """The samples table, or None if nothing was ever committed (inspection never creates tables)."""
    try:
        return open_catalog(config).load_table(config.samples_identifier)
    except (NoSuchTableError, NoSuchNamespaceError):
        return None


def require_samples_table(config: FeatureStoreConfig) -> Table:
    """The samples table; ValueError naming it if it does not exist yet."""
    table = load_samples_table(config)
    if table is None:
        raise ValueError(f"{config.samples_identifier} does not exist yet: run `mmsr preprocess` first")
    return table


def snapshot_time(snapshot: Snapshot) -> datetime:
    """The snapshot's commit time, timezone-aware UTC."""
    return datetime.fromtimestamp(snapshot.timestamp_ms / 1000, tz=timezone.utc)


def refs_by_snapshot(table: Table) -> dict[int, tuple[str, ...]]:
    """Snapshot id -> sorted names of the tags and branches pointing at it."""
    names: dict[int, list[str]] = {}
    for name, ref in table.metadata.refs.items():
        names.setdefault(ref.snapshot_id, []).append(name)
    return {snapshot_id: tuple(sorted(found)) for snapshot_id, found in names.items()}


def tagged_snapshot_ids(table: Table) -> set[int]:
    """Ids of snapshots a tag or branch points at (never expired)."""
    return {ref.snapshot_id for ref in table.metadata.refs.values()}


@dataclass(frozen=True)
class SnapshotInfo:
    """One snapshot of the samples table as ``mmsr features ls`` shows it."""

    snapshot_id: int
    parent_id: int | None
    timestamp: datetime
    """Commit time, UTC."""
    operation: str
    """Iceberg operation: ``append``, ``overwrite``, ``delete`` or ``replace``."""
    run_id: str | None
    """The preprocess run that committed it (None for snapshots made outside ``commit_run``)."""
    config_hash: str | None
    rows: int | None
    """Rows the run added (``commit_run``'s ``rows`` property)."""
    errors: int | None
    """Inputs the run rejected (``commit_run``'s ``errors`` property)."""
    refs: tuple[str, ...]
    """Tags and branches pointing at this snapshot (``main`` is the current one)."""
    is_current: bool
    properties: Mapping[str, str] = field(default_factory=dict)
    """The whole snapshot summary (Iceberg's ``added-data-files``, ``total-records``, ... included)."""


def _optional_int(value: str | None) -> int | None:
    return None if value is None else int(value)


def _snapshot_info(snapshot: Snapshot, refs: tuple[str, ...], current_id: int | None) -> SnapshotInfo:
    summary = snapshot.summary
    properties = {} if summary is None else dict(summary.additional_properties)
    return SnapshotInfo(
        snapshot_id=snapshot.snapshot_id,
        parent_id=snapshot.parent_snapshot_id,
        timestamp=snapshot_time(snapshot),
        operation="unknown" if summary is None else summary.operation.value,
        run_id=properties.get("run_id"),
        config_hash=properties.get("config_hash"),
        rows=_optional_int(properties.get("rows")),
        errors=_optional_int(properties.get("errors")),
        refs=refs,
        is_current=snapshot.snapshot_id == current_id,
        properties=properties,
    )


def list_snapshots(config: FeatureStoreConfig) -> list[SnapshotInfo]:
    """Every snapshot of the samples table, oldest first; [] before the first commit."""
    table = load_samples_table(config)
    if table is None:
        return []
    current = table.current_snapshot()
    current_id = None if current is None else current.snapshot_id
    refs = refs_by_snapshot(table)
    snapshots = sorted(table.snapshots(), key=lambda found: (found.timestamp_ms, found.sequence_number or 0))
    return [_snapshot_info(found, refs.get(found.snapshot_id, ()), current_id) for found in snapshots]


@dataclass(frozen=True)
class ModalityCoverage:
    """How many rows carry a modality (its tokens column is non-null)."""

    modality: Modality
    present: int
    rows: int

    @property
    def share(self) -> float:
        """``present / rows`` in [0, 1]; 0.0 for an empty snapshot."""
        return self.present / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class Lineage:
    """Distinct lineage values over a snapshot's rows (sorted), and the runs that built it."""

    config_hashes: tuple[str, ...]
    pipeline_versions: tuple[str, ...]
    extractors: tuple[str, ...]
    """Distinct ``extractors`` JSON values ({modality: "model_id@revision"}), keys sorted."""
    run_ids: tuple[str, ...]
    """``run_id`` of the snapshot and its ancestors, newest first."""


@dataclass(frozen=True)
class SnapshotDescription:
    """What ``mmsr features show`` prints about one snapshot."""

    info: SnapshotInfo
    schema: Schema
    """The snapshot's Iceberg schema (``schema.as_arrow()`` for Arrow types)."""
    schema_differences: tuple[str, ...]
    """How that schema differs from ``SAMPLES_SCHEMA`` (empty when it matches)."""
    schema_version: str | None
    """The table's ``mmsr.schema-version`` property."""
    rows: int
    split_counts: Mapping[str, int]
    coverage: tuple[ModalityCoverage, ...]
    """One entry per :class:`Modality`, in enum order."""
    lineage: Lineage
    data_files: int
    data_bytes: int


@dataclass
class _Tally:
    """Running counts over a snapshot's record batches."""

    rows: int = 0
    splits: Counter[str] = field(default_factory=Counter)
    present: Counter[Modality] = field(default_factory=Counter)
    lineage: dict[str, set[str]] = field(default_factory=lambda: {name: set() for name in _LINEAGE_COLUMNS})

    def add(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        for split, count in zip(*_value_counts(batch.column("split"))):
            self.splits[split] += count
        for modality in Modality:
            column = batch.column(modality.tokens_column)
            self.present[modality] += len(column) - column.null_count
        for name in _LINEAGE_COLUMNS:
            self.lineage[name].update(value for value in pc.unique(batch.column(name)).to_pylist() if value is not None)


def _value_counts(column: pa.Array) -> tuple[list[str], list[int]]:
    counts = pc.value_counts(column)
    return counts.field("values").to_pylist(), counts.field("counts").to_pylist()


def _canonical_json(text: str) -> str:
    """``text`` re-serialised with sorted keys (kept as is if it is not JSON)."""
    try:
        return json.dumps(json.loads(text), sort_keys=True)
    except json.JSONDecodeError:
        return text


def _tally(table: Table, snapshot_id: int) -> _Tally:
    columns = ("split", *(modality.tokens_column for modality in Modality), *_LINEAGE_COLUMNS)
    tally = _Tally()
    for batch in table.scan(snapshot_id=snapshot_id, selected_fields=columns).to_arrow_batch_reader():
        tally.add(batch)
    return tally


def _run_ids(table: Table, snapshot: Snapshot) -> tuple[str, ...]:
    found = (ancestor.summary["run_id"] for ancestor in ancestors_of(snapshot, table.metadata) if ancestor.summary)
    return tuple(dict.fromkeys(run_id for run_id in found if run_id))


def describe_snapshot(config: FeatureStoreConfig, snapshot: str | int | None = None) -> SnapshotDescription:
    """Schema, counts, modality coverage, lineage and data files of one snapshot (None = current).

    Raises ValueError if ``snapshot`` names no snapshot (see ``resolve_snapshot``).
    """
    snapshot_id = resolve_snapshot(config, snapshot)
    table = require_samples_table(config)
    found = table.snapshot_by_id(snapshot_id)
    assert found is not None, f"resolve_snapshot returned unknown snapshot {snapshot_id}"
    current = table.current_snapshot()
    current_id = None if current is None else current.snapshot_id
    info = _snapshot_info(found, refs_by_snapshot(table).get(snapshot_id, ()), current_id)
    schema = table.schemas()[found.schema_id] if found.schema_id is not None else table.schema()
    tally = _tally(table, snapshot_id)
    files = [task.file for task in table.scan(snapshot_id=snapshot_id).plan_files()]
    return SnapshotDescription(
        info=info,
        schema=schema,
        schema_differences=tuple(schema_differences(schema.as_arrow(), SAMPLES_SCHEMA)),
        schema_version=table.properties.get(SCHEMA_VERSION_PROPERTY),
        rows=tally.rows,
        split_counts=dict(sorted(tally.splits.items())),
        coverage=tuple(ModalityCoverage(modality, tally.present[modality], tally.rows) for modality in Modality),
        lineage=Lineage(
            config_hashes=tuple(sorted(tally.lineage["config_hash"])),
            pipeline_versions=tuple(sorted(tally.lineage["pipeline_version"])),
            extractors=tuple(sorted({_canonical_json(text) for text in tally.lineage["extractors"]})),
            run_ids=_run_ids(table, found),
        ),
        data_files=len(files),
        data_bytes=sum(file.file_size_in_bytes for file in files),
    )

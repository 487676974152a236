"""Commit a run's staged Parquet files to the samples and errors tables: one snapshot each.

Protocol (nothing is visible until the samples snapshot lands):

1. Every staged file's Arrow schema must equal its table's schema, checked before anything moves.
2. The errors table first, so any samples snapshot's rejected inputs are always already
   recorded: its files are moved (not rewritten) from ``_staging/<run_id>`` into the table's data
   location and registered by ``Table.add_files`` in ONE snapshot, retried on concurrent commits.
3. The samples table, each sample id exactly once whatever runs at the same time (optimistic
   concurrency): the run planned against a *base* snapshot. Before each attempt, the rows whose
   ids the snapshots after the last checked one added are dropped from the staged files
   (:mod:`featurestore.concurrent_additions`); then the files are moved and added in one snapshot
   that lands only if the table's head is still the one just checked (Iceberg's
   ``AssertRefSnapshotId``; pyiceberg's own blind retry is off for these tables, see
   :mod:`featurestore.catalog`). A conflict moves the files back and starts the next attempt,
   which re-checks against what the new snapshots added. Snapshot summaries carry ``run_id``,
   ``config_hash``, ``rows``, ``errors`` and the caller's other properties.
4. Each table's commit checks, once it landed, that every file it added exists; if one does not,
   it undoes its snapshot where it can and raises (:mod:`featurestore.landed_files`).
5. The staging directory is removed.

While the run's staging directory exists, the files it listed (:func:`featurestore.staging.record_commit_targets`)
are never orphans to ``mmsr features expire``, whatever their age (:mod:`featurestore.orphan_files`).

If a table's commit fails, its moved files are moved back to staging, so the caller can retry or
discard the run (:func:`featurestore.staging.discard_staging`). Should the samples commit fail
after the errors commit landed, the run's rejected inputs stay recorded (tagged with its run id)
while none of its rows are visible.
"""

from __future__ import annotations

import posixpath
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException, CommitStateUnknownException
from pyiceberg.table import Table

from featurestore.catalog import ensure_tables, open_catalog
from featurestore.concurrent_additions import drop_staged_ids, staged_ids_added_since
from featurestore.config import FeatureStoreConfig
from featurestore.landed_files import verify_landed
from featurestore.staging import discard_staging, list_staged, record_commit_targets

RESERVED_SUMMARY_KEYS = ("run_id", "rows", "errors")
"""Snapshot-summary keys set by :func:`commit_run` itself; callers may not pass them."""

_COMMIT_ATTEMPTS = 30
_BACKOFF_S = 0.05
_MAX_BACKOFF_S = 2.0


class StagedSchemaError(ValueError):
    """A staged Parquet file's schema differs from its table's; nothing was committed."""


@dataclass(frozen=True)
class CommitResult:
    snapshot_id: int | None
    """Samples-table snapshot holding the run's rows; the table's current one (None if the table
    has none) when the run staged no sample rows, see :attr:`committed`."""
    errors_snapshot_id: int | None
    """Errors-table snapshot holding the run's rejected inputs (current one if it staged none)."""
    rows: int
    errors: int
    table: str
    """Identifier of the samples table, ``namespace.table``."""
    already_present: int = 0
    """Staged rows left out because a snapshot committed after the run's base already holds their id."""

    @property
    def committed(self) -> bool:
        """Whether a new samples snapshot was made (False: the run staged no sample rows)."""
        return self.rows > 0


@dataclass(frozen=True)
class _StagedFile:
    url: str
    rows: int


def _name(table: Table) -> str:
    return ".".join(table.name())


def _canonical(data_type: pa.DataType) -> pa.DataType:
    """Large/view string, binary and list types as their plain forms (Iceberg does not tell them apart)."""
    if pa.types.is_large_string(data_type) or pa.types.is_string_view(data_type):
        return pa.string()
    if pa.types.is_large_binary(data_type) or pa.types.is_binary_view(data_type):
        return pa.binary()
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type) or pa.types.is_list_view(data_type):
        element = data_type.value_field
        return pa.list_(pa.field("item", _canonical(element.type), element.nullable))
    return data_type


def schema_differences(found: pa.Schema, expected: pa.Schema) -> list[str]:
    """Human-readable differences between two Arrow schemas, by column name ([] if equal).

    Column order, field metadata, list element names and large-vs-plain types are ignored;
    types and nullability are not.
    """
    def describe(field: pa.Field) -> str:
        return f"{_canonical(field.type)}{'' if field.nullable else ' not null'}"

    have = {field.name: describe(field) for field in found}
    want = {field.name: describe(field) for field in expected}
    problems = [f"missing column {name!r} ({kind})" for name, kind in want.items() if name not in have]
    problems += [f"unexpected column {name!r} ({kind})" for name, kind in have.items() if name not in want]
    problems += [
        f"column {name!r} is {have[name]}, table has {kind}"
        for name, kind in want.items()
        if name in have and have[name] != kind
    ]
    return problems


def _inspect_staged(urls: list[str], table: Table) -> list[_StagedFile]:
    """Row counts of ``urls``, after checking each file's schema against ``table``'s."""
    expected = table.schema().as_arrow()
    staged = []
    for url in urls:
        with fsspec.open(url, "rb") as handle:
            metadata = pq.read_metadata(handle)
        problems = schema_differences(metadata.schema.to_arrow_schema(), expected)
        if problems:
            raise StagedSchemaError(f"staged file {url} does not match table {_name(table)}: " + "; ".join(problems))
        staged.append(_StagedFile(url=url, rows=metadata.num_rows))
    return staged


def _move(source: str, destination: str) -> None:
    """Move one file between URLs (a rename where the filesystem allows it)."""
    source_fs, source_path = fsspec.core.url_to_fs(source)
    target_fs, target_path = fsspec.core.url_to_fs(destination)
    target_fs.makedirs(posixpath.dirname(target_path), exist_ok=True)
    if type(source_fs) is type(target_fs):
        source_fs.mv(source_path, target_path)
        if isinstance(target_fs, LocalFileSystem):  # a rename keeps the old mtime: orphan ages count from the move
            target_fs.touch(target_path, truncate=False)
        return
    with source_fs.open(source_path, "rb") as reader, target_fs.open(target_path, "wb") as writer:
        while chunk := reader.read(16 << 20):
            writer.write(chunk)
    source_fs.rm(source_path)


def _destinations(table: Table, staged: list[_StagedFile], run_id: str) -> list[str]:
    """Data-location URLs for the staged files, named ``<run_id>-<file>``; refuse to overwrite."""
    provider = table.location_provider()
    targets = [provider.new_data_location(f"{run_id}-{posixpath.basename(file.url)}") for file in staged]
    for target in targets:
        fs, path = fsspec.core.url_to_fs(target)
        if fs.exists(path):
            raise FileExistsError(f"{target} already exists: run_id {run_id!r} was committed to {_name(table)} before")
    return targets


def _backoff(run_id: str, attempt: int) -> None:
    """Sleep before attempt ``attempt + 1``: exponential, capped, jittered per run (so runs that
    collided do not collide again in lockstep)."""
    jitter = random.Random(f"{run_id}:{attempt}").uniform(0.5, 1.5)
    time.sleep(min(_MAX_BACKOFF_S, _BACKOFF_S * 2**attempt) * jitter)


def _add_files(catalog: Catalog, table: Table, paths: list[str], summary: dict[str, str]) -> int:
    """``add_files`` in one snapshot, retried on concurrent-commit conflicts; the new snapshot id.

    Only for tables whose rows have no identity (errors): each retry reloads the table and adds
    the same files on top of whatever was committed meanwhile.
    """
    attempt = 0
    while True:
        try:
            table.add_files(paths, snapshot_properties=summary)
            break
        except CommitFailedException:
            attempt += 1
            if attempt == _COMMIT_ATTEMPTS:
                raise
            _backoff(summary.get("run_id", ""), attempt)
            table = catalog.load_table(table.name())
    snapshot = table.current_snapshot()
    assert snapshot is not None, "add_files committed no snapshot"
    verify_landed(catalog, _name(table), snapshot.snapshot_id, paths)
    return snapshot.snapshot_id


def _current_snapshot_id(table: Table) -> int | None:
    snapshot = table.current_snapshot()
    return None if snapshot is None else snapshot.snapshot_id


def _move_in(
    config: FeatureStoreConfig, run_id: str, staged: list[_StagedFile], targets: list[str]
) -> list[tuple[str, str]]:
    """Move ``staged`` to ``targets`` (listed in the run's staging first, see
    :func:`featurestore.staging.record_commit_targets`); on any failure move what moved back and re-raise."""
    record_commit_targets(config, run_id, targets)
    moved: list[tuple[str, str]] = []
    try:
        for file, target in zip(staged, targets):
            _move(file.url, target)
            moved.append((file.url, target))
    except BaseException:
        _move_back(moved)
        raise
    return moved


def _move_back(moved: list[tuple[str, str]]) -> None:
    for source, target in reversed(moved):
        _move(target, source)


def _commit_files(
    config: FeatureStoreConfig, catalog: Catalog, table: Table, staged: list[_StagedFile], run_id: str,
    summary: dict[str, str],
) -> int | None:
    """Move ``staged`` into ``table`` and add them in one snapshot; the current snapshot if none."""
    if not staged:
        return _current_snapshot_id(table)
    moved = _move_in(config, run_id, staged, _destinations(table, staged, run_id))
    try:
        return _add_files(catalog, table, [target for _, target in moved], summary)
    except CommitStateUnknownException:
        raise  # the files may now belong to the table: leave them where it expects them
    except BaseException:
        _move_back(moved)
        raise


@dataclass(frozen=True)
class _SamplesCommit:
    snapshot_id: int | None
    rows: int
    already_present: int


def _try_add_samples(
    config: FeatureStoreConfig, catalog: Catalog, table: Table, staged: list[_StagedFile], run_id: str,
    summary: dict[str, str],
) -> int:
    """One attempt: move ``staged`` in and add them, landing only on the head ``table`` was loaded at."""
    moved = _move_in(config, run_id, staged, _destinations(table, staged, run_id))
    targets = [target for _, target in moved]
    try:
        table.add_files(targets, snapshot_properties=summary)
    except CommitStateUnknownException:
        raise  # the files may now belong to the table: leave them where it expects them
    except BaseException:
        _move_back(moved)
        raise
    snapshot = table.current_snapshot()
    assert snapshot is not None, "add_files committed no snapshot"
    verify_landed(catalog, config.samples_identifier, snapshot.snapshot_id, targets)
    return snapshot.snapshot_id


def _commit_samples(
    catalog: Catalog, config: FeatureStoreConfig, urls: list[str], run_id: str, properties: Mapping[str, str],
    errors: int, base_id: int | None,
) -> _SamplesCommit:
    """Commit the staged sample files at ``urls`` exactly once per sample id (protocol step 3)."""
    checked, already_present = base_id, 0
    for attempt in range(_COMMIT_ATTEMPTS):
        table = catalog.load_table(config.samples_identifier)
        head_id = _current_snapshot_id(table)
        staged = [file for file in _inspect_staged(urls, table) if file.rows]
        if staged and head_id != checked:
            urls = [file.url for file in staged]
            try:
                committed = staged_ids_added_since(table, checked, head_id, urls)
            except FileNotFoundError:  # a file only an expired snapshot read: re-check on the new metadata
                if catalog.load_table(config.samples_identifier).metadata_location == table.metadata_location:
                    raise
                continue
            already_present += drop_staged_ids(urls, committed).dropped
            checked = head_id
            staged = [file for file in _inspect_staged(urls, table) if file.rows]
        if not staged:
            return _SamplesCommit(snapshot_id=head_id, rows=0, already_present=already_present)
        rows = sum(file.rows for file in staged)
        try:
            snapshot_id = _try_add_samples(
                config, catalog, table, staged, run_id, _summary(run_id, properties, rows, errors)
            )
        except CommitFailedException:
            _backoff(run_id, attempt)
            continue
        return _SamplesCommit(snapshot_id=snapshot_id, rows=rows, already_present=already_present)
    raise CommitFailedException(
        f"{config.samples_identifier}: run {run_id} lost {_COMMIT_ATTEMPTS} commit races in a row; its files are "
        "still staged, retry the commit"
    )


def _summary(run_id: str, properties: Mapping[str, str], rows: int, errors: int) -> dict[str, str]:
    if "config_hash" not in properties:
        raise ValueError("properties must contain 'config_hash' (the run's config hash, recorded in the snapshot)")
    clashes = sorted(set(properties) & set(RESERVED_SUMMARY_KEYS))
    if clashes:
        raise ValueError(f"properties must not set {clashes}: commit_run records them itself")
    return {**{str(k): str(v) for k, v in properties.items()}, "run_id": run_id, "rows": str(rows), "errors": str(errors)}


def commit_run(
    config: FeatureStoreConfig, run_id: str, properties: Mapping[str, str], base_snapshot_id: int | None = None
) -> CommitResult:
    """Commit everything staged for ``run_id``: errors table first, then the samples table.

    ``base_snapshot_id`` is the samples snapshot the run planned against (its already committed
    ids were left out of what it staged); staged rows whose ids any later snapshot added are left
    out of the commit (:attr:`CommitResult.already_present`). None: the run planned against an
    empty table, so every committed id is checked. ``properties`` (must include ``config_hash``)
    go into both snapshots' summaries next to ``run_id``, ``rows`` and ``errors``. Staged files
    with zero rows are dropped. Raises :class:`StagedSchemaError` (naming the file) before
    anything moves if a schema differs.
    """
    staged = list_staged(config, run_id)
    catalog = open_catalog(config)
    tables = ensure_tables(catalog, config)
    staged_rows = sum(file.rows for file in _inspect_staged(staged.samples, tables.samples))
    errors = [file for file in _inspect_staged(staged.errors, tables.errors) if file.rows]
    error_rows = sum(file.rows for file in errors)
    errors_summary = _summary(run_id, properties, staged_rows, error_rows)  # checks properties before anything moves
    errors_snapshot_id = _commit_files(config, catalog, tables.errors, errors, run_id, errors_summary)
    samples = _commit_samples(catalog, config, staged.samples, run_id, properties, error_rows, base_snapshot_id)
    discard_staging(config, run_id)
    return CommitResult(
        snapshot_id=samples.snapshot_id, errors_snapshot_id=errors_snapshot_id, rows=samples.rows, errors=error_rows,
        table=config.samples_identifier, already_present=samples.already_present,
    )

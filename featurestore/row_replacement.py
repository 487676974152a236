"""Replace committed samples-table rows by id in ONE overwrite snapshot, exactly once under concurrency.

Each attempt reads, at the table's head, the committed rows of the ids to replace (the data files
holding them are found by reading only their ``sample_id`` column), asks the caller's ``merge``
for the rows that replace them (it may leave out ids that need nothing, e.g. already replaced by a
concurrent run), rewrites each affected data file without the replaced rows and writes the merged
rows, then commits one ``overwrite`` snapshot that deletes the affected files and adds the new
ones. No snapshot ever reads a replaced id twice or not at all, and none reads fewer rows than
its parent. The snapshot lands only on the head it was computed from (``AssertRefSnapshotId``); a
lost race deletes the attempt's files and starts over on the new head.

The new files are listed in the run's staging before they are written
(:func:`featurestore.staging.record_commit_targets`), so a run killed mid-attempt leaves nothing
behind once the next run cleans up. Memory: the committed and merged rows of the replaced ids and
one data file at a time.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.io.pyarrow import parquet_file_to_data_file
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table

from featurestore.catalog import ensure_tables, open_catalog
from featurestore.config import FeatureStoreConfig
from featurestore.landed_files import verify_landed
from featurestore.schema import SAMPLES_SCHEMA, conform_samples
from featurestore.staging import record_commit_targets

Merge = Callable[[pa.Table, pa.Table], pa.Table]
"""(staged rows, committed rows of their ids at the head) -> the rows to commit in their place."""

_ATTEMPTS = 30
_BACKOFF_S = 0.05
_MAX_BACKOFF_S = 2.0


@dataclass(frozen=True)
class ReplaceResult:
    snapshot_id: int | None
    """The overwrite snapshot (None when nothing needed replacing)."""
    replaced: int
    """Rows replaced."""
    left_out: int
    """Staged rows ``merge`` left out (their committed row needed nothing)."""


@dataclass(frozen=True)
class _Holding:
    """The head's data files that hold any of the ids (with each file's ids), and those ids' committed rows."""

    files: list[tuple[DataFile, pa.Array]]
    committed: pa.Table


def _read(url: str, columns: list[str] | None = None) -> pa.Table:
    with fsspec.open(url, "rb") as handle:
        return pq.read_table(handle, columns=columns)


def _holding(table: Table, ids: pa.Array) -> _Holding:
    """Scan the head's data files (``sample_id`` only) for ``ids``; read the rows of those that hold any."""
    files, rows = [], []
    for task in table.scan().plan_files():
        if task.delete_files:
            raise ValueError(f"{task.file.file_path} has row deletes: this store never writes any")
        file_ids = _read(task.file.file_path, ["sample_id"])["sample_id"].combine_chunks()
        if pc.any(pc.is_in(file_ids, value_set=ids)).as_py():
            files.append((task.file, file_ids))
            found = conform_samples(_read(task.file.file_path))
            rows.append(found.filter(pc.is_in(found["sample_id"], value_set=ids)))
    return _Holding(files=files, committed=pa.concat_tables(rows) if rows else SAMPLES_SCHEMA.empty_table())


def _write(table: Table, rows: pa.Table, url: str) -> DataFile:
    fs, path = fsspec.core.url_to_fs(url)
    with fs.open(path, "wb") as handle:
        pq.write_table(conform_samples(rows), handle, compression="zstd")
    return parquet_file_to_data_file(table.io, table.metadata, url)


def _remove(urls: list[str]) -> None:
    for url in urls:
        fs, path = fsspec.core.url_to_fs(url)
        if fs.exists(path):
            fs.rm(path)


def _attempt(
    config: FeatureStoreConfig, catalog: Catalog, table: Table, staged: pa.Table, merge: Merge, run_id: str,
    properties: dict[str, str],
) -> ReplaceResult:
    holding = _holding(table, staged["sample_id"].combine_chunks())
    merged = merge(staged, holding.committed)
    left_out = staged.num_rows - merged.num_rows
    if not merged.num_rows:
        return ReplaceResult(snapshot_id=None, replaced=0, left_out=left_out)
    replaced_ids = merged["sample_id"].combine_chunks()
    affected = [(file, pc.is_in(ids, value_set=replaced_ids)) for file, ids in holding.files]
    affected = [(file, hit) for file, hit in affected if pc.any(hit).as_py()]
    provider, tag = table.location_provider(), uuid.uuid4().hex[:8]
    targets = [provider.new_data_location(f"{run_id}-replace-{tag}-{n:05d}.parquet") for n in range(len(affected) + 1)]
    record_commit_targets(config, run_id, targets)
    written: list[str] = []
    try:
        added = [_write(table, merged, targets[0])]
        written.append(targets[0])
        for (file, hit), target in zip(affected, targets[1:]):
            rest = _read(file.file_path).filter(pc.invert(hit))
            if rest.num_rows:
                added.append(_write(table, rest, target))
                written.append(target)
        summary = {**properties, "replaced": str(merged.num_rows)}
        with table.transaction() as transaction:
            with transaction.update_snapshot(snapshot_properties=summary).overwrite() as overwrite:
                for file, _ in affected:
                    overwrite.delete_data_file(file)
                for file in added:
                    overwrite.append_data_file(file)
    except BaseException:
        _remove(written)
        raise
    snapshot_id = table.current_snapshot().snapshot_id
    verify_landed(catalog, config.samples_identifier, snapshot_id, written)
    return ReplaceResult(snapshot_id=snapshot_id, replaced=merged.num_rows, left_out=left_out)


def replace_rows(
    config: FeatureStoreConfig, staged: pa.Table, merge: Merge, run_id: str, properties: Mapping[str, str]
) -> ReplaceResult:
    """Replace the committed rows of ``staged``'s ids by ``merge(staged, committed)`` in one snapshot.

    ``properties`` (plus ``replaced``: the row count) go into the snapshot summary. Every id the
    merge returns must be committed. Raises CommitFailedException after losing
    ``_ATTEMPTS`` races in a row (nothing committed).
    """
    if not staged.num_rows:
        return ReplaceResult(snapshot_id=None, replaced=0, left_out=0)
    catalog = open_catalog(config)
    ensure_tables(catalog, config)
    summary = {str(key): str(value) for key, value in properties.items()}
    for attempt in range(_ATTEMPTS):
        table = catalog.load_table(config.samples_identifier)
        try:
            return _attempt(config, catalog, table, staged, merge, run_id, summary)
        except CommitFailedException:
            pass
        except FileNotFoundError:  # a file the loaded metadata read, rewritten and expired meanwhile: a lost race
            if catalog.load_table(config.samples_identifier).metadata_location == table.metadata_location:
                raise  # the table did not change: it lacks a file, the store is damaged
        jitter = random.Random(f"{run_id}:{attempt}").uniform(0.5, 1.5)
        time.sleep(min(_MAX_BACKOFF_S, _BACKOFF_S * 2**attempt) * jitter)
    raise CommitFailedException(f"{config.samples_identifier}: run {run_id} lost {_ATTEMPTS} replacement races in a row")

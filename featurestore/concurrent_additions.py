"""What the snapshots committed after a base snapshot added: the re-check of an optimistic commit.

A run plans against one snapshot (its *base*) and commits later; meanwhile other runs may commit
the same sample ids. Before each commit attempt, :mod:`featurestore.commit` asks which ids the
snapshots between the base and the table's head added (:func:`ids_added_since`) and drops those
rows from its staged files (:func:`drop_staged_ids`); the attempt itself only lands if the head is
still the one it checked (Iceberg's ``AssertRefSnapshotId``), else it checks again.

Memory: the ids of the smaller side, the run's staged rows or the rows the concurrent snapshots
added (one Python string each, ~100 bytes; row counts come from footers and manifests), and one
file at a time; nothing proportional to the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.manifest import ManifestContent, ManifestEntryStatus
from pyiceberg.table import Table
from pyiceberg.table.snapshots import ancestors_between_ids

ID_COLUMN = "sample_id"


@dataclass(frozen=True)
class AddedFile:
    url: str
    rows: int


def live_data_files(table: Table, snapshot_id: int) -> list[AddedFile]:
    """Every data file the snapshot ``snapshot_id`` reads (what it holds, whoever added it)."""
    return [AddedFile(task.file.file_path, task.file.record_count) for task in table.scan(snapshot_id=snapshot_id).plan_files()]


def data_files_added_since(table: Table, base_id: int | None, head_id: int) -> list[AddedFile]:
    """The data files that ``head_id`` and its ancestors after ``base_id`` added, newest snapshot
    first. When the head's history does not lead back to ``base_id`` unbroken (``base_id`` None
    with the table's first snapshot expired, a base that is no ancestor of the head after a
    rollback, or an expired snapshot between the two), what it added cannot be told apart: every
    data file the head reads counts (:func:`live_data_files`)."""
    chain = list(ancestors_between_ids(base_id, head_id, table.metadata))
    if not chain or chain[-1].parent_snapshot_id != base_id:
        return live_data_files(table, head_id)
    found: list[AddedFile] = []
    for snapshot in chain:
        for manifest in snapshot.manifests(table.io):
            if manifest.added_snapshot_id != snapshot.snapshot_id or manifest.content != ManifestContent.DATA:
                continue
            found += [
                AddedFile(entry.data_file.file_path, entry.data_file.record_count)
                for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True)
                if entry.status == ManifestEntryStatus.ADDED and entry.snapshot_id == snapshot.snapshot_id
            ]
    return found


def read_ids(urls: Iterable[str]) -> set[str]:
    """The ``sample_id`` values of Parquet files (only that column is read)."""
    found: set[str] = set()
    for url in urls:
        with fsspec.open(url, "rb") as handle:
            found.update(pq.read_table(handle, columns=[ID_COLUMN]).column(ID_COLUMN).to_pylist())
    return found


def _staged_rows(urls: list[str]) -> int:
    rows = 0
    for url in urls:
        with fsspec.open(url, "rb") as handle:
            rows += pq.read_metadata(handle).num_rows
    return rows


def staged_ids_added_since(table: Table, base_id: int | None, head_id: int | None, staged: list[str]) -> set[str]:
    """Ids of the staged files at ``staged`` that the snapshots after ``base_id`` up to ``head_id``
    added (at least those; empty if the two snapshots are equal). Holds the smaller side in memory."""
    if head_id is None or head_id == base_id:
        return set()
    added = data_files_added_since(table, base_id, head_id)
    if sum(file.rows for file in added) <= _staged_rows(staged):
        return read_ids(file.url for file in added)
    mine = read_ids(staged)
    hits: set[str] = set()
    for file in added:
        hits |= mine & read_ids([file.url])
    return hits


@dataclass(frozen=True)
class DroppedRows:
    kept: int
    """Rows left in the staged files."""
    dropped: int
    """Rows removed because their id is already committed."""


def drop_staged_ids(urls: list[str], committed: set[str]) -> DroppedRows:
    """Rewrite each staged Parquet file at ``urls`` without the rows whose id is in ``committed``
    (a file left empty is rewritten empty; its schema stays)."""
    kept = dropped = 0
    for url in urls:
        fs, path = fsspec.core.url_to_fs(url)
        with fs.open(path, "rb") as handle:
            ids = pq.read_table(handle, columns=[ID_COLUMN]).column(ID_COLUMN).to_pylist()
        mask = [sample_id not in committed for sample_id in ids]
        kept += sum(mask)
        if all(mask):
            continue
        dropped += len(mask) - sum(mask)
        with fs.open(path, "rb") as handle:
            table = pq.read_table(handle)
        with fs.open(path, "wb") as handle:
            pq.write_table(table.filter(pa.array(mask)), handle, compression="zstd")
    return DroppedRows(kept=kept, dropped=dropped)


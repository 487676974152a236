"""Read a snapshot's file tree from its metadata, piece by piece, wherever the pieces are needed.

A :class:`SnapshotRef` is what a driver hands to a distributed job: the table's metadata file, the
snapshot id and the FileIO properties (a few hundred bytes, whatever the table's size). Workers
then read the snapshot's manifest list (:func:`snapshot_manifests`), each manifest
(:func:`manifest_data_files`) and each data file's identity columns
(:func:`read_identity_columns`) themselves, so no list of files or rows passes through the driver.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import fsspec
import pyarrow.parquet as pq
from pyiceberg.manifest import DataFileContent, ManifestContent, ManifestFile
from pyiceberg.table import StaticTable

from featurestore.config import FeatureStoreConfig
from featurestore.inspection import load_samples_table

IDENTITY_COLUMNS = ("source_sha256", "sample_id", "extractors")
"""What a rerun's plan needs of each committed row."""


@dataclass(frozen=True)
class SnapshotRef:
    """Where a samples-table snapshot's metadata lives, and how to read it."""

    metadata_location: str
    snapshot_id: int
    io_properties: tuple[tuple[str, str], ...] = ()

    def table(self) -> StaticTable:
        return StaticTable.from_metadata(self.metadata_location, dict(self.io_properties))


@dataclass(frozen=True)
class CommittedKey:
    """One committed row as a rerun's plan sees it."""

    source_sha256: str
    sample_id: str
    extractors: str
    """The row's ``extractors`` JSON."""


def current_snapshot_ref(config: FeatureStoreConfig) -> SnapshotRef | None:
    """The samples table's current snapshot as a :class:`SnapshotRef`; None before the first commit."""
    table = load_samples_table(config)
    snapshot = None if table is None else table.current_snapshot()
    if table is None or snapshot is None:
        return None
    return SnapshotRef(table.metadata_location, snapshot.snapshot_id, config.io_properties)


def snapshot_manifests(ref: SnapshotRef) -> list[ManifestFile]:
    """The snapshot's data manifests (one read of its manifest list). Raises ValueError if it has
    delete manifests: this store never writes row deletes, and reading around them is not done here."""
    table = ref.table()
    snapshot = table.snapshot_by_id(ref.snapshot_id)
    if snapshot is None:
        raise ValueError(f"snapshot {ref.snapshot_id} is not in {ref.metadata_location}")
    manifests = snapshot.manifests(table.io)
    if any(manifest.content != ManifestContent.DATA for manifest in manifests):
        raise ValueError(f"snapshot {ref.snapshot_id} has delete files; this store never writes any")
    return manifests


def manifest_data_files(ref: SnapshotRef, manifest: ManifestFile) -> Iterator[str]:
    """URLs of the live data files one manifest lists."""
    table = ref.table()
    for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
        if entry.data_file.content == DataFileContent.DATA:
            yield entry.data_file.file_path


def read_identity_columns(url: str, config_hash: str, batch_rows: int = 65536) -> Iterator[CommittedKey]:
    """The committed rows of one data file made under ``config_hash``, as :class:`CommittedKey`, a
    batch at a time (only those columns are read)."""
    with fsspec.open(url, "rb") as handle:
        parquet = pq.ParquetFile(handle)
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=[*IDENTITY_COLUMNS, "config_hash"]):
            rows = batch.to_pydict()
            for sha, sample_id, extractors, found in zip(
                rows["source_sha256"], rows["sample_id"], rows["extractors"], rows["config_hash"]
            ):
                if found == config_hash:
                    yield CommittedKey(sha, sample_id, extractors)

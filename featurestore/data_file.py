"""One Parquet data file of a snapshot, as its Iceberg scan plan records it.

Its own module so that Ray read tasks (``featurestore.snapshot_datasource``) unpickle it without
importing the catalog and DuckDB readers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataFile:
    """One data file of a snapshot, as the Iceberg scan plan records it (no file is opened)."""

    url: str
    rows: int
    bytes: int
    """Size on storage (compressed Parquet)."""

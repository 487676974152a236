"""Orphan data files: in a table's data location, referenced by no snapshot.

A commit puts its files into the table's data location first and commits the snapshot that
references them second (:mod:`featurestore.commit`, :mod:`featurestore.row_replacement`). A
process killed in between leaves files that no snapshot references and no reader ever sees:
orphans. Two ways they go away:

- the run that wrote them listed them in its staging directory first
  (:func:`featurestore.staging.record_commit_targets`); once that run is provably gone, the next
  run's staging cleanup removes the listed files no snapshot references
  (:func:`remove_unreferenced`), whatever their age;
- ``mmsr features expire`` removes every orphan older than a grace period (:func:`remove_orphans`),
  and ``mmsr features validate`` reports them (:func:`find_orphans`).

A file a live run listed (its commit may be in flight, however long it has been staging) is no
orphan, whatever its age: both take the URLs the live runs listed (``in_flight``, see
:func:`featurestore.staging.in_flight_targets`) and read them *after* listing the data location
and *before* reading the tables' references. A file seen in the listing was listed by its run
before it was moved in; if that run has since finished, the snapshot that references it landed
before its list was removed, so the references read next include it. The grace period only
protects what no lease covers (writers that list nothing).

"Referenced" means by any snapshot still in the table's metadata (tagged, expired-later or
current), from every manifest of every snapshot: listing costs one pass over the table's
manifests and one listing of its data location, nothing per row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import fsspec
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.table import Table

from featurestore.catalog import open_catalog
from featurestore.config import FeatureStoreConfig

DEFAULT_ORPHAN_GRACE_S = 24 * 3600.0
"""Unreferenced files younger than this may belong to a commit in flight: never removed by expiry."""


@dataclass(frozen=True)
class OrphanFile:
    url: str
    bytes: int
    age_s: float
    """Seconds since the file was last written (or moved into the table)."""


def modified_time(fs: fsspec.AbstractFileSystem, path: str) -> float:
    """Modification time of one file (Unix s): ``fs.modified``, else the ``mtime``/``updated`` info field."""
    try:
        return fs.modified(path).timestamp()
    except NotImplementedError:
        info = fs.info(path)
        stamp = info.get("mtime", info.get("updated", 0.0))
        return stamp if isinstance(stamp, (int, float)) else datetime.fromisoformat(str(stamp)).timestamp()


def referenced_files(table: Table) -> set[str]:
    """Paths of every data (and delete) file some snapshot of ``table`` reads (a manifest entry
    marking a file deleted by a snapshot is no reference to it)."""
    manifests = {}
    for snapshot in table.snapshots():
        for manifest in snapshot.manifests(table.io):
            manifests.setdefault(manifest.manifest_path, manifest)
    return {
        entry.data_file.file_path
        for manifest in manifests.values()
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True)
    }


def _tables(config: FeatureStoreConfig) -> list[Table]:
    """The samples and errors tables that exist (neither is created here)."""
    catalog = open_catalog(config)
    found = []
    for identifier in (config.samples_identifier, config.errors_identifier):
        try:
            found.append(catalog.load_table(identifier))
        except (NoSuchTableError, NoSuchNamespaceError):
            continue
    return found


InFlight = Callable[[], Iterable[str]]
"""Returns the URLs that live runs listed before moving or writing them into a table (see the module docstring)."""


def _nothing_in_flight() -> Iterable[str]:
    return ()


def _listed_files(table: Table) -> dict[str, dict]:
    """The files under ``table``'s data location (URL -> fsspec info), one listing."""
    fs, root = fsspec.core.url_to_fs(f"{table.location()}/data")
    if not fs.exists(root):
        return {}
    found = fs.find(root, detail=True)
    return {fs.unstrip_protocol(path): info for path, info in sorted(found.items()) if info.get("type") == "file"}


def find_orphans(
    config: FeatureStoreConfig, now: float | None = None, in_flight: InFlight = _nothing_in_flight
) -> list[OrphanFile]:
    """Every file in the samples and errors tables' data locations that no snapshot references and
    no live run listed (``in_flight``), by URL. Order matters (module docstring): list, then ask
    ``in_flight``, then read the references from freshly loaded tables."""
    now = time.time() if now is None else now
    listed = {url: info for table in _tables(config) for url, info in _listed_files(table).items()}
    protected = set(in_flight())
    referenced = set().union(*(referenced_files(table) for table in _tables(config)))
    orphans = []
    for url, info in listed.items():
        if url not in referenced and url not in protected:
            fs, path = fsspec.core.url_to_fs(url)
            orphans.append(OrphanFile(url=url, bytes=int(info.get("size") or 0), age_s=now - _age_base(fs, path, info)))
    return orphans


def _age_base(fs: fsspec.AbstractFileSystem, path: str, info: dict) -> float:
    """The file's modification time from its listing entry, else asked of the file system (0: it is gone)."""
    stamp = info.get("mtime")
    if isinstance(stamp, (int, float)):
        return float(stamp)
    try:
        return modified_time(fs, path)
    except FileNotFoundError:
        return 0.0


def check_grace(grace_s: float) -> None:
    """Raise ValueError unless ``grace_s`` is a finite number of seconds >= 0 (NaN and inf included)."""
    if not 0 <= grace_s < float("inf"):
        raise ValueError(f"the orphan grace period must be a finite number >= 0, got {grace_s}")


def remove_orphans(
    config: FeatureStoreConfig, grace_s: float = DEFAULT_ORPHAN_GRACE_S, dry_run: bool = False, now: float | None = None,
    in_flight: InFlight = _nothing_in_flight,
) -> list[OrphanFile]:
    """Remove (``dry_run``: only list) the orphans older than ``grace_s``; the ones removed.

    A file removed meanwhile by another cleanup is skipped (not reported)."""
    check_grace(grace_s)
    old = [orphan for orphan in find_orphans(config, now, in_flight) if orphan.age_s >= grace_s]
    if dry_run:
        return old
    removed = []
    for orphan in old:
        fs, path = fsspec.core.url_to_fs(orphan.url)
        try:
            fs.rm(path)
        except FileNotFoundError:
            continue
        removed.append(orphan)
    return removed


def remove_unreferenced(config: FeatureStoreConfig, urls: list[str]) -> list[str]:
    """Remove those of ``urls`` that exist and no snapshot of either table references; those removed.

    For the files a run that is gone listed before its commit: they are either committed
    (referenced) or orphans, never part of a commit still in flight.
    """
    if not urls:
        return []
    referenced = set().union(*(referenced_files(table) for table in _tables(config)))
    removed = []
    for url in urls:
        fs, path = fsspec.core.url_to_fs(url)
        if url not in referenced and fs.exists(path):
            fs.rm(path)
            removed.append(url)
    return removed

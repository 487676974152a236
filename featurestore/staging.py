"""Where a run's writers put Parquet files before :func:`featurestore.commit.commit_run`.

Layout: ``<warehouse>/_staging/<run_id>/samples/*.parquet`` and ``.../errors/*.parquet``.
Nothing under ``_staging`` is part of any table: readers never see it, and a failed run's files
are removed with :func:`discard_staging`. All access goes through fsspec, so a ``gs://``
warehouse works the same as a local one.

A run that is killed (SIGKILL, OOM, a lost VM) cannot discard its own files. Each run therefore
leases its staging directory (:func:`claim_staging`, a ``_lease.json`` naming host, pid and a
heartbeat time) and, before leasing, removes the staging of runs that are provably gone
(:func:`cleanup_stale_staging`): a lease from this host whose process no longer exists, or any
lease (or, without one, any file) not renewed for ``ttl_s``. A live run on another host is
only ever removed by the TTL, so runs longer than ``ttl_s`` renew their lease
(:class:`LeaseHeartbeat`, as ``mmsr preprocess`` does for the whole job).

A commit moves or writes files into a table's data location before the snapshot that references
them lands. It lists them first (:func:`record_commit_targets`, under ``_targets/``), so the
cleanup of a run killed in that window also removes those of its files no snapshot references
(:func:`featurestore.orphan_files.remove_unreferenced`): nothing is left behind. While the run
is live, those listed files are never orphans to ``mmsr features expire`` (:func:`in_flight_targets`).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass

import fsspec
import psutil

from featurestore.catalog import warehouse_url
from featurestore.config import FeatureStoreConfig
from featurestore.orphan_files import modified_time, remove_unreferenced

SAMPLES_DIR = "samples"
"""Sub-directory of :func:`staging_dir` for rows matching ``SAMPLES_SCHEMA``."""
ERRORS_DIR = "errors"
"""Sub-directory of :func:`staging_dir` for rows matching ``ERRORS_SCHEMA``."""

TARGETS_DIR = "_targets"
"""Sub-directory of :func:`staging_dir` listing the table files a commit of the run put in place."""
LEASE_FILE = "_lease.json"
"""File in :func:`staging_dir` naming the run's owner (host, pid) and its last heartbeat."""
DEFAULT_STAGING_TTL_S = 24 * 3600.0
"""A staging dir whose owner cannot be checked is stale after this long without a heartbeat."""

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class StagedFiles:
    """URLs of a run's staged Parquet files, sorted."""

    samples: list[str]
    errors: list[str]


def staging_dir(config: FeatureStoreConfig, run_id: str) -> str:
    """URL of ``run_id``'s staging directory (``file://`` for a local warehouse); not created."""
    if not _RUN_ID.fullmatch(run_id):
        raise ValueError(f"run_id must be letters, digits, '_', '.', '-' (not starting with a symbol), got {run_id!r}")
    return f"{_staging_root(config)}/{run_id}"


def _staging_root(config: FeatureStoreConfig) -> str:
    return f"{warehouse_url(config)}/_staging"


def _parquet_urls(directory: str) -> list[str]:
    fs, path = fsspec.core.url_to_fs(directory)
    if not fs.exists(path):
        return []
    return sorted(fs.unstrip_protocol(found) for found in fs.glob(f"{path}/*.parquet"))


def list_staged(config: FeatureStoreConfig, run_id: str) -> StagedFiles:
    """The Parquet files staged for ``run_id`` (empty lists if it staged nothing)."""
    root = staging_dir(config, run_id)
    return StagedFiles(samples=_parquet_urls(f"{root}/{SAMPLES_DIR}"), errors=_parquet_urls(f"{root}/{ERRORS_DIR}"))


def discard_staging(config: FeatureStoreConfig, run_id: str) -> None:
    """Remove everything staged for ``run_id`` (no-op if nothing is); no table is touched."""
    fs, path = fsspec.core.url_to_fs(staging_dir(config, run_id))
    if fs.exists(path):
        fs.rm(path, recursive=True)


@dataclass(frozen=True)
class StagingLease:
    """Who owns a run's staging directory; written by :func:`claim_staging`."""

    run_id: str
    host: str
    pid: int
    pid_started: float
    """The owner's process start time (Unix s), so a reused pid is not mistaken for it."""
    heartbeat: float
    """Unix time of the last :func:`claim_staging` / :func:`renew_lease`."""


def _write_lease(config: FeatureStoreConfig, lease: StagingLease) -> None:
    fs, path = fsspec.core.url_to_fs(staging_dir(config, lease.run_id))
    fs.makedirs(path, exist_ok=True)
    with fs.open(f"{path}/{LEASE_FILE}", "w") as handle:
        json.dump(lease.__dict__, handle)


def read_lease(config: FeatureStoreConfig, run_id: str) -> StagingLease | None:
    """The lease of ``run_id``'s staging directory; None if it has none (or an unreadable one)."""
    fs, path = fsspec.core.url_to_fs(f"{staging_dir(config, run_id)}/{LEASE_FILE}")
    try:
        with fs.open(path, "r") as handle:
            return StagingLease(**json.load(handle))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def renew_lease(config: FeatureStoreConfig, run_id: str) -> None:
    """Lease ``run_id``'s staging to this process, heartbeat now (long runs: call well within the TTL)."""
    process = psutil.Process()
    _write_lease(config, StagingLease(run_id, socket.gethostname(), process.pid, process.create_time(), time.time()))


def _owner_alive(lease: StagingLease) -> bool | None:
    """Whether the lease's process still runs; None when it ran on another host (unknowable here)."""
    if lease.host != socket.gethostname():
        return None
    try:
        return abs(psutil.Process(lease.pid).create_time() - lease.pid_started) < 1.0
    except psutil.NoSuchProcess:
        return False


def _last_activity(fs: fsspec.AbstractFileSystem, path: str) -> float:
    """Newest modification time (Unix s) of any file under ``path``; 0 if it holds none."""
    return max((modified_time(fs, found) for found in fs.find(path)), default=0.0)


def record_commit_targets(config: FeatureStoreConfig, run_id: str, urls: list[str]) -> None:
    """List ``urls`` (table files about to be moved or written) in ``run_id``'s staging, before they exist."""
    fs, path = fsspec.core.url_to_fs(f"{staging_dir(config, run_id)}/{TARGETS_DIR}")
    fs.makedirs(path, exist_ok=True)
    with fs.open(f"{path}/{uuid.uuid4().hex}.json", "w") as handle:
        json.dump(urls, handle)


def recorded_commit_targets(config: FeatureStoreConfig, run_id: str) -> list[str]:
    """Every URL :func:`record_commit_targets` listed for ``run_id`` (unreadable lists, and lists
    removed while being read, are skipped)."""
    fs, path = fsspec.core.url_to_fs(f"{staging_dir(config, run_id)}/{TARGETS_DIR}")
    try:
        found_lists = sorted(fs.glob(f"{path}/*.json")) if fs.exists(path) else []
    except FileNotFoundError:
        return []
    urls: list[str] = []
    for found in found_lists:
        try:
            with fs.open(found, "r") as handle:
                urls += [str(url) for url in json.load(handle)]
        except (FileNotFoundError, ValueError, TypeError):
            continue
    return urls


def is_stale(config: FeatureStoreConfig, run_id: str, ttl_s: float, now: float) -> bool:
    """Whether ``run_id``'s staging belongs to a run that is gone (see the module docstring)."""
    lease = read_lease(config, run_id)
    if lease is not None:
        alive = _owner_alive(lease)
        return not alive if alive is not None else now - lease.heartbeat > ttl_s
    fs, path = fsspec.core.url_to_fs(staging_dir(config, run_id))
    return now - _last_activity(fs, path) > ttl_s


def in_flight_targets(config: FeatureStoreConfig, ttl_s: float = DEFAULT_STAGING_TTL_S) -> set[str]:
    """Every table file a live run (one whose staging is not stale, :func:`is_stale`) listed before
    moving or writing it (:func:`record_commit_targets`): its commit may be in flight, so none of
    these is an orphan. The files of a run that is gone are orphans like any other."""
    now = time.time()
    return {
        url for run_id in staged_run_ids(config) if not is_stale(config, run_id, ttl_s, now)
        for url in recorded_commit_targets(config, run_id)
    }


def staged_run_ids(config: FeatureStoreConfig) -> list[str]:
    """Run ids that have a staging directory, sorted."""
    fs, path = fsspec.core.url_to_fs(_staging_root(config))
    if not fs.exists(path):
        return []
    found = [entry["name"].rstrip("/").rsplit("/", 1)[-1] for entry in fs.ls(path, detail=True) if entry["type"] == "directory"]
    return sorted(name for name in found if _RUN_ID.fullmatch(name))


def cleanup_stale_staging(
    config: FeatureStoreConfig, ttl_s: float = DEFAULT_STAGING_TTL_S, now: float | None = None
) -> list[str]:
    """Discard the staging of every run that is gone (killed, crashed); the run ids removed.

    Safe against live concurrent runs: a leased dir is removed only if its owner process on this
    host has exited or, for another host, its heartbeat is older than ``ttl_s``. The files a gone
    run put into a table's data location without committing them go too (see the module docstring).
    """
    now = time.time() if now is None else now
    stale = [run_id for run_id in staged_run_ids(config) if is_stale(config, run_id, ttl_s, now)]
    for run_id in stale:
        remove_unreferenced(config, recorded_commit_targets(config, run_id))
        discard_staging(config, run_id)
    return stale


def claim_staging(config: FeatureStoreConfig, run_id: str, ttl_s: float = DEFAULT_STAGING_TTL_S) -> list[str]:
    """Start a run: clean up gone runs' staging, then lease ``run_id``'s; the run ids removed."""
    removed = cleanup_stale_staging(config, ttl_s)
    renew_lease(config, run_id)
    return removed


class LeaseHeartbeat:
    """Renews ``run_id``'s lease every ``every_s`` from a daemon thread while the ``with`` block
    runs, so a run that stages for longer than the lease TTL stays live for every other host.

    A lease whose staging directory is gone (the run committed or discarded it) is not renewed,
    so the heartbeat never re-creates a directory it no longer owns.
    """

    def __init__(self, config: FeatureStoreConfig, run_id: str, every_s: float = DEFAULT_STAGING_TTL_S / 48) -> None:
        if not every_s > 0:
            raise ValueError(f"the lease heartbeat interval must be > 0 s, got {every_s}")
        self._config, self._run_id, self._every_s = config, run_id, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{run_id}", daemon=True)

    def _beat(self) -> None:
        fs, path = fsspec.core.url_to_fs(f"{staging_dir(self._config, self._run_id)}/{LEASE_FILE}")
        while not self._stop.wait(self._every_s):
            if fs.exists(path):
                renew_lease(self._config, self._run_id)

    def __enter__(self) -> LeaseHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

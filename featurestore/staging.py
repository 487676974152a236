"""Where a run's writers put Parquet files before :func:`featurestore.commit.commit_run`.

Layout: ``<warehouse>/_staging/<run_id>/samples/*.parquet`` and ``.../errors/*.parquet``.
Nothing under ``_staging`` is part of any table: readers never see it, and a failed run's files
are removed with :func:`discard_staging`. All access goes through fsspec, so a ``gs://``
warehouse works the same as a local one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import fsspec

from featurestore.catalog import warehouse_url
from featurestore.config import FeatureStoreConfig

SAMPLES_DIR = "samples"
"""Sub-directory of :func:`staging_dir` for rows matching ``SAMPLES_SCHEMA``."""
ERRORS_DIR = "errors"
"""Sub-directory of :func:`staging_dir` for rows matching ``ERRORS_SCHEMA``."""

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
    return f"{warehouse_url(config)}/_staging/{run_id}"


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

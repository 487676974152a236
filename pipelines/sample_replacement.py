"""Replace committed sample rows by recomputed ones in one commit of the samples table.

Used when a rerun changed some extractors (see :mod:`pipelines.incremental_plan`): the job stages
the recomputed rows under ``<staging>/replacements``; here every up-to-date modality's columns
are carried over from the committed rows and one transaction deletes the old rows and appends
the merged ones, so no snapshot ever holds a sample id twice or misses one.
"""

from __future__ import annotations

from collections.abc import Mapping

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.expressions import In

from featurestore.catalog import open_catalog
from featurestore.config import FeatureStoreConfig
from featurestore.readers import read_arrow
from featurestore.schema import SAMPLES_SCHEMA
from pipelines.incremental_plan import carry_over

REPLACEMENTS_DIR = "replacements"
"""Sub-directory of a run's staging directory holding rows that replace committed ones."""


def replacements_dir(staged_root: str) -> str:
    """Where a run whose staging directory is ``staged_root`` writes its replacement rows."""
    return f"{staged_root}/{REPLACEMENTS_DIR}"


def list_replacements(staged_root: str) -> list[str]:
    """URLs of the staged replacement Parquet files, sorted ([] if none)."""
    fs, path = fsspec.core.url_to_fs(replacements_dir(staged_root))
    if not fs.exists(path):
        return []
    return sorted(fs.unstrip_protocol(found) for found in fs.glob(f"{path}/*.parquet"))


def _read_staged(urls: list[str]) -> pa.Table:
    tables = []
    for url in urls:
        with fsspec.open(url, "rb") as handle:
            tables.append(pq.read_table(handle).cast(SAMPLES_SCHEMA))
    return pa.concat_tables(tables)


def replace_samples(
    store: FeatureStoreConfig, urls: list[str], extractors: Mapping[str, str], summary: Mapping[str, str]
) -> int:
    """Commit the staged replacement rows at ``urls`` over the committed rows of the same ids.

    ``extractors`` are the run's current versions (what decides which columns carry over);
    ``summary`` (plus ``replaced``: the row count) goes into the new snapshots' summaries. Delete and append are one commit, so
    readers see either the old rows or the new ones. Returns the number of rows replaced.
    The rows are merged in memory: a run replaces at most what fits in the driver.
    """
    staged = _read_staged(urls) if urls else SAMPLES_SCHEMA.empty_table()
    if not staged.num_rows:
        return 0
    ids = In("sample_id", staged.column("sample_id").to_pylist())
    merged = carry_over(staged, read_arrow(store, row_filter=ids).cast(SAMPLES_SCHEMA), extractors)
    table = open_catalog(store).load_table(store.samples_identifier)
    properties = {**{str(key): str(value) for key, value in summary.items()}, "replaced": str(merged.num_rows)}
    with table.transaction() as transaction:
        transaction.delete(ids, snapshot_properties=properties)
        transaction.append(merged, snapshot_properties=properties)
    return merged.num_rows

"""Replace committed sample rows by recomputed ones in one snapshot of the samples table.

Used when a rerun changed some extractors (see :mod:`pipelines.incremental_plan`): the job stages
the recomputed rows (only the stale modalities filled in, their ``extractors`` naming only those)
under ``<staging>/replacements``; here every other modality's columns are carried over from the
committed rows and :func:`featurestore.row_replacement.replace_rows` swaps them in with one
overwrite snapshot, exactly once however many runs replace the same samples at the same time: a
committed row that is already up to date when the commit happens (a concurrent run replaced it)
is left as it is.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from featurestore.config import FeatureStoreConfig
from featurestore.row_replacement import replace_rows
from featurestore.schema import SAMPLES_SCHEMA
from pipelines.incremental_plan import carry_over

REPLACEMENTS_DIR = "replacements"
"""Sub-directory of a run's staging directory holding rows that replace committed ones."""


@dataclass(frozen=True)
class ReplacementResult:
    snapshot_id: int | None
    """The overwrite snapshot; None if nothing was replaced."""
    replaced: int
    already_current: int
    """Staged replacements dropped: a concurrent run had already brought the committed row up to date."""


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
    return pa.concat_tables(tables) if tables else SAMPLES_SCHEMA.empty_table()


def merge_stale(staged: pa.Table, committed: pa.Table, extractors: Mapping[str, str]) -> pa.Table:
    """The staged rows whose committed row is not up to date yet, completed by :func:`carry_over`."""
    current = dict(extractors)
    done = [sample_id for sample_id, text in zip(committed["sample_id"].to_pylist(), committed["extractors"].to_pylist())
            if json.loads(text) == current]
    todo = staged.filter(pc.invert(pc.is_in(staged["sample_id"], value_set=pa.array(done, pa.string()))))
    return carry_over(todo, committed, current)


def replace_samples(
    store: FeatureStoreConfig, urls: list[str], extractors: Mapping[str, str], run_id: str, summary: Mapping[str, str]
) -> ReplacementResult:
    """Commit the staged replacement rows at ``urls`` over the committed rows of the same ids.

    ``extractors`` are the run's current versions; ``summary`` (plus ``replaced``: the row count)
    goes into the snapshot summary. The rows are merged in memory: a run replaces at most what
    fits in the driver.
    """
    staged = _read_staged(urls)
    merge = functools.partial(merge_stale, extractors=dict(extractors))
    result = replace_rows(store, staged, merge, run_id, summary)
    return ReplacementResult(snapshot_id=result.snapshot_id, replaced=result.replaced, already_current=result.left_out)

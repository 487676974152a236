"""The lineage of one split of a snapshot: what its rows were made with, and by which runs.

Reads only the ``split``, ``extractors`` and ``config_hash`` columns of the split's rows (streamed
batch by batch) and the summaries of the snapshot's ancestors; never an image. Training reads the
``train`` split, so its lineage is what a model trained on the snapshot learnt from.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow.compute as pc
from pyiceberg.expressions import EqualTo
from pyiceberg.table.snapshots import ancestors_of

from featurestore.config import FeatureStoreConfig
from featurestore.inspection import require_samples_table
from featurestore.snapshot_error import SnapshotNotFoundError

_COLUMNS = ("split", "extractors", "config_hash")


@dataclass(frozen=True)
class SplitLineage:
    """Distinct lineage values of a split's rows, each with its row count."""

    snapshot_id: int
    split: str
    rows: int
    extractors: Mapping[str, int]
    """``extractors`` JSON (keys sorted; kept as written if it is not JSON) -> rows recording it."""
    config_hashes: Mapping[str, int]
    """``config_hash`` (the content hash of the run that made the row) -> rows."""
    run_properties: Mapping[str, Mapping[str, str]]
    """``config_hash`` -> the summary properties of the newest ancestor snapshot committed under it
    (``{}`` when none is left, e.g. expired)."""


def canonical_json(text: str) -> str:
    """``text`` re-serialised with sorted keys (kept as is if it is not JSON)."""
    try:
        return json.dumps(json.loads(text), sort_keys=True)
    except json.JSONDecodeError:
        return text


def split_lineage(store: FeatureStoreConfig, snapshot_id: int, split: str = "train") -> SplitLineage:
    """The lineage of ``split``'s rows in ``snapshot_id``; SnapshotNotFoundError if it is no snapshot."""
    table = require_samples_table(store)
    snapshot = table.snapshot_by_id(snapshot_id)
    if snapshot is None:
        raise SnapshotNotFoundError(f"snapshot_id {snapshot_id} is not a snapshot of {store.samples_identifier}")
    extractors: Counter[str] = Counter()
    hashes: Counter[str] = Counter()
    scan = table.scan(row_filter=EqualTo("split", split), selected_fields=_COLUMNS, snapshot_id=snapshot_id)
    for batch in scan.to_arrow_batch_reader():
        for name, tally in (("extractors", extractors), ("config_hash", hashes)):
            counts = pc.value_counts(batch.column(name))
            for value, count in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()):
                tally[canonical_json(value) if name == "extractors" else value] += count
    properties: dict[str, Mapping[str, str]] = {}
    for ancestor in ancestors_of(snapshot, table.metadata):  # newest first
        found = {} if ancestor.summary is None else dict(ancestor.summary.additional_properties)
        if found.get("config_hash") in hashes:
            properties.setdefault(found["config_hash"], found)
    return SplitLineage(
        snapshot_id=snapshot_id, split=split, rows=sum(hashes.values()), extractors=dict(extractors),
        config_hashes=dict(hashes), run_properties={key: properties.get(key, {}) for key in hashes},
    )

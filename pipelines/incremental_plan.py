"""What a run must do for each sample already committed under its config hash.

A sample's id depends on (source content hash, content hash, crop index) and the content hash
leaves out the per-modality extractor settings (models, revisions, Canny thresholds, captions
file, which modalities are enabled; see :mod:`pipelines.sample_identity`). So a rerun with one
extractor changed finds the same ids already committed and decides per sample, by comparing the
row's ``extractors`` JSON with the current versions:

- every enabled modality's version matches (and nothing else is recorded): skip the sample;
- some differ: recompute only those modalities (:attr:`IncrementalPlan.stale`), carry the other
  modalities' columns and versions over from the committed row (:func:`carry_over`) and replace
  that row (:mod:`pipelines.sample_replacement`);
- the id is not committed: compute everything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from featurestore.modality import Modality


@dataclass(frozen=True)
class IncrementalPlan:
    """The committed sample ids of one config hash, split by what a run must do with them."""

    up_to_date: frozenset[str] = frozenset()
    """Ids whose committed row has exactly the current extractor versions: skipped."""
    stale: Mapping[str, frozenset[Modality]] = field(default_factory=dict)
    """Id -> the enabled modalities whose committed extractor version differs (recomputed)."""

    def modalities_to_compute(self, sample_id: str, enabled: frozenset[Modality]) -> frozenset[Modality] | None:
        """None to skip ``sample_id``; else the modalities this run computes for it."""
        if sample_id in self.up_to_date:
            return None
        return self.stale.get(sample_id, enabled)


def stale_modalities(committed: Mapping[str, str], current: Mapping[str, str]) -> frozenset[Modality] | None:
    """Current modalities whose version differs from ``committed``; None if the two are equal.

    An empty set means only a no-longer-enabled modality was recorded: the row is replaced with
    that modality's columns emptied and nothing recomputed.
    """
    if dict(committed) == dict(current):
        return None
    return frozenset(Modality(name) for name, version in current.items() if committed.get(name) != version)


def plan_from_rows(sample_ids: list[str], extractors_json: list[str], current: Mapping[str, str]) -> IncrementalPlan:
    """The plan for committed rows given as parallel lists of ids and their ``extractors`` JSON."""
    up_to_date: set[str] = set()
    stale: dict[str, frozenset[Modality]] = {}
    verdicts: dict[str, frozenset[Modality] | None] = {}  # few distinct JSON values: parse each once
    for sample_id, text in zip(sample_ids, extractors_json):
        if text not in verdicts:
            verdicts[text] = stale_modalities(json.loads(text), current)
        verdict = verdicts[text]
        if verdict is None:
            up_to_date.add(sample_id)
        else:
            stale[sample_id] = verdict
    return IncrementalPlan(up_to_date=frozenset(up_to_date), stale=stale)


def carry_over(recomputed: pa.Table, committed: pa.Table, current: Mapping[str, str]) -> pa.Table:
    """Rows of ``recomputed`` completed from the committed row of the same ``sample_id``.

    A recomputed row's ``extractors`` name only the modalities the run computed for it. Every
    other modality enabled in ``current`` keeps the committed row's columns and version (even a
    stale one, should a concurrent run have changed it since the plan: the lineage always says
    what a row holds); a modality no longer enabled is emptied and leaves the lineage. Both tables
    have the samples schema; every recomputed id must be in ``committed``.
    """
    index = pc.index_in(recomputed["sample_id"], value_set=committed["sample_id"])
    if index.null_count:
        missing = recomputed["sample_id"].filter(pc.is_null(index)).to_pylist()[:3]
        raise ValueError(f"{index.null_count} replacement rows have no committed row, e.g. {missing}")
    old = committed.take(index)
    computed = [json.loads(text) for text in recomputed["extractors"].to_pylist()]
    previous = [json.loads(text) for text in old["extractors"].to_pylist()]
    merged = recomputed
    for modality in Modality:
        name = modality.value
        keep = pa.array([name not in mine and name in current for mine in computed])
        for column in (modality.map_column, modality.tokens_column):
            position = merged.schema.get_field_index(column)
            target = merged.schema.field(column)
            values = pc.if_else(keep, old[column].cast(target.type), merged[column])
            merged = merged.set_column(position, target, values)
    lineage = [
        json.dumps({**{name: version for name, version in before.items() if name in current and name not in mine}, **mine},
                   sort_keys=True)
        for mine, before in zip(computed, previous)
    ]
    position = merged.schema.get_field_index("extractors")
    return merged.set_column(position, merged.schema.field(position), pa.array(lineage, pa.string()))

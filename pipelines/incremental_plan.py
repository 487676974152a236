"""What a run does with each source: which of its crops to compute, and which modalities of them.

A sample's id depends on (source content hash, content hash, crop index) and the content hash
leaves out the per-modality extractor settings (models, revisions, Canny thresholds, captions
file, which modalities are enabled; see :mod:`pipelines.sample_identity`). The job joins each
source (by its content hash) with the rows the base snapshot holds for it under the run's content
hash (:mod:`pipelines.committed_samples`), and :func:`plan_source` decides per crop, by comparing
the committed row's ``extractors`` JSON with the current versions:

- every enabled modality's version matches (and nothing else is recorded): skip the crop;
- some differ: recompute only those modalities (:func:`stale_modalities`), carry the other
  modalities' columns and versions over from the committed row (:func:`carry_over`) and replace
  that row (:mod:`pipelines.sample_replacement`);
- the id is not committed: compute everything.

Inputs with the same bytes are one source: it is read, cropped and committed once, under the
smallest of their URIs, and all of them are accounted as accepted (or rejected) together.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from featurestore.modality import Modality
from featurestore.snapshot_manifests import CommittedKey
from pipelines.sample_identity import sample_id_for


@dataclass(frozen=True)
class FoundSource:
    """An input whose bytes were hashed (and are an image by their signature), with its caption."""

    uri: str
    caption: str | None = None


@dataclass(frozen=True)
class VariantWork:
    """One degradation variant of a crop a run commits (``preprocess.degradations_per_crop`` > 1):
    its index, its modalities to compute, whether it replaces a committed row."""

    variant: int
    compute: frozenset[Modality]
    replaces: bool = False


@dataclass(frozen=True)
class CropWork:
    """One crop a run computes: its index, the modalities to compute, whether it replaces a committed row."""

    index: int
    compute: frozenset[Modality]
    replaces: bool = False
    variants: tuple[VariantWork, ...] = ()
    """With several degradations per crop: the variants to commit (``compute`` is then the union of
    theirs, extracted once for the crop); empty: the crop is one sample, variant 0."""


@dataclass(frozen=True)
class WorkItem:
    """Everything a run does with one source (all inputs holding the same bytes)."""

    uri: str
    """The input that is read (the smallest URI of those bytes)."""
    source_sha256: str
    caption: str | None
    aliases: tuple[str, ...]
    """Other inputs with the same bytes: accounted with ``uri``."""
    crops: tuple[CropWork, ...]
    already_present: int
    """Crops committed and up to date: skipped."""

    @property
    def uris(self) -> tuple[str, ...]:
        return (self.uri, *self.aliases)


def stale_modalities(committed: Mapping[str, str], current: Mapping[str, str]) -> frozenset[Modality] | None:
    """Current modalities whose version differs from ``committed``; None if the two are equal.

    An empty set means only a no-longer-enabled modality was recorded: the row is replaced with
    that modality's columns emptied and nothing recomputed.
    """
    if dict(committed) == dict(current):
        return None
    return frozenset(Modality(name) for name, version in current.items() if committed.get(name) != version)


def plan_source(
    source_sha256: str, sources: Iterable[FoundSource], committed: Iterable[CommittedKey], crops_per_image: int,
    content_hash: str, current: Mapping[str, str], degradations_per_crop: int = 1,
) -> WorkItem | None:
    """The work for one source given its inputs and its committed rows under ``content_hash``;
    None when no input of this run holds it (the committed side of the join only). Each of the
    ``degradations_per_crop`` variants of a crop is planned as a sample of its own; a crop with any
    variant to compute is extracted once, for all of them."""
    found = sorted(sources, key=lambda source: source.uri)
    if not found:
        return None
    versions = {key.sample_id: key.extractors for key in committed}
    enabled = frozenset(Modality(name) for name in current)
    crops, skipped = [], 0
    verdicts: dict[str, frozenset[Modality] | None] = {}  # few distinct JSON values: parse each once
    for index in range(crops_per_image):
        planned = []
        for variant in range(degradations_per_crop):
            text = versions.get(sample_id_for(source_sha256, content_hash, index, variant))
            if text is None:
                planned.append(VariantWork(variant, enabled))
                continue
            if text not in verdicts:
                verdicts[text] = stale_modalities(json.loads(text), current)
            stale = verdicts[text]
            if stale is None:
                skipped += 1
            else:
                planned.append(VariantWork(variant, stale, replaces=True))
        if degradations_per_crop == 1 and planned:
            crops.append(CropWork(index, planned[0].compute, planned[0].replaces))
        elif planned:
            crops.append(CropWork(index, frozenset().union(*(v.compute for v in planned)), variants=tuple(planned)))
    return WorkItem(
        uri=found[0].uri, source_sha256=source_sha256, caption=found[0].caption,
        aliases=tuple(source.uri for source in found[1:]), crops=tuple(crops), already_present=skipped,
    )


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
        for column in modality.columns:
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

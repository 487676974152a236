from __future__ import annotations

import json

import pyarrow as pa
import pytest

from featurestore.modality import Modality
from featurestore.schema import SAMPLES_SCHEMA
from featurestore.snapshot_manifests import CommittedKey
from pipelines.incremental_plan import CropWork, FoundSource, VariantWork, carry_over, plan_source, stale_modalities
from pipelines.sample_identity import sample_id_for

CURRENT = {"depth": "d@2", "edges": "canny:100,200"}
ENABLED = frozenset({Modality.DEPTH, Modality.EDGES})
LOOSE_SCHEMA = pa.schema([field.with_nullable(True) for field in SAMPLES_SCHEMA])
"""The samples schema with every column nullable, so rows need only the columns under test."""


def test_stale_modalities_are_those_whose_version_changed() -> None:
    assert stale_modalities(CURRENT, CURRENT) is None
    assert stale_modalities({"depth": "d@1", "edges": "canny:100,200"}, CURRENT) == {Modality.DEPTH}
    assert stale_modalities({"edges": "canny:100,200"}, CURRENT) == {Modality.DEPTH}  # newly enabled
    assert stale_modalities({**CURRENT, "caption": "sidecar:x"}, CURRENT) == frozenset()  # caption disabled


SHA = "ab" * 32


def _committed(index: int, extractors: dict[str, str]) -> CommittedKey:
    return CommittedKey(SHA, sample_id_for(SHA, "content", index), json.dumps(extractors))


def test_plan_skips_up_to_date_crops_and_recomputes_stale_modalities_only() -> None:
    old = {"depth": "d@1", "edges": "canny:100,200"}
    committed = [_committed(0, CURRENT), _committed(1, old)]
    work = plan_source(SHA, [FoundSource("/hr/a.png", "a cat")], committed, 3, "content", CURRENT)
    assert work is not None and (work.uri, work.caption, work.aliases, work.already_present) == ("/hr/a.png", "a cat", (), 1)
    assert work.crops == (CropWork(1, frozenset({Modality.DEPTH}), replaces=True), CropWork(2, ENABLED))


def test_inputs_with_the_same_bytes_are_one_source_under_the_smallest_uri() -> None:
    sources = [FoundSource("/b/copy.png", "copy"), FoundSource("/a/first.png", "first")]
    work = plan_source(SHA, sources, [], 1, "content", CURRENT)
    assert work is not None and (work.uri, work.caption, work.aliases) == ("/a/first.png", "first", ("/b/copy.png",))
    assert work.uris == ("/a/first.png", "/b/copy.png") and work.crops == (CropWork(0, ENABLED),)


def test_a_fully_committed_source_has_no_crops_and_a_committed_only_one_no_work() -> None:
    committed = [_committed(index, CURRENT) for index in range(2)]
    work = plan_source(SHA, [FoundSource("/hr/a.png")], committed, 2, "content", CURRENT)
    assert work is not None and (work.crops, work.already_present) == ((), 2)
    assert plan_source(SHA, [], committed, 2, "content", CURRENT) is None


def _row(sample_id: str, extractors: dict[str, str], depth: bytes | None, edges: bytes | None) -> dict[str, object]:
    row: dict[str, object] = {name: None for name in SAMPLES_SCHEMA.names}
    row.update(sample_id=sample_id, extractors=json.dumps(extractors), depth_png=depth, depth_tokens=[1] if depth else None,
               edges_png=edges, edges_tokens=[2] if edges else None)
    return row


def test_carry_over_keeps_the_committed_columns_and_versions_of_what_was_not_recomputed() -> None:
    committed = pa.Table.from_pylist(
        [_row("b", {"depth": "d@1", "edges": CURRENT["edges"]}, b"old-depth", b"edges"),
         _row("a", {"depth": "d@2", "edges": "canny:1,2", "caption": "sidecar:x"}, b"depth-a", b"old-edges"),
         _row("c", {"depth": "d@0", "edges": "canny:1,2"}, b"depth-c", b"old-edges-c")],
        schema=LOOSE_SCHEMA,
    )
    recomputed = pa.Table.from_pylist(  # extractors name only what this run computed
        [_row("a", {"edges": CURRENT["edges"]}, None, b"new-edges"), _row("b", {"depth": "d@2"}, b"new-depth", None),
         _row("c", {"edges": CURRENT["edges"]}, None, b"new-edges-c")],
        schema=LOOSE_SCHEMA,
    )
    merged = carry_over(recomputed, committed, CURRENT).to_pylist()
    assert [(r["sample_id"], r["depth_png"], r["edges_png"]) for r in merged] == [
        ("a", b"depth-a", b"new-edges"), ("b", b"new-depth", b"edges"), ("c", b"depth-c", b"new-edges-c"),
    ]
    assert [(r["depth_tokens"], r["edges_tokens"]) for r in merged] == [([1], [2])] * 3
    lineage = [json.loads(r["extractors"]) for r in merged]
    assert lineage[:2] == [CURRENT, CURRENT]  # the no-longer-enabled caption left a's lineage
    assert lineage[2] == {"depth": "d@0", "edges": CURRENT["edges"]}  # depth went stale meanwhile: said so
    with pytest.raises(ValueError, match="no committed row"):
        carry_over(recomputed, committed.slice(0, 1), CURRENT)


def test_a_caption_kept_from_the_committed_row_keeps_its_source() -> None:
    current = {**CURRENT, "caption": "sidecar:x+blip@1:20"}
    committed = [_row(sample_id, current | {"edges": "canny:1,2"}, b"depth", b"old-edges") for sample_id in "ab"]
    committed[0].update(caption="a cat", caption_source="captioner", caption_token_ids=[3])
    committed[1].update(caption="a dog", caption_source="sidecar", caption_token_ids=[4])
    recomputed = [_row(sample_id, {"edges": CURRENT["edges"]}, None, b"new-edges") for sample_id in "ab"]
    merged = carry_over(
        pa.Table.from_pylist(recomputed, schema=LOOSE_SCHEMA), pa.Table.from_pylist(committed, schema=LOOSE_SCHEMA),
        current,
    ).to_pylist()
    assert [(r["caption"], r["caption_source"], r["caption_token_ids"]) for r in merged] == [
        ("a cat", "captioner", [3]), ("a dog", "sidecar", [4]),
    ]


def test_each_degradation_variant_is_planned_as_a_sample_and_its_crop_extracts_their_union() -> None:
    def committed(crop: int, variant: int, extractors: dict[str, str]) -> CommittedKey:
        return CommittedKey(SHA, sample_id_for(SHA, "content", crop, variant), json.dumps(extractors))

    old_depth = {"depth": "d@1", "edges": "canny:100,200"}
    keys = [committed(0, 0, CURRENT), committed(0, 1, old_depth), *(committed(1, v, CURRENT) for v in range(3))]
    work = plan_source(SHA, [FoundSource("/hr/a.png")], keys, 2, "content", CURRENT, degradations_per_crop=3)
    assert work is not None and work.already_present == 4  # crop 0 variant 0, crop 1 all three
    (crop,) = work.crops
    assert crop.index == 0 and crop.compute == ENABLED and not crop.replaces
    assert crop.variants == (VariantWork(1, frozenset({Modality.DEPTH}), replaces=True), VariantWork(2, ENABLED))
    one = plan_source(SHA, [FoundSource("/hr/a.png")], [], 1, "content", CURRENT, degradations_per_crop=1)
    assert one is not None and one.crops == (CropWork(0, ENABLED),)  # one per crop: today's plan, no variants

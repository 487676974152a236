"""Captions joined inside the job resolve exactly as the sidecar lookup does."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.caption_join import CaptionEntry, JoinCaptions, caption_of
from pipelines.modalities.captions import caption_for, load_sidecar_captions


def test_caption_of_prefers_the_full_uri_then_the_bare_name_then_an_unambiguous_name() -> None:
    entries = [CaptionEntry("gs://b/x/a.png", "exact", 1), CaptionEntry("a.png", "by name", 2)]
    assert caption_of("gs://b/x/a.png", entries) == "exact"
    assert caption_of("gs://b/y/a.png", entries) == "by name"
    two_uris = [CaptionEntry("gs://b/x/a.png", "x", 1), CaptionEntry("gs://b/z/a.png", "z", 2)]
    assert caption_of("gs://b/y/a.png", two_uris) is None and caption_of("gs://b/y/a.png", two_uris[:1]) == "x"
    twice = [CaptionEntry("a.png", "old", 1), CaptionEntry("a.png", "new", 5)]
    assert caption_of("/hr/a.png", twice) == "new" and caption_of("/elsewhere/b.png", []) is None


@pytest.mark.integration  # runs a Beam pipeline
def test_the_join_matches_the_sidecar_lookup(tmp_path: Path) -> None:
    sidecar = tmp_path / "captions.jsonl"
    records = [
        {"uri": "a.png", "caption": "an a"}, {"uri": str(tmp_path / "x" / "b.png"), "caption": "the x b"},
        {"uri": "b.png", "caption": "some b"}, {"uri": "c.png", "caption": "one c"}, {"uri": "c.png", "caption": "two c"},
        {"uri": str(tmp_path / "p" / "e.png"), "caption": "p e"}, {"uri": str(tmp_path / "q" / "e.png"), "caption": "q e"},
    ]
    sidecar.write_text("".join(json.dumps(record) + "\n" for record in records))
    uris = [str(tmp_path / name) for name in ("a.png", "x/b.png", "y/b.png", "c.png", "d.png", "r/e.png", "p/e.png")]
    lookup = load_sidecar_captions(str(sidecar))
    with TestPipeline() as pipeline:
        joined = pipeline | beam.Create(uris) | JoinCaptions(str(sidecar))
        assert_that(joined, equal_to([(uri, caption_for(uri, lookup)) for uri in uris]))
    assert [caption_for(uri, lookup) for uri in uris] == ["an a", "the x b", "some b", "two c", None, None, "p e"]


@pytest.mark.integration  # runs a Beam pipeline
def test_without_a_sidecar_every_caption_is_none() -> None:
    with TestPipeline() as pipeline:
        joined = pipeline | beam.Create(["/a.png"]) | JoinCaptions(None)
        assert_that(joined, equal_to([("/a.png", None)]))

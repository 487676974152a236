"""Listing inputs inside the job: every file once, malformed manifest lines rejected, nothing dropped."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.input_listing import ListInputs
from pipelines.sources import expand_sources, resolve_spec

pytestmark = pytest.mark.integration  # ~4 s in all, measured on 2 loaded cores


def _tree(root: Path) -> list[str]:
    names = ["a.jpg", "b.gif", "captions.jsonl", "x/c.png", "x/y/d.png", "x/y/z/e.tif", "w/f.webp"]
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(name.encode())
    return [str(root / name) for name in names]


def _listed(spec: str, exclude: tuple[str, ...] = ()) -> tuple[list[str], list[tuple[str, str]]]:
    found: list[str] = []
    rejected: list[tuple[str, str]] = []
    with TestPipeline() as pipeline:
        uris, bad = pipeline | ListInputs(resolve_spec(spec, exclude))
        _ = uris | beam.Map(found.append)
        _ = bad | beam.Map(lambda r: rejected.append((r.source_uri, r.stage)))
    return found, rejected


def test_a_tree_is_listed_level_by_level_every_file_once(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    sidecar = str(tmp_path / "captions.jsonl")
    with TestPipeline() as pipeline:
        uris, bad = pipeline | ListInputs(resolve_spec(str(tmp_path), [sidecar]))
        assert_that(uris, equal_to([f for f in files if f != sidecar]), label="Found")
        assert_that(bad, equal_to([]), label="NoneRejected")
    assert sorted(f for f in files if f != sidecar) == expand_sources(str(tmp_path), [sidecar])


def test_a_glob_is_matched_on_the_workers(tmp_path: Path) -> None:
    _tree(tmp_path)
    with TestPipeline() as pipeline:
        uris, _ = pipeline | ListInputs(resolve_spec(f"file://{tmp_path}/x/**/*.png"))
        assert_that(uris, equal_to([f"file://{tmp_path}/x/c.png", f"file://{tmp_path}/x/y/d.png"]))


def test_a_manifest_is_streamed_and_a_malformed_line_is_a_rejected_input(tmp_path: Path) -> None:
    manifest = tmp_path / "list.jsonl"
    lines = [json.dumps({"uri": "a.jpg"}), json.dumps({"path": "b.jpg"}), json.dumps({"uri": "a.jpg"}), "{not json"]
    manifest.write_text("\n".join(lines) + "\n")
    with TestPipeline() as pipeline:
        uris, bad = pipeline | ListInputs(resolve_spec(str(manifest)))
        assert_that(uris, equal_to([str(tmp_path / "a.jpg")]), label="Found")  # named twice, listed once
        assert_that(
            bad | beam.Map(lambda r: (r.source_uri, r.stage, r.exception)),
            equal_to([(f"{manifest}:2", "list", "ManifestLineError"), (f"{manifest}:4", "list", "ManifestLineError")]),
            label="Rejected",
        )

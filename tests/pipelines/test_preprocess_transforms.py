"""Each preprocessing stage alone, on Beam's TestPipeline: ``Create | Stage | assert_that``.

The whole-job tests (``test_preprocess_job.py``) check the wiring; these check what one stage
does with its inputs, including the rejections it is responsible for.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import apache_beam as beam
import cv2
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from featurestore.modality import Modality
from pipelines.image_decoding import content_sha256, decode_image
from pipelines.incremental_plan import CropWork, FoundSource, WorkItem
from pipelines.modalities.edges import canny_edges
from pipelines.modalities.extractor import extractor_versions
from pipelines.model_stages import model_stages
from pipelines.prepared_sample import RejectedInput
from pipelines.preprocess_transforms import (
    COUNTS,
    REJECTED,
    ApplyModelStages,
    CropAndDegrade,
    DecodeSources,
    ExtractEdges,
    HashSourceFn,
    PlanSourcesFn,
    ToRows,
)
from pipelines.run_counts import RunCounts, sum_counts
from pipelines.sample_identity import content_hash
from pipelines.sample_preparation import add_edges, crop_samples, prepare_samples
from tests.pipelines.conftest import SmallJob

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_torch_thread")]  # ~10 s in all, measured on 2 loaded cores


def _photo(job: SmallJob) -> str:
    return str(sorted(Path(job.preprocess.input).iterdir())[0])


def _work(uri: str, crops: int = 2, sha: str | None = None, aliases: tuple[str, ...] = ()) -> WorkItem:
    return WorkItem(
        uri=uri, source_sha256=sha or content_sha256(Path(uri).read_bytes()), caption="a photo", aliases=aliases,
        crops=tuple(CropWork(i, frozenset(Modality)) for i in range(crops)), already_present=0,
    )


def test_hash_rejects_missing_and_non_image_inputs_and_keys_the_rest_by_content(job: SmallJob, tmp_path: Path) -> None:
    photo = _photo(job)
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    with BeamTestPipeline() as pipeline:
        out = (
            pipeline
            | beam.Create([(photo, "cap"), (str(tmp_path / "gone.png"), None), (str(text), None)])
            | beam.ParDo(HashSourceFn()).with_outputs(REJECTED, main="sources")
        )
        expected_sha = content_sha256(Path(photo).read_bytes())
        assert_that(out.sources, equal_to([(expected_sha, FoundSource(photo, "cap"))]), label="sources")
        stages = out[REJECTED] | beam.Map(lambda r: (Path(r.source_uri).name, r.stage, r.exception))
        assert_that(
            stages, equal_to([("gone.png", "read", "FileNotFoundError"), ("notes.txt", "decode", "ImageDecodeError")]),
            label="rejected",
        )


def test_plan_counts_inputs_with_nothing_to_compute_and_emits_work_for_the_rest(job: SmallJob) -> None:
    config, chash = job.preprocess, content_hash(job.preprocess)
    extractors = extractor_versions(config.modalities)
    joined = [("a" * 64, {"sources": [FoundSource("/x/a.png")], "committed": []})]
    with BeamTestPipeline() as pipeline:
        out = (
            pipeline
            | beam.Create(joined)
            | beam.ParDo(PlanSourcesFn(2, chash, extractors)).with_outputs(COUNTS, main="work")
        )
        crops = out.work | beam.Map(lambda w: (w.uri, [c.index for c in w.crops]))
        assert_that(crops, equal_to([("/x/a.png", [0, 1])]), label="work")
        total = out[COUNTS] | beam.CombineGlobally(sum_counts)
        assert_that(total, equal_to([RunCounts(already_present=0)]), label="counts")


def test_decode_reads_each_planned_source_and_rejects_changed_missing_or_corrupt_ones(job: SmallJob, tmp_path: Path) -> None:
    photo = _photo(job)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(Path(photo).read_bytes()[:200])
    items = [
        _work(photo, aliases=("/dup/same.png",)), _work(photo, crops=1, sha="0" * 64),
        _work(str(corrupt), crops=1), _work(str(tmp_path / "gone.png"), crops=1, sha="1" * 64),
    ]
    with BeamTestPipeline() as pipeline:
        out = pipeline | beam.Create(items) | DecodeSources()
        shapes = out.images | beam.Map(lambda pair: (pair[0].uri, pair[1].shape, pair[1].dtype.name))
        assert_that(shapes, equal_to([(photo, cv2.imread(photo).shape, "uint8")]), label="images")
        stages = out[REJECTED] | beam.Map(lambda r: (Path(r.source_uri).name, r.stage, r.exception))
        name = Path(photo).name
        expected = [(name, "read", "SourceChangedError"), ("corrupt.png", "decode", "ImageDecodeError"),
                    ("gone.png", "read", "FileNotFoundError")]
        assert_that(stages, equal_to(expected), label="rejected")


def test_crop_and_degrade_makes_each_planned_crop_and_rejects_too_small_images(job: SmallJob) -> None:
    config, chash = job.preprocess, content_hash(job.preprocess)
    photo = _photo(job)
    image = cv2.cvtColor(cv2.imread(photo), cv2.COLOR_BGR2RGB)
    items = [(_work(photo, aliases=("/dup/same.png",)), image), (_work(photo, crops=1, sha="0" * 64), image[:8, :8])]
    with BeamTestPipeline() as pipeline:
        out = pipeline | beam.Create(items) | CropAndDegrade(config, chash)
        shapes = out.samples | beam.Map(lambda s: (s.hr.shape, s.lr.shape, sorted(s.maps), s.caption))
        side, low = config.crop_size, config.crop_size // config.degradation.scale
        expected = ((side, side, 3), (low, low, 3), [], "a photo")
        assert_that(shapes, equal_to([expected, expected]), label="samples")
        stages = out[REJECTED] | beam.Map(lambda r: (Path(r.source_uri).name, r.stage, r.exception))
        assert_that(stages, equal_to([(Path(photo).name, "prepare", "ImageTooSmallError")]), label="rejected")
        total = out[COUNTS] | beam.CombineGlobally(sum_counts)
        assert_that(total, equal_to([RunCounts(accepted=2)]), label="counts")  # the photo and its alias


def test_edges_are_added_only_where_the_plan_computes_them(job: SmallJob) -> None:
    config, chash = job.preprocess, content_hash(job.preprocess)
    photo = _photo(job)
    image = cv2.cvtColor(cv2.imread(photo), cv2.COLOR_BGR2RGB)
    first, second = crop_samples(_work(photo), image, config, chash)
    no_edges = dataclasses.replace(second, compute=frozenset({Modality.DEPTH}))
    expected = canny_edges(first.modality_input(), config.modalities.canny_low, config.modalities.canny_high)
    with BeamTestPipeline() as pipeline:
        done = pipeline | beam.Create([first, no_edges]) | ExtractEdges(config.modalities)
        found = done | beam.Map(lambda s: (s.sample_id, [m.value for m in s.maps],
                                           bool(np.array_equal(s.maps.get(Modality.EDGES), expected))))
        assert_that(found, equal_to([(first.sample_id, ["edges"], True), (second.sample_id, [], False)]))


def test_the_stages_in_a_loop_give_the_samples_of_prepare_samples(job: SmallJob) -> None:
    config, chash = job.preprocess, content_hash(job.preprocess)
    photo = _photo(job)
    data = Path(photo).read_bytes()
    staged = [add_edges(s, config.modalities.canny_low, config.modalities.canny_high)
              for s in crop_samples(_work(photo), decode_image(data), config, chash)]
    whole = prepare_samples(_work(photo), data, config, chash)
    assert [s.sample_id for s in staged] == [s.sample_id for s in whole]
    assert all(np.array_equal(a.lr, b.lr) and np.array_equal(a.maps[Modality.EDGES], b.maps[Modality.EDGES])
               for a, b in zip(staged, whole))


def test_model_stages_add_depth_segmentation_and_every_token(job: SmallJob) -> None:
    config, chash = job.preprocess, content_hash(job.preprocess)
    photo = _photo(job)
    samples = prepare_samples(_work(photo), Path(photo).read_bytes(), config, chash)
    with BeamTestPipeline() as pipeline:
        done = pipeline | beam.Create(samples) | ApplyModelStages(model_stages(config))
        found = done | beam.Map(lambda s: (sorted(m.value for m in s.maps), sorted(m.value for m in s.tokens)))
        every = sorted(m.value for m in Modality)
        spatial = sorted(m.value for m in Modality if m.is_spatial)
        assert_that(found, equal_to([(spatial, every)] * len(samples)))


def test_rows_split_new_samples_from_replacements_and_turn_rejections_into_error_rows(job: SmallJob) -> None:
    config, chash = job.preprocess, content_hash(job.preprocess)
    extractors = extractor_versions(config.modalities)
    photo = _photo(job)
    new, old = prepare_samples(_work(photo), Path(photo).read_bytes(), config, chash)
    replacing = dataclasses.replace(old, replaces=True, compute=frozenset({Modality.EDGES}))
    rejected = RejectedInput(source_uri="/x/bad.png", stage="decode", exception="ImageDecodeError", message="bad")
    with BeamTestPipeline() as pipeline:
        samples = pipeline | "Samples" >> beam.Create([new, replacing])
        errors_in = pipeline | "Rejected" >> beam.Create([rejected])
        rows, replacements, errors = (samples, errors_in) | ToRows(chash, extractors, "run-1")
        assert_that(rows | beam.Map(lambda r: r["sample_id"]), equal_to([new.sample_id]), label="rows")
        lineage = replacements | beam.Map(lambda r: (r["sample_id"], r["extractors"]))
        edges_only = '{"edges": "%s"}' % extractors["edges"]
        assert_that(lineage, equal_to([(old.sample_id, edges_only)]), label="replacements")
        error_fields = errors | beam.Map(lambda r: (r["source_uri"], r["stage"], r["run_id"], r["config_hash"]))
        assert_that(error_fields, equal_to([("/x/bad.png", "decode", "run-1", chash)]), label="errors")

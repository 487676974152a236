"""The composite Beam transforms of the preprocessing job, one per stage."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import RunInference
from apache_beam.pvalue import TaggedOutput

from featurestore.modality import Modality
from pipelines.feature_rows import error_row, sample_row
from pipelines.image_decoding import ImageDecodeError, content_sha256, decode_image
from pipelines.incremental_plan import FoundSource, WorkItem, plan_source
from pipelines.modalities.extractor import ModalityExtractionConfig
from pipelines.prepared_sample import PreparedSample, RejectedInput
from pipelines.preprocess_config import PreprocessConfig
from pipelines.run_counts import RunCounts
from pipelines.sample_model_handler import SampleModelHandler
from pipelines.sample_preparation import add_edges, crop_samples, degradation_variants
from pipelines.sources import hash_image_source, read_image_source
from pipelines.worker_threads import limit_threads

REJECTED = "rejected"
COUNTS = "counts"
Rejection = TaggedOutput[Literal["rejected"], RejectedInput]
"""A rejected input on the ``REJECTED`` output (typed, so Beam checks the main output alone)."""
Counted = TaggedOutput[Literal["counts"], RunCounts]
"""Run counts on the ``COUNTS`` output."""


def rejected_from(uri: str, stage: str, error: BaseException) -> RejectedInput:
    message = " ".join(str(error).split())[:1000] or repr(error)
    return RejectedInput(source_uri=uri, stage=stage, exception=type(error).__name__, message=message)


INPUT_READ_ERRORS: tuple[type[OSError], ...] = (FileNotFoundError, IsADirectoryError, PermissionError)
"""Read failures that are a property of the input; any other read error is left to the runner."""


class SourceChangedError(ValueError):
    """An input's bytes changed between the run hashing and reading them."""


class HashSourceFn(beam.DoFn):
    """(uri, caption) -> (source_sha256, FoundSource), or a tagged rejection.

    Rejected here: ``read`` (missing, a directory, unreadable) and ``decode`` when the file's
    first bytes are no accepted image format (nothing more of it is read). Any other read error
    (network, service unavailable) propagates, so the runner retries the bundle instead of
    recording a good input as bad.
    """

    def __init__(self) -> None:
        self._rejected = beam.metrics.Metrics.counter("mmsr", "rejected")

    def process(self, element: tuple[str, str | None]) -> Iterator[tuple[str, FoundSource] | Rejection]:
        uri, caption = element
        try:
            digest = hash_image_source(uri)
        except INPUT_READ_ERRORS as error:
            self._rejected.inc()
            yield TaggedOutput(REJECTED, rejected_from(uri, "read", error))
            return
        except ImageDecodeError as error:
            self._rejected.inc()
            yield TaggedOutput(REJECTED, rejected_from(uri, "decode", error))
            return
        yield digest, FoundSource(uri, caption)


class PlanSourcesFn(beam.DoFn):
    """(source_sha256, {"sources": [...], "committed": [...]}) -> its WorkItem, if it has crops to
    compute; the inputs it accepts without work and the samples it skips go to the counts."""

    def __init__(
        self, crops_per_image: int, content_hash: str, extractors: dict[str, str], degradations_per_crop: int = 1
    ) -> None:
        self._crops = crops_per_image
        self._content_hash = content_hash
        self._extractors = extractors
        self._variants = degradations_per_crop

    def process(self, element: tuple[str, dict[str, list]]) -> Iterator[WorkItem | Counted]:
        sha, joined = element
        work = plan_source(
            sha, joined["sources"], joined["committed"], self._crops, self._content_hash, self._extractors, self._variants
        )
        if work is None:
            return
        if not work.crops:
            yield TaggedOutput(COUNTS, RunCounts(accepted=len(work.uris), already_present=work.already_present))
            return
        yield TaggedOutput(COUNTS, RunCounts(already_present=work.already_present))
        yield work


def _reject_work(work: WorkItem, stage: str, error: BaseException) -> Iterator[Rejection]:
    """One tagged rejection per input of ``work`` (a source and its byte-identical aliases)."""
    beam.metrics.Metrics.counter("mmsr", "rejected").inc(len(work.uris))
    for uri in work.uris:
        yield TaggedOutput(REJECTED, rejected_from(uri, stage, error))


class DecodeSourceFn(beam.DoFn):
    """WorkItem -> (WorkItem, decoded HR image), or a tagged rejection of each of its inputs:
    ``read`` (gone, unreadable, or changed since it was hashed) or ``decode`` (corrupt or truncated,
    a decompression bomb, anything the decoder refuses). Any other read error propagates so the
    runner retries the bundle instead of recording a good input as bad."""

    def __init__(self, worker_threads: int | None) -> None:
        self._threads = worker_threads

    def setup(self) -> None:
        limit_threads(self._threads)

    def process(self, work: WorkItem) -> Iterator[tuple[WorkItem, np.ndarray] | Rejection]:
        try:
            data = read_image_source(work.uri)
            if content_sha256(data) != work.source_sha256:
                raise SourceChangedError(f"{work.uri} changed while the run read it (its content hash differs)")
        except INPUT_READ_ERRORS + (SourceChangedError,) as error:
            yield from _reject_work(work, "read", error)
            return
        except ImageDecodeError as error:
            yield from _reject_work(work, "decode", error)
            return
        try:
            image = decode_image(data)
        except Exception as error:  # a pure function of the bytes failed: the input is bad, never a crash
            yield from _reject_work(work, "decode", error)
            return
        yield work, image


class CropAndDegradeFn(beam.DoFn):
    """(WorkItem, decoded image) -> the PreparedSamples of its planned crops (cropped, degraded, the
    caption where planned), or a tagged ``prepare`` rejection of each of its inputs (too small for
    the crop, a degradation failure); each accepted input goes to the counts."""

    def __init__(self, config: PreprocessConfig, content_hash: str) -> None:
        self._config = config
        self._content_hash = content_hash
        self._prepared = beam.metrics.Metrics.counter("mmsr", "prepared")

    def setup(self) -> None:
        limit_threads(self._config.runner.worker_threads)

    def process(self, element: tuple[WorkItem, np.ndarray]) -> Iterator[PreparedSample | Counted | Rejection]:
        work, image = element
        try:
            samples = crop_samples(work, image, self._config, self._content_hash)
        except Exception as error:  # a pure function of the pixels failed: the input is bad, never a crash
            yield from _reject_work(work, "prepare", error)
            return
        self._prepared.inc(len(samples))
        yield TaggedOutput(COUNTS, RunCounts(accepted=len(work.uris)))
        yield from samples


class ExtractEdgesFn(beam.DoFn):
    """PreparedSample -> the same sample with its Canny edges when its plan computes them."""

    def __init__(self, canny_low: int, canny_high: int, worker_threads: int | None) -> None:
        self._low, self._high, self._threads = canny_low, canny_high, worker_threads

    def setup(self) -> None:
        limit_threads(self._threads)

    def process(self, sample: PreparedSample) -> Iterator[PreparedSample]:
        yield add_edges(sample, self._low, self._high)


class DegradationVariantsFn(beam.DoFn):
    """Extracted crop -> its planned degradation variants (``preprocess.degradations_per_crop``), or
    the sample itself; counts extracted crops (``extracted_crops``) and emitted samples."""

    def __init__(self, config: PreprocessConfig, content_hash: str) -> None:
        self._config = config
        self._content_hash = content_hash
        self._crops = beam.metrics.Metrics.counter("mmsr", "extracted_crops")
        self._samples = beam.metrics.Metrics.counter("mmsr", "variant_samples")

    def setup(self) -> None:
        limit_threads(self._config.runner.worker_threads)

    def process(self, sample: PreparedSample) -> Iterator[PreparedSample]:
        variants = degradation_variants(sample, self._config, self._content_hash)
        self._crops.inc()
        self._samples.inc(len(variants))
        yield from variants


class DegradationVariants(beam.PTransform):
    """Extracted crops -> the samples to commit: each crop's degradation variants, sharing its
    modalities and tokens (see :func:`pipelines.sample_preparation.degradation_variants`)."""

    def __init__(self, config: PreprocessConfig, content_hash: str) -> None:
        super().__init__()
        self._config = config
        self._content_hash = content_hash

    def expand(self, samples: beam.PCollection) -> beam.PCollection:
        return samples | beam.ParDo(DegradationVariantsFn(self._config, self._content_hash))


class DecodeSources(beam.PTransform):
    """WorkItems -> ``images`` (WorkItem, decoded image) and ``rejected`` (see :class:`DecodeSourceFn`)."""

    def __init__(self, worker_threads: int | None = None) -> None:
        super().__init__()
        self._threads = worker_threads

    @beam.typehints.no_annotations  # tuples of PCollections: not element types for Beam to check
    def expand(self, work: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return work | beam.ParDo(DecodeSourceFn(self._threads)).with_outputs(REJECTED, main="images")


class CropAndDegrade(beam.PTransform):
    """(WorkItem, image) -> ``samples``, ``rejected`` and ``counts`` (see :class:`CropAndDegradeFn`)."""

    def __init__(self, config: PreprocessConfig, content_hash: str) -> None:
        super().__init__()
        self._config = config
        self._content_hash = content_hash

    @beam.typehints.no_annotations  # tuples of PCollections: not element types for Beam to check
    def expand(self, images: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        crop = CropAndDegradeFn(self._config, self._content_hash)
        return images | beam.ParDo(crop).with_outputs(REJECTED, COUNTS, main="samples")


class ExtractEdges(beam.PTransform):
    """PreparedSamples -> the same samples, with Canny edges where planned."""

    def __init__(self, config: ModalityExtractionConfig, worker_threads: int | None = None) -> None:
        super().__init__()
        self._low, self._high, self._threads = config.canny_low, config.canny_high, worker_threads

    def expand(self, samples: beam.PCollection) -> beam.PCollection:
        return samples | beam.ParDo(ExtractEdgesFn(self._low, self._high, self._threads))


class ApplyModelStages(beam.PTransform):
    """Runs each model stage through RunInference, in order; outputs the completed samples.

    A model stage that raises is a failure of the worker, never of the input: every sample that
    reaches it is an already decoded ``crop_size`` x ``crop_size`` RGB crop (undecodable or too
    small inputs were rejected by :class:`DecodeSourceFn` / :class:`CropAndDegradeFn`), so a failing
    forward pass means an OOM, a device or network error, or a broken model. The exception therefore
    propagates, the bundle fails and the *runner* retries it (Dataflow: 4 attempts per bundle in
    batch; Flink / Spark: their task-retry settings; the local FnApiRunner does not retry); if it
    still fails the job fails and ``run_preprocess`` commits nothing, so a rerun starts clean.
    Rejecting the batch's inputs instead would record good images as bad and silently drop them from
    the commit. Retries stay exactly-once: a failed attempt's outputs are discarded by the runner,
    and the job's only side effects (Parquet shards after a GroupByKey) are rewritten at the same
    paths with the same bytes.
    """

    def __init__(self, stages: Sequence[SampleModelHandler]) -> None:
        super().__init__()
        self._stages = list(stages)

    def expand(self, samples: beam.PCollection) -> beam.PCollection:
        for handler in self._stages:
            name = handler.get_metrics_namespace().removeprefix("mmsr_")
            samples = samples | f"RunInference_{name}" >> RunInference(handler)
        return samples


def computed_versions(sample: PreparedSample, extractors: dict[str, str]) -> dict[str, str]:
    """The versions of the modalities this run computed for ``sample`` (a replacement row's lineage
    before :func:`pipelines.incremental_plan.carry_over` adds the carried ones)."""
    return {name: version for name, version in extractors.items() if Modality(name) in sample.compute}


class ToRows(beam.PTransform):
    """PreparedSample -> samples-table dicts (new samples, then replacements of committed ones);
    RejectedInput -> errors-table dicts."""

    def __init__(self, config_hash: str, extractors: dict[str, str], run_id: str) -> None:
        super().__init__()
        self._config_hash = config_hash
        self._extractors = extractors
        self._run_id = run_id

    @beam.typehints.no_annotations  # tuples of PCollections: not element types for Beam to check
    def expand(
        self, pcolls: tuple[beam.PCollection, beam.PCollection]
    ) -> tuple[beam.PCollection, beam.PCollection, beam.PCollection]:
        samples, rejected = pcolls
        config_hash, extractors, run_id = self._config_hash, self._extractors, self._run_id
        new, replacing = samples | "SplitReplacements" >> beam.Partition(lambda s, _: int(s.replaces), 2)
        rows = new | "SampleRow" >> beam.Map(lambda s: sample_row(s, config_hash, extractors))
        replacements = replacing | "ReplacementRow" >> beam.Map(lambda s: sample_row(s, config_hash, computed_versions(s, extractors)))
        errors = rejected | "ErrorRow" >> beam.Map(lambda r: error_row(r, run_id, config_hash))
        return rows, replacements, errors

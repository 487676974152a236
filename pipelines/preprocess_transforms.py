"""The composite Beam transforms of the preprocessing job, one per stage."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference

from featurestore.modality import Modality
from pipelines.feature_rows import error_row, sample_row
from pipelines.image_decoding import ImageDecodeError
from pipelines.incremental_plan import IncrementalPlan
from pipelines.prepared_sample import PreparedSample, RejectedInput
from pipelines.preprocess_config import PreprocessConfig
from pipelines.sample_model_handler import SampleModelHandler
from pipelines.sample_preparation import prepare_samples
from pipelines.sources import read_image_source
from pipelines.worker_threads import limit_threads

REJECTED = "rejected"


def rejected_from(uri: str, stage: str, error: BaseException) -> RejectedInput:
    message = " ".join(str(error).split())[:1000] or repr(error)
    return RejectedInput(source_uri=uri, stage=stage, exception=type(error).__name__, message=message)


INPUT_READ_ERRORS: tuple[type[OSError], ...] = (FileNotFoundError, IsADirectoryError, PermissionError)
"""Read failures that are a property of the input; any other read error is left to the runner."""


class PrepareSampleFn(beam.DoFn):
    """uri -> its PreparedSamples (decoded, cropped, degraded, edges, caption), or a tagged rejection.

    An input is rejected (one errors-table row, counted) only for failures that are a property of
    the input, with the stage that found them: ``read`` (missing, a directory, unreadable),
    ``decode`` (not an accepted image, found from its first bytes without reading the rest;
    corrupt or truncated; a decompression bomb) or ``prepare``
    (too small for the crop, degradation failure). Any other read error (network, service
    unavailable) propagates so the runner retries the bundle instead of recording a good input as
    bad. Samples already committed under the same config are skipped (and counted) when their
    extractor versions are current, else prepared to recompute only the stale modalities (``plan``).
    """

    def __init__(
        self, config: PreprocessConfig, config_hash: str, captions: dict[str, str], plan: IncrementalPlan
    ) -> None:
        self._config = config
        self._config_hash = config_hash
        self._captions = captions
        self._plan = plan
        self._prepared = beam.metrics.Metrics.counter("mmsr", "prepared")
        self._skipped = beam.metrics.Metrics.counter("mmsr", "skipped_existing")
        self._rejected = beam.metrics.Metrics.counter("mmsr", "rejected")

    def setup(self) -> None:
        limit_threads(self._config.runner.worker_threads)

    def process(self, uri: str) -> Iterator[PreparedSample | beam.pvalue.TaggedOutput]:
        try:
            data = read_image_source(uri)
        except INPUT_READ_ERRORS as error:
            yield self._reject(uri, "read", error)
            return
        except ImageDecodeError as error:
            yield self._reject(uri, "decode", error)
            return
        try:
            samples = prepare_samples(uri, data, self._config, self._config_hash, self._captions, self._plan)
        except Exception as error:  # a pure function of the bytes failed: the input is bad, never a crash
            yield self._reject(uri, "decode" if isinstance(error, ImageDecodeError) else "prepare", error)
            return
        self._skipped.inc(self._config.crops_per_image - len(samples))
        self._prepared.inc(len(samples))
        yield from samples

    def _reject(self, uri: str, stage: str, error: Exception) -> beam.pvalue.TaggedOutput:
        self._rejected.inc()
        return beam.pvalue.TaggedOutput(REJECTED, rejected_from(uri, stage, error))


class ApplyModelStages(beam.PTransform):
    """Runs each model stage through RunInference, in order; outputs the completed samples.

    A model stage that raises is a failure of the worker, never of the input: every sample that
    reaches it is an already decoded ``crop_size`` x ``crop_size`` RGB crop (undecodable or too
    small inputs were rejected by :class:`PrepareSampleFn`), so a failing forward pass means an
    OOM, a device or network error, or a broken model. The exception therefore propagates, the
    bundle fails and the *runner* retries it (Dataflow: 4 attempts per bundle in batch;
    Flink / Spark: their task-retry settings; the local FnApiRunner does not retry); if it still
    fails the job fails and ``run_preprocess`` commits nothing, so a rerun starts clean. Rejecting the batch's inputs instead would record good
    images as bad and silently drop them from the commit. Retries stay exactly-once: a failed
    attempt's outputs are discarded by the runner, and the job's only side effects (Parquet
    shards after a GroupByKey) are rewritten at the same paths with the same bytes.
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

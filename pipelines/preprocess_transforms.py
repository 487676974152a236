"""The composite Beam transforms of the preprocessing job, one per stage."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference

from pipelines.feature_rows import error_row, sample_row
from pipelines.prepared_sample import PreparedSample, RejectedInput
from pipelines.preprocess_config import PreprocessConfig
from pipelines.sample_model_handler import SampleModelHandler
from pipelines.sample_preparation import prepare_samples
from pipelines.sources import read_bytes

REJECTED = "rejected"


def rejected_from(uri: str, stage: str, error: BaseException) -> RejectedInput:
    message = " ".join(str(error).split())[:1000] or repr(error)
    return RejectedInput(source_uri=uri, stage=stage, exception=type(error).__name__, message=message)


class PrepareSampleFn(beam.DoFn):
    """uri -> its PreparedSamples (decoded, cropped, degraded, edges, caption), or a tagged rejection.

    Samples whose id is already committed under the same config are skipped (and counted).
    """

    def __init__(
        self, config: PreprocessConfig, config_hash: str, captions: dict[str, str], existing: frozenset[str]
    ) -> None:
        self._config = config
        self._config_hash = config_hash
        self._captions = captions
        self._existing = existing
        self._prepared = beam.metrics.Metrics.counter("mmsr", "prepared")
        self._skipped = beam.metrics.Metrics.counter("mmsr", "skipped_existing")
        self._rejected = beam.metrics.Metrics.counter("mmsr", "rejected")

    def process(self, uri: str) -> Iterator[PreparedSample | beam.pvalue.TaggedOutput]:
        stage = "read"
        try:
            data = read_bytes(uri)
            stage = "prepare"
            samples = prepare_samples(uri, data, self._config, self._config_hash, self._captions, self._existing)
        except Exception as error:  # every bad input becomes an errors-table row, never a crash
            self._rejected.inc()
            yield beam.pvalue.TaggedOutput(REJECTED, rejected_from(uri, stage, error))
            return
        self._skipped.inc(self._config.crops_per_image - len(samples))
        self._prepared.inc(len(samples))
        yield from samples


def _failed_batch_rows(stage: str, failure: tuple[Sequence[PreparedSample], object]) -> list[RejectedInput]:
    batch, error = failure
    exception = error[0].__name__ if isinstance(error, tuple) and isinstance(error[0], type) else "Exception"
    message = " ".join(str(error[1] if isinstance(error, tuple) else error).split())[:1000]
    return [RejectedInput(s.source_uri, stage, exception, message) for s in batch]


class ApplyModelStages(beam.PTransform):
    """Runs each model stage through RunInference; failed batches become rejections."""

    def __init__(self, stages: Sequence[SampleModelHandler]) -> None:
        super().__init__()
        self._stages = list(stages)

    def expand(self, samples: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        rejected = []
        for handler in self._stages:
            name = handler.get_metrics_namespace().removeprefix("mmsr_")
            samples, dead = samples | f"RunInference_{name}" >> RunInference(handler).with_exception_handling()
            rejected.append(
                dead.failed_inferences | f"Rejected_{name}" >> beam.FlatMap(lambda f, n=name: _failed_batch_rows(n, f))
            )
        return samples, tuple(rejected) | "FlattenRejected" >> beam.Flatten()


class ToRows(beam.PTransform):
    """PreparedSample -> samples-table dicts; RejectedInput -> errors-table dicts."""

    def __init__(self, config_hash: str, extractors: dict[str, str], run_id: str) -> None:
        super().__init__()
        self._config_hash = config_hash
        self._extractors = extractors
        self._run_id = run_id

    def expand(self, pcolls: tuple[beam.PCollection, beam.PCollection]) -> tuple[beam.PCollection, beam.PCollection]:
        samples, rejected = pcolls
        config_hash, extractors, run_id = self._config_hash, self._extractors, self._run_id
        rows = samples | "SampleRow" >> beam.Map(lambda s: sample_row(s, config_hash, extractors))
        errors = rejected | "ErrorRow" >> beam.Map(lambda r: error_row(r, run_id, config_hash))
        return rows, errors

"""``mmsr preprocess``: HR images -> staged Parquet -> feature-store commits.

Wiring only: the stages live in ``preprocess_transforms`` / ``model_stages``, the math in pure
modules, the commit protocol in ``featurestore.commit``. Nothing becomes visible unless the
whole Beam job succeeds and its error rate is within ``max_error_rate``. Then rows that replace
committed samples (some extractor changed, see :mod:`pipelines.incremental_plan`) land in one
commit (:mod:`pipelines.sample_replacement`), and new rows and errors in one more
(``featurestore.commit.commit_run``); should the second fail, the replacements stay committed and
a rerun adds only the new rows.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass

import apache_beam as beam
import fsspec
import pyarrow.parquet as pq
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from pyiceberg.expressions import EqualTo

from featurestore.commit import CommitResult, commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.readers import current_snapshot_id, read_arrow
from featurestore.schema import ERRORS_SCHEMA, SAMPLES_SCHEMA
from featurestore.staging import claim_staging, discard_staging, list_staged, staging_dir
from pipelines.incremental_plan import IncrementalPlan, plan_from_rows
from pipelines.model_stages import model_stages
from pipelines.modalities.captions import load_sidecar_captions
from pipelines.modalities.extractor import extractor_versions
from pipelines.parquet_shards import WriteParquetShards
from pipelines.preprocess_config import PreprocessConfig
from pipelines.preprocess_errors import PreprocessError
from pipelines.preprocess_transforms import REJECTED, ApplyModelStages, PrepareSampleFn, ToRows
from pipelines.runner_options import beam_flags
from pipelines.sample_identity import content_hash
from pipelines.sample_replacement import list_replacements, replace_samples, replacements_dir
from pipelines.sources import expand_sources

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreprocessResult:
    """What one run did: every input accepted or rejected, every sample added, replaced or already there."""

    run_id: str
    inputs: int
    """Files found under the input (or named by the manifest): ``accepted + rejected``."""
    accepted: int
    """Inputs whose samples are all in the table after the run (added, replaced or already there)."""
    rejected: int
    """Inputs recorded in the errors table (one row each) instead."""
    added: int
    """New sample rows this run committed."""
    replaced: int
    """Committed samples whose stale modalities this run recomputed (rows replaced, ids kept)."""
    already_present: int
    """Samples already committed and up to date: when the run planned, or committed by a
    concurrent run before this one's commit landed."""
    snapshot_id: int | None
    """The samples-table snapshot holding this run's rows (the current one if nothing was new)."""
    config_hash: str
    """The run's content hash (:func:`pipelines.sample_identity.content_hash`), the ``config_hash`` of its rows."""

    def summary(self) -> str:
        """One line: the input accounting, then the row accounting."""
        return (
            f"preprocess run {self.run_id}: {self.inputs} inputs = {self.accepted} accepted + {self.rejected} rejected; "
            f"rows: {self.added} added, {self.replaced} replaced, {self.already_present} already present; "
            f"snapshot {self.snapshot_id}"
        )


def pipeline_options(config: PreprocessConfig) -> PipelineOptions:
    """Beam options for the configured runner (see :func:`pipelines.runner_options.beam_flags`)."""
    return PipelineOptions(beam_flags(config.runner))


def incremental_plan(
    store: FeatureStoreConfig, base: int | None, config_hash_value: str, extractors: dict[str, str]
) -> IncrementalPlan:
    """What to do with the samples snapshot ``base`` holds under this content hash: skip the
    up-to-date ones, recompute the stale modalities of the others (so reruns add or redo only what
    changed)."""
    if base is None:
        return IncrementalPlan()
    columns = ["sample_id", "extractors"]
    table = read_arrow(store, base, columns=columns, row_filter=EqualTo("config_hash", config_hash_value))
    return plan_from_rows(table["sample_id"].to_pylist(), table["extractors"].to_pylist(), extractors)


def build_pipeline(
    pipeline: beam.Pipeline, uris: list[str], config: PreprocessConfig, store: FeatureStoreConfig, run_id: str,
    plan: IncrementalPlan,
) -> None:
    """Add the whole job to ``pipeline``: read -> prepare -> models -> rows -> staged Parquet
    (new rows under ``samples/``, replacements of committed rows under ``replacements/``)."""
    chash = content_hash(config)
    captions = load_sidecar_captions(config.modalities.captions_path) if config.modalities.captions_path else {}
    staged = staging_dir(store, run_id)
    shards = max(1, math.ceil(len(uris) * config.crops_per_image / config.rows_per_file))
    prepared = (
        pipeline
        | "Sources" >> beam.Create(uris, reshuffle=True)
        | "Prepare" >> beam.ParDo(PrepareSampleFn(config, chash, captions, plan)).with_outputs(REJECTED, main="samples")
    )
    # Each source fans out into crops_per_image samples: spread the samples, not the few sources,
    # over the workers before the model stages (Beam's remedy for fusion after a high fan-out).
    balanced = prepared.samples | "Rebalance" >> beam.Reshuffle()
    samples = balanced | "Models" >> ApplyModelStages(model_stages(config))
    extractors = extractor_versions(config.modalities)
    rows, replacements, errors = (samples, prepared[REJECTED]) | "Rows" >> ToRows(chash, extractors, run_id)
    _ = rows | "WriteSamples" >> WriteParquetShards(f"{staged}/samples", "part", SAMPLES_SCHEMA, shards, "sample_id")
    _ = replacements | "WriteReplacements" >> WriteParquetShards(
        replacements_dir(staged), "part", SAMPLES_SCHEMA, shards, "sample_id"
    )
    _ = errors | "WriteErrors" >> WriteParquetShards(f"{staged}/errors", "part", ERRORS_SCHEMA, 1, "source_uri")


def _rejected_sources(urls: list[str]) -> list[str]:
    """Distinct source URIs of the staged error rows (an input counts once, whatever failed)."""
    sources: set[str] = set()
    for url in urls:
        with fsspec.open(url, "rb") as handle:
            sources.update(pq.read_table(handle, columns=["source_uri"]).column("source_uri").to_pylist())
    return sorted(sources)


def check_error_rate(rejected: list[str], inputs: int, max_error_rate: float) -> None:
    """Raise PreprocessError when more than ``max_error_rate`` of the inputs were rejected."""
    if not inputs or len(rejected) / inputs <= max_error_rate:
        return
    examples = ", ".join(rejected[:3])
    raise PreprocessError(
        f"{len(rejected)} of {inputs} inputs were rejected ({len(rejected) / inputs:.1%} > max_error_rate "
        f"{max_error_rate:.1%}), e.g. {examples}; nothing was committed. Fix the inputs or raise "
        "preprocess.max_error_rate"
    )


def _counter(outcome: beam.runners.runner.PipelineResult, name: str) -> int:
    """Committed value of one of the job's ``mmsr`` counters (0 if it never incremented)."""
    query = outcome.metrics().query(MetricsFilter().with_namespace("mmsr").with_name(name))
    return int(sum(result.committed or 0 for result in query["counters"]))


def run_preprocess(config: PreprocessConfig, store: FeatureStoreConfig, run_id: str | None = None) -> PreprocessResult:
    """Run the job to completion and commit its rows and errors; raise PreprocessError if rejected."""
    run_id = run_id or uuid.uuid4().hex[:12]
    captions = (config.modalities.captions_path,) if config.modalities.captions_path else ()
    uris = expand_sources(config.input, exclude=captions)
    chash = content_hash(config)
    extractors = extractor_versions(config.modalities)
    base = current_snapshot_id(store)  # the plan's snapshot: the commit re-checks what landed after it
    plan = incremental_plan(store, base, chash, extractors)
    LOG.info("preprocess run %s: %d inputs; under config %s %d samples are up to date, %d have stale modalities",
             run_id, len(uris), chash, len(plan.up_to_date), len(plan.stale))
    try:
        removed = claim_staging(store, run_id)
        if removed:
            LOG.info("removed the staging of runs that are gone: %s", ", ".join(removed))
        pipeline = beam.Pipeline(options=pipeline_options(config))
        build_pipeline(pipeline, uris, config, store, run_id, plan)
        outcome = pipeline.run()
        outcome.wait_until_finish()
        skipped = _counter(outcome, "skipped_existing")
        rejected = _rejected_sources(list_staged(store, run_id).errors)
        check_error_rate(rejected, len(uris), config.max_error_rate)
        summary = {"config_hash": chash, "inputs": str(len(uris))}
        replacements = list_replacements(staging_dir(store, run_id))
        replacement = replace_samples(store, replacements, extractors, run_id, {**summary, "run_id": run_id})
        result: CommitResult = commit_run(store, run_id, summary, base_snapshot_id=base)
    except BaseException:
        discard_staging(store, run_id)
        raise
    return PreprocessResult(
        run_id=run_id, inputs=len(uris), accepted=len(uris) - len(rejected), rejected=len(rejected), added=result.rows,
        replaced=replacement.replaced, already_present=skipped + result.already_present + replacement.already_current,
        snapshot_id=result.snapshot_id, config_hash=chash,
    )

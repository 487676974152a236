"""``mmsr preprocess``: HR images -> staged Parquet -> feature-store commits.

Wiring only: the stages live in ``preprocess_transforms`` / ``model_stages``, the math in pure
modules, the commit protocol in ``featurestore.commit``. The driver resolves the input spec and
the base snapshot (a few file-system and catalog calls) and builds a job graph of constant size:
listing the inputs, reading the committed samples and the incremental plan all happen in the job
(:mod:`pipelines.input_listing`, :mod:`pipelines.committed_samples`). Nothing becomes visible
unless the whole Beam job succeeds, every input is accounted for and the error rate is within
``max_error_rate``. Then rows that replace committed samples (some extractor changed, see
:mod:`pipelines.incremental_plan`) land in one commit (:mod:`pipelines.sample_replacement`), and
new rows and errors in one more (``featurestore.commit.commit_run``, exactly once per sample id
against whatever committed since the base); should the second fail, the replacements stay
committed and a rerun adds only the new rows.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import apache_beam as beam
import fsspec
import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import PipelineOptions

from featurestore.commit import CommitResult, commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.modality import Modality
from featurestore.schema import ERRORS_SCHEMA, SAMPLES_SCHEMA
from featurestore.snapshot_manifests import SnapshotRef, current_snapshot_ref
from featurestore.staging import LeaseHeartbeat, claim_staging, discard_staging, list_staged, staging_dir
from pipelines.caption_join import JoinCaptions
from pipelines.committed_samples import CommittedSamples
from pipelines.input_listing import ListInputs
from pipelines.modalities.extractor import extractor_versions
from pipelines.model_availability import check_models, preprocess_models
from pipelines.model_stages import model_stages
from pipelines.parquet_shards import WriteParquetShards
from pipelines.preprocess_config import PreprocessConfig
from pipelines.preprocess_errors import PreprocessError
from pipelines.preprocess_transforms import (
    COUNTS,
    REJECTED,
    ApplyModelStages,
    CropAndDegrade,
    DecodeSources,
    DegradationVariants,
    ExtractEdges,
    HashSourceFn,
    PlanSourcesFn,
    ToRows,
)
from pipelines.run_counts import RunCounts, read_counts, sum_counts, write_counts
from pipelines.runner_options import beam_flags
from pipelines.sample_identity import content_hash
from pipelines.sample_replacement import list_replacements, replace_samples, replacements_dir
from pipelines.sources import InputSpec, SourceError, resolve_spec
from pipelines.tokenizer_lineage import CLIP_TOKENIZER_PROPERTY, VQ_TOKENIZER_PROPERTY, clip_lineage, vq_lineage

ERROR_ROWS_PER_FILE = 65536
"""Errors-table rows per staged file (they are small)."""

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


def build_pipeline(
    pipeline: beam.Pipeline, spec: InputSpec, config: PreprocessConfig, store: FeatureStoreConfig, run_id: str,
    base: SnapshotRef | None,
) -> None:
    """Add the whole job to ``pipeline``: list -> hash -> plan (a join with ``base``'s committed
    samples) -> decode -> crop and degrade -> edges -> model stages -> rows -> staged Parquet (new
    rows under ``samples/``, replacements of committed rows under ``replacements/``, errors under
    ``errors/``) and the run's counts. The graph's size does not depend on the number of inputs or
    committed rows."""
    chash = content_hash(config)
    extractors = extractor_versions(config.modalities)
    staged = staging_dir(store, run_id)
    found, listing_rejects = pipeline | "ListInputs" >> ListInputs(spec)
    captions = config.modalities.captions_path if Modality.CAPTION.value in config.modalities.enabled else None
    hashed = (
        found
        | "Captions" >> JoinCaptions(captions)
        | "Hash" >> beam.ParDo(HashSourceFn()).with_outputs(REJECTED, main="sources")
    )
    committed = pipeline | "Committed" >> CommittedSamples(base, chash)
    planned = (
        {"sources": hashed.sources, "committed": committed}
        | "JoinCommitted" >> beam.CoGroupByKey()
        | "Plan" >> beam.ParDo(
            PlanSourcesFn(config.crops_per_image, chash, extractors, config.degradations_per_crop)
        ).with_outputs(COUNTS, main="work")
    )
    threads = config.runner.worker_threads
    decoded = planned.work | "SpreadSources" >> beam.Reshuffle() | "Decode" >> DecodeSources(threads)
    cropped = decoded.images | "CropAndDegrade" >> CropAndDegrade(config, chash)
    rejected = (
        (listing_rejects, hashed[REJECTED], decoded[REJECTED], cropped[REJECTED]) | "AllRejected" >> beam.Flatten()
    )
    # Spread the crops, not the few sources, over the workers (Beam's remedy for fusion after a fan-out).
    balanced = cropped.samples | "Rebalance" >> beam.Reshuffle() | "Edges" >> ExtractEdges(config.modalities, threads)
    extracted = balanced | "Models" >> ApplyModelStages(model_stages(config))
    # After the extraction: a crop's K degradation variants share its modalities and tokens.
    samples = extracted | "Variants" >> DegradationVariants(config, chash)
    rows, replacements, errors = (samples, rejected) | "Rows" >> ToRows(chash, extractors, run_id)
    _write_staged(rows, replacements, errors, staged, config.rows_per_file)
    _write_run_counts(
        (
            found | "CountFound" >> beam.Map(lambda _: RunCounts(inputs=1)),
            listing_rejects | "CountMalformedLines" >> beam.Map(lambda _: RunCounts(inputs=1)),
            rejected | "CountRejected" >> beam.Map(lambda _: RunCounts(rejected=1)),
            planned[COUNTS],
            cropped[COUNTS],
        ),
        staged,
    )


def _write_run_counts(counted: tuple[beam.PCollection, ...], staged: str) -> None:
    """Sum the run's counts over every stage and write them beside its staged files."""
    _ = (
        counted
        | "AllCounts" >> beam.Flatten()
        | "SumCounts" >> beam.CombineGlobally(sum_counts)
        | "WriteCounts" >> beam.Map(lambda counts: write_counts(staged, counts))
    )


def _write_staged(
    rows: beam.PCollection, replacements: beam.PCollection, errors: beam.PCollection, staged: str, per_file: int
) -> None:
    """New rows under ``samples/``, replacements under ``replacements/``, errors under ``errors/``."""
    _ = rows | "WriteSamples" >> WriteParquetShards(
        f"{staged}/samples", "part", SAMPLES_SCHEMA, None, "sample_id", rows_per_file=per_file
    )
    _ = replacements | "WriteReplacements" >> WriteParquetShards(
        replacements_dir(staged), "part", SAMPLES_SCHEMA, None, "sample_id", rows_per_file=per_file
    )
    _ = errors | "WriteErrors" >> WriteParquetShards(
        f"{staged}/errors", "part", ERRORS_SCHEMA, None, "source_uri", rows_per_file=ERROR_ROWS_PER_FILE
    )


def _rejected_examples(urls: list[str], limit: int = 3) -> list[str]:
    """A few source URIs of the staged error rows (the first files' first rows only)."""
    examples: list[str] = []
    for url in urls:
        with fsspec.open(url, "rb") as handle:
            batch = next(pq.ParquetFile(handle).iter_batches(batch_size=limit, columns=["source_uri"]), None)
        examples += [] if batch is None else batch.column(0).to_pylist()
        if len(examples) >= limit:
            break
    return examples[:limit]


def check_error_rate(rejected: int, inputs: int, max_error_rate: float, examples: list[str]) -> None:
    """Raise PreprocessError when more than ``max_error_rate`` of the inputs were rejected."""
    if not inputs or rejected / inputs <= max_error_rate:
        return
    raise PreprocessError(
        f"{rejected} of {inputs} inputs were rejected ({rejected / inputs:.1%} > max_error_rate "
        f"{max_error_rate:.1%}), e.g. {', '.join(examples)}; nothing was committed. Fix the inputs or raise "
        "preprocess.max_error_rate"
    )


def check_counts(counts: RunCounts, spec: InputSpec) -> None:
    """Raise SourceError for an input that matches no file, PreprocessError if any input is unaccounted."""
    if not counts.inputs:
        raise SourceError(f"input '{spec.spec}' matches no files")
    if counts.unaccounted:
        raise PreprocessError(
            f"{counts.unaccounted} of {counts.inputs} inputs ended neither accepted nor rejected "
            f"({counts.accepted} accepted, {counts.rejected} rejected); nothing was committed"
        )


def run_preprocess(config: PreprocessConfig, store: FeatureStoreConfig, run_id: str | None = None) -> PreprocessResult:
    """Run the job to completion and commit its rows and errors; raise PreprocessError if rejected."""
    run_id = run_id or uuid.uuid4().hex[:12]
    captions = (config.modalities.captions_path,) if config.modalities.captions_path else ()
    spec = resolve_spec(config.input, exclude=captions)
    check_models(preprocess_models(config))  # before Beam starts: a model it cannot load fails in its workers
    chash = content_hash(config)
    extractors = extractor_versions(config.modalities)
    base = current_snapshot_ref(store)  # the plan's snapshot: the commit re-checks what landed after it
    LOG.info("preprocess run %s: %s, content hash %s, planned against snapshot %s",
             run_id, config.input, chash, None if base is None else base.snapshot_id)
    try:
        removed = claim_staging(store, run_id)
        if removed:
            LOG.info("removed the staging of runs that are gone: %s", ", ".join(removed))
        with LeaseHeartbeat(store, run_id):  # however long the job runs, its staged files stay leased
            pipeline = beam.Pipeline(options=pipeline_options(config))
            build_pipeline(pipeline, spec, config, store, run_id, base)
            pipeline.run().wait_until_finish()
            staged_root = staging_dir(store, run_id)
            counts = read_counts(staged_root)
            check_counts(counts, spec)
            errors = list_staged(store, run_id).errors
            check_error_rate(counts.rejected, counts.inputs, config.max_error_rate, _rejected_examples(errors))
            summary = {
                "config_hash": chash, "inputs": str(counts.inputs),
                VQ_TOKENIZER_PROPERTY: vq_lineage(config.tokenizer),  # names the decoder of contact sheets
                CLIP_TOKENIZER_PROPERTY: clip_lineage(config.tokenizer),  # recorded with the models trained on them
            }
            replacement = replace_samples(
                store, list_replacements(staged_root), extractors, run_id, {**summary, "run_id": run_id}
            )
            result: CommitResult = commit_run(
                store, run_id, summary, base_snapshot_id=None if base is None else base.snapshot_id
            )
    except BaseException:
        discard_staging(store, run_id)
        raise
    return PreprocessResult(
        run_id=run_id, inputs=counts.inputs, accepted=counts.accepted, rejected=counts.rejected, added=result.rows,
        replaced=replacement.replaced,
        already_present=counts.already_present + result.already_present + replacement.already_current,
        snapshot_id=result.snapshot_id, config_hash=chash,
    )

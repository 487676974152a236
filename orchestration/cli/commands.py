"""One function per ``mmsr`` subcommand: typed config in, entry function called, summary printed."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TextIO

from featurestore.catalog_unreachable import CatalogUnreachableError
from featurestore.landed_files import MissingCommittedFileError
from featurestore.snapshot_error import SnapshotNotFoundError
from featurestore.workdir_move import WorkdirMovedError
from orchestration.cli.stage_clock import StageClock
from orchestration.evaluation.benchmark_set import BenchmarkSetError
from orchestration.mmsr_config import MmsrConfig
from orchestration.serving.image_payload import PayloadError
from orchestration.serving.port_check import PortInUseError
from orchestration.serving.registry_error import RegistryError
from pipelines.model_availability import ModelUnavailableError
from pipelines.preprocess_errors import PreprocessError
from pipelines.sources import SourceError

LOG = logging.getLogger(__name__)

USER_ERRORS: tuple[type[Exception], ...] = (
    SourceError, PayloadError, RegistryError, SnapshotNotFoundError, CatalogUnreachableError, ModelUnavailableError,
    WorkdirMovedError, PortInUseError, BenchmarkSetError,
)
"""Errors caused by the user's input: the CLI reports them in one line with exit status 2."""

RUN_FAILURES: tuple[type[Exception], ...] = (PreprocessError, MissingCommittedFileError)
"""Runs that ended as failures (nothing committed, or damaged data named): one line, exit status 1."""


def _progress(args: argparse.Namespace) -> TextIO | None:
    """Where progress bars are drawn: the terminal (``main`` sets it while library output goes to the log)."""
    return getattr(args, "progress", None)


def _workers_to_console(args: argparse.Namespace) -> bool:
    """Ray workers' output reaches the driver only with ``--verbose``; otherwise it stays in Ray's logs."""
    return bool(getattr(args, "verbose", True))


def quickstart(config: MmsrConfig, args: argparse.Namespace) -> int:
    from orchestration.cli.preprocess_sheet import preprocess_sheet_line
    from orchestration.cli.quickstart import run_quickstart

    report = run_quickstart(config, args.workdir, _progress(args), ray_log_to_driver=_workers_to_console(args))
    print(report.summary())
    print(preprocess_sheet_line(config, report.preprocess))
    if not report.floor_cleared:
        print(f"mmsr: failed: the quickstart model did not clear the floor against bicubic ({report.quality_line()})",
              file=sys.stderr)
        return 1
    return 0


def preprocess(config: MmsrConfig, args: argparse.Namespace) -> int:
    from orchestration.cli.preprocess_sheet import preprocess_sheet_line
    from pipelines.preprocess_job import run_preprocess

    clock = StageClock(1, "preprocess", _progress(args))
    with clock.stage("preprocess", "Beam"):
        result = run_preprocess(config.preprocess, config.featurestore)
    clock.close()
    print(result.summary())
    print(preprocess_sheet_line(config, result))
    return 0


def train(config: MmsrConfig, args: argparse.Namespace) -> int:
    from orchestration.cycle import register_trained, train_model

    clock = StageClock(1, "train", _progress(args))
    with clock.stage("train", "Ray Train"):
        result = train_model(config, args.run_name, ray_log_to_driver=_workers_to_console(args))
    clock.close()
    print(f"trained to step {result.final_step} on snapshot {result.snapshot_id}; MLflow run {result.mlflow_run_id}")
    if args.register:
        version = register_trained(config, result)
        print(f"registered {version.model_uri} as {version.name}@{config.promotion.challenger_alias}")
    return 0


def evaluate(config: MmsrConfig, args: argparse.Namespace) -> int:
    from orchestration.cycle import evaluate_and_record

    if args.pairs or args.hr:  # flags that do not go together were refused by preflight
        return _evaluate_set(config, args)
    if args.sweep:
        return _evaluate_sweep(config, args)
    clock = StageClock(1, "evaluate", _progress(args))
    with clock.stage("evaluate", args.model):
        result, version = evaluate_and_record(config, args.model, args.eval_snapshot, args.limit, config.evaluate)
    clock.close()
    scores = ", ".join(f"{k}={v:.4f}" for k, v in sorted(result.metrics.items()))
    print(f"evaluated {args.model} on snapshot {result.snapshot_id} ({result.images} images): {scores}; MLflow run {result.mlflow_run_id}")
    if version is not None:
        print(f"recorded on {config.tracking.registered_model} version {version} (reused by `mmsr promote`)")
    return 0


def _evaluate_set(config: MmsrConfig, args: argparse.Namespace) -> int:
    """``--pairs LR HR`` or ``--hr HR``: one MLflow run scoring a benchmark set's whole images."""
    from functools import partial
    from pathlib import Path

    from orchestration.evaluation.benchmark_set import pair_set, synthetic_set
    from orchestration.evaluation.set_evaluation import evaluate_set

    degradation, seed = config.preprocess.degradation, config.evaluate.seed
    if args.pairs:
        sources = {"lr": args.pairs[0], "hr": args.pairs[1]}
        load = partial(pair_set, args.pairs[0], args.pairs[1], center_crop=args.center_crop)
    else:
        sources = {"hr": args.hr}
        load = partial(synthetic_set, args.hr, degradation, seed, center_crop=args.center_crop)
    if args.center_crop is not None:
        sources["center_crop"] = str(args.center_crop)
    output = Path(args.output_dir) if args.output_dir else None
    clock = StageClock(1, "evaluate", _progress(args))
    with clock.stage("evaluate", args.model):
        result = evaluate_set(args.model, load, config.tracking, config.serve, config.evaluate, sources, output)
    clock.close()
    scores = ", ".join(f"{k}={v:.4f}" for k, v in sorted(result.metrics.items()))
    images = len(result.table)
    print(
        f"evaluated {args.model} on {result.set_name} ({images} images, content {result.content_hash[:12]}): "
        f"{scores}; MLflow run {result.mlflow_run_id}"
    )
    if output is not None:
        print(f"wrote {images} SR images and metrics.csv to {output}")
    return 0


def _evaluate_sweep(config: MmsrConfig, args: argparse.Namespace) -> int:
    """One evaluation (one MLflow run) per setting of ``--sweep``, then their table (printed, logged,
    written to ``--output-dir``)."""
    from pathlib import Path

    from orchestration.config_loading import ConfigError
    from orchestration.evaluation.evaluation_sweep import setting_label, sweep_settings
    from orchestration.evaluation.sweep_evaluation import SweepTarget, evaluate_sweep

    try:
        count = len(sweep_settings(args.sweep, config.serve.sampling))
    except ValueError as error:
        raise ConfigError(str(error)) from None
    print(f"sweeping {count} settings of {args.model}")
    target = SweepTarget(args.model, config.featurestore, args.eval_snapshot, args.limit)
    output = Path(args.output_dir) if args.output_dir else None
    sweep = evaluate_sweep(
        target, args.sweep, config.tracking, config.serve, config.evaluate, output, _progress(args)
    )
    for row in sweep.rows:
        scores = ", ".join(f"{k}={v:.4f}" for k, v in sorted(row.metrics.items()))
        print(f"  {setting_label(dict(row.setting))}: {scores}; MLflow run {row.run_id}")
    print(sweep.table.to_string(index=False, float_format=lambda value: f"{value:.4f}"))
    where = f" and {sweep.table_path}" if sweep.table_path is not None else ""
    print(f"sweep table: sweep_table.csv of MLflow run {sweep.parent_run_id}{where}")
    return 0


def promote(config: MmsrConfig, args: argparse.Namespace) -> int:
    from orchestration.cycle import promote as gate_and_promote
    from orchestration.registry.promotion import rollback

    name, alias = config.tracking.registered_model, config.tracking.champion_alias
    if args.rollback:
        print(f"{name}@{alias} rolled back to version {rollback(config)}")
        return 0
    clock = StageClock(1, "promote", _progress(args))
    with clock.stage("promote", f"evaluate version {args.version} + gates"):
        decision = gate_and_promote(config, args.version, args.eval_snapshot)
    clock.close()
    print(decision.summary())
    champion = args.version if decision.promote else decision.champion_version
    print(f"{name}@{alias} -> version {champion}")
    return 0


def serve(config: MmsrConfig, args: argparse.Namespace) -> int:
    from orchestration.serving.server import serve_model

    model_uri = args.model or f"models:/{config.tracking.registered_model}@{config.tracking.champion_alias}"
    return serve_model(model_uri, config.tracking, config.serve)

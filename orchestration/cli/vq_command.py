"""``mmsr train-vq``: fit the VQ modality tokenizer on a feature-store snapshot (config section ``vq_train``)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable

from orchestration.config_loading import ConfigError
from orchestration.mmsr_config import MmsrConfig
from trainers.recipes.vq_train_config import VqTrainConfig


def add_train_vq_parser(
    subparsers: argparse._SubParsersAction, add_config_flags: Callable[[argparse.ArgumentParser], None]
) -> argparse.ArgumentParser:
    """Add ``train-vq``; ``add_config_flags`` adds ``--config``/``--set``.

    ``--snapshot`` is stored as ``vq_snapshot``, so the CLI's ``train.snapshot`` shorthand never sees it.
    """
    parser = subparsers.add_parser(
        "train-vq", help="fit the VQ modality tokenizer (depth/segmentation/edge maps) on a snapshot with Ray Train"
    )
    parser.add_argument("--snapshot", dest="vq_snapshot", help="snapshot id or tag (overrides vq_train.snapshot)")
    parser.add_argument("--run-name", help="MLflow / Ray run name; reusing one resumes it")
    parser.add_argument("--output-dir", help="where the fitted tokenizer is saved (overrides vq_train.output_dir)")
    add_config_flags(parser)
    return parser


def vq_config_from_args(config: VqTrainConfig, args: argparse.Namespace) -> VqTrainConfig:
    """``config`` with the ``train-vq`` flags applied and validated again (ConfigError naming the key)."""
    flags = {"snapshot": getattr(args, "vq_snapshot", None), "output_dir": getattr(args, "output_dir", None)}
    try:
        return dataclasses.replace(config, **{k: v for k, v in flags.items() if v is not None})
    except ValueError as error:
        raise ConfigError(str(error)) from error


def _eval_summary(metrics: dict[str, float]) -> str:
    shown = sorted(k for k in metrics if k.startswith("eval/") and not k.endswith("/count"))
    return ", ".join(f"{k.removeprefix('eval/')}={metrics[k]:.4f}" for k in shown)


def train_vq(config: MmsrConfig, args: argparse.Namespace) -> int:
    """Run ``run_vq_training`` on ``config.vq_train`` (flags applied) and print a summary."""
    from orchestration.ray_runtime import local_ray
    from trainers.recipes.vq_train_job import run_vq_training

    vq_config = vq_config_from_args(config.vq_train, args)
    with local_ray(vq_config.cpus, vq_config.ray_address, bool(getattr(args, "verbose", True))):
        result = run_vq_training(vq_config, config.featurestore, config.tracking, getattr(args, "run_name", None))
    print(
        f"fitted the VQ tokenizer to step {result.final_step} on snapshot {result.snapshot_id} "
        f"({_eval_summary(result.metrics)}); saved to {result.output_dir} "
        f"(point preprocess.tokenizer.vq_model at it); MLflow run {result.mlflow_run_id}"
    )
    return 0

"""Checks that the inputs alone decide, run before a command's heavy start-up (torch, Beam, Ray).

A command that only reads the feature store never creates one: naming a catalog that does not exist
is a mistake answered at once, and so is a snapshot that does not exist (``train`` would otherwise
start Ray first), a preprocess input that does not exist or a model it cannot load (Beam would
otherwise start first). ``train --register`` on rows whose extractor settings differ from
``preprocess.modalities`` is refused before Ray starts, as registration would refuse it after training.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from featurestore.catalog import catalog_uri
from featurestore.catalog_unreachable import CatalogUnreachableError
from featurestore.config import FeatureStoreConfig
from featurestore.snapshot_error import SnapshotNotFoundError
from featurestore.workdir_move import WorkdirMovedError
from orchestration.cli.evaluate_flags import EvaluateFlagsError, check_evaluate_flags
from orchestration.mmsr_config import MmsrConfig
from orchestration.serving.registry_error import ExtractorParityError
from pipelines.model_availability import (
    ModelSource, ModelUnavailableError, check_model, check_models, is_local_path, preprocess_models,
)
from pipelines.sources import SourceError, resolve_spec

READ_ONLY_COMMANDS = frozenset({"train", "train-vq", "evaluate", "promote", "features"})
"""Commands that need an existing feature store (``preprocess`` and ``quickstart`` create one)."""
_SQLITE = "sqlite:///"


class NoFeatureStoreError(ValueError):
    """A read-only command names a SQLite catalog file that does not exist."""


class WorkdirError(ValueError):
    """``quickstart --workdir`` names a directory that cannot be created."""


PREFLIGHT_ERRORS: tuple[type[Exception], ...] = (
    NoFeatureStoreError, SnapshotNotFoundError, CatalogUnreachableError, WorkdirError, SourceError,
    ModelUnavailableError, EvaluateFlagsError, WorkdirMovedError, ExtractorParityError,
)
"""What :func:`preflight` raises: each a one-line user error."""


def check_store_exists(config: FeatureStoreConfig) -> None:
    """Raise :class:`NoFeatureStoreError` if ``config`` names a SQLite catalog file that does not exist
    (opening it would create an empty store). Server catalogs are checked by connecting to them."""
    uri = catalog_uri(config)
    if config.catalog_type != "sql" or not uri.startswith(_SQLITE):
        return
    path = Path(uri[len(_SQLITE):])
    if not path.is_file():
        raise NoFeatureStoreError(
            f"no feature store exists at {path} (featurestore.catalog_uri): run `mmsr preprocess` first"
        )


def _snapshot_to_check(args: argparse.Namespace, config: MmsrConfig) -> tuple[bool, str | None]:
    """(whether the command reads a snapshot it could name up front, that snapshot or None = current)."""
    if args.command == "train":
        return True, config.train.snapshot
    if args.command == "train-vq":
        return True, getattr(args, "vq_snapshot", None) or config.vq_train.snapshot
    if args.command == "evaluate":
        return True, args.eval_snapshot
    return False, None


def preflight(args: argparse.Namespace, config: MmsrConfig) -> None:
    """The checks of this module for ``args.command``; raises one of :data:`PREFLIGHT_ERRORS`."""
    if args.command == "quickstart":
        try:
            Path(args.workdir).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise WorkdirError(f"cannot create --workdir {args.workdir}: {error.strerror or error}") from None
    if args.command == "preprocess":  # before Beam loads: the input exists, every model can be loaded
        captions = config.preprocess.modalities.captions_path
        resolve_spec(config.preprocess.input, exclude=(captions,) if captions else ())
        check_models(preprocess_models(config.preprocess))
    if args.command not in READ_ONLY_COMMANDS or getattr(args, "rollback", False):  # a rollback reads only the registry
        return
    if args.command == "evaluate":
        check_evaluate_flags(args)
        if args.pairs or args.hr:  # a benchmark set: its sources exist; no store read
            for source in args.pairs or [args.hr]:
                resolve_spec(source)
            return
    check_store_exists(config.featurestore)
    reads, snapshot = _snapshot_to_check(args, config)
    if reads:
        from featurestore.readers import resolve_snapshot

        snapshot_id = resolve_snapshot(config.featurestore, snapshot)
        if args.command == "train" and getattr(args, "register", False):
            from orchestration.registry.extractor_parity import check_parity
            from orchestration.registry.training_extractors import training_extractors

            check_parity(training_extractors(config.featurestore, snapshot_id), config.preprocess.modalities)
    if args.command == "train" and is_local_path(config.train.base_model):  # a Hub id is fetched by the workers
        check_model(ModelSource("train.base_model", config.train.base_model))

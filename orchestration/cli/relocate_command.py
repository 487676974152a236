"""``mmsr relocate``: make a copied or moved workdir record its new place.

The feature store's SQLite catalog, its Iceberg metadata and the SQLite MLflow store record
absolute paths (Iceberg has no relative ones), so a copy of ``mmsr-runs`` would read the original;
every command refuses such a copy in one line until this rewrites the paths, inside the configured
locations only (:mod:`featurestore.relocation`, :mod:`trainers.tracking.mlflow_relocation`). Run it with the
config the other commands use; a second run finds nothing to do. Where the old place is found from
what the stores record; ``--from OLD`` names it instead (the workdir's old root, mapped onto the
common directory of the configured locations).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestration.config_loading import ConfigError

if TYPE_CHECKING:
    from featurestore.workdir_move import PathMove
    from orchestration.mmsr_config import MmsrConfig


def add_relocate_parser(
    subparsers: argparse._SubParsersAction, add_config_flags: Callable[[argparse.ArgumentParser], None]
) -> argparse.ArgumentParser:
    relocate = subparsers.add_parser(
        "relocate", help="after copying or moving the workdir: rewrite the paths its feature store and MLflow store record"
    )
    relocate.add_argument(
        "--from", dest="old_root", metavar="OLD",
        help="the workdir's old directory (default: found from the recorded paths)",
    )
    add_config_flags(relocate)
    return relocate


def configured_root(config: MmsrConfig) -> str:
    """The common directory of the configured local catalog, warehouse, MLflow store and artifacts."""
    from featurestore.catalog import catalog_uri, warehouse_url
    from featurestore.workdir_move import local_path
    from trainers.tracking.mlflow_runs import store_location

    places = [local_path(warehouse_url(config.featurestore))]
    if catalog_uri(config.featurestore).startswith("sqlite:///"):
        places.append(os.path.dirname(catalog_uri(config.featurestore)[len("sqlite:///"):]))
    store = store_location(config.tracking)
    if store is not None:
        places += [str(store.database.resolve().parent), store.artifact_root]
    local = [place for place in places if place]
    if not local:
        raise ConfigError("--from: no configured location is a local path, nothing to relocate")
    return os.path.commonpath(local)


def _explicit_move(config: MmsrConfig, old_root: str) -> PathMove:
    from featurestore.workdir_move import PathMove

    try:
        return PathMove(old=os.path.abspath(os.path.expanduser(old_root)), new=configured_root(config))
    except ValueError as error:
        raise ConfigError(f"--from: {error}") from None


def relocate(config: MmsrConfig, args: argparse.Namespace) -> int:
    from featurestore.relocation import relocate_feature_store
    from trainers.tracking.mlflow_relocation import relocate_mlflow_store
    from trainers.tracking.mlflow_runs import store_location

    move = _explicit_move(config, args.old_root) if args.old_root else None
    print(relocate_feature_store(config.featurestore, move).summary())
    store = store_location(config.tracking)
    if store is None:
        print("MLflow store: not a local SQLite store, nothing to rewrite")
    else:
        print(relocate_mlflow_store(store, move).summary())
    return 0

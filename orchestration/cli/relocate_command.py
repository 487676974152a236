"""``mmsr relocate``: make a copied or moved workdir record its new place.

The feature store's SQLite catalog, its Iceberg metadata and the SQLite MLflow store record
absolute paths (Iceberg has no relative ones), so a copy of ``mmsr-runs`` would read the original;
every command refuses such a store in one line until this rewrites the paths, inside the configured
locations only (:mod:`featurestore.relocation`, :mod:`trainers.mlflow_relocation`). Run it with the
config the other commands use; a second run finds nothing to do.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestration.mmsr_config import MmsrConfig


def add_relocate_parser(
    subparsers: argparse._SubParsersAction, add_config_flags: Callable[[argparse.ArgumentParser], None]
) -> argparse.ArgumentParser:
    relocate = subparsers.add_parser(
        "relocate", help="after copying or moving the workdir: rewrite the paths its feature store and MLflow store record"
    )
    add_config_flags(relocate)
    return relocate


def relocate(config: MmsrConfig, args: argparse.Namespace) -> int:
    from featurestore.relocation import relocate_feature_store
    from trainers.mlflow_relocation import relocate_mlflow_store
    from trainers.mlflow_runs import store_location

    print(relocate_feature_store(config.featurestore).summary())
    store = store_location(config.tracking)
    if store is None:
        print("MLflow store: not a local SQLite store, nothing to rewrite")
    else:
        print(relocate_mlflow_store(store).summary())
    return 0

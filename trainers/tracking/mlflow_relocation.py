"""Detect and rewrite the absolute paths a copied or moved SQLite MLflow store records.

MLflow records absolute artifact URIs: experiments' ``artifact_location``, runs' ``artifact_uri``,
model versions' ``source`` and ``storage_location``, logged models' ``artifact_location``, and our
snapshot datasets' sources name the feature store's catalog and warehouse. The store counts as
moved when the configured experiment's recorded artifact root differs from the configured one and
the configured one holds the artifact directory of one of its runs or logged models (a copy). The rewrite replaces the old workdir root by
the new one in every text column of every table, in one SQLite transaction (all or nothing; a rerun
finds nothing to do), so it follows whatever columns the installed MLflow's schema has.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from featurestore.workdir_move import PathMove, local_path

_TEXT_TYPES = ("CHAR", "TEXT", "CLOB", "STRING")


@dataclass(frozen=True)
class MlflowStoreLocation:
    """A SQLite MLflow store as configured: its database, the experiment and its artifact root."""

    database: Path
    experiment: str
    artifact_root: str
    """Absolute local path of the configured artifact root."""


@dataclass(frozen=True)
class MlflowRelocation:
    move: PathMove | None
    values: int
    """Text values rewritten."""

    def summary(self) -> str:
        if self.move is None:
            return "MLflow store: already at its configured place, nothing to rewrite"
        return f"MLflow store: {self.values} recorded value(s) moved from {self.move.old} to {self.move.new}"


def _read_only(database: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)


def _recorded_experiment(store: MlflowStoreLocation) -> tuple[str, list[str]] | None:
    """The experiment's recorded artifact location (a local path) and the artifact directories
    its runs and logged models have under it (relative), or None."""
    if not store.database.is_file():
        return None
    connection = _read_only(store.database)
    try:
        found = connection.execute(
            "SELECT experiment_id, artifact_location FROM experiments WHERE name = ?", (store.experiment,)
        ).fetchone()
        location = None if found is None else local_path(found[1] or "")
        if location is None:
            return None
        owned = [run for (run,) in connection.execute("SELECT run_uuid FROM runs WHERE experiment_id = ?", (found[0],))]
        query = "SELECT model_id FROM logged_models WHERE experiment_id = ?"
        owned += [f"models/{model}" for (model,) in connection.execute(query, (found[0],))]
    except sqlite3.OperationalError:  # a new or foreign database without MLflow's tables
        return None
    finally:
        connection.close()
    return location, owned


def recorded_move(store: MlflowStoreLocation) -> PathMove | None:
    """How the workdir moved, when the experiment's artifacts are recorded elsewhere than the
    configured root and the configured root holds a copy of them (a run's or logged model's
    artifact directory); None otherwise.

    The move maps the old workdir root (the common directory of the database and the artifact
    root) onto the new one, so the paths of a feature store beside them are rewritten too."""
    recorded = _recorded_experiment(store)
    if recorded is None or recorded[0] == store.artifact_root:
        return None
    location, owned = recorded
    if not any(Path(store.artifact_root, name).is_dir() for name in owned):
        return None  # another store's artifacts, or a new root for later experiments: not a copy
    root = os.path.commonpath([str(store.database.resolve().parent), store.artifact_root])
    tail = os.path.relpath(store.artifact_root, root)
    try:
        if tail == ".":
            return PathMove(old=location, new=root)
        if location.endswith("/" + tail):
            return PathMove(old=location[: -len(tail) - 1], new=root)
        return PathMove(old=location, new=store.artifact_root)
    except ValueError:  # one inside the other: not a copy this check can map
        return None


def _text_columns(connection: sqlite3.Connection) -> list[tuple[str, str]]:
    tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    columns = []
    for table in tables:
        for column in connection.execute(f'PRAGMA table_info("{table}")'):
            if any(kind in str(column[2]).upper() for kind in _TEXT_TYPES):
                columns.append((table, column[1]))
    return columns


def relocate_mlflow_store(store: MlflowStoreLocation, move: PathMove | None = None) -> MlflowRelocation:
    """Rewrite every recorded path naming ``move.old`` or lying under it (default move:
    :func:`recorded_move`) to name ``move.new``, in one transaction. Idempotent: a relocated store
    reports no move."""
    move = move or recorded_move(store)
    if move is None:
        return MlflowRelocation(move=None, values=0)
    connection = sqlite3.connect(store.database, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        before = connection.total_changes
        for table, column in _text_columns(connection):
            for old, new in move.whole_values():
                connection.execute(f'UPDATE "{table}" SET "{column}" = ? WHERE "{column}" = ?', (new, old))
            for old, new in move.substitutions():
                connection.execute(
                    f'UPDATE "{table}" SET "{column}" = REPLACE("{column}", ?, ?) WHERE instr("{column}", ?) > 0',
                    (old, new, old),
                )
        values = connection.total_changes - before
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    finally:
        connection.close()
    return MlflowRelocation(move=move, values=values)

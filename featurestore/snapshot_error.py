"""The error raised when a snapshot id, tag or branch names nothing in the feature store."""

from __future__ import annotations


class SnapshotNotFoundError(ValueError):
    """No such snapshot (or nothing committed yet): bad user input, reported in one line by the CLI."""

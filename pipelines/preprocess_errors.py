"""Errors of the preprocessing job that end a run without committing anything."""

from __future__ import annotations


class PreprocessError(RuntimeError):
    """The run was rejected (too many bad inputs); nothing was committed."""

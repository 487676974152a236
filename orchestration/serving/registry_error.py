"""Errors about registered models that the user can fix (unknown version, unknown alias)."""

from __future__ import annotations


class RegistryError(ValueError):
    """The named model version or alias does not exist in the registry."""

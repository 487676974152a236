"""Errors about registered models that the user can fix (unknown version, unknown alias, a packaging
that would not serve what the model was trained on)."""

from __future__ import annotations


class RegistryError(ValueError):
    """The named model version or alias does not exist in the registry."""


class ExtractorParityError(RegistryError):
    """A model would be packaged with extractor settings other than its training rows were made with,
    or those rows mix several settings; nothing is registered."""

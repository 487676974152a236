"""Sample identity: which preprocess settings make a sample what it is, and its id.

A sample id depends only on content: the source bytes (their SHA-256), the crop index and the
settings that change the sample's pixels or tokens (:data:`FieldRole.CONTENT`, hashed by
:func:`content_hash`). Every field of :class:`~pipelines.preprocess_config.PreprocessConfig` has
exactly one role, given here and nowhere else (:data:`FIELD_ROLES`):

- ``CONTENT``: changes every sample's pixels or tokens (crop size, seed, degradation, what the
  modalities see, the tokenizer models). Changing one makes new samples with new ids.
- ``EXTRACTOR``: one modality's extractor (model, revision, Canny thresholds, captions file,
  which modalities are enabled). Recorded per row in ``extractors``
  (:func:`pipelines.modalities.extractor.extractor_versions`); changing one keeps the ids and a
  rerun recomputes only that modality (:mod:`pipelines.incremental_plan`).
- ``POLICY``: where the inputs are, who runs the job and how (runner, threads, device, batch
  and file sizes, the error-rate limit, how many crops per image, the eval share). Never part
  of an id: a rerun that changes only policy knobs adds no row.

A path names a leaf field (``modalities.canny_low``) or a whole section whose class exists for
one role only: ``degradation`` (the parameters of :func:`pipelines.degradation.degrade`, content
by construction) and ``runner`` (where the Beam job runs, policy by construction). The longest
path that prefixes a field decides its role; :func:`unclassified_fields` lists the fields none
covers (a test keeps it empty, so a new field cannot be added without a role).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator, Mapping
from enum import Enum
from typing import Any

from pipelines.preprocess_config import PIPELINE_VERSION, PreprocessConfig


class FieldRole(str, Enum):
    CONTENT = "content"
    """Changes a sample's pixels or tokens: part of every sample id."""
    EXTRACTOR = "extractor"
    """One modality's extractor: versioned per row, never part of an id."""
    POLICY = "policy"
    """How, where and how much is run: never part of an id, never recorded per row."""


FIELD_ROLES: Mapping[str, FieldRole] = {
    "input": FieldRole.POLICY,
    "crop_size": FieldRole.CONTENT,
    "crops_per_image": FieldRole.POLICY,  # crop i is the same sample whatever the count
    "degradations_per_crop": FieldRole.POLICY,  # variant v of crop i too (variant 0: the crop's sample)
    "eval_fraction": FieldRole.POLICY,  # applies to new samples; a committed sample never changes split
    "seed": FieldRole.CONTENT,
    "max_error_rate": FieldRole.POLICY,
    "rows_per_file": FieldRole.POLICY,
    "device": FieldRole.POLICY,
    "degradation": FieldRole.CONTENT,
    "modalities.enabled": FieldRole.EXTRACTOR,
    "modalities.depth_model": FieldRole.EXTRACTOR,
    "modalities.depth_revision": FieldRole.EXTRACTOR,
    "modalities.segmentation_model": FieldRole.EXTRACTOR,
    "modalities.segmentation_revision": FieldRole.EXTRACTOR,
    "modalities.canny_low": FieldRole.EXTRACTOR,
    "modalities.canny_high": FieldRole.EXTRACTOR,
    "modalities.captions_path": FieldRole.EXTRACTOR,
    "modalities.caption_model": FieldRole.EXTRACTOR,
    "modalities.caption_revision": FieldRole.EXTRACTOR,
    "modalities.caption_max_tokens": FieldRole.EXTRACTOR,
    "modalities.source": FieldRole.CONTENT,  # what every modality sees
    "modalities.batch_size": FieldRole.POLICY,
    "tokenizer.vq_model": FieldRole.CONTENT,
    "tokenizer.vq_subfolder": FieldRole.CONTENT,
    "tokenizer.vq_revision": FieldRole.CONTENT,
    "tokenizer.clip_model": FieldRole.CONTENT,
    "tokenizer.clip_revision": FieldRole.CONTENT,
    "runner": FieldRole.POLICY,
}
"""Dotted field path (or section) of ``PreprocessConfig`` -> its role; see the module docstring."""


def config_leaves(config: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every non-dataclass field of a (nested) dataclass instance."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        path = f"{prefix}{field.name}"
        if dataclasses.is_dataclass(value):
            yield from config_leaves(value, f"{path}.")
        else:
            yield path, value


def field_role(path: str) -> FieldRole | None:
    """The role of the field at dotted ``path``: that of the longest classified prefix (None: none)."""
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        role = FIELD_ROLES.get(".".join(parts[:end]))
        if role is not None:
            return role
    return None


def unclassified_fields(config: PreprocessConfig) -> list[str]:
    """Dotted paths of ``config``'s fields that no entry of :data:`FIELD_ROLES` classifies."""
    return [path for path, _ in config_leaves(config) if field_role(path) is None]


def fields_with_role(config: PreprocessConfig, role: FieldRole) -> dict[str, Any]:
    """Dotted path -> value of every field of ``config`` with ``role``."""
    return {path: value for path, value in config_leaves(config) if field_role(path) is role}


def content_hash(config: PreprocessConfig) -> str:
    """Hash of the ``CONTENT`` fields and :data:`PIPELINE_VERSION`: the config part of every sample id.

    Raises ValueError naming any field without a role (it must be classified before it is used).
    """
    missing = unclassified_fields(config)
    if missing:
        raise ValueError(f"preprocess config fields {missing} have no role in pipelines.sample_identity.FIELD_ROLES")
    content = {**fields_with_role(config, FieldRole.CONTENT), "pipeline_version": PIPELINE_VERSION}
    encoded = json.dumps(content, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


def sample_id_for(source_sha256: str, content_hash_value: str, crop_index: int, variant: int = 0) -> str:
    """Stable id of degradation ``variant`` (``preprocess.degradations_per_crop``) of crop
    ``crop_index`` of the source with content hash ``source_sha256``; variant 0 is the crop's id."""
    key = f"{source_sha256}:{content_hash_value}:{crop_index}" + (f":lr{variant}" if variant else "")
    return hashlib.sha256(key.encode()).hexdigest()[:32]

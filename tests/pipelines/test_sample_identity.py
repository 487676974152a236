"""Every preprocess setting has one role in sample identity; only content settings change an id."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest

from pipelines.modalities.extractor import extractor_versions
from pipelines.preprocess_config import PreprocessConfig
from pipelines.sample_identity import (
    FIELD_ROLES,
    FieldRole,
    config_leaves,
    content_hash,
    field_role,
    fields_with_role,
    sample_id_for,
    unclassified_fields,
)

POLICY_CHANGES: dict[str, Any] = {
    "input": "gs://elsewhere/hr/**/*.jpg",
    "crops_per_image": 7,
    "degradations_per_crop": 3,
    "eval_fraction": 0.5,
    "max_error_rate": 0.3,
    "rows_per_file": 3,
    "device": "cuda",
    "modalities.batch_size": 2,
    "runner.runner": "FlinkRunner",
    "runner.direct_num_workers": 4,
    "runner.direct_running_mode": "multi_processing",
    "runner.worker_threads": 1,
    "runner.options": ("--direct_runner_bundle_repeat=1",),
    "runner.setup_file": "pyproject.toml",
    "runner.requirements_file": "requirements.txt",
    "runner.extra_packages": ("dist/mmsr-0.1.0.tar.gz",),
}
"""Another valid value for every policy knob."""

EXTRACTOR_CHANGES: dict[str, Any] = {
    "modalities.enabled": ("edges", "depth"),
    "modalities.depth_model": "other/depth",
    "modalities.depth_revision": "abc123",
    "modalities.segmentation_model": "other/segmentation",
    "modalities.segmentation_revision": "def456",
    "modalities.canny_low": 10,
    "modalities.canny_high": 250,
    "modalities.captions_path": "captions.jsonl",
    "modalities.caption_model": "other/blip",
    "modalities.caption_revision": "fed789",
    "modalities.caption_max_tokens": 12,
}
"""Another valid value for every extractor setting (applied to :func:`with_captioner`)."""


def with_captioner() -> PreprocessConfig:
    """The default config with a captioner, so that the captioner's own settings are in its version."""
    return with_path(PreprocessConfig(), "modalities.caption_model", "org/blip")

CONTENT_CHANGES: dict[str, Any] = {
    "crop_size": 256,
    "seed": 1,
    "degradation.scale": 2,
    "degradation.sinc_prob": 0.2,
    "degradation.jpeg_range2": (40, 90),
    "modalities.source": "lr",
    "tokenizer.vq_model": "other/vq",
    "tokenizer.vq_subfolder": "vq",
    "tokenizer.vq_revision": "v2",
    "tokenizer.clip_model": "other/clip",
    "tokenizer.clip_revision": "c1",
}
"""Every content leaf outside ``degradation`` (a section classified whole) and a few inside it."""


def with_path(config: Any, path: str, value: Any) -> Any:
    """``config`` with the field at dotted ``path`` set to ``value`` (nested dataclasses replaced)."""
    head, _, rest = path.partition(".")
    if not rest:
        return dataclasses.replace(config, **{head: value})
    return dataclasses.replace(config, **{head: with_path(getattr(config, head), rest, value)})


def test_every_field_of_the_preprocess_config_has_a_role() -> None:
    assert unclassified_fields(PreprocessConfig()) == []


def test_a_new_field_without_a_role_is_found_and_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class Grown(PreprocessConfig):
        shiny_new_knob: int = 3

    assert unclassified_fields(Grown()) == ["shiny_new_knob"]
    with pytest.raises(ValueError, match=r"\['shiny_new_knob'\] have no role"):
        content_hash(Grown())


def test_every_classified_path_names_a_field_or_section() -> None:
    paths = {path for path, _ in config_leaves(PreprocessConfig())}
    sections = {path.rsplit(".", 1)[0] for path in paths if "." in path}
    assert set(FIELD_ROLES) <= paths | sections


def test_sections_take_the_role_of_their_entry() -> None:
    assert field_role("degradation.kernel_list2") is FieldRole.CONTENT
    assert field_role("runner.worker_threads") is FieldRole.POLICY
    assert field_role("modalities.canny_low") is FieldRole.EXTRACTOR
    assert field_role("no_such.field") is None


def test_the_change_tables_cover_every_policy_and_extractor_field() -> None:
    config = PreprocessConfig()
    assert set(POLICY_CHANGES) == set(fields_with_role(config, FieldRole.POLICY))
    assert set(EXTRACTOR_CHANGES) == set(fields_with_role(config, FieldRole.EXTRACTOR))
    content = set(fields_with_role(config, FieldRole.CONTENT))
    assert {path for path in content if not path.startswith("degradation.")} <= set(CONTENT_CHANGES) <= content


@pytest.mark.parametrize("path", sorted(POLICY_CHANGES))
def test_a_policy_knob_changes_neither_the_content_hash_nor_the_extractor_versions(path: str) -> None:
    config = PreprocessConfig()
    changed = with_path(config, path, POLICY_CHANGES[path])
    assert changed != config
    assert content_hash(changed) == content_hash(config)
    assert extractor_versions(changed.modalities) == extractor_versions(config.modalities)


@pytest.mark.parametrize("path", sorted(EXTRACTOR_CHANGES))
def test_an_extractor_setting_changes_its_version_not_the_content_hash(path: str) -> None:
    config = with_captioner()
    changed = with_path(config, path, EXTRACTOR_CHANGES[path])
    assert content_hash(changed) == content_hash(config)
    assert extractor_versions(changed.modalities) != extractor_versions(config.modalities)


@pytest.mark.parametrize("path", sorted(CONTENT_CHANGES))
def test_a_content_setting_changes_the_content_hash(path: str) -> None:
    config = PreprocessConfig()
    assert content_hash(with_path(config, path, CONTENT_CHANGES[path])) != content_hash(config)


def test_sample_id_depends_on_source_content_crop_and_content_hash_only() -> None:
    base = sample_id_for("a" * 64, "hash", 0)
    assert base == sample_id_for("a" * 64, "hash", 0) and len(base) == 32
    assert len({base, sample_id_for("b" * 64, "hash", 0), sample_id_for("a" * 64, "other", 0),
                sample_id_for("a" * 64, "hash", 1)}) == 4


def test_variant_zero_keeps_the_crops_id_and_other_variants_get_their_own() -> None:
    sha = "a" * 64
    assert sample_id_for(sha, "hash", 2) == hashlib.sha256(f"{sha}:hash:2".encode()).hexdigest()[:32]  # today's ids
    assert sample_id_for(sha, "hash", 2, variant=0) == sample_id_for(sha, "hash", 2)
    ids = {sample_id_for(sha, "hash", crop, variant) for crop in range(3) for variant in range(4)}
    assert len(ids) == 12


def test_several_degradations_per_crop_need_modalities_from_the_hr() -> None:
    assert PreprocessConfig(degradations_per_crop=4).degradations_per_crop == 4
    with pytest.raises(ValueError, match="modalities.source: hr"):
        with_path(PreprocessConfig(degradations_per_crop=2), "modalities.source", "lr")
    with pytest.raises(ValueError, match="degradations_per_crop must be >= 1"):
        PreprocessConfig(degradations_per_crop=0)

"""The VLM captioner: a tiny random BLIP saved like a hub checkpoint, loaded through ``from_pretrained``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipelines.modalities.captioner import Captioner, build_tiny_captioner
from pipelines.modalities.extractor import ModalityExtractionConfig, extractor_versions


@pytest.fixture(scope="module")
def tiny_captioner_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_captioner(tmp_path_factory.mktemp("tiny-captioner"))


def test_captions_are_deterministic_words_one_per_image_in_order(tiny_captioner_dir: Path) -> None:
    captioner = Captioner(str(tiny_captioner_dir), max_new_tokens=6)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in ((40, 50, 3), (64, 64, 3), (17, 90, 3))]
    captions = captioner.caption(images)
    assert len(captions) == 3 and all(isinstance(c, str) and c for c in captions)
    assert captions == [captioner.caption([image])[0] for image in images]  # batching changes nothing
    assert all(len(c.split()) <= 6 for c in captions)
    assert captioner.caption([]) == []
    assert captioner.model_version == f"{tiny_captioner_dir}@unpinned"


def test_building_leaves_the_global_rng_alone_and_saves_no_pickle(tmp_path: Path) -> None:
    before = torch.random.get_rng_state()
    folder = build_tiny_captioner(tmp_path / "captioner")
    assert torch.equal(torch.random.get_rng_state(), before)
    assert (folder / "model.safetensors").is_file() and not list(folder.glob("*.bin"))


def test_the_caption_lineage_names_the_captioner_only_when_one_is_set() -> None:
    plain = ModalityExtractionConfig(captions_path="c.jsonl")
    assert extractor_versions(plain)["caption"] == "sidecar:c.jsonl"  # unchanged: committed rows stay current
    with_model = ModalityExtractionConfig(captions_path="c.jsonl", caption_model="org/blip", caption_revision="abc")
    assert extractor_versions(with_model)["caption"] == "sidecar:c.jsonl+org/blip@abc:30"
    with pytest.raises(ValueError, match="caption_max_tokens"):
        ModalityExtractionConfig(caption_max_tokens=0)

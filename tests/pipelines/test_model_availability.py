from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pipelines.model_availability import (
    ModelSource,
    ModelUnavailableError,
    check_model,
    is_local_path,
    preprocess_models,
)
from pipelines.modalities.extractor import ModalityExtractionConfig
from pipelines.preprocess_config import PreprocessConfig


def test_paths_and_hub_ids_are_told_apart(tmp_path: Path) -> None:
    assert is_local_path("/abs/model") and is_local_path("./m") and is_local_path("mmsr-runs/models/vq")
    assert is_local_path(str(tmp_path))
    assert not is_local_path("depth-anything/Depth-Anything-V2-Small-hf") and not is_local_path("gpt2")


def test_a_local_folder_passes_and_a_missing_one_names_key_and_path(tmp_path: Path) -> None:
    check_model(ModelSource("preprocess.modalities.depth_model", str(tmp_path)))
    with pytest.raises(ModelUnavailableError, match=r"preprocess.modalities.depth_model = '.*/gone': no such model folder"):
        check_model(ModelSource("preprocess.modalities.depth_model", str(tmp_path / "gone")))


def test_preprocess_models_follow_the_enabled_modalities() -> None:
    config = PreprocessConfig()
    keys = [source.key for source in preprocess_models(config)]
    assert keys == [
        "preprocess.modalities.depth_model", "preprocess.modalities.segmentation_model",
        "preprocess.tokenizer.vq_model", "preprocess.tokenizer.clip_model",
    ]
    edges_only = replace(config, modalities=ModalityExtractionConfig(enabled=("edges", "caption"), caption_model="org/cap"))
    assert [s.key for s in preprocess_models(edges_only)][:1] == ["preprocess.modalities.caption_model"]
    assert len(preprocess_models(edges_only)) == 3

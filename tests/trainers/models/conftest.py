"""Shared fixtures: one tiny random MMSR pipeline saved once per session, loaded fresh per test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from featurestore.modality import Modality
from trainers.models.conditioning import ModalityTokens
from trainers.models.sr_pipeline import MMSRPipeline, build_tiny_pipeline


@pytest.fixture(scope="session")
def tiny_pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_pipeline(tmp_path_factory.mktemp("models") / "mmsr-tiny")


@pytest.fixture
def tiny_pipeline(tiny_pipeline_dir: Path) -> MMSRPipeline:
    return MMSRPipeline.from_pretrained(tiny_pipeline_dir)


def random_tokens(pipeline: MMSRPipeline, batch_size: int, seed: int = 0) -> ModalityTokens:
    """Depth + edges codes and a caption for every row, segmentation absent."""
    generator = torch.Generator().manual_seed(seed)
    spatial = (Modality.DEPTH, Modality.EDGES)
    codes = {m: torch.randint(0, 1024, (batch_size, 256), generator=generator) for m in spatial}
    return pipeline.condition_tokens(batch_size, codes, ["a photo of a red car"] * batch_size)


@pytest.fixture
def make_tokens() -> Callable[[MMSRPipeline, int], ModalityTokens]:
    """``make_tokens(pipeline, batch_size)``: depth + edges codes and a caption per row, no segmentation."""
    return random_tokens

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from featurestore.modality import Modality
from trainers.models.conditioning import (
    ModalityTokens,
    build_modality_tokens,
    concat_tokens,
    tokens_from_feature_batch,
)
from trainers.models.sr_pipeline import MMSRPipeline

DEPTH, EDGES, CAPTION, SEGMENTATION = Modality.DEPTH, Modality.EDGES, Modality.CAPTION, Modality.SEGMENTATION


def _features(batch: int, modality: Modality, width: int = 8) -> torch.Tensor:
    length = 77 if modality is CAPTION else 256
    return torch.randn(batch, length, width, generator=torch.Generator().manual_seed(0))


def test_shapes_and_masks_are_validated() -> None:
    with pytest.raises(ValueError, match="features\\[depth\\]"):
        ModalityTokens(2, {DEPTH: torch.zeros(2, 77, 8)})
    with pytest.raises(ValueError, match="present\\[depth\\]"):
        ModalityTokens(2, {DEPTH: _features(2, DEPTH)}, {DEPTH: torch.ones(3, dtype=torch.bool)})


def test_masks_default_to_present_and_absent_modalities_are_all_false() -> None:
    tokens = ModalityTokens(2, {DEPTH: _features(2, DEPTH), EDGES: None}, {})
    assert tokens.mask(DEPTH).tolist() == [True, True]
    assert tokens.mask(EDGES).tolist() == [False, False]
    assert tokens.modalities == (DEPTH,)


def test_only_without_replace() -> None:
    tokens = ModalityTokens(
        2, {DEPTH: _features(2, DEPTH), CAPTION: _features(2, CAPTION)}, {DEPTH: torch.tensor([True, False])}
    )
    assert tokens.only([CAPTION]).modalities == (CAPTION,)
    assert tokens.without([CAPTION]).mask(DEPTH).tolist() == [True, False]
    replaced = tokens.replace(DEPTH, _features(2, DEPTH))
    assert replaced.mask(DEPTH).tolist() == [True, True]
    assert DEPTH not in tokens.replace(DEPTH, None).modalities


def test_concat_zero_fills_a_side_without_the_modality() -> None:
    first = ModalityTokens(2, {DEPTH: _features(2, DEPTH)}, {DEPTH: torch.tensor([True, False])})
    second = ModalityTokens(1, {CAPTION: _features(1, CAPTION)})
    both = concat_tokens(first, second)
    assert both.batch_size == 3
    assert both.mask(DEPTH).tolist() == [True, False, False]
    assert both.mask(CAPTION).tolist() == [False, False, True]
    assert both.feature(DEPTH)[2].abs().sum() == 0


def test_build_modality_tokens_looks_up_frozen_features(
    tiny_pipeline: MMSRPipeline, make_tokens: Callable[..., ModalityTokens]
) -> None:
    codes = torch.randint(0, 1024, (3, 256), generator=torch.Generator().manual_seed(0))
    ids = torch.from_numpy(np.zeros((3, 77), dtype=np.int64))
    tokens = build_modality_tokens(
        {DEPTH: codes, SEGMENTATION: None}, ids, tiny_pipeline.vq, tiny_pipeline.text_encoder,
        present={DEPTH: torch.tensor([True, True, False])},
    )
    assert tokens.modalities == (DEPTH, CAPTION)
    assert tokens.feature(DEPTH).shape == (3, 256, 8) and tokens.feature(CAPTION).shape == (3, 77, 32)
    assert not tokens.feature(CAPTION).requires_grad
    assert tokens.mask(DEPTH).tolist() == [True, True, False]
    with pytest.raises(ValueError, match="caption_ids"):
        build_modality_tokens({CAPTION: ids}, None, tiny_pipeline.vq, tiny_pipeline.text_encoder)


def test_tokens_from_feature_batch_reads_tokens_and_present_columns(tiny_pipeline: MMSRPipeline) -> None:
    batch = {
        "depth_tokens": np.ones((2, 256), np.int64), "depth_present": np.array([True, False]),
        "edges_tokens": np.zeros((2, 256), np.int64), "edges_present": np.array([False, False]),
        "segmentation_tokens": np.zeros((2, 256), np.int64), "segmentation_present": np.array([True, True]),
        "caption_tokens": np.zeros((2, 77), np.int64), "caption_present": np.array([False, True]),
    }
    tokens = tokens_from_feature_batch(batch, tiny_pipeline.vq, tiny_pipeline.text_encoder)
    assert set(tokens.modalities) == {DEPTH, SEGMENTATION, CAPTION}
    assert tokens.mask(DEPTH).tolist() == [True, False] and tokens.mask(CAPTION).tolist() == [False, True]
    only_edges = tokens_from_feature_batch(batch, tiny_pipeline.vq, tiny_pipeline.text_encoder, [EDGES])
    assert only_edges.modalities == () and only_edges.batch_size == 2


def test_leave_out_marks_every_row_out_of_the_context_and_survives_replace_and_concat() -> None:
    tokens = ModalityTokens(2, {DEPTH: _features(2, DEPTH), CAPTION: _features(2, CAPTION)})
    left = tokens.leave_out([DEPTH, SEGMENTATION])
    assert left.modalities == (CAPTION,)
    assert left.left_out_mask(DEPTH).tolist() == [True, True] and left.left_out_mask(SEGMENTATION).all()
    assert not left.left_out_mask(CAPTION).any() and not tokens.left_out_mask(DEPTH).any()
    replaced = left.replace(CAPTION, _features(2, CAPTION))
    assert replaced.left_out_mask(DEPTH).all()
    assert not left.replace(DEPTH, _features(2, DEPTH)).left_out_mask(DEPTH).any()  # given back: in the context
    both = concat_tokens(tokens, left)
    assert both.left_out_mask(DEPTH).tolist() == [False, False, True, True]
    assert both.mask(DEPTH).tolist() == [True, True, False, False]


def test_a_row_cannot_be_both_present_and_left_out() -> None:
    with pytest.raises(ValueError, match="left_out\\[depth\\] marks rows that are present"):
        ModalityTokens(2, {DEPTH: _features(2, DEPTH)}, {}, {DEPTH: torch.tensor([False, True])})
    with pytest.raises(ValueError, match="left_out\\[depth\\] must be"):
        ModalityTokens(2, {}, {}, {DEPTH: torch.ones(3, dtype=torch.bool)})

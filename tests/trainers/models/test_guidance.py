from __future__ import annotations

import pytest
import torch

from featurestore.modality import Modality
from trainers.models.conditioning import ModalityTokens
from trainers.models.guidance import combine_guidance, negative_tokens


def test_guided_modes_compute_one_plus_w_pos_minus_w_neg() -> None:
    eps_pos, eps_neg = torch.tensor([1.0, 2.0]), torch.tensor([0.5, -1.0])
    # w = 4: 5 * [1, 2] - 4 * [0.5, -1] = [3, 14]
    for mode in ("cfg", "m_empty-cfg", "m-cfg"):
        torch.testing.assert_close(combine_guidance(mode, eps_pos, eps_neg, 4.0), torch.tensor([3.0, 14.0]))
    torch.testing.assert_close(combine_guidance("m-cfg", eps_pos, eps_neg, 0.0), eps_pos)
    assert combine_guidance("none", eps_pos, None, 4.0) is eps_pos


def test_guided_mode_needs_a_negative_prediction_and_a_known_mode() -> None:
    with pytest.raises(ValueError, match="negative"):
        combine_guidance("cfg", torch.zeros(1), None, 1.0)
    with pytest.raises(ValueError, match="guidance_mode"):  # modes are validated by SamplingOptions; no silent default here
        negative_tokens("pag", _tokens(), torch.zeros(2, 77, 32))  # type: ignore[arg-type]


SPATIAL = (Modality.DEPTH, Modality.SEGMENTATION, Modality.EDGES)


def _tokens() -> ModalityTokens:
    """The positive branch's: depth and edges present, segmentation absent, a caption."""
    return ModalityTokens(
        2,
        {
            Modality.DEPTH: torch.ones(2, 256, 8),
            Modality.EDGES: torch.full((2, 256, 8), 2.0),
            Modality.CAPTION: torch.ones(2, 77, 32),
        },
    )


NEG = torch.zeros(2, 77, 32)
"""Stands in for the CLIP encoding of the negative prompt ("" when none is given)."""


def test_negative_branch_of_m_cfg_keeps_the_real_modality_tokens_and_has_the_negative_prompt() -> None:
    negative = negative_tokens("m-cfg", _tokens(), NEG)
    assert set(negative.modalities) == {Modality.DEPTH, Modality.EDGES, Modality.CAPTION}
    assert negative.feature(Modality.CAPTION) is NEG and negative.mask(Modality.CAPTION).all()
    assert torch.equal(negative.feature(Modality.DEPTH), _tokens().feature(Modality.DEPTH))
    assert torch.equal(negative.feature(Modality.EDGES), _tokens().feature(Modality.EDGES))
    assert not any(negative.left_out_mask(m).any() for m in Modality)  # nothing left out of the context


def test_negative_branch_of_m_empty_cfg_has_every_spatial_modality_as_m_empty_and_the_negative_prompt() -> None:
    negative = negative_tokens("m_empty-cfg", _tokens(), NEG)
    assert negative.modalities == (Modality.CAPTION,) and negative.feature(Modality.CAPTION) is NEG
    for modality in SPATIAL:  # absent (the MMLC fills m_empty), not left out
        assert not negative.mask(modality).any() and not negative.left_out_mask(modality).any()


def test_negative_branch_of_cfg_is_the_negative_prompt_alone_no_spatial_slot_in_the_context() -> None:
    negative = negative_tokens("cfg", _tokens(), NEG)
    assert negative.modalities == (Modality.CAPTION,) and negative.feature(Modality.CAPTION) is NEG
    for modality in SPATIAL:
        assert negative.left_out_mask(modality).tolist() == [True, True]
    assert not negative.left_out_mask(Modality.CAPTION).any()


def test_the_three_negative_branches_see_different_contexts() -> None:
    branches = {mode: negative_tokens(mode, _tokens(), NEG) for mode in ("cfg", "m_empty-cfg", "m-cfg")}
    assert [bool(t.left_out_mask(Modality.DEPTH).all()) for t in branches.values()] == [True, False, False]
    assert [bool(t.mask(Modality.DEPTH).all()) for t in branches.values()] == [False, False, True]


def test_none_has_no_negative_branch() -> None:
    with pytest.raises(ValueError, match="none"):
        negative_tokens("none", _tokens(), NEG)

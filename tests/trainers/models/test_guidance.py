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
    with pytest.raises(ValueError, match="guidance_mode"):
        combine_guidance("pag", torch.zeros(1), torch.zeros(1), 1.0)  # type: ignore[arg-type]


def _tokens() -> ModalityTokens:
    return ModalityTokens(
        2,
        {
            Modality.DEPTH: torch.ones(2, 256, 8),
            Modality.EDGES: torch.ones(2, 256, 8),
            Modality.CAPTION: torch.ones(2, 77, 32),
        },
    )


def test_negative_branch_of_m_cfg_keeps_the_spatial_modalities() -> None:
    negative = negative_tokens("m-cfg", _tokens())
    assert set(negative.modalities) == {Modality.DEPTH, Modality.EDGES}
    neg_prompt = torch.zeros(2, 77, 32)
    with_prompt = negative_tokens("m-cfg", _tokens(), neg_prompt)
    assert with_prompt.feature(Modality.CAPTION) is neg_prompt
    assert torch.equal(with_prompt.feature(Modality.DEPTH), _tokens().feature(Modality.DEPTH))


def test_negative_branch_of_cfg_has_only_the_negative_prompt() -> None:
    assert negative_tokens("cfg", _tokens()).modalities == ()
    neg_prompt = torch.zeros(2, 77, 32)
    assert negative_tokens("cfg", _tokens(), neg_prompt).modalities == (Modality.CAPTION,)


def test_negative_branch_of_m_empty_cfg_is_all_m_empty() -> None:
    negative = negative_tokens("m_empty-cfg", _tokens(), torch.zeros(2, 77, 32))
    assert negative.modalities == () and negative.batch_size == 2
    with pytest.raises(ValueError, match="none"):
        negative_tokens("none", _tokens())

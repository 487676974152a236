from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from featurestore.modality import Modality
from trainers.models.conditioning import ModalityTokens
from trainers.models.mmlc import MultimodalLatentConnector, build_mmlc, modality_dropout_mask, substitute_absent

DEPTH, SEG, EDGES, CAPTION = Modality.DEPTH, Modality.SEGMENTATION, Modality.EDGES, Modality.CAPTION
ORDER = (CAPTION, DEPTH, SEG, EDGES)


def _mmlc(modalities: tuple[Modality, ...] = ORDER, **kwargs: object) -> MultimodalLatentConnector:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build_mmlc("tiny", modalities, **kwargs).eval()  # type: ignore[arg-type]


def _tokens(batch: int = 2, seed: int = 0, present: dict[Modality, torch.Tensor] | None = None) -> ModalityTokens:
    generator = torch.Generator().manual_seed(seed)
    features = {
        DEPTH: torch.randn(batch, 256, 8, generator=generator),
        EDGES: torch.randn(batch, 256, 8, generator=generator),
        CAPTION: torch.randn(batch, 77, 32, generator=generator),
    }
    return ModalityTokens(batch, features, present or {})


def test_output_is_num_latents_by_cross_attention_dim() -> None:
    assert _mmlc()(_tokens(3)).shape == (3, 16, 32)


def test_absent_modalities_and_rows_are_replaced_by_m_empty() -> None:
    mmlc = _mmlc()
    tokens = _tokens(present={CAPTION: torch.tensor([True, False])})  # segmentation absent everywhere
    sequence = mmlc.modality_sequence(tokens)
    caption, depth, seg = sequence.tokens[:, :77], sequence.tokens[:, 77:333], sequence.tokens[:, 333:589]
    m_empty = mmlc.m_empty.detach()
    assert torch.equal(seg, m_empty.expand(2, 256, 32))
    assert torch.equal(caption[1], m_empty.expand(77, 32))
    assert torch.equal(caption[0], tokens.feature(CAPTION)[0])
    assert torch.equal(depth[:, :, :8], tokens.feature(DEPTH)) and depth[:, :, 8:].abs().sum() == 0  # zero-padded
    assert sequence.present.tolist() == [[True, True, False, True], [False, True, False, True]]
    assert sequence.key_modality.tolist() == [0] * 77 + [1] * 256 + [2] * 256 + [3] * 256


def test_substitute_absent_keeps_m_empty_in_the_graph() -> None:
    m_empty = torch.zeros(4, requires_grad=True)
    out = substitute_absent(torch.ones(2, 3, 2), torch.tensor([True, True]), m_empty, 3)
    out.sum().backward()
    assert m_empty.grad is not None and m_empty.grad.abs().sum() == 0  # in the graph, though no row uses it


def test_m_empty_gradient_counts_the_slots_it_fills() -> None:
    # d(sum)/d(m_empty) = how many tokens m_empty stands in for: 3 per absent row, every row without features.
    m_empty = torch.zeros(4, requires_grad=True)
    substitute_absent(torch.ones(2, 3, 2), torch.tensor([True, False]), m_empty, 3).sum().backward()
    torch.testing.assert_close(m_empty.grad, torch.full((4,), 3.0))
    m_empty.grad = None
    substitute_absent(None, torch.tensor([True, False]), m_empty, 3).sum().backward()
    torch.testing.assert_close(m_empty.grad, torch.full((4,), 6.0))


def test_modality_dropout_rate_is_p_and_reproducible() -> None:
    first = modality_dropout_mask(20_000, 4, 0.1, torch.Generator().manual_seed(3), "cpu")
    second = modality_dropout_mask(20_000, 4, 0.1, torch.Generator().manual_seed(3), "cpu")
    assert torch.equal(first, second)
    rates = first.float().mean(0)
    assert ((rates > 0.09) & (rates < 0.11)).all(), rates
    both = (first[:, 0] & first[:, 1]).float().mean()
    assert 0.005 < float(both) < 0.015  # independent across modalities: ~p^2


def test_dropout_happens_only_when_training_with_a_generator() -> None:
    mmlc = _mmlc()
    tokens = _tokens(batch=512)
    assert mmlc.modality_sequence(tokens, torch.Generator().manual_seed(0)).present[:, 1].all()  # eval mode
    mmlc.train()
    assert mmlc.modality_sequence(tokens).present[:, 1].all()  # no generator
    dropped = ~mmlc.modality_sequence(tokens, torch.Generator().manual_seed(0)).present[:, 1]
    assert 0.05 < float(dropped.float().mean()) < 0.15
    dropped_all = ~mmlc.modality_sequence(tokens, torch.Generator().manual_seed(0), dropout_p=0.5).present[:, 1]
    assert 0.4 < float(dropped_all.float().mean()) < 0.6


def test_unit_temperatures_change_nothing_and_others_do() -> None:
    mmlc, tokens = _mmlc(), _tokens()
    with torch.no_grad():
        base = mmlc(tokens)
        torch.testing.assert_close(mmlc(tokens, temperatures={"depth": 1.0, CAPTION: 1.0}), base)
        assert not torch.allclose(mmlc(tokens, temperatures={DEPTH: 10.0}), base)


def test_a_temperature_acts_only_on_rows_that_carry_the_modality() -> None:
    mmlc = _mmlc()
    tokens = _tokens(present={DEPTH: torch.tensor([True, False])})  # row 1: depth is m_empty
    with torch.no_grad():
        base, warm = mmlc(tokens), mmlc(tokens, temperatures={DEPTH: 5.0})
        no_depth = tokens.only([CAPTION, EDGES])
        torch.testing.assert_close(mmlc(no_depth, temperatures={DEPTH: 5.0}), mmlc(no_depth))
    assert not torch.allclose(warm[0], base[0])
    torch.testing.assert_close(warm[1], base[1])


def test_temperature_moves_the_attention_mass_on_its_modality() -> None:
    mmlc, tokens = _mmlc(), _tokens(batch=4)
    masses = [mmlc.modality_attention_mass(tokens, temperatures={DEPTH: s}) for s in (0.4, 1.0, 10.0)]
    torch.testing.assert_close(masses[1].sum(-1), torch.ones(4))
    depth = [float(m[:, 1].mean()) for m in masses]
    assert depth[0] > depth[1] > depth[2]


@pytest.mark.parametrize(("temperatures", "message"), [({DEPTH: 0.0}, "> 0"), ({"edges": 2.0}, "does not use")])
def test_bad_temperatures_are_rejected(temperatures: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _mmlc((CAPTION, DEPTH))(_tokens().only([DEPTH]), temperatures=temperatures)


def test_unconfigured_or_misshaped_modalities_are_rejected() -> None:
    with pytest.raises(ValueError, match="edges"):
        _mmlc((CAPTION, DEPTH))(_tokens())
    wrong = ModalityTokens(2, {DEPTH: torch.zeros(2, 256, 16)})
    with pytest.raises(ValueError, match="depth tokens are 16 wide"):
        _mmlc()(wrong)


def test_cost_grows_linearly_with_the_number_of_modality_tokens() -> None:
    def flops(modalities: tuple[Modality, ...]) -> int:
        mmlc = _mmlc(modalities).requires_grad_(False)
        tokens = ModalityTokens(1, {m: torch.zeros(1, 256, 8) for m in modalities})
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            mmlc(tokens)
        return counter.get_total_flops()

    one, two = flops((DEPTH,)), flops((DEPTH, SEG))  # M = 256 and 512 tokens
    print(f"MMLC forward FLOPs: M=256 {one}, M=512 {two}, ratio {two / one:.3f}")
    assert 1.2 < two / one < 2.2


def test_timestep_mode_depends_on_the_timestep_and_needs_it() -> None:
    mmlc, tokens = _mmlc(temperature_mode="timestep"), _tokens()
    with torch.no_grad():
        torch.nn.init.normal_(mmlc.timestep_temperature.head.weight, std=1.0)
        early = mmlc(tokens, timesteps=torch.tensor([10, 10]))
        late = mmlc(tokens, timesteps=torch.tensor([990, 990]))
    assert not torch.allclose(early, late)
    with pytest.raises(ValueError, match="timesteps"):
        mmlc(tokens)


def test_a_modality_left_out_is_not_in_the_context_at_all() -> None:
    """Leaving depth out equals an MMLC (same weights) that has no depth slot; m_empty differs."""
    mmlc, tokens = _mmlc((CAPTION, DEPTH)), _tokens().only([CAPTION])
    without_slot = _mmlc((CAPTION,))
    state = {k: v for k, v in mmlc.state_dict().items() if k != "spatial_position"}
    without_slot.load_state_dict({**state, "type_embedding": state["type_embedding"][:1]})
    with torch.no_grad():
        left_out = mmlc(tokens.leave_out([DEPTH]))
        torch.testing.assert_close(left_out, without_slot(tokens), rtol=1e-5, atol=1e-5)
        assert not torch.allclose(left_out, mmlc(tokens))  # depth as m_empty
    sequence = mmlc.modality_sequence(tokens.leave_out([DEPTH]))
    assert sequence.key_mask is not None and sequence.key_mask.sum(dim=1).tolist() == [77, 77]
    assert mmlc.modality_sequence(tokens).key_mask is None
    with pytest.raises(ValueError, match="leaves every modality out"):
        mmlc(ModalityTokens(2).leave_out([CAPTION, DEPTH]))


def test_a_timestep_aware_schedule_needs_a_learned_one_and_constant_skips_it() -> None:
    tokens, steps = _tokens(), torch.tensor([10, 990])
    fixed, learned = _mmlc(), _mmlc(temperature_mode="timestep")
    assert (fixed.timestep_aware("auto"), fixed.timestep_aware("constant")) == (False, False)
    assert (learned.timestep_aware("auto"), learned.timestep_aware("constant")) == (True, False)
    with pytest.raises(ValueError, match="temperature_schedule 'timestep_aware' needs"):
        fixed.timestep_aware("timestep_aware")
    with torch.no_grad():
        torch.nn.init.normal_(learned.timestep_temperature.head.weight, std=1.0)
        constant = learned(tokens, timesteps=steps, schedule="constant")
        torch.testing.assert_close(constant, learned(tokens, schedule="constant"))  # timesteps not needed
        assert not torch.allclose(constant, learned(tokens, timesteps=steps, schedule="timestep_aware"))


def test_m_empty_gets_a_gradient_even_when_every_modality_is_present() -> None:
    # DDP needs a gradient for every parameter: m_empty's is there (zero: no slot uses it), the rest non-zero.
    mmlc = _mmlc((DEPTH, EDGES, CAPTION)).train()
    mmlc(_tokens()).pow(2).mean().backward()
    assert mmlc.m_empty.grad is not None and mmlc.m_empty.grad.abs().sum() == 0
    zero = [name for name, p in mmlc.named_parameters() if name != "m_empty" and (p.grad is None or p.grad.abs().sum() == 0)]
    assert not zero, f"no gradient reaches {zero}"


def test_m_empty_learns_from_the_rows_it_stands_in_for() -> None:
    mmlc = _mmlc((DEPTH, EDGES, CAPTION)).train()
    mmlc(_tokens(present={CAPTION: torch.tensor([True, False])})).pow(2).mean().backward()
    assert mmlc.m_empty.grad is not None and mmlc.m_empty.grad.abs().sum() > 0


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    mmlc, tokens = _mmlc((DEPTH, CAPTION), temperature_mode="timestep"), _tokens().only([DEPTH, CAPTION])
    mmlc.save_pretrained(tmp_path, safe_serialization=True)
    loaded = MultimodalLatentConnector.from_pretrained(tmp_path, use_safetensors=True).eval()
    assert loaded.modality_order == (DEPTH, CAPTION)
    steps = torch.tensor([100, 500])
    with torch.no_grad():
        torch.testing.assert_close(loaded(tokens, timesteps=steps), mmlc(tokens, timesteps=steps))


def test_config_checks_name_the_field() -> None:
    with pytest.raises(ValueError, match="mmlc.modality_dropout"):
        MultimodalLatentConnector(modality_dropout=1.0)
    with pytest.raises(ValueError, match="mmlc.modalities"):
        MultimodalLatentConnector(modalities=("depth", "depth"))

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from diffusers import DDIMScheduler

from featurestore.modality import Modality
from trainers.models.conditioning import ModalityTokens
from trainers.models.sampling_options import GUIDANCE_MODES, SamplingOptions
from trainers.models.sr_pipeline import (
    PIPELINE_CONFIG_NAME, VAE_TILE_PIXELS, MMSRPipeline, PipelineConfig, TileTokens, build_pipeline_components, sampling_scheduler,
)
from trainers.models.tiling import TileBox, tile_boxes, tile_starts

TokensFactory = Callable[[MMSRPipeline, int], ModalityTokens]


def _lr(batch: int, height: int = 16, width: int = 16) -> torch.Tensor:
    return torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(0)) * 2 - 1


def _sr(
    pipeline: MMSRPipeline, lr: torch.Tensor, tokens: ModalityTokens | TileTokens,
    tile_size: int | None = None, vae_tile_size: int | None = VAE_TILE_PIXELS, **options: Any,
) -> torch.Tensor:
    """Two DDIM steps seeded 7; ``options``: any ``SamplingOptions`` fields."""
    sampling = SamplingOptions(**{"steps": 2, "seed": 7, **options})
    return pipeline(lr, tokens, sampling, tile_size=tile_size, vae_tile_size=vae_tile_size)


def test_saved_layout_is_one_subfolder_per_component_and_safetensors_only(tiny_pipeline_dir: Path) -> None:
    for name in ("vae", "unet", "mmlc", "vq", "text_encoder", "tokenizer", "scheduler"):
        assert (tiny_pipeline_dir / name).is_dir(), name
    files = [p for p in tiny_pipeline_dir.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix in {".bin", ".pkl", ".pt", ".pth", ".ckpt"}]
    assert sum(p.suffix == ".safetensors" for p in files) == 5
    assert json.loads((tiny_pipeline_dir / PIPELINE_CONFIG_NAME).read_text())["scale"] == 4


def test_super_resolves_by_the_scale_into_minus_one_one(
    tiny_pipeline: MMSRPipeline, make_tokens: TokensFactory
) -> None:
    out = _sr(tiny_pipeline, _lr(2), make_tokens(tiny_pipeline, 2))
    assert out.shape == (2, 3, 64, 64) and out.dtype == torch.float32
    assert out.min() >= -1 and out.max() <= 1 and torch.isfinite(out).all()


def test_round_trip_gives_identical_outputs(
    tiny_pipeline: MMSRPipeline, make_tokens: TokensFactory, tmp_path: Path
) -> None:
    tokens = make_tokens(tiny_pipeline, 1)
    before = _sr(tiny_pipeline, _lr(1), tokens)
    tiny_pipeline.save_pretrained(tmp_path / "copy")
    assert not [p for p in (tmp_path / "copy").rglob("*") if p.suffix in {".bin", ".pkl"}]
    loaded = MMSRPipeline.from_pretrained(tmp_path / "copy")
    assert torch.equal(_sr(loaded, _lr(1), make_tokens(loaded, 1)), before)


def test_every_guidance_mode_gives_its_own_output_without_a_negative_prompt(
    tiny_pipeline: MMSRPipeline, make_tokens: TokensFactory
) -> None:
    """No negative prompt: every negative branch has CLIP(""), so cfg (no spatial tokens), m_empty-cfg
    (spatial m_empty) and m-cfg (the real tokens) differ pairwise, and from one pass (none)."""
    tokens = make_tokens(tiny_pipeline, 1)
    outputs = {mode: _sr(tiny_pipeline, _lr(1), tokens, guidance_mode=mode) for mode in GUIDANCE_MODES}
    assert all(out.shape == (1, 3, 64, 64) and torch.isfinite(out).all() for out in outputs.values())
    for first, second in itertools.combinations(GUIDANCE_MODES, 2):
        assert (outputs[first] - outputs[second]).abs().max() > 1e-3, (first, second)


def test_no_negative_prompt_is_the_empty_one_and_a_negative_prompt_changes_the_result(
    tiny_pipeline: MMSRPipeline, make_tokens: TokensFactory
) -> None:
    tokens = make_tokens(tiny_pipeline, 1)
    unset = _sr(tiny_pipeline, _lr(1), tokens, guidance_mode="m-cfg")
    torch.testing.assert_close(_sr(tiny_pipeline, _lr(1), tokens, guidance_mode="m-cfg", negative_prompt=""), unset)
    blurry = _sr(tiny_pipeline, _lr(1), tokens, guidance_mode="m-cfg", negative_prompt="blurry")
    assert (blurry - unset).abs().max() > 1e-3


def test_timestep_aware_temperature_changes_the_output_and_needs_a_learned_schedule(
    tiny_pipeline: MMSRPipeline, make_tokens: TokensFactory, tmp_path: Path
) -> None:
    learned = build_pipeline_components("tiny", tmp_path, temperature_mode="timestep")
    with torch.no_grad():
        head = learned.mmlc.timestep_temperature.head.weight
        torch.nn.init.normal_(head, std=1.0, generator=torch.Generator().manual_seed(0))
    tokens = make_tokens(learned, 1)
    constant = _sr(learned, _lr(1), tokens, temperature_schedule="constant")
    aware = _sr(learned, _lr(1), tokens, temperature_schedule="timestep_aware")
    assert not torch.equal(aware, constant)  # (the tiny UNet barely reads its context: test_mmlc shows the size)
    torch.testing.assert_close(_sr(learned, _lr(1), tokens, temperature_schedule="auto"), aware)
    with pytest.raises(ValueError, match="temperature_schedule 'timestep_aware' needs"):
        _sr(tiny_pipeline, _lr(1), make_tokens(tiny_pipeline, 1), temperature_schedule="timestep_aware")


def test_odd_sizes_are_padded_and_large_inputs_tiled(preset_pipeline: MMSRPipeline) -> None:
    """For every preset's architecture (its padding multiple and tile grid differ: 14 x 40 latents in
    tiles of 16 latent pixels for the f4 ones, 8 x 24 for the f8 / 4-level ``sd2``)."""
    pipeline, lr = preset_pipeline, _lr(1, 13, 40)
    tokens = pipeline.condition_tokens(1, captions=["a house"])
    out = _sr(pipeline, lr, tokens, tile_size=16, guidance_mode="none")
    assert out.shape == (1, 3, 52, 160) and torch.isfinite(out).all()
    # Padded at the bottom and right by repeating the edge, then cropped back: exactly the crop of
    # what the LR padded by hand gives (no pad pixels in the output, nothing shifted).
    multiple = pipeline._pad_multiple()
    padded = torch.nn.functional.pad(lr, (0, -40 % multiple, 0, -13 % multiple), mode="replicate")
    assert padded.shape[-2:] != lr.shape[-2:]
    torch.testing.assert_close(out, _sr(pipeline, padded, tokens, tile_size=16, guidance_mode="none")[..., :52, :160])
    # Blended tiles move the result far less than another noise draw does (not zero: self-attention
    # sees one tile; measured 6-10 % of the draw-to-draw difference across the presets, and 27-35 %
    # with every tile pasted one latent pixel off).
    whole = _sr(pipeline, lr, tokens, tile_size=64, guidance_mode="none")
    redrawn = pipeline(lr, tokens, SamplingOptions(steps=2, seed=8, guidance_mode="none"), tile_size=64)
    tiling, draw = float((out - whole).abs().mean()), float((redrawn - whole).abs().mean())
    assert 0 < tiling < 0.2 * draw, f"tiled vs whole {tiling:.4f}, one draw vs another {draw:.4f}"


def test_tile_tokens_are_asked_once_per_tile_with_its_box_in_output_pixels(tiny_pipeline: MMSRPipeline) -> None:
    whole = tiny_pipeline.condition_tokens(1, captions=["a house"])
    boxes: list[TileBox] = []

    def per_tile(box: TileBox) -> ModalityTokens:
        boxes.append(box)
        return whole

    tiled = _sr(tiny_pipeline, _lr(1, 13, 40), per_tile, tile_size=16, guidance_mode="m-cfg")
    factor = 4  # the tiny VAE's; the latent of the LR padded to 14 x 40 at scale 4 is 14 x 40
    assert boxes == [tuple(v * factor for v in box) for box in tile_boxes(14, 40, 16, 8)] and len(boxes) == 4
    torch.testing.assert_close(tiled, _sr(tiny_pipeline, _lr(1, 13, 40), whole, tile_size=16, guidance_mode="m-cfg"))
    with pytest.raises(ValueError, match="rows"):
        _sr(tiny_pipeline, _lr(2, 16, 16), per_tile)


@pytest.mark.slow(minutes=1, minutes_each=1)
def test_a_tiled_upscale_is_close_to_the_untiled_one_everywhere(tiny_pipeline: MMSRPipeline) -> None:
    """A 128 px LR x4, denoised in 32- and 64-latent-pixel tiles vs in one piece, same tokens.
    Blending leaves no seams: the difference is as small on the seams as between them. It is not
    zero anywhere because the UNet's self-attention attends over its whole input, i.e. a tile's
    pixels see only their tile (measured with random weights: mean |difference| 0.007 at 64 px
    tiles, 0.015 at 32, on [-1, 1]; the bound is twice that). An untiled 512 px LR is out of reach
    on a CPU (self-attention over 512^2 latent pixels); benchmarks.upscale_memory runs it tiled."""
    lr = _lr(1, 128, 128)
    tokens = tiny_pipeline.condition_tokens(1, captions=["a house"])
    whole = _sr(tiny_pipeline, lr, tokens, guidance_mode="none", tile_size=128, vae_tile_size=None)
    for tile, bound in ((64, 0.015), (32, 0.03)):
        tiled = _sr(tiny_pipeline, lr, tokens, guidance_mode="none", tile_size=tile, vae_tile_size=None)
        difference = (tiled - whole).abs()
        assert 0 < float(difference.mean()) < bound, tile
        seams = [start * 4 for start in tile_starts(128, tile, 8)[1:]]  # where each next tile begins, output pixels
        per_row = difference.mean(dim=(0, 1, 3))
        assert float(per_row[seams].max()) < 3 * float(per_row.median()), tile


def test_temperatures_reach_the_mmlc(tiny_pipeline: MMSRPipeline, make_tokens: TokensFactory) -> None:
    tokens = make_tokens(tiny_pipeline, 1)
    base = _sr(tiny_pipeline, _lr(1), tokens, guidance_mode="none")
    hot = _sr(tiny_pipeline, _lr(1), tokens, guidance_mode="none", temperatures={Modality.DEPTH.value: 10.0})
    assert not torch.equal(base, hot)


def test_condition_tokens_marks_missing_captions_absent(tiny_pipeline: MMSRPipeline) -> None:
    tokens = tiny_pipeline.condition_tokens(2, captions=["a dog", None])
    assert tokens.mask(Modality.CAPTION).tolist() == [True, False]
    assert tiny_pipeline.condition_tokens(2, captions=["", None]).modalities == ()


def test_batch_mismatch_and_bad_config_are_rejected(tiny_pipeline: MMSRPipeline) -> None:
    with pytest.raises(ValueError, match="rows"):
        tiny_pipeline(_lr(2), ModalityTokens(1), SamplingOptions(steps=1))
    with pytest.raises(ValueError, match="pipeline.scale"):
        PipelineConfig(scale=0)
    with pytest.raises(ValueError, match="guidance_mode"):
        SamplingOptions(guidance_mode="cfg++")  # type: ignore[arg-type]


def test_large_images_are_vae_encoded_and_decoded_in_tiles_close_to_whole(preset_pipeline: MMSRPipeline) -> None:
    """For every preset's autoencoder (AutoencoderKL f4 and f8, the quickstart's AutoencoderTiny):
    below the VAE tile size nothing changes; above it the tiles are blended into nearly the whole-
    image result. Not exactly: the AutoencoderKL's mid-block attends over the whole latent, and a tile
    sees only its own (random weights: 2-15 % of the difference between two noise draws, measured)."""
    lr = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1

    def run(vae_tile_size: int | None, seed: int = 1) -> torch.Tensor:
        sampling = SamplingOptions(guidance_mode="none", steps=2, seed=seed)
        return preset_pipeline(lr, ModalityTokens(1), sampling, vae_tile_size=vae_tile_size)

    whole = run(None)
    torch.testing.assert_close(run(128), whole)  # the 128 px output fits one tile: not tiled
    tiling = float((run(96) - whole).abs().mean())
    draw = float((run(None, seed=2) - whole).abs().mean())
    assert 0 < tiling < 0.25 * draw, f"tiled vs whole {tiling:.4f}, one draw vs another {draw:.4f}"
    with pytest.raises(ValueError, match="multiple of"):
        run(94)


def test_steps_may_reach_the_models_train_timesteps_and_no_further(tiny_pipeline: MMSRPipeline) -> None:
    """The bound is the scheduler's ``num_train_timesteps`` (1000 for SD2's: every timestep, 999..0)."""
    full = sampling_scheduler(tiny_pipeline.scheduler.config, 1000)
    assert full.timesteps.tolist() == list(range(999, -1, -1))
    fifty = sampling_scheduler(tiny_pipeline.scheduler.config, 50)
    reference = DDIMScheduler.from_config(tiny_pipeline.scheduler.config)
    reference.set_timesteps(50)
    assert torch.equal(fifty.timesteps, reference.timesteps)  # other step counts are unchanged
    short = dataclasses.replace(
        tiny_pipeline, scheduler=DDIMScheduler.from_config(tiny_pipeline.scheduler.config, num_train_timesteps=12)
    )
    assert short.max_steps == 12
    lr = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    image = short(lr, ModalityTokens(1), SamplingOptions(guidance_mode="none", steps=12, seed=1))
    assert image.shape == (1, 3, 64, 64) and torch.isfinite(image).all()
    with pytest.raises(ValueError, match=r"steps must be in 1\.\.12"):
        short(lr, ModalityTokens(1), SamplingOptions(guidance_mode="none", steps=13))


def test_disabled_modalities_are_sampled_as_m_empty_whatever_the_tokens_hold(
    tiny_pipeline: MMSRPipeline, make_tokens: TokensFactory
) -> None:
    tokens = make_tokens(tiny_pipeline, 1)
    assert Modality.DEPTH in tokens.modalities
    disabled = _sr(tiny_pipeline, _lr(1), tokens, guidance_mode="none", disabled=("depth",))
    torch.testing.assert_close(disabled, _sr(tiny_pipeline, _lr(1), tokens.without([Modality.DEPTH]), guidance_mode="none"))
    assert not torch.equal(disabled, _sr(tiny_pipeline, _lr(1), tokens, guidance_mode="none"))


def test_the_seed_of_the_options_seeds_the_noise_when_no_generator_is_given(tiny_pipeline: MMSRPipeline) -> None:
    sampling = SamplingOptions(steps=2, seed=11, guidance_mode="none")
    seeded = tiny_pipeline(_lr(1), ModalityTokens(1), sampling)
    given = tiny_pipeline(_lr(1), ModalityTokens(1), sampling, generator=torch.Generator().manual_seed(11))
    torch.testing.assert_close(seeded, given)
    assert not torch.equal(seeded, tiny_pipeline(_lr(1), ModalityTokens(1), SamplingOptions(steps=2, seed=12, guidance_mode="none")))


def test_pipelines_saved_with_sampling_defaults_still_load(tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    """Configs written before ``SamplingOptions`` carried the sampling defaults hold three more keys."""
    old = tmp_path / "old"
    shutil.copytree(tiny_pipeline_dir, old)
    saved = json.loads((old / PIPELINE_CONFIG_NAME).read_text())
    saved |= {"num_inference_steps": 50, "guidance_scale": 4.0, "guidance_mode": "m-cfg"}
    (old / PIPELINE_CONFIG_NAME).write_text(json.dumps(saved))
    assert MMSRPipeline.from_pretrained(old).config == MMSRPipeline.from_pretrained(tiny_pipeline_dir).config

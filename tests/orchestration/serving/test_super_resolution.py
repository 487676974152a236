"""Serve-time super-resolution: a request's rows run as batches per LR size, in order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orchestration.serving.super_resolution import SamplingOptions, super_resolve, super_resolve_batch
from trainers.models.sr_pipeline import MMSRPipeline


def test_batch_keeps_order_and_sizes_and_a_batch_of_one_is_super_resolve(tiny_pipeline_dir: Path) -> None:
    pipeline = MMSRPipeline.from_pretrained(tiny_pipeline_dir)
    rng = np.random.default_rng(0)
    small, large = (rng.integers(0, 256, (side, side, 3), dtype=np.uint8) for side in (16, 24))
    options = SamplingOptions(steps=2, guidance_mode="none", seed=3)
    outputs = super_resolve_batch(pipeline, [small, large, small[::-1].copy()], [None, "a cat", None], options)
    scale = pipeline.config.scale
    assert [o.shape for o in outputs] == [(16 * scale, 16 * scale, 3), (24 * scale, 24 * scale, 3), (16 * scale, 16 * scale, 3)]
    assert not np.array_equal(outputs[0], outputs[2])
    np.testing.assert_array_equal(super_resolve_batch(pipeline, [large], ["a cat"], options)[0], super_resolve(pipeline, large, "a cat", options))
    np.testing.assert_array_equal(outputs[1], super_resolve(pipeline, large, "a cat", options))  # alone in its size group


def test_with_a_negative_prompt_the_three_guidance_modes_differ_and_none_ignores_it(tiny_pipeline_dir: Path) -> None:
    pipeline = MMSRPipeline.from_pretrained(tiny_pipeline_dir)
    lr = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)

    def run(mode: str, negative: str | None) -> np.ndarray:
        options = SamplingOptions(steps=2, guidance_mode=mode, negative_prompt=negative, seed=5)  # type: ignore[arg-type]
        return super_resolve(pipeline, lr, "a red house", options)

    guided = {mode: run(mode, "blurry") for mode in ("cfg", "m_empty-cfg", "m-cfg")}
    assert not np.array_equal(guided["cfg"], guided["m_empty-cfg"])  # spatial slots left out vs m_empty
    assert not np.array_equal(guided["cfg"], guided["m-cfg"])  # no spatial slots vs the LR's edge tokens
    assert not np.array_equal(guided["m_empty-cfg"], guided["m-cfg"])
    assert not np.array_equal(run("m-cfg", None), guided["m-cfg"])  # the negative prompt reaches the sampler
    np.testing.assert_array_equal(run("none", "blurry"), run("none", None))


def test_request_params_override_the_defaults_and_round_trip() -> None:
    defaults = SamplingOptions(guidance_scale=2.0, negative_prompt="noise")
    options = defaults.with_params({"steps": "7", "negative_prompt": "", "temperature_depth": 2.0, "seed": 3})
    assert (options.steps, options.seed, options.guidance_scale, options.negative_prompt) == (7, 3, 2.0, None)
    assert options.modality_temperatures() is not None and SamplingOptions().with_params(options.as_params()) == options
    for bad in ({"steps": 0}, {"guidance_mode": "cfg++"}, {"temperature_edges": 50.0}, {"guidance_scale": -1}):
        with pytest.raises(ValueError):
            defaults.with_params(bad)

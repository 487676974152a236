"""Serve-time super-resolution: a request's rows run as batches per LR size, in order."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from orchestration.super_resolution import InferenceOptions, super_resolve, super_resolve_batch
from trainers.models.sr_pipeline import MMSRPipeline


def test_batch_keeps_order_and_sizes_and_a_batch_of_one_is_super_resolve(tiny_pipeline_dir: Path) -> None:
    pipeline = MMSRPipeline.from_pretrained(tiny_pipeline_dir)
    rng = np.random.default_rng(0)
    small, large = (rng.integers(0, 256, (side, side, 3), dtype=np.uint8) for side in (16, 24))
    options = InferenceOptions(steps=2, guidance_mode="none", seed=3)
    outputs = super_resolve_batch(pipeline, [small, large, small[::-1].copy()], [None, "a cat", None], options)
    scale = pipeline.config.scale
    assert [o.shape for o in outputs] == [(16 * scale, 16 * scale, 3), (24 * scale, 24 * scale, 3), (16 * scale, 16 * scale, 3)]
    assert not np.array_equal(outputs[0], outputs[2])
    np.testing.assert_array_equal(super_resolve_batch(pipeline, [large], ["a cat"], options)[0], super_resolve(pipeline, large, "a cat", options))
    np.testing.assert_array_equal(outputs[1], super_resolve(pipeline, large, "a cat", options))  # alone in its size group

"""One batch of evaluation rows: planned by LR size, super-resolved in one predict call, scored.

Rows denoised together share one draw of noise (``orchestration.serving.super_resolution``), so
what runs together must not depend on how many workers run it: :func:`plan_batches` fixes the
batches once, on the driver, and every way of running an evaluation (in this process or on Ray
Data actors, ``orchestration.evaluation.eval_runner``) calls :func:`score_batch` on exactly those
batches. The same batches give the same SRs and the same scores.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass

import mlflow.pyfunc
import numpy as np
import pandas as pd
from PIL import Image

from orchestration.evaluation.fidelity_convention import Convention
from orchestration.evaluation.image_grid import bicubic_upsample
from orchestration.evaluation.quality_metrics import MetricSet, Psnr, Ssim
from pipelines.image_decoding import decode_image
from trainers.models.sampling_options import SamplingOptions


@dataclass(frozen=True)
class EvalItem:
    """One image to evaluate, as the model's request carries it."""

    name: str
    """Sample id, or the file stem of a benchmark set's image."""
    lr_png: bytes
    """Encoded LR (PNG)."""
    hr_png: bytes
    """Encoded HR, ``scale`` x the LR."""
    caption: str = ""
    """Sent with the LR; "" lets the model caption the LR itself (as for a user's request)."""


@dataclass(frozen=True)
class ScoredImage:
    name: str
    sr_png: bytes
    """The SR as the model answered it (PNG)."""
    scores: dict[str, float]
    """Every metric of the set, then ``bicubic_psnr`` and ``bicubic_ssim`` (same convention)."""
    seconds: float
    """The batch's predict time divided by its rows."""
    caption: str
    """The caption the model was conditioned on ("" for none), as it answered."""


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of encoded image bytes, from the header only."""
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def plan_batches(items: Sequence[EvalItem], batch_size: int) -> list[list[int]]:
    """Indices of ``items`` in batches of at most ``batch_size`` rows of one LR size: sizes in
    ascending order, rows of a size in their order. Depends on nothing but its arguments."""
    groups: dict[tuple[int, int], list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(image_size(item.lr_png), []).append(index)
    return [
        indices[start:start + batch_size]
        for _, indices in sorted(groups.items())
        for start in range(0, len(indices), batch_size)
    ]


def batch_request(items: Sequence[EvalItem]) -> pd.DataFrame:
    """The pyfunc request of one batch: each LR (base64) and its caption."""
    return pd.DataFrame({
        "image": [base64.b64encode(item.lr_png).decode() for item in items],
        "caption": [item.caption for item in items],
    })


def image_scores(sr: np.ndarray, lr: np.ndarray, hr: np.ndarray, metric_set: MetricSet, convention: Convention) -> dict[str, float]:
    """Every metric of ``metric_set`` of (H, W, 3) uint8 ``sr`` against ``hr``, and bicubic's
    PSNR/SSIM (``lr`` upscaled to ``hr``'s size) under ``convention``."""
    scale = hr.shape[0] // lr.shape[0]
    scores = {metric.name: float(metric(sr, hr, scale)) for metric in metric_set.metrics}
    bicubic = bicubic_upsample(lr, *hr.shape[:2])
    scores["bicubic_psnr"] = float(Psnr(convention)(bicubic, hr, scale))
    scores["bicubic_ssim"] = float(Ssim(convention)(bicubic, hr, scale))
    return scores


def score_batch(
    model: mlflow.pyfunc.PyFuncModel, metric_set: MetricSet, items: Sequence[EvalItem], sampling: SamplingOptions,
    convention: Convention,
) -> list[ScoredImage]:
    """Super-resolve ``items`` in one predict call (the model batches rows of one size into one
    UNet call) and score each SR against its HR."""
    start = time.perf_counter()
    output = model.predict(batch_request(items), params=sampling.as_params())
    seconds = (time.perf_counter() - start) / len(items)
    captions = [str(caption) for caption in output["caption"]] if "caption" in output else [""] * len(items)
    scored = []
    for item, payload, caption in zip(items, output["image"], captions):
        sr_png = base64.b64decode(payload)
        sr, lr, hr = decode_image(sr_png), decode_image(item.lr_png), decode_image(item.hr_png)
        scored.append(ScoredImage(item.name, sr_png, image_scores(sr, lr, hr, metric_set, convention), seconds, caption))
    return scored

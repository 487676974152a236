"""Serve-time super-resolution: an LR image (+ optional caption) in, an SR image out.

Modalities at inference are extracted from the LR (as in the paper): Canny edges here, cheap
enough for every request; modalities without an extractor at serve time are m_empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np
import torch

from featurestore.modality import Modality
from pipelines.modalities.edges import canny_edges
from trainers.models.sr_pipeline import MMSRPipeline
from trainers.models.vq_tokenizer import encode_to_codes, maps_to_vq_input, render_modality_map
from trainers.pixel_range import to_model_range

GuidanceMode = Literal["none", "cfg", "m_empty-cfg", "m-cfg"]
_MODES: tuple[str, ...] = ("none", "cfg", "m_empty-cfg", "m-cfg")


@dataclass(frozen=True)
class InferenceOptions:
    guidance_mode: GuidanceMode = "m-cfg"
    guidance_scale: float = 4.0
    steps: int = 50
    seed: int = 0
    temperatures: dict[str, float] = field(default_factory=dict)
    """Per-modality attention temperature s (delta = s * sqrt(d_k)); 1.0 = as trained."""

    def __post_init__(self) -> None:
        if self.guidance_mode not in _MODES:
            raise ValueError(f"guidance_mode must be one of {', '.join(_MODES)}, got {self.guidance_mode!r}")
        if not 1 <= self.steps <= 1000:
            raise ValueError(f"steps must be in 1..1000, got {self.steps}")
        if self.guidance_scale < 0:
            raise ValueError(f"guidance_scale must be >= 0, got {self.guidance_scale}")
        for name, value in self.temperatures.items():
            if not 0.05 <= value <= 20.0:
                raise ValueError(f"temperature_{name} must be in [0.05, 20], got {value}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> InferenceOptions:
        """Options from MLflow request params (``temperature_<modality>`` keys give temperatures)."""
        params = dict(params or {})
        temperatures = {m.value: float(params.pop(f"temperature_{m.value}")) for m in Modality if f"temperature_{m.value}" in params}
        known = {k: params[k] for k in ("guidance_mode", "guidance_scale", "steps", "seed") if k in params}
        typed = {
            "guidance_mode": str(known.get("guidance_mode", cls.guidance_mode)),
            "guidance_scale": float(known.get("guidance_scale", cls.guidance_scale)),
            "steps": int(known.get("steps", cls.steps)),
            "seed": int(known.get("seed", cls.seed)),
        }
        return cls(**typed, temperatures=temperatures)  # type: ignore[arg-type]


def _to_tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    return to_model_range(torch.from_numpy(rgb).permute(2, 0, 1)[None].to(device))


def lr_edge_codes(pipeline: MMSRPipeline, lr: np.ndarray) -> torch.Tensor:
    """(1, 256) VQ codes of the Canny edges of the LR, bicubically upsampled to the output size."""
    scale = pipeline.config.scale
    upsampled = cv2.resize(lr, (lr.shape[1] * scale, lr.shape[0] * scale), interpolation=cv2.INTER_CUBIC)
    rendered = render_modality_map(canny_edges(upsampled), Modality.EDGES)
    return encode_to_codes(pipeline.vq, maps_to_vq_input([rendered]).to(pipeline.device))


def super_resolve(pipeline: MMSRPipeline, lr: np.ndarray, caption: str | None, options: InferenceOptions) -> np.ndarray:
    """(h, w, 3) uint8 RGB LR -> (h * scale, w * scale, 3) uint8 RGB SR."""
    tokens = pipeline.condition_tokens(1, codes={Modality.EDGES: lr_edge_codes(pipeline, lr)}, captions=[caption])
    generator = torch.Generator(device="cpu").manual_seed(options.seed)
    temperatures = {Modality(k): v for k, v in options.temperatures.items()} or None
    image = pipeline(
        _to_tensor(lr, pipeline.device), tokens, guidance_mode=options.guidance_mode,
        guidance_scale=options.guidance_scale, steps=options.steps, temperatures=temperatures, generator=generator,
    )
    pixels = ((image[0].clamp(-1, 1) + 1.0) * 127.5).round().byte().permute(1, 2, 0)
    return pixels.cpu().numpy()

"""The registered model: an MLflow pyfunc around ``MMSRPipeline`` (weights as safetensors)."""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd

from orchestration.image_payload import PayloadError, decode_image_payload, encode_image_payload
from orchestration.super_resolution import InferenceOptions, super_resolve
from trainers.models.sr_pipeline import MMSRPipeline

MAX_INPUT_PIXELS = 1024 * 1024


class MMSRPyfunc(mlflow.pyfunc.PythonModel):
    """Request: rows with ``image`` (base64 PNG/JPEG LR) and optional ``caption``; params set
    guidance mode/scale, steps, seed and ``temperature_<modality>``. Response: ``image`` (base64 PNG)."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self._pipeline = MMSRPipeline.from_pretrained(context.artifacts["pipeline"])

    def predict(
        self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        try:
            options = InferenceOptions.from_params(params)
        except (TypeError, ValueError) as error:
            raise PayloadError(f"invalid params: {error}") from None
        captions = model_input["caption"] if "caption" in model_input else [None] * len(model_input)
        outputs = []
        for payload, caption in zip(model_input["image"], captions):
            lr = decode_image_payload(payload, MAX_INPUT_PIXELS)
            caption_text = caption if isinstance(caption, str) and caption else None
            outputs.append(encode_image_payload(super_resolve(self._pipeline, lr, caption_text, options)))
        return pd.DataFrame({"image": outputs})

"""The registered model: an MLflow pyfunc around ``MMSRPipeline`` (weights as safetensors).

Every request error (bad base64, a non-image, an image over the pixel limit, a bad option, a
missing column) is a ``PayloadError``: the MLflow scoring server answers it with HTTP 400 and its
message, and keeps serving.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd

from orchestration.image_payload import PayloadError, decode_image_payload, encode_image_payload
from orchestration.super_resolution import InferenceOptions, super_resolve
from trainers.models.safe_loading import assert_no_pickles
from trainers.models.sr_pipeline import MMSRPipeline

MAX_INPUT_PIXELS = 1024 * 1024
"""Default largest LR (width * height); ``model_config["max_input_pixels"]`` overrides it."""
MAX_ROWS = 16
"""Default most images per request; ``model_config["max_rows"]`` overrides it."""


class MMSRPyfunc(mlflow.pyfunc.PythonModel):
    """Request: rows with ``image`` (base64 PNG/JPEG LR) and optional ``caption``; params set
    guidance mode/scale, steps, seed and ``temperature_<modality>``. Response: ``image`` (base64 PNG)."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        """Load the pipeline artifact (refused if it holds any pickle-format file)."""
        assert_no_pickles(context.artifacts["pipeline"])
        config = context.model_config or {}
        self._max_pixels = int(config.get("max_input_pixels", MAX_INPUT_PIXELS))
        self._max_rows = int(config.get("max_rows", MAX_ROWS))
        self._pipeline = MMSRPipeline.from_pretrained(context.artifacts["pipeline"])

    def predict(
        self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        options = _options(params)
        if "image" not in model_input:
            raise PayloadError(f"the request has no 'image' column (columns: {list(model_input.columns)})")
        if len(model_input) > self._max_rows:
            raise PayloadError(f"the request has {len(model_input)} images; at most {self._max_rows} are accepted")
        captions = model_input["caption"] if "caption" in model_input else [None] * len(model_input)
        images = [decode_image_payload(payload, self._max_pixels) for payload in model_input["image"]]
        outputs = []
        for lr, caption in zip(images, captions):
            caption_text = caption if isinstance(caption, str) and caption else None
            outputs.append(encode_image_payload(super_resolve(self._pipeline, lr, caption_text, options)))
        return pd.DataFrame({"image": outputs})


def _options(params: dict[str, Any] | None) -> InferenceOptions:
    try:
        return InferenceOptions.from_params(params)
    except (TypeError, ValueError) as error:
        raise PayloadError(f"invalid params: {error}") from None

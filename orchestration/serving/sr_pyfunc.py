"""The registered model: an MLflow pyfunc around ``MMSRPipeline`` (weights as safetensors).

Every request error (bad base64, a non-image, an image over the pixel limit, a bad option, a
missing column) is a ``PayloadError``: the MLflow scoring server answers it with HTTP 400 and its
message, and keeps serving. Anything else is a ``ServerError``: HTTP 500 with a short message and
an error id; the trace goes to the server's log under that id, never to the client.

The scoring server runs each request in some thread of its pool. The model computes on one
thread of its own, one request at a time in arrival order, with ``model_config["threads"]`` torch
threads when set: torch's OpenMP keeps a team of threads per calling thread, so computing on
whichever pool thread took the request leaves several teams competing for the cores, and
two requests computing at once would oversubscribe them. More replicas are ``serve.workers``
processes. The rows of one request run as one batch (per LR size).
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import mlflow.pyfunc
import pandas as pd
import torch
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR

from featurestore.modality import Modality
from orchestration.serving.image_payload import PayloadError, decode_image_payload, encode_image_payload
from orchestration.serving.lr_modalities import LrModalities
from orchestration.serving.super_resolution import super_resolve_batch
from trainers.models.inference_device import resolve_device, resolve_dtype
from trainers.models.safe_loading import verify_artifact_tree
from trainers.models.sampling_options import SamplingOptions
from trainers.models.sr_pipeline import MMSRPipeline

MAX_INPUT_PIXELS = 1024 * 1024
"""Default largest LR (width * height); ``model_config["max_input_pixels"]`` overrides it."""
MAX_ROWS = 16
"""Default most images per request; ``model_config["max_rows"]`` overrides it."""
_log = logging.getLogger(__name__)


class ServerError(MlflowException):
    """An unexpected failure while serving a request: HTTP 500 with an error id; the trace is
    logged (``orchestration.serving.sr_pyfunc`` logger) under the same id."""

    def __init__(self, error_id: str) -> None:
        super().__init__(
            f"internal server error (error id {error_id}); the server log has the details under this id",
            error_code=INTERNAL_ERROR,
        )
        self.error_id = error_id

    @classmethod
    def logged(cls, error: BaseException) -> ServerError:
        """A ServerError for ``error``, its trace logged under a new error id."""
        error_id = uuid.uuid4().hex[:12]
        _log.error("error id %s: %s", error_id, type(error).__name__, exc_info=error)
        return cls(error_id)


class MMSRPyfunc(mlflow.pyfunc.PythonModel):
    """Request: rows with ``image`` (base64 PNG/JPEG LR) and optional ``caption``; params set
    guidance mode/scale, negative prompt, steps, seed, ``temperature_<modality>`` and
    ``disable_modalities`` (``trainers.models.sampling_options``). Response: ``image`` (base64 PNG)
    and ``caption``, the caption it was conditioned on (generated from the LR when the request had
    none and the model packages a captioner; "" for none)."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        """Load the pipeline artifact (each file checked by content first: ``verify_artifact_tree``)
        on ``model_config["device"]`` in ``model_config["precision"]`` (``trainers.models.inference_device``),
        and the LR extractors packaged with it (``orchestration.serving.lr_modalities``) on that device in fp32."""
        verify_artifact_tree(context.artifacts["pipeline"])
        config = context.model_config or {}
        self._max_pixels = int(config.get("max_input_pixels", MAX_INPUT_PIXELS))
        self._max_rows = int(config.get("max_rows", MAX_ROWS))
        threads = config.get("threads")
        self._threads = None if threads is None else int(threads)
        self._compute = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmsr-inference")
        device = resolve_device(str(config.get("device", "auto")))
        dtype = resolve_dtype(str(config.get("precision", "auto")), device)
        self._pipeline = MMSRPipeline.from_pretrained(context.artifacts["pipeline"], device=device, dtype=dtype)
        self._extractors = LrModalities.load(context.artifacts["pipeline"], device=device)

    def predict(
        self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        try:
            return self._predict(model_input, params)
        except (PayloadError, ServerError):
            raise
        except Exception as error:
            raise ServerError.logged(error) from error

    def _predict(self, model_input: pd.DataFrame, params: dict[str, Any] | None) -> pd.DataFrame:
        options = _options(params, self._pipeline)
        if "image" not in model_input:
            raise PayloadError(f"the request has no 'image' column (columns: {list(model_input.columns)})")
        if len(model_input) > self._max_rows:
            raise PayloadError(f"the request has {len(model_input)} images; at most {self._max_rows} are accepted")
        captions = model_input["caption"] if "caption" in model_input else [None] * len(model_input)
        images = [decode_image_payload(payload, self._max_pixels) for payload in model_input["image"]]
        texts = [caption if isinstance(caption, str) and caption else None for caption in captions]
        outputs, used = self._compute.submit(self._super_resolve, images, texts, options).result()
        return pd.DataFrame({"image": [encode_image_payload(image) for image in outputs], "caption": used})

    def _super_resolve(
        self, images: list, captions: list[str | None], options: SamplingOptions
    ) -> tuple[list, list[str]]:
        """On the model's own compute thread (torch's thread count is per calling thread): the SRs
        and the caption each was conditioned on ("" for none; generated when the request had none)."""
        if self._threads is not None and torch.get_num_threads() != self._threads:
            torch.set_num_threads(self._threads)
        if Modality.CAPTION in options.disabled_modalities():
            captions = [None] * len(images)
        else:
            captions = self._extractors.fill_captions(images, captions, self._pipeline.config.scale)
        outputs = super_resolve_batch(self._pipeline, images, captions, options, self._extractors)
        return outputs, [caption or "" for caption in captions]


def _options(params: dict[str, Any] | None, pipeline: MMSRPipeline) -> SamplingOptions:
    """The request's sampling options, checked against the model (``steps`` up to its train timesteps,
    a timestep-aware temperature only if it learned one)."""
    try:
        options = SamplingOptions().with_params(params)
        pipeline.check_steps(options.steps)
        pipeline.mmlc.timestep_aware(options.temperature_schedule)
        return options
    except (TypeError, ValueError) as error:
        raise PayloadError(f"invalid params: {error}") from None

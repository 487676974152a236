"""One Beam RunInference model handler for every model stage of the preprocessing job.

A stage is a pair of plain functions: ``load()`` builds the model once per worker (Beam shares it
across bundles), ``apply(model, samples)`` returns the samples with that stage's output added.
Tests swap in tiny models simply by passing other functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

from apache_beam.ml.inference.base import ModelHandler

from pipelines.prepared_sample import PreparedSample
from pipelines.worker_threads import limit_threads

ModelT = TypeVar("ModelT")


class SampleModelHandler(ModelHandler[PreparedSample, PreparedSample, ModelT], Generic[ModelT]):
    """Loads a model with ``load`` and maps batches of samples through ``apply``.

    ``threads``: torch / OpenCV intra-op threads set in the worker before loading (None: unchanged).
    """

    def __init__(
        self,
        name: str,
        load: Callable[[], ModelT],
        apply: Callable[[ModelT, Sequence[PreparedSample]], list[PreparedSample]],
        max_batch_size: int,
        threads: int | None = None,
    ) -> None:
        super().__init__()
        self._name = name
        self._load = load
        self._apply = apply
        self._max_batch_size = max_batch_size
        self._threads = threads

    def load_model(self) -> ModelT:
        """Set this worker's torch / OpenCV threads (``threads``, if given), then ``load()``."""
        limit_threads(self._threads)
        return self._load()

    def run_inference(
        self,
        batch: Sequence[PreparedSample],
        model: ModelT,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[PreparedSample]:
        return self._apply(model, batch)

    def batch_elements_kwargs(self) -> dict[str, Any]:
        """Full batches of ``max_batch_size`` (the bundle's remainder is flushed at its end).

        Beam's default adaptive batching starts at one element and grows with measured times:
        on a bundle of a few dozen crops most model calls then ran on 1-4 samples.
        """
        return {"min_batch_size": self._max_batch_size, "max_batch_size": self._max_batch_size}

    def get_metrics_namespace(self) -> str:
        return f"mmsr_{self._name}"

    def share_model_across_processes(self) -> bool:
        return False

"""The HTTP app ``mmsr serve`` runs: MLflow's scoring app around the registered model, with params checked.

MLflow checks a request's params against the model's params schema and drops the keys it does
not know (a warning in the server log) before the model sees them, so a misspelt option would
silently sample with the default. :class:`StrictParamsModel` answers such a request with HTTP 400
naming the key and listing the accepted ones. uvicorn builds the app with :func:`create_app`
(``--factory``), in each worker process.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from mlflow.pyfunc import PyFuncModel, scoring_server

from orchestration.serving.image_payload import PayloadError


class StrictParamsModel:
    """A loaded pyfunc whose ``predict`` refuses params its signature does not name (PayloadError)."""

    def __init__(self, model: PyFuncModel) -> None:
        self._model = model
        schema = model.metadata.get_params_schema()
        self.accepted = tuple(spec.name for spec in schema.params) if schema is not None else ()

    @property
    def metadata(self) -> Any:
        return self._model.metadata

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        unknown = sorted(str(key) for key in (params or {}) if key not in self.accepted)
        if unknown:
            raise PayloadError(f"invalid params: unknown params {unknown}; accepted: {', '.join(self.accepted)}")
        return self._model.predict(data, params=params)


def build_app(model: PyFuncModel) -> FastAPI:
    """MLflow's scoring app (``/invocations``, ``/ping``, ...) serving ``model`` with strict params."""
    return scoring_server.init(StrictParamsModel(model))


def create_app() -> FastAPI:
    """uvicorn's factory (an entry point): the model and ``model_config`` named in the environment
    ``orchestration.serving.server.serve_environment`` sets."""
    model = scoring_server.load_model_with_mlflow_config(os.environ[scoring_server._SERVER_MODEL_PATH])
    return build_app(model)

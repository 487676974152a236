"""Register trained pipelines as MLflow pyfunc models and move aliases between versions.

Models are logged *from code* (``sr_model_code.py``), so loading a registered model never
unpickles anything; the weights travel as safetensors inside the ``pipeline`` artifact.
Registration runs the checks serving runs (``model_verification``): the pipeline directory file by
file before it is logged, the logged ``MLmodel`` flavor before the version is created. It packages
the LR extractors the training rows were made with and records them (``extractor_parity``).
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

from featurestore.modality import Modality
from orchestration.registry.extractor_parity import packaged_extractors
from orchestration.registry.training_extractors import TrainingExtractors
from orchestration.serving.extractor_record import write_extractor_record
from orchestration.serving.lr_modalities import package_extractors
from orchestration.serving.model_verification import MODEL_CODE, flavor_problem
from orchestration.serving.registry_error import RegistryError
from orchestration.serving.serve_config import ServeConfig
from orchestration.serving.server import serving_model_config
from pipelines.modalities.extractor import ModalityExtractionConfig
from trainers.models.safe_loading import UnsafeArtifactError, verify_artifact_tree
from trainers.models.sampling_options import PARAM_TYPES, SamplingOptions
from trainers.tracking.mlflow_runs import fluent_tracking, tracking_client
from trainers.tracking.tracking_config import TrackingConfig

EXTRACTORS_TAG = "mmsr.extractors"
"""Model-version tag: JSON of the extractor record packaged with the version (``TrainingExtractors.record``)."""


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: int
    model_uri: str
    """``models:/<name>/<version>``"""


_SCHEMA_TYPES = {str: "string", float: "double", int: "long"}


def serving_signature(sampling: SamplingOptions) -> ModelSignature:
    """Request: one row per LR image (base64 PNG/JPEG, optional caption); every sampling option as a
    param of its ``PARAM_TYPES`` type (a ``guidance_scale`` of 4 stays a double) whose default is
    ``sampling``'s (temperatures default to 1.0)."""
    inputs = Schema([ColSpec("string", "image"), ColSpec("string", "caption", required=False)])
    outputs = Schema([ColSpec("string", "image"), ColSpec("string", "caption")])
    defaults = {f"temperature_{modality.value}": 1.0 for modality in Modality} | sampling.as_params()
    params = [ParamSpec(key, _SCHEMA_TYPES[cast], cast(defaults[key])) for key, cast in PARAM_TYPES.items()]
    return ModelSignature(inputs=inputs, outputs=outputs, params=ParamSchema(params))


def register_pipeline(
    tracking: TrackingConfig, serve: ServeConfig, run_id: str, pipeline_dir: str, tags: dict[str, str],
    alias: str | None = None, extractors: ModalityExtractionConfig | None = None,
    trained_on: TrainingExtractors | None = None,
) -> RegisteredVersion:
    """Log ``pipeline_dir`` as the run's pyfunc model and register it as a new version, tagged
    with ``tags`` and, if given, pointed at by ``alias`` (``promotion.challenger_alias``).

    ``trained_on`` (``training_extractors`` of the training snapshot): its captioner, depth and
    segmentation models are packaged into ``pipeline_dir`` first, so serving extracts them from the
    LR (``orchestration.serving.lr_modalities``), and its record (Canny thresholds included) is
    written beside them and tagged :data:`EXTRACTORS_TAG`. ``extractors`` (``preprocess.modalities``)
    is checked against it: ExtractorParityError, nothing registered, when they differ; without
    ``trained_on`` it is packaged itself; neither registers an edges-only model. RegistryError, and
    nothing registered, when a file of ``pipeline_dir`` or the logged flavor is not what serving accepts."""
    packaged = packaged_extractors(extractors, trained_on)
    if packaged is not None:
        package_extractors(pipeline_dir, packaged.settings.extraction_config())
        write_extractor_record(pipeline_dir, packaged.record())
        tags = {**tags, EXTRACTORS_TAG: packaged.to_json()}
    try:
        verify_artifact_tree(pipeline_dir)
    except UnsafeArtifactError as error:
        raise RegistryError(f"not registered: {error}") from None
    with fluent_tracking(tracking), mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(MODEL_CODE),
            artifacts={"pipeline": pipeline_dir},
            signature=serving_signature(serve.sampling),
            pip_requirements=["mmsr"],
            model_config=serving_model_config(serve),
        )
        problem = flavor_problem(info.flavors)
        if problem is not None:
            raise RegistryError(f"not registered: the logged model's MLmodel: {problem}")
        registered = mlflow.register_model(info.model_uri, tracking.registered_model)
    version = int(registered.version)
    client = tracking_client(tracking)
    for key, value in tags.items():
        client.set_model_version_tag(tracking.registered_model, str(version), key, value)
    if alias is not None:
        client.set_registered_model_alias(tracking.registered_model, alias, str(version))
    return RegisteredVersion(tracking.registered_model, version, f"models:/{tracking.registered_model}/{version}")


def set_alias(tracking: TrackingConfig, alias: str, version: int) -> None:
    """Point ``alias`` at ``version``; RegistryError if that version does not exist."""
    client = tracking_client(tracking)
    try:
        client.get_model_version(tracking.registered_model, str(version))
    except MlflowException:
        raise RegistryError(f"model {tracking.registered_model} has no version {version}") from None
    client.set_registered_model_alias(tracking.registered_model, alias, str(version))

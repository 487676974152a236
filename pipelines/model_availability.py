"""Check, before a job starts, that every model it will load can be loaded: a local folder that
exists, or a Hugging Face Hub id that is cached or can be fetched. A model that cannot be loaded
fails inside the Beam workers otherwise, as a chain of tracebacks after the job has started."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import huggingface_hub

from pipelines.preprocess_config import PreprocessConfig


class ModelUnavailableError(ValueError):
    """A configured model can be neither found locally nor fetched; one line naming the config key,
    the model id and the reason."""


@dataclass(frozen=True)
class ModelSource:
    key: str
    """The config key naming it, e.g. ``preprocess.modalities.depth_model``."""
    model_id: str
    revision: str | None = None
    probe_file: str = "config.json"
    """A file every checkpoint of this kind has, looked up in the Hub cache."""


def preprocess_models(config: PreprocessConfig) -> list[ModelSource]:
    """The models ``mmsr preprocess`` loads with ``config`` (see :func:`pipelines.model_stages.model_stages`)."""
    modalities, tokenizer = config.modalities, config.tokenizer
    sources = []
    if "caption" in modalities.enabled and modalities.caption_model is not None:
        sources.append(ModelSource("preprocess.modalities.caption_model", modalities.caption_model, modalities.caption_revision))
    if "depth" in modalities.enabled:
        sources.append(ModelSource("preprocess.modalities.depth_model", modalities.depth_model, modalities.depth_revision))
    if "segmentation" in modalities.enabled:
        sources.append(ModelSource(
            "preprocess.modalities.segmentation_model", modalities.segmentation_model, modalities.segmentation_revision
        ))
    vq_probe = f"{tokenizer.vq_subfolder}/config.json" if tokenizer.vq_subfolder else "config.json"
    sources.append(ModelSource("preprocess.tokenizer.vq_model", tokenizer.vq_model, tokenizer.vq_revision, vq_probe))
    sources.append(ModelSource(
        "preprocess.tokenizer.clip_model", tokenizer.clip_model, tokenizer.clip_revision, "tokenizer/tokenizer_config.json"
    ))
    return sources


def is_local_path(model_id: str) -> bool:
    """A path rather than a Hub id (``name`` or ``namespace/name``)."""
    return model_id.startswith(("/", ".", "~")) or model_id.count("/") > 1 or Path(model_id).exists()


def _first_line(error: Exception) -> str:
    text = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def check_model(source: ModelSource, timeout_s: float = 10.0) -> None:
    """Return if ``source`` can be loaded; else raise :class:`ModelUnavailableError` saying why."""
    where = f"{source.key} = {source.model_id!r}"
    if is_local_path(source.model_id):
        if not Path(source.model_id).expanduser().is_dir():
            raise ModelUnavailableError(f"{where}: no such model folder")
        return
    cached = huggingface_hub.try_to_load_from_cache(source.model_id, source.probe_file, revision=source.revision)
    if isinstance(cached, str):
        return
    try:
        huggingface_hub.model_info(source.model_id, revision=source.revision, timeout=timeout_s)
    except huggingface_hub.errors.OfflineModeIsEnabled:
        raise ModelUnavailableError(f"{where}: not in the local Hugging Face cache and HF_HUB_OFFLINE is set") from None
    except (huggingface_hub.errors.RepositoryNotFoundError, huggingface_hub.errors.RevisionNotFoundError) as error:
        raise ModelUnavailableError(f"{where}: not found on the Hugging Face Hub ({_first_line(error)})") from None
    except Exception as error:  # the Hub's HTTP client raises its own connection errors
        raise ModelUnavailableError(
            f"{where}: not in the local Hugging Face cache and the Hub cannot be reached (offline?): {_first_line(error)}"
        ) from None


def check_models(sources: list[ModelSource]) -> None:
    """:func:`check_model` on each, in order: the first that cannot be loaded raises."""
    for source in sources:
        check_model(source)

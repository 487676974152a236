"""Train/serve parity of the LR extractors: a model is packaged with what its training rows were made with.

Registration packages the settings read from the training snapshot
(:mod:`orchestration.registry.training_extractors`), never a config's: the config at registration
(``preprocess.modalities``) is only checked against them, and a difference in anything serving
depends on (:meth:`~pipelines.modalities.extractor_settings.ExtractorSettings.served`: the
captioner and caption length, the depth and segmentation models and revisions, the Canny
thresholds) refuses the registration in one line naming each difference.
"""

from __future__ import annotations

from orchestration.serving.registry_error import ExtractorParityError
from orchestration.registry.training_extractors import TrainingExtractors
from pipelines.modalities.extractor import ALL_MODALITIES, ModalityExtractionConfig
from pipelines.modalities.extractor_settings import ExtractorSettings

_NONE = "none"


def parity_problems(trained: TrainingExtractors, config: ModalityExtractionConfig) -> list[str]:
    """Each modality whose served settings differ between the training rows and ``config``, as text."""
    rows, configured = trained.settings.served(), ExtractorSettings.from_config(config).served()
    return [
        f"{modality}: rows {rows.get(modality, _NONE)}, config {configured.get(modality, _NONE)}"
        for modality in ALL_MODALITIES if rows.get(modality) != configured.get(modality)
    ]


def check_parity(trained: TrainingExtractors, config: ModalityExtractionConfig) -> None:
    """ExtractorParityError (one line) unless ``config`` extracts what the training rows were made with."""
    problems = parity_problems(trained, config)
    if problems:
        raise ExtractorParityError(
            f"not registered: preprocess.modalities differs from the extractors the train rows of snapshot "
            f"{trained.snapshot_id} were made with ({'; '.join(problems)}); register with the preprocess config "
            "that made the snapshot, or reprocess and retrain"
        )


def packaged_extractors(
    config: ModalityExtractionConfig | None, trained: TrainingExtractors | None
) -> TrainingExtractors | None:
    """What registration packages: the training rows' settings (after checking ``config`` against
    them, when given); without a snapshot, ``config``'s; None (edges only, default thresholds) without either."""
    if trained is None:
        return None if config is None else TrainingExtractors.from_config(config)
    if config is not None:
        check_parity(trained, config)
    return trained

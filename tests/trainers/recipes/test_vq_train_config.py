from __future__ import annotations

import pytest

from featurestore.modality import Modality
from trainers.recipes.vq_train_config import VqTrainConfig


def test_defaults_fit_every_spatial_modality_on_cpu() -> None:
    config = VqTrainConfig()
    assert config.modality_list == (Modality.DEPTH, Modality.SEGMENTATION, Modality.EDGES)
    assert config.mixed_precision == "no" and not config.use_gpu
    assert VqTrainConfig(mixed_precision="bf16").mixed_precision == "bf16"  # CPU bf16 autocast is allowed


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"steps": 0}, "vq_train.steps must be >= 1"),
        ({"eval_max_rows": 0}, "vq_train.eval_max_rows must be >= 1"),
        ({"learning_rate": 0.0}, "vq_train.learning_rate must be > 0"),
        ({"commitment_weight": -1.0}, "vq_train.commitment_weight must be >= 0"),
        ({"max_grad_norm": 0.0}, "vq_train.max_grad_norm must be > 0"),
        ({"mixed_precision": "fp16"}, "vq_train.mixed_precision: fp16 needs vq_train.use_gpu"),
        ({"modalities": ()}, "vq_train.modalities must name at least one"),
        ({"modalities": ("edges", "edges")}, "vq_train.modalities lists a modality twice"),
        ({"output_dir": ""}, "vq_train.output_dir must be a path"),
    ],
)
def test_bad_values_are_refused_naming_the_field(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VqTrainConfig(**overrides)  # type: ignore[arg-type]

"""Every modality from the LR at inference: extractors packaged with the registered model, steerable per modality."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from featurestore.modality import Modality
from orchestration.registry.model_registry import register_pipeline
from orchestration.serving.checked_model import load_checked_model
from orchestration.serving.image_payload import decode_image_payload, encode_image_payload
from orchestration.serving.lr_modalities import LrModalities, package_extractors, upsample
from orchestration.serving.serve_config import ServeConfig
from orchestration.serving.super_resolution import SamplingOptions, super_resolve
from pipelines.modalities.captioner import Captioner, build_tiny_captioner
from pipelines.modalities.depth import build_tiny_depth_model
from pipelines.modalities.extractor import ModalityExtractionConfig
from pipelines.modalities.segmentation import build_tiny_segmentation_model
from trainers.models.safe_loading import verify_artifact_tree
from trainers.models.sr_pipeline import MMSRPipeline
from trainers.tracking.mlflow_runs import create_run, experiment_id, tracking_client
from trainers.tracking.tracking_config import TrackingConfig

pytestmark = pytest.mark.integration  # ~8.6 s in all, measured on 2 loaded cores


@pytest.fixture(scope="module")
def packaged_dir(tiny_pipeline_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny pipeline with a tiny captioner, depth and segmentation extractors packaged in."""
    root = tmp_path_factory.mktemp("extractors")
    extraction = ModalityExtractionConfig(
        depth_model=str(build_tiny_depth_model(root / "depth-model")),
        segmentation_model=str(build_tiny_segmentation_model(root / "segmentation-model")),
        caption_model=str(build_tiny_captioner(root / "caption-model")), caption_max_tokens=4,
    )
    pipeline_dir = shutil.copytree(tiny_pipeline_dir, root / "pipeline")
    assert package_extractors(pipeline_dir, extraction) == [Modality.CAPTION, Modality.DEPTH, Modality.SEGMENTATION]
    assert package_extractors(pipeline_dir, extraction) == [Modality.CAPTION, Modality.DEPTH, Modality.SEGMENTATION]
    return pipeline_dir


def test_packaged_extractors_pass_the_model_verification_and_load_back(
    packaged_dir: Path, tiny_pipeline_dir: Path
) -> None:
    verify_artifact_tree(packaged_dir)
    depth_files = sorted(p.name for p in (packaged_dir / "depth").iterdir())
    assert depth_files == ["config.json", "model.safetensors", "preprocessor_config.json"]
    extractors = LrModalities.load(packaged_dir)
    assert extractors.modalities == (Modality.CAPTION, Modality.DEPTH, Modality.SEGMENTATION, Modality.EDGES)
    assert extractors.captioner is not None and extractors.captioner.max_new_tokens == 4
    assert LrModalities.load(tiny_pipeline_dir).modalities == (Modality.EDGES,)  # nothing packaged: edges only
    lr = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    maps = extractors.maps([lr], skip={Modality.SEGMENTATION})
    assert set(maps) == {Modality.DEPTH, Modality.EDGES} and maps[Modality.DEPTH][0].shape == (64, 64)


def test_packaging_without_depth_and_segmentation_enabled_adds_nothing(tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    pipeline_dir = shutil.copytree(tiny_pipeline_dir, tmp_path / "pipeline")
    only_sidecar = ModalityExtractionConfig(enabled=("caption", "edges"))  # no caption_model: sidecar captions only
    assert package_extractors(pipeline_dir, only_sidecar) == []
    assert not any((pipeline_dir / name).exists() for name in ("captioner", "depth", "segmentation"))


def test_depth_temperature_steers_the_output_only_while_depth_is_extracted(packaged_dir: Path) -> None:
    pipeline, extractors = MMSRPipeline.from_pretrained(packaged_dir), LrModalities.load(packaged_dir)
    lr = np.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=np.uint8)

    def run(**params: object) -> np.ndarray:
        options = SamplingOptions(steps=2, guidance_mode="none", seed=1).with_params(params)
        return super_resolve(pipeline, lr, "a house", options, extractors)

    assert not np.array_equal(run(), run(temperature_depth=4.0))
    assert not np.array_equal(run(), run(disable_modalities="depth"))  # the depth tokens reach the sampler
    np.testing.assert_array_equal(
        run(disable_modalities="depth"), run(disable_modalities="depth", temperature_depth=4.0)
    )
    np.testing.assert_array_equal(run(disable_modalities="caption"), super_resolve(
        pipeline, lr, None, SamplingOptions(steps=2, guidance_mode="none", seed=1), extractors
    ))


def test_registered_with_extractors_the_served_model_extracts_them(
    packaged_dir: Path, tiny_pipeline_dir: Path, tmp_path: Path
) -> None:
    tracking = TrackingConfig(f"sqlite:///{tmp_path}/mlflow.db", artifact_location=str(tmp_path / "artifacts"))
    client = tracking_client(tracking)
    run_id = create_run(client, experiment_id(client, tracking), "test", {"source": "test"})
    pipeline_dir = shutil.copytree(tiny_pipeline_dir, tmp_path / "pipeline")
    extraction = ModalityExtractionConfig(
        depth_model=str(packaged_dir / "depth"), segmentation_model=str(packaged_dir / "segmentation"),
        caption_model=str(packaged_dir / "captioner"), caption_max_tokens=4,
    )
    version = register_pipeline(tracking, ServeConfig(sampling=SamplingOptions(steps=2)), run_id, str(pipeline_dir), {}, extractors=extraction)
    lr = np.random.default_rng(3).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    frame = pd.DataFrame({"image": [encode_image_payload(lr)]})
    params = {"guidance_mode": "none", "steps": 2}
    with load_checked_model(version.model_uri, tracking) as model:
        answer = model.predict(frame, params=params)
        without = model.predict(frame, params={**params, "disable_modalities": "depth,segmentation"})["image"][0]
        steered = model.predict(frame, params={**params, "temperature_depth": 4.0})["image"][0]
        given = model.predict(frame.assign(caption=["a red house"]), params=params)["caption"][0]
        no_caption = model.predict(frame, params={**params, "disable_modalities": "caption"})["caption"][0]
    decoded = [decode_image_payload(payload, 1 << 20) for payload in (answer["image"][0], without, steered)]
    assert not np.array_equal(decoded[0], decoded[1]) and not np.array_equal(decoded[0], decoded[2])
    scale = MMSRPipeline.from_pretrained(packaged_dir).config.scale
    generated = Captioner(str(packaged_dir / "captioner"), max_new_tokens=4).caption([upsample(lr, scale)])[0]
    assert answer["caption"][0] == generated and generated  # captioned from the LR, returned with the image
    assert (given, no_caption) == ("a red house", "")


def test_extractors_see_the_lr_at_the_output_size_capped_for_large_outputs() -> None:
    lr = np.zeros((30, 20, 3), dtype=np.uint8)
    assert upsample(lr, 4).shape == (120, 80, 3)
    assert upsample(lr, 4, max_side=60).shape == (60, 40, 3)  # same aspect, longer side at the cap
    assert upsample(np.zeros((1024, 512, 3), dtype=np.uint8), 4).shape == (1024, 512, 3)

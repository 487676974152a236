"""Train/serve parity: a registered model packages, records and serves the extractor settings of
its training rows, and registration refuses a config that differs from them in one line."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import mlflow
import numpy as np
import pandas as pd
import pytest

from featurestore.config import FeatureStoreConfig
from featurestore.readers import current_snapshot_id
from orchestration.registry.extractor_parity import packaged_extractors
from orchestration.registry.model_registry import EXTRACTORS_TAG, RegisteredVersion, register_pipeline
from orchestration.registry.training_extractors import TrainingExtractors, training_extractors
from orchestration.serving import lr_modalities
from orchestration.serving.checked_model import fetch_checked_model, load_checked_model
from orchestration.serving.extractor_record import EXTRACTOR_RECORD_FILE
from orchestration.serving.image_payload import encode_image_payload
from orchestration.serving.registry_error import ExtractorParityError
from orchestration.serving.serve_config import ServeConfig
from pipelines.modalities.edges import canny_edges
from pipelines.modalities.extractor import ModalityExtractionConfig, extractor_versions
from pipelines.modalities.extractor_settings import CannySettings
from pipelines.preprocess_config import TokenizerConfig
from pipelines.tokenizer_lineage import CLIP_TOKENIZER_PROPERTY, VQ_TOKENIZER_PROPERTY, clip_lineage, vq_lineage
from tests.featurestore.conftest import commit_rows, sample_row
from trainers.models.sampling_options import SamplingOptions
from trainers.models.sr_pipeline import MMSRPipeline
from trainers.tracking.mlflow_runs import create_run, experiment_id, tracking_client
from trainers.tracking.tracking_config import TrackingConfig

pytestmark = pytest.mark.integration  # ~7.1 s in all, measured on 2 loaded cores

TRAINED_WITH = ModalityExtractionConfig(enabled=("caption", "edges"), canny_low=30, canny_high=90)
"""What the training rows were made with: Canny thresholds other than the defaults (100, 200)."""
TOKENIZER = TokenizerConfig(vq_model="/models/vq", clip_model="/models/clip", clip_revision="r1")


def commit_made_with(root: Path, run_id: str, config: ModalityExtractionConfig, indices: range) -> FeatureStoreConfig:
    """Rows ``indices`` (every 4th in the eval split) recording what ``config`` extracts, committed
    as a preprocess run would (its tokenizers in the snapshot summary)."""
    rows = []
    for index in indices:
        row = sample_row(index, config_hash=run_id)
        row["extractors"] = json.dumps(extractor_versions(config), sort_keys=True)
        rows.append(row)
    properties = {VQ_TOKENIZER_PROPERTY: vq_lineage(TOKENIZER), CLIP_TOKENIZER_PROPERTY: clip_lineage(TOKENIZER)}
    return commit_rows(root, run_id, rows, properties=properties)


@dataclass(frozen=True)
class Registered:
    store: FeatureStoreConfig
    snapshot_id: int
    tracking: TrackingConfig
    version: RegisteredVersion


def _run(tracking: TrackingConfig) -> str:
    client = tracking_client(tracking)
    return create_run(client, experiment_id(client, tracking), "test", {"source": "test"})


@pytest.fixture(scope="module")
def registered(tiny_pipeline_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Registered:
    """The tiny pipeline registered as trained on rows made with :data:`TRAINED_WITH`, with that config."""
    root = tmp_path_factory.mktemp("parity")
    store = commit_made_with(root / "store", "made-with-30-90", TRAINED_WITH, range(8))
    snapshot_id = current_snapshot_id(store)
    assert snapshot_id is not None
    tracking = TrackingConfig(f"sqlite:///{root}/mlflow.db", artifact_location=str(root / "artifacts"))
    pipeline_dir = shutil.copytree(tiny_pipeline_dir, root / "pipeline")
    version = register_pipeline(
        tracking, ServeConfig(sampling=SamplingOptions(steps=2)), _run(tracking), str(pipeline_dir), {}, extractors=TRAINED_WITH,
        trained_on=training_extractors(store, snapshot_id),
    )
    return Registered(store, snapshot_id, tracking, version)


def test_the_served_model_draws_edges_with_the_training_rows_thresholds(
    registered: Registered, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[tuple[np.ndarray, np.ndarray]] = []

    def spy(image: np.ndarray, low: int = 100, high: int = 200) -> np.ndarray:
        edges = canny_edges(image, low, high)
        drawn.append((image, edges))
        return edges

    monkeypatch.setattr(lr_modalities, "canny_edges", spy)
    lr = np.random.default_rng(4).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    with load_checked_model(registered.version.model_uri, registered.tracking) as model:
        model.predict(pd.DataFrame({"image": [encode_image_payload(lr)]}), params={"guidance_mode": "none", "steps": 2})
    [(seen, served)] = drawn
    local = fetch_checked_model(registered.version.model_uri, registered.tracking)
    scale = MMSRPipeline.from_pretrained(next(local.glob("artifacts/*"))).config.scale
    np.testing.assert_array_equal(seen, lr_modalities.upsample(lr, scale))
    np.testing.assert_array_equal(served, canny_edges(seen, 30, 90))
    assert not np.array_equal(served, canny_edges(seen))  # the defaults draw other edges


def test_the_registered_model_records_the_snapshot_settings(registered: Registered) -> None:
    recorded = {
        "snapshot_id": registered.snapshot_id, "train_rows": 6, "extractors": extractor_versions(TRAINED_WITH),
        "vq_tokenizer": json.loads(vq_lineage(TOKENIZER)), "clip_tokenizer": json.loads(clip_lineage(TOKENIZER)),
    }
    tags = tracking_client(registered.tracking).get_model_version(
        registered.version.name, str(registered.version.version)
    ).tags
    assert json.loads(tags[EXTRACTORS_TAG]) == recorded
    local = fetch_checked_model(registered.version.model_uri, registered.tracking)
    [packaged] = local.glob(f"artifacts/*/{EXTRACTOR_RECORD_FILE}")
    assert json.loads(packaged.read_text()) == recorded
    assert lr_modalities.LrModalities.load(packaged.parent).canny == CannySettings(30, 90, cv2.__version__)


@pytest.mark.parametrize(
    ("config", "named"),
    [
        (ModalityExtractionConfig(enabled=("caption", "edges")), "edges: rows canny_low=30, canny_high=90, config canny_low=100, canny_high=200"),
        (ModalityExtractionConfig(enabled=("caption", "depth", "edges"), canny_low=30, canny_high=90, depth_model="org/depth"),
         "depth: rows none, config org/depth@unpinned"),
    ],
)
def test_registration_with_a_differing_extractor_config_is_refused_in_one_line(
    registered: Registered, tiny_pipeline_dir: Path, tmp_path: Path, config: ModalityExtractionConfig, named: str
) -> None:
    pipeline_dir = shutil.copytree(tiny_pipeline_dir, tmp_path / "pipeline")
    trained_on = training_extractors(registered.store, registered.snapshot_id)
    with pytest.raises(ExtractorParityError) as refused:
        register_pipeline(registered.tracking, ServeConfig(sampling=SamplingOptions(steps=2)), _run(registered.tracking), str(pipeline_dir), {},
                          extractors=config, trained_on=trained_on)
    message = str(refused.value)
    assert "\n" not in message and message.startswith("not registered: preprocess.modalities differs")
    assert named in message and f"snapshot {registered.snapshot_id}" in message
    assert not (pipeline_dir / EXTRACTOR_RECORD_FILE).exists()  # refused before anything was packaged
    versions = mlflow.MlflowClient(registered.tracking.tracking_uri).search_model_versions(
        f"name='{registered.version.name}'"
    )
    assert [int(v.version) for v in versions] == [registered.version.version]


def test_rows_that_mix_settings_are_refused_naming_each_with_its_rows(tmp_path: Path) -> None:
    commit_made_with(tmp_path, "made-with-30-90", TRAINED_WITH, range(8))
    store = commit_made_with(tmp_path, "made-with-defaults", ModalityExtractionConfig(enabled=("caption", "edges")),
                             range(8, 12))
    snapshot_id = current_snapshot_id(store)
    assert snapshot_id is not None
    with pytest.raises(ExtractorParityError, match="several extractor settings") as refused:
        training_extractors(store, snapshot_id)
    message = str(refused.value)
    assert ":30,90 (6 rows) vs " in message and ":100,200 (3 rows)" in message and "caption" not in message


def test_without_a_snapshot_the_config_is_packaged_and_without_either_nothing() -> None:
    assert packaged_extractors(None, None) is None
    from_config = packaged_extractors(TRAINED_WITH, None)
    assert from_config == TrainingExtractors.from_config(TRAINED_WITH) and from_config.snapshot_id is None

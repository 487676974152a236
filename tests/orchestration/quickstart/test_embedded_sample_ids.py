"""The sample ids of the embedded run (``mmsr quickstart``'s preprocess on the photos shipped in
scikit-image and scikit-learn) are pinned: moving or refactoring code must not change them.

An id is ``sample_id_for(sha256(photo), content_hash(config), crop)`` (``pipelines.sample_identity``;
``tests/pipelines/test_preprocess_job.py::test_one_row_per_input_and_crop`` checks that the job
commits exactly these). The values below were computed on the tree before the orchestration moves
(commit 7e2cdbe~1) and again after them: byte-identical. A failure names what changed: a photo's
bytes (a new scikit-image or scikit-learn release), the content settings or ``PIPELINE_VERSION``
(new ids are then intended: update the pins in the same commit), or the id function.
"""

from __future__ import annotations

import hashlib

from orchestration.config_loading import parse_config
from orchestration.quickstart.quickstart_preset import quickstart_preset
from pipelines.demo_photos import DEMO_PHOTOS
from pipelines.image_decoding import content_sha256
from pipelines.preprocess_config import PreprocessConfig
from pipelines.sample_identity import content_hash, sample_id_for

WORKDIR = "/srv/mmsr-quickstart"
"""The quickstart's tokenizer paths sit under its workdir, and they are content settings."""
PHOTO_SHA256 = {
    "astronaut.png": "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    "chelsea.png": "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    "coffee.png": "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    "hubble_deep_field.jpg": "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4",
    "motorcycle_left.png": "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
    "rocket.jpg": "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
    "china.jpg": "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29",
    "flower.jpg": "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638",
}
CONTENT_HASH = "e7cff134486e3184"
IDS_SHA256 = "83bdb8fde414ebe170e8d01a9d36724a4f3506b035431fdd0c8cb28d8f8e11e0"
"""sha256 of the 64 sorted ids (8 photos x 8 crops), one per line."""
FIRST_IDS = ["0146bc67991c94dd6091adc9460cfdf7", "0d75ab53aa402fddf922c91ab26512f2"]


def _config() -> PreprocessConfig:
    return parse_config(PreprocessConfig, quickstart_preset(WORKDIR)["preprocess"])


def test_the_embedded_photos_are_the_pinned_bytes() -> None:
    assert {photo.file_name: content_sha256(photo.read()) for photo in DEMO_PHOTOS} == PHOTO_SHA256


def test_the_embedded_runs_content_hash_is_pinned() -> None:
    assert content_hash(_config()) == CONTENT_HASH


def test_the_embedded_runs_sample_ids_are_pinned() -> None:
    config = _config()
    ids = sorted(
        sample_id_for(PHOTO_SHA256[photo.file_name], content_hash(config), crop)
        for photo in DEMO_PHOTOS
        for crop in range(config.crops_per_image)
    )
    assert len(ids) == len(set(ids)) == 64
    assert ids[:2] == FIRST_IDS
    assert hashlib.sha256("\n".join(ids).encode()).hexdigest() == IDS_SHA256

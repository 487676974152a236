"""Captions from the VLM in the preprocessing job: the sidecar wins where it has a caption, the
captioner fills the rest (on the image the modalities see), every caption is tokenized, and each
row records which of the two its caption came from."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from featurestore.readers import read_arrow
from pipelines.demo_photos import DemoPhotos
from pipelines.image_decoding import decode_image
from pipelines.modalities.captioner import Captioner, build_tiny_captioner
from pipelines.modalities.extractor import extractor_versions
from pipelines.preprocess_job import run_preprocess
from tests.pipelines.conftest import FEW_PHOTOS, SmallJob

pytestmark = pytest.mark.integration  # ~4 s in all, measured on 2 loaded cores

SIDECAR = {FEW_PHOTOS[0]: "an astronaut in a white suit"}


@pytest.fixture(scope="module")
def tiny_captioner_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_captioner(tmp_path_factory.mktemp("tiny-captioner"))


def test_the_captioner_fills_what_the_sidecar_lacks(
    job: SmallJob, tiny_captioner_dir: Path, demo_photos: DemoPhotos, tmp_path: Path
) -> None:
    sidecar = tmp_path / "captions.jsonl"
    sidecar.write_text("".join(json.dumps({"uri": name, "caption": text}) + "\n" for name, text in SIDECAR.items()))
    modalities = dataclasses.replace(
        job.preprocess.modalities, captions_path=str(sidecar), caption_model=str(tiny_captioner_dir),
        caption_max_tokens=5,
    )
    config = job.with_(modalities=modalities).preprocess
    result = run_preprocess(config, job.store)
    assert (result.added, result.rejected) == (len(FEW_PHOTOS), 0)

    columns = ["source_uri", "caption", "caption_source", "caption_token_ids", "hr_png", "extractors"]
    rows = read_arrow(job.store, columns=columns).to_pylist()
    captioner = Captioner(str(tiny_captioner_dir), max_new_tokens=5)
    for row in rows:
        name = Path(row["source_uri"]).name
        expected = SIDECAR.get(name) or captioner.caption([decode_image(row["hr_png"])])[0]
        assert row["caption"] == expected and expected, name
        assert row["caption_source"] == ("sidecar" if name in SIDECAR else "captioner"), name
        assert row["caption_token_ids"] is not None
        assert json.loads(row["extractors"])["caption"] == extractor_versions(modalities)["caption"]
    assert sum(Path(row["source_uri"]).name in SIDECAR for row in rows) == 1

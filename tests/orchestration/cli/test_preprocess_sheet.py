from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from featurestore.contact_sheet import SheetLayout
from orchestration.cli.preprocess_sheet import preprocess_sheet_line, sheet_dir
from orchestration.mmsr_config import MmsrConfig
from pipelines.demo_photos import DemoPhotos
from pipelines.preprocess_job import run_preprocess
from pipelines.sheet_cells import SHEET_HEADERS
from tests.pipelines.conftest import (  # noqa: F401 (fixtures)
    SmallJob,
    TinyModels,
    job,
    one_torch_thread,
    demo_photos,
    tiny_models,
)
from trainers.tracking.tracking_config import TrackingConfig

pytestmark = pytest.mark.integration  # ~32 s in all, measured on 2 loaded cores


def test_sheet_dir_sits_beside_a_local_artifact_root() -> None:
    assert sheet_dir(TrackingConfig(artifact_location="/w/mlartifacts")) == Path("/w/sheets")
    assert sheet_dir(TrackingConfig(artifact_location="gs://bucket/mlartifacts")) == Path("mmsr-runs/sheets")


def test_preprocess_writes_the_sheet_of_what_it_added_decoded_by_its_own_tokenizer(
    job: SmallJob, one_torch_thread: None, tmp_path: Path
) -> None:
    config = MmsrConfig(
        preprocess=job.preprocess, featurestore=job.store,
        tracking=TrackingConfig(artifact_location=str(tmp_path / "mlartifacts")),
    )
    result = run_preprocess(job.preprocess, job.store)

    line = preprocess_sheet_line(config, result, rows=3)

    path = tmp_path / "sheets" / f"preprocess-{result.run_id}.png"
    assert line == f"contact sheet of 3 added samples: {path}"  # no note: the lineage named the tokenizer
    layout = SheetLayout(3, len(SHEET_HEADERS), job.preprocess.crop_size)
    pixels = np.asarray(Image.open(path).convert("RGB"))
    assert pixels.shape[:2] == layout.size[::-1]
    left, top, right, bottom = layout.cell_box(0, SHEET_HEADERS.index("edges from VQ"))
    assert pixels[top:bottom, left:right].std() > 0  # decoded tokens, not a placeholder
    again = run_preprocess(job.preprocess, job.store)
    assert preprocess_sheet_line(config, again) == "contact sheet: the run added no samples"

"""``preprocess.degradations_per_crop``: K LR variants per crop that share one extraction of the
HR-derived modalities and tokens; a policy knob (raising it adds only the new variants)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pyarrow.compute as pc
import pytest

from featurestore.modality import SPATIAL_MODALITIES, Modality
from pipelines import sample_preparation
from pipelines.modalities.depth import DepthEstimator
from pipelines.modalities.segmentation import SegmentationEstimator
from pipelines.preprocess_job import run_preprocess
from tests.pipelines.conftest import SmallJob
from tests.pipelines.test_preprocess_job import committed_rows

pytestmark = pytest.mark.integration  # ~14 s in all, measured on 2 loaded cores


def count_extractions(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Images each modality extractor sees from now on (depth, segmentation, edges)."""
    seen: Counter[str] = Counter()

    def counting(name: str, function: Callable[..., Any], images_at: int) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            seen[name] += len(args[images_at]) if name != "edges" else 1
            return function(*args)
        return wrapper

    monkeypatch.setattr(DepthEstimator, "predict", counting("depth", DepthEstimator.predict, 1))
    monkeypatch.setattr(SegmentationEstimator, "predict", counting("segmentation", SegmentationEstimator.predict, 1))
    monkeypatch.setattr(sample_preparation, "canny_edges", counting("edges", sample_preparation.canny_edges, 0))
    return seen


def test_degradations_per_crop_add_variants_that_share_one_extraction(job: SmallJob, monkeypatch: pytest.MonkeyPatch) -> None:
    one = job.with_(crops_per_image=2)
    first = run_preprocess(one.preprocess, one.store)
    before = committed_rows(one.store)
    extracted = count_extractions(monkeypatch)
    three = one.with_(degradations_per_crop=3)
    again = run_preprocess(three.preprocess, three.store)
    assert again.config_hash == first.config_hash  # a policy knob
    assert (again.added, again.replaced, again.already_present, again.rejected) == (16, 0, 8, 0)  # 2 new per crop
    assert extracted == {"depth": 8, "segmentation": 8, "edges": 8}  # once per crop, not per variant
    after = committed_rows(one.store)
    kept = after.filter(pc.is_in(after["sample_id"], value_set=before["sample_id"]))
    assert kept.to_pylist() == before.to_pylist()  # the committed variant 0 rows are untouched
    crops: dict[tuple[str, tuple[int, ...]], list[dict[str, Any]]] = {}
    for row in after.to_pylist():
        crops.setdefault((row["source_sha256"], tuple(row["crop_box"])), []).append(row)
    assert len(crops) == 8 and all(len(variants) == 3 for variants in crops.values())
    shared = ["hr_png", "caption", *(m.map_column for m in SPATIAL_MODALITIES), *(m.tokens_column for m in Modality)]
    earlier = set(before["sample_id"].to_pylist())
    for variants in crops.values():
        assert len({row["lr_png"] for row in variants}) == 3
        assert len({json.dumps(row["degradation"]) for row in variants}) == 3
        assert all(row["hr_png"] == variants[0]["hr_png"] for row in variants)
        # the variants this run added share its one extraction (variant 0 was extracted by the first
        # run, whose model batches may round differently)
        new = [row for row in variants if row["sample_id"] not in earlier]
        assert len(new) == 2
        for column in shared:
            assert new[0][column] == new[1][column], column
    lowered = run_preprocess(one.preprocess, one.store)
    assert (lowered.added, lowered.already_present) == (0, 8) and committed_rows(one.store).num_rows == 24

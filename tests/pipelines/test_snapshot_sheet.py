from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pytest
import torch
from PIL import Image
from pyiceberg.expressions import In

from featurestore.catalog import open_catalog
from featurestore.commit import commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.contact_sheet import EMPTY, SheetLayout
from featurestore.modality import SPATIAL_MODALITIES, Modality
from featurestore.readers import current_snapshot_id
from featurestore.schema import SAMPLES_SCHEMA
from featurestore.staging import SAMPLES_DIR, staging_dir
from pipelines.sheet_cells import SHEET_HEADERS, decode_rgb
from pipelines.snapshot_sheet import (
    LineageDecoders,
    SheetOptions,
    added_sample_ids,
    choose_samples,
    write_diff_sheet,
    write_snapshot_sheet,
)
from tests.featurestore.conftest import commit_rows, sample_row, write_parquet
from trainers.models.vq_tokenizer import build_vq_tokenizer

HR, LR, DEPTH = 0, 1, 2
DEPTH_VQ = SHEET_HEADERS.index("depth from VQ")


@pytest.fixture(scope="module")
def tiny_vq():
    torch.manual_seed(0)
    return build_vq_tokenizer("tiny").eval()


def _cells(path: Path, rows: int, columns: int, side: int = 16) -> list[list[np.ndarray]]:
    layout = SheetLayout(rows, columns, side)
    pixels = np.asarray(Image.open(path).convert("RGB"))
    assert pixels.shape[:2] == layout.size[::-1]
    boxes = [[layout.cell_box(r, c) for c in range(columns)] for r in range(rows)]
    return [[pixels[top:bottom, left:right] for left, top, right, bottom in row] for row in boxes]


def _is_placeholder(cell: np.ndarray) -> bool:
    return bool((cell[0, 0] == (224, 224, 224)).all() and (cell[-1, -1] == (224, 224, 224)).all())


def test_sheet_shows_the_stored_images_and_m_empty_for_a_missing_modality(tmp_path: Path, tiny_vq) -> None:
    rows = [sample_row(index) for index in range(6)]
    for column in Modality.DEPTH.columns:
        rows[0][column] = None  # sample-00000 (eval) has no depth
    store = commit_rows(tmp_path, "run1", rows)

    result = write_snapshot_sheet(store, None, tmp_path / "sheet.png", SheetOptions(rows=4, seed=3), lambda _: tiny_vq)

    assert len(result.sample_ids) == 4 and set(result.sample_ids) <= {row["sample_id"] for row in rows}
    cells = _cells(result.path, 4, len(SHEET_HEADERS))
    by_id = {row["sample_id"]: row for row in rows}
    for shown, sample_id in zip(cells, result.sample_ids):
        row = by_id[sample_id]
        np.testing.assert_array_equal(shown[HR], decode_rgb(row["hr_png"]))
        np.testing.assert_array_equal(shown[LR], np.repeat(np.repeat(decode_rgb(row["lr_png"]), 4, 0), 4, 1))
        edges = cv2.imdecode(np.frombuffer(row["edges_png"], np.uint8), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(shown[SHEET_HEADERS.index("edges")], np.repeat(edges[:, :, None], 3, 2))
        missing = row[Modality.DEPTH.map_column] is None
        assert _is_placeholder(shown[DEPTH]) == missing
        assert _is_placeholder(shown[DEPTH_VQ]) == missing
        assert not _is_placeholder(shown[SHEET_HEADERS.index("edges from VQ")])


def test_the_choice_is_seeded_and_every_row_is_shown_once_when_asked_for_more(tmp_path: Path) -> None:
    ids = [f"s{i}" for i in range(20)]
    assert choose_samples(ids, 5, 1) == choose_samples(list(reversed(ids)), 5, 1)
    assert choose_samples(ids, 5, 1) != choose_samples(ids, 5, 2)
    store = commit_rows(tmp_path, "run1", [sample_row(index) for index in range(3)])
    result = write_snapshot_sheet(store, None, tmp_path / "all.png", SheetOptions(rows=8), lambda _: None)
    assert result.sample_ids == ("sample-00000", "sample-00001", "sample-00002")  # eval first, then by id
    assert _is_placeholder(_cells(result.path, 3, len(SHEET_HEADERS))[0][DEPTH_VQ])  # NO_DECODER, not an error


def test_diff_sheet_shows_changed_depth_and_identical_hr(tmp_path: Path) -> None:
    store = commit_rows(tmp_path, "run1", [sample_row(index) for index in range(5)])
    before = current_snapshot_id(store)
    table = open_catalog(store).load_table(store.samples_identifier)
    changed = [sample_row(1), sample_row(3)]
    for row in changed:
        row[Modality.DEPTH.map_column] = sample_row(100 + int(row["seed"]))[Modality.DEPTH.map_column]
    table.delete(In("sample_id", [row["sample_id"] for row in changed]))
    table.append(pa.Table.from_pylist(changed, SAMPLES_SCHEMA))

    result = write_diff_sheet(store, before, None, tmp_path / "diff.png", SheetOptions(rows=3), lambda _: None)

    assert result.sample_ids[:2] == ("sample-00001", "sample-00003")  # changed samples first
    cells = _cells(result.path, 3, 2 * len(SHEET_HEADERS))
    for index, row in enumerate(cells):
        np.testing.assert_array_equal(row[2 * HR], row[2 * HR + 1])
        depth_differs = not np.array_equal(row[2 * DEPTH], row[2 * DEPTH + 1])
        assert depth_differs == (index < 2)


def test_added_ids_and_lineage_decoders_without_a_recorded_tokenizer(tmp_path: Path) -> None:
    store = commit_rows(tmp_path, "run1", [sample_row(index) for index in range(3)])
    assert added_sample_ids(store, current_snapshot_id(store), SheetOptions(rows=2)) == [
        "sample-00000", "sample-00001", "sample-00002"
    ]
    two = commit_rows(tmp_path / "two", "run1", [sample_row(index) for index in range(2)])
    rows = pa.Table.from_pylist([sample_row(index) for index in range(2, 5)], SAMPLES_SCHEMA)
    write_parquet(f"{staging_dir(two, 'run2')}/{SAMPLES_DIR}/part-00000.parquet", rows)
    second = commit_run(two, "run2", {"config_hash": "run2"}).snapshot_id  # its one new file holds 3 rows
    assert added_sample_ids(two, second, SheetOptions(rows=2)) == ["sample-00002", "sample-00003", "sample-00004"]
    decoders = LineageDecoders(store)
    assert decoders(current_snapshot_id(store)) is None
    assert "names no VQ tokenizer" in decoders.notes[0]


def test_sheet_options_name_the_flag() -> None:
    with pytest.raises(ValueError, match="--rows"):
        SheetOptions(rows=0)


def test_every_spatial_modality_has_a_stored_and_a_token_column() -> None:
    assert len(SHEET_HEADERS) == 2 + 2 * len(SPATIAL_MODALITIES)
    assert EMPTY == "m_empty"

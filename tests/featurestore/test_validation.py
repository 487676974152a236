from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore.commit import commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.modality import VQ_CODEBOOK_SIZE, Modality
from featurestore.readers import resolve_snapshot, snapshot_files
from featurestore.schema import SAMPLES_SCHEMA
from featurestore.staging import SAMPLES_DIR, staging_dir
from featurestore.validation import Severity, ValidationIssue, spot_check_positions, validate_snapshot
from tests.featurestore.conftest import CONFIG_HASH, StageSamples, sample_row, write_parquet

pytestmark = pytest.mark.integration  # ~13 s in all, measured on 2 loaded cores

PROPS = {"config_hash": CONFIG_HASH}


def _commit_rows(store: FeatureStoreConfig, rows: list[dict[str, Any]], run_id: str = "run1") -> str:
    """Commit ``rows`` as one data file; that file's URL."""
    url = f"{staging_dir(store, run_id)}/{SAMPLES_DIR}/part-0.parquet"
    write_parquet(url, pa.Table.from_pylist(rows, SAMPLES_SCHEMA))
    before = set(snapshot_files(store))
    commit_run(store, run_id, PROPS)
    (added,) = set(snapshot_files(store)) - before
    return added


def _errors(issues: tuple[ValidationIssue, ...]) -> list[tuple[str, str | None]]:
    return [(issue.file, issue.column) for issue in issues if issue.severity is Severity.ERROR]


def test_clean_snapshot_has_no_issues(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    stage_samples("run1", 10, files=3)
    commit_run(store, "run1", PROPS)
    report = validate_snapshot(store, None, spot_check_rows=4)
    assert report.issues == () and report.ok
    assert (report.files, report.rows, report.images_checked) == (3, 10, 8)


def _set(column: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda row: row.__setitem__(column, value)


@pytest.mark.parametrize(
    ("corrupt", "column", "needle"),
    [
        (_set("depth_tokens", [VQ_CODEBOOK_SIZE] * 256), "depth_tokens", "outside 0..1023"),
        (_set("edges_tokens", [-1] + [0] * 255), "edges_tokens", "outside 0..1023"),
        (_set("segmentation_tokens", [0] * 255), "segmentation_tokens", "length != 256"),
        (_set("caption_token_ids", [1] * 76), "caption_token_ids", "length != 77"),
        (_set("depth_tokens", [None] + [0] * 255), "depth_tokens", "null token values"),
        (_set("hr_png", b"definitely not a png"), "hr_png", "do not decode"),
        (_set("lr_png", b""), "lr_png", "do not decode"),
    ],
)
def test_bad_values_are_reported_with_file_column_and_sample(
    store: FeatureStoreConfig, corrupt: Callable[[dict[str, Any]], None], column: str, needle: str
) -> None:
    good = _commit_rows(store, [sample_row(index) for index in range(4)], "run1")
    rows = [sample_row(index) for index in range(4, 8)]
    corrupt(rows[2])
    bad = _commit_rows(store, rows, "run2")

    report = validate_snapshot(store, spot_check_rows=8)

    assert _errors(report.issues) == [(bad, column)]
    (issue,) = report.errors
    assert needle in issue.message and issue.message.startswith("1 ")
    assert "sample_id sample-00006" in issue.message and good != bad
    assert not report.ok


def test_duplicate_sample_ids_are_an_error_naming_examples(store: FeatureStoreConfig) -> None:
    _commit_rows(store, [sample_row(index) for index in range(4)], "run1")
    assert validate_snapshot(store, spot_check_rows=0).ok
    base = resolve_snapshot(store, None)
    url = f"{staging_dir(store, 'dup')}/{SAMPLES_DIR}/part-0.parquet"
    write_parquet(url, pa.Table.from_pylist([sample_row(3), sample_row(1), sample_row(3)], SAMPLES_SCHEMA))
    commit_run(store, "dup", PROPS, base_snapshot_id=base)  # a base that claims they were left out: injected

    report = validate_snapshot(store, spot_check_rows=0)

    assert not report.ok and report.rows == 7
    (issue,) = report.errors
    assert (issue.file, issue.column) == (f"snapshot {report.snapshot_id}", "sample_id")
    assert issue.message.startswith("2 sample ids occur more than once (5 rows), e.g. sample-00001 (2 rows), sample-00003 (3 rows)")


def test_missing_column_in_a_data_file_is_named(store: FeatureStoreConfig) -> None:
    url = _commit_rows(store, [sample_row(index) for index in range(3)])
    path = url.removeprefix("file://")
    pq.write_table(pq.read_table(path).drop_columns(["edges_tokens"]), path)

    report = validate_snapshot(store)

    assert _errors(report.issues) == [(url, "edges_tokens")]
    assert "missing column 'edges_tokens'" in report.errors[0].message
    assert report.rows == 3  # the other columns were still checked


def test_wrong_typed_and_extra_columns_are_named(store: FeatureStoreConfig) -> None:
    url = _commit_rows(store, [sample_row(index) for index in range(3)])
    path = url.removeprefix("file://")
    table = pq.read_table(path)
    table = table.set_column(table.schema.get_field_index("seed"), "seed", pa.array(["x", "y", "z"]))
    pq.write_table(table.append_column("stray", pa.array([1, 2, 3])), path)

    report = validate_snapshot(store)

    assert _errors(report.issues) == [(url, "seed"), (url, "stray")]
    assert "column 'seed' is string" in report.errors[0].message and "table has int64" in report.errors[0].message
    assert "unexpected column 'stray'" in report.errors[1].message


def test_truncated_parquet_file_is_named(store: FeatureStoreConfig) -> None:
    good = _commit_rows(store, [sample_row(index) for index in range(3)], "run1")
    bad = _commit_rows(store, [sample_row(index) for index in range(3, 6)], "run2")
    path = Path(bad.removeprefix("file://"))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    report = validate_snapshot(store)

    assert _errors(report.issues) == [(bad, None)]
    assert "Parquet" in report.errors[0].message
    assert report.rows == 3 and good != bad


def test_missing_modality_is_information_not_error(store: FeatureStoreConfig) -> None:
    rows = [sample_row(index) for index in range(4)]
    rows[1][Modality.SEGMENTATION.tokens_column] = None
    rows[1][Modality.SEGMENTATION.map_column] = None
    url = _commit_rows(store, rows)

    report = validate_snapshot(store, spot_check_rows=0)

    assert report.ok and report.images_checked == 0
    (issue,) = report.issues
    assert (issue.file, issue.column, issue.severity) == (url, "segmentation_tokens", Severity.INFO)
    assert "1/4 rows" in issue.message and "75.0%" in issue.message


def test_sample_positions_spread_over_files() -> None:
    assert spot_check_positions([3, 0, 5], 4) == [{0, 2}, set(), {2, 4}]  # rows 0, 2, 5, 7 of 8
    assert spot_check_positions([2, 2], 10) == [{0, 1}, {0, 1}]
    assert spot_check_positions([4], 0) == [set()]
    assert spot_check_positions([], 3) == []
    with pytest.raises(ValueError, match="spot_check_rows"):
        validate_snapshot(FeatureStoreConfig(), None, -1)


def test_corrupt_bytes_inside_a_file_are_named(store: FeatureStoreConfig) -> None:
    url = _commit_rows(store, [sample_row(index) for index in range(50)])
    path = Path(url.removeprefix("file://"))
    data = bytearray(path.read_bytes())
    middle = len(data) // 3
    data[middle : middle + 2000] = b"\xab" * 2000
    path.write_bytes(bytes(data))

    report = validate_snapshot(store)

    assert _errors(report.issues) == [(url, None)]
    assert report.errors[0].message.startswith("corrupt data after row")

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

import fsspec
import pyarrow as pa
import pytest
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table

from featurestore.catalog import ensure_tables, open_catalog
from featurestore.commit import CommitResult, StagedSchemaError, commit_run, schema_differences
from featurestore.config import FeatureStoreConfig
from featurestore.readers import current_snapshot_id, read_arrow
from featurestore.schema import SAMPLES_SCHEMA
from featurestore.staging import SAMPLES_DIR, discard_staging, list_staged, staging_dir
from tests.featurestore.conftest import CONFIG_HASH, StageSamples, sample_row, write_parquet

pytestmark = pytest.mark.integration  # most tests commit Iceberg tables to a SQLite catalog, some from several threads

PROPS = {"config_hash": CONFIG_HASH}


def _tables(store: FeatureStoreConfig):
    return ensure_tables(open_catalog(store), store)


def _sha256(url: str) -> str:
    with fsspec.open(url, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def test_rows_are_visible_only_after_commit(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    stage_samples("run1", 5)
    assert current_snapshot_id(store) is None
    assert read_arrow(store).num_rows == 0
    result = commit_run(store, "run1", PROPS)
    assert result == CommitResult(
        snapshot_id=current_snapshot_id(store), errors_snapshot_id=None, rows=5, errors=0, table="mmsr.samples"
    )
    assert result.committed and result.snapshot_id is not None
    assert sorted(read_arrow(store, columns=["sample_id"])["sample_id"].to_pylist()) == [
        f"sample-{i:05d}" for i in range(5)
    ]


def test_snapshot_summary_records_run(store: FeatureStoreConfig, stage_samples: StageSamples, stage_errors) -> None:
    stage_samples("run1", 6, files=2)
    stage_errors("run1", 2)
    result = commit_run(store, "run1", {**PROPS, "inputs": "8"})
    tables = _tables(store)
    snapshot = tables.samples.snapshot_by_id(result.snapshot_id)
    summary = snapshot.summary.additional_properties
    assert summary["run_id"] == "run1"
    assert summary["config_hash"] == CONFIG_HASH
    assert (summary["rows"], summary["errors"], summary["inputs"]) == ("6", "2", "8")
    assert summary["added-data-files"] == "2" and summary["added-records"] == "6"
    assert len(tables.samples.snapshots()) == 1  # both files in ONE snapshot


def test_files_move_into_table_without_rewrite(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    staged = stage_samples("run1", 4, files=2)
    digests = sorted(_sha256(url) for url in staged)
    commit_run(store, "run1", PROPS)
    table: Table = _tables(store).samples
    committed = [task.file.file_path for task in table.scan().plan_files()]
    assert all(path.startswith(f"{table.location()}/data/run1-part-") for path in committed)
    assert sorted(_sha256(path) for path in committed) == digests


def test_staging_is_cleaned_after_commit(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    stage_samples("run1", 3)
    commit_run(store, "run1", PROPS)
    fs, path = fsspec.core.url_to_fs(staging_dir(store, "run1"))
    assert not fs.exists(path)
    assert list_staged(store, "run1").samples == []


def test_time_travel_shows_older_snapshot(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    stage_samples("run1", 3)
    first = commit_run(store, "run1", PROPS)
    stage_samples("run2", 4, start=3)
    second = commit_run(store, "run2", PROPS)
    assert second.snapshot_id != first.snapshot_id
    assert read_arrow(store).num_rows == 7
    assert read_arrow(store, first.snapshot_id).num_rows == 3
    assert read_arrow(store, second.snapshot_id).num_rows == 7


def test_discard_staging_leaves_nothing_visible(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    stage_samples("run1", 3)
    discard_staging(store, "run1")
    result = commit_run(store, "run1", PROPS)
    assert (result.rows, result.snapshot_id, result.committed) == (0, None, False)
    assert read_arrow(store).num_rows == 0


def test_empty_run_keeps_current_snapshot(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    stage_samples("run1", 2)
    first = commit_run(store, "run1", PROPS)
    write_parquet(f"{staging_dir(store, 'run2')}/{SAMPLES_DIR}/part-00000.parquet", SAMPLES_SCHEMA.empty_table())
    result = commit_run(store, "run2", PROPS)
    assert (result.snapshot_id, result.rows, result.committed) == (first.snapshot_id, 0, False)
    assert len(_tables(store).samples.snapshots()) == 1


def _commit_at_once(store: FeatureStoreConfig, runs: list[str]) -> dict[str, CommitResult]:
    """``commit_run`` of every run, each in its own thread, released together; the first error is raised."""
    barrier = threading.Barrier(len(runs))

    def commit(run_id: str) -> CommitResult:
        barrier.wait()
        return commit_run(store, run_id, PROPS)

    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        return dict(zip(runs, pool.map(commit, runs), strict=True))


def test_concurrent_commits_both_land(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    _tables(store)
    runs = {"runA": 0, "runB": 10, "runC": 20}
    for run_id, start in runs.items():
        stage_samples(run_id, 3, start=start)
    results = _commit_at_once(store, list(runs))
    assert read_arrow(store).num_rows == 9
    table = _tables(store).samples
    assert sorted(s.summary.additional_properties["run_id"] for s in table.snapshots()) == sorted(runs)
    assert len({result.snapshot_id for result in results.values()}) == 3


def _ids(store: FeatureStoreConfig) -> list[str]:
    return sorted(read_arrow(store, columns=["sample_id"])["sample_id"].to_pylist())


def _expected(indices: range) -> list[str]:
    return [f"sample-{index:05d}" for index in indices]


def test_overlapping_concurrent_commits_commit_each_sample_id_once(
    store: FeatureStoreConfig, stage_samples: StageSamples
) -> None:
    _tables(store)
    runs = {"runA": 0, "runB": 3, "runC": 6}  # 6 ids each, overlapping by 3
    for run_id, start in runs.items():
        stage_samples(run_id, 6, start=start, files=2)
    results = _commit_at_once(store, list(runs))
    assert _ids(store) == _expected(range(12))  # each id once
    assert sum(result.rows for result in results.values()) == 12
    assert sum(result.already_present for result in results.values()) == 18 - 12


def test_a_commit_drops_the_ids_that_snapshots_after_its_base_added(
    store: FeatureStoreConfig, stage_samples: StageSamples
) -> None:
    stage_samples("base", 2)
    base = commit_run(store, "base", PROPS).snapshot_id
    stage_samples("theirs", 3, start=2)
    commit_run(store, "theirs", PROPS, base_snapshot_id=base)
    stage_samples("ours", 4, start=3)  # 3, 4 were added after our base; 5, 6 are new
    result = commit_run(store, "ours", PROPS, base_snapshot_id=base)
    assert (result.rows, result.already_present) == (2, 2)
    assert _ids(store) == _expected(range(7))
    summary = _tables(store).samples.snapshot_by_id(result.snapshot_id).summary.additional_properties
    assert (summary["rows"], summary["added-records"]) == ("2", "2")


def test_a_run_whose_every_row_is_already_there_commits_no_snapshot(
    store: FeatureStoreConfig, stage_samples: StageSamples
) -> None:
    stage_samples("first", 3)
    first = commit_run(store, "first", PROPS)
    stage_samples("again", 3)
    again = commit_run(store, "again", PROPS, base_snapshot_id=None)
    assert (again.rows, again.already_present, again.snapshot_id, again.committed) == (0, 3, first.snapshot_id, False)
    assert len(_tables(store).samples.snapshots()) == 1 and _ids(store) == _expected(range(3))


def test_a_commit_that_loses_the_race_rechecks_what_the_winner_added_and_retries(
    store: FeatureStoreConfig, stage_samples: StageSamples, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage_samples("base", 2)
    base = commit_run(store, "base", PROPS).snapshot_id
    stage_samples("ours", 4, start=2)  # 2..5
    stage_samples("theirs", 3, start=4)  # 4..6
    original = Table.add_files
    calls: list[str] = []

    def theirs_lands_in_between(self: Table, *args: object, **kwargs: object) -> None:
        calls.append("ours")
        if len(calls) == 1:  # after our check, before our commit: another run wins the race
            commit_run(store, "theirs", PROPS, base_snapshot_id=base)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Table, "add_files", theirs_lands_in_between)
    result = commit_run(store, "ours", PROPS, base_snapshot_id=base)
    assert len(calls) == 3  # ours refused (stale head), theirs (nested), ours again after the re-check
    assert (result.rows, result.already_present) == (2, 2)
    assert _ids(store) == _expected(range(7))
    assert len(_tables(store).samples.snapshots()) == 3


def test_tables_leave_retries_to_the_exactly_once_commit(store: FeatureStoreConfig) -> None:
    tables = _tables(store)
    for table in (tables.samples, tables.errors):
        assert table.properties["commit.retry.num-retries"] == "0"


def test_schema_mismatch_names_the_file(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    good = stage_samples("run1", 2)
    rows = [sample_row(10)]
    bad_schema = SAMPLES_SCHEMA.remove(SAMPLES_SCHEMA.get_field_index("seed"))
    bad = write_parquet(
        f"{staging_dir(store, 'run1')}/{SAMPLES_DIR}/zz-bad.parquet",
        pa.Table.from_pylist([{k: v for k, v in row.items() if k != "seed"} for row in rows], bad_schema),
    )
    with pytest.raises(StagedSchemaError, match=r"zz-bad\.parquet does not match table mmsr\.samples: missing column 'seed'"):
        commit_run(store, "run1", PROPS)
    assert read_arrow(store).num_rows == 0
    assert list_staged(store, "run1").samples == sorted([*good, bad])  # nothing moved


def test_schema_differences_reports_type_and_nullability() -> None:
    changed = SAMPLES_SCHEMA.set(
        SAMPLES_SCHEMA.get_field_index("seed"), pa.field("seed", pa.int32(), nullable=False)
    ).append(pa.field("extra", pa.string()))
    loosened = SAMPLES_SCHEMA.set(SAMPLES_SCHEMA.get_field_index("split"), pa.field("split", pa.string()))
    assert schema_differences(changed, SAMPLES_SCHEMA) == [
        "unexpected column 'extra' (string)", "column 'seed' is int32 not null, table has int64 not null"
    ]
    assert schema_differences(loosened, SAMPLES_SCHEMA) == ["column 'split' is string, table has string not null"]
    large = pa.schema([pa.field(f.name, pa.large_binary() if f.type == pa.binary() else f.type, f.nullable) for f in SAMPLES_SCHEMA])
    assert schema_differences(large, SAMPLES_SCHEMA) == []


def test_errors_table_commit(store: FeatureStoreConfig, stage_samples: StageSamples, stage_errors) -> None:
    stage_samples("run1", 2)
    stage_errors("run1", 3)
    result = commit_run(store, "run1", PROPS)
    errors_table = _tables(store).errors
    assert result.errors == 3 and result.errors_snapshot_id == errors_table.current_snapshot().snapshot_id
    errors = errors_table.scan().to_arrow()
    assert errors.num_rows == 3 and set(errors["run_id"].to_pylist()) == {"run1"}
    summary = errors_table.current_snapshot().summary.additional_properties
    assert (summary["run_id"], summary["errors"], summary["config_hash"]) == ("run1", "3", CONFIG_HASH)


def test_errors_only_run_commits_no_samples(store: FeatureStoreConfig, stage_errors) -> None:
    stage_errors("run1", 2)
    result = commit_run(store, "run1", PROPS)
    assert (result.rows, result.errors, result.snapshot_id) == (0, 2, None)
    assert result.errors_snapshot_id is not None


def test_failed_commit_moves_files_back(
    store: FeatureStoreConfig, stage_samples: StageSamples, monkeypatch: pytest.MonkeyPatch
) -> None:
    staged = stage_samples("run1", 3, files=2)

    def conflict(self: Table, *args: object, **kwargs: object) -> None:
        raise CommitFailedException("always conflicting")

    monkeypatch.setattr(Table, "add_files", conflict)
    monkeypatch.setattr("featurestore.commit._BACKOFF_S", 0.0)
    with pytest.raises(CommitFailedException):
        commit_run(store, "run1", PROPS)
    monkeypatch.undo()
    assert list_staged(store, "run1").samples == staged
    assert read_arrow(store).num_rows == 0
    assert commit_run(store, "run1", PROPS).rows == 3  # the run can simply be committed again


def test_properties_are_checked(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    stage_samples("run1", 1)
    with pytest.raises(ValueError, match="config_hash"):
        commit_run(store, "run1", {})
    with pytest.raises(ValueError, match="run_id"):
        commit_run(store, "run1", {**PROPS, "run_id": "other"})
    assert read_arrow(store).num_rows == 0


def test_recommitting_a_run_id_is_refused(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    stage_samples("run1", 2)
    commit_run(store, "run1", PROPS)
    stage_samples("run1", 2, start=5)
    with pytest.raises(FileExistsError, match="run1"):
        commit_run(store, "run1", PROPS)
    assert read_arrow(store).num_rows == 2

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest
from pyiceberg.expressions import EqualTo

from featurestore.catalog import open_catalog
from featurestore.commit import commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.inspection import list_snapshots
from featurestore.readers import resolve_snapshot, snapshot_files
from orchestration.cli.features_command import add_features_parser, run_features
from tests.featurestore.conftest import CONFIG_HASH, StageSamples, stage_samples, store  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration  # ~8 s in all, measured on 2 loaded cores

PROPS = {"config_hash": CONFIG_HASH}


def _config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config")
    parser.add_argument("--set", dest="overrides", action="append", default=[])


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mmsr")
    add_features_parser(parser.add_subparsers(dest="command", required=True), _config_flags)
    return parser.parse_args(["features", *argv])


def _run(store: FeatureStoreConfig, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = run_features(SimpleNamespace(featurestore=store), _parse(*argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def two_runs(store: FeatureStoreConfig, stage_samples: StageSamples) -> tuple[int, int]:
    stage_samples("run1", 4)
    first = commit_run(store, "run1", PROPS).snapshot_id
    stage_samples("run2", 2, start=4)
    second = commit_run(store, "run2", PROPS).snapshot_id
    return first, second


def test_parser_builds_every_subcommand_with_config_flags() -> None:
    args = _parse("expire", "--older-than-days", "7", "--retain-last", "3", "--dry-run", "--set", "a.b=1")
    assert (args.features_command, args.older_than_days, args.retain_last, args.dry_run) == ("expire", 7.0, 3, True)
    assert args.overrides == ["a.b=1"]
    assert _parse("tag", "v1", "123", "--replace").target == "123"
    assert _parse("validate").target is None and _parse("validate", "--spot-check-rows", "2").spot_check_rows == 2
    assert _parse("validate", "--sample-images", "3").spot_check_rows == 3  # the flag's old name still works
    assert not hasattr(_parse("show"), "snapshot")  # mmsr reads args.snapshot as train.snapshot
    with pytest.raises(SystemExit):
        _parse("diff", "only-one")


def test_ls_show_and_tag(
    store: FeatureStoreConfig, two_runs: tuple[int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = two_runs
    assert _run(store, capsys, "tag", "paper-v1", str(first))[:2] == (0, f"tag paper-v1 -> snapshot {first}\n")
    status, out, _ = _run(store, capsys, "ls")
    lines = out.splitlines()
    assert status == 0 and len(lines) == 3 and lines[0].startswith("snapshot")
    assert str(first) in lines[1] and "run1" in lines[1] and "paper-v1" in lines[1]
    assert f"{second} *" in lines[2] and "main" in lines[2]
    status, out, _ = _run(store, capsys, "show", "paper-v1")
    assert status == 0 and f"snapshot      {first}" in out and "rows          4" in out
    assert "depth: 100.0%" in out and "runs          run1" in out and "  hr_png: binary not null" in out
    assert "matches SAMPLES_SCHEMA" in out and "  depth_tokens: list<int>\n" in out


def test_tag_collision_and_unknown_snapshot_are_usage_errors(
    store: FeatureStoreConfig, two_runs: tuple[int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    _run(store, capsys, "tag", "v1")
    status, out, err = _run(store, capsys, "tag", "v1", str(two_runs[0]))
    assert status == 2 and out == "" and err.startswith("mmsr: error: tag 'v1' already points")
    status, _, err = _run(store, capsys, "show", "nope")
    assert status == 2 and "'nope' is neither a snapshot id nor a tag" in err


def test_diff_prints_counts_and_ids(
    store: FeatureStoreConfig, two_runs: tuple[int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = two_runs
    open_catalog(store).load_table(store.samples_identifier).delete(EqualTo("sample_id", "sample-00000"))
    status, out, _ = _run(store, capsys, "diff", str(first), str(resolve_snapshot(store, None)), "--show", "1")
    assert status == 0
    assert "added    2: sample-00004 ... (+1)" in out
    assert "removed  1: sample-00000" in out and "changed  0" in out and "3 unchanged" in out


def test_validate_exit_status(
    store: FeatureStoreConfig, two_runs: tuple[int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(store, capsys, "validate")
    assert status == 0 and out.strip().endswith("0 issues: OK")
    url = snapshot_files(store)[0]
    path = url.removeprefix("file://")
    pq.write_table(pq.read_table(path).drop_columns(["depth_tokens"]), path)
    status, out, _ = _run(store, capsys, "validate", "--spot-check-rows", "0")
    assert status == 1 and "FAILED (1 errors)" in out
    assert url in out and "depth_tokens" in out and "missing column" in out


def test_validate_fails_on_duplicate_sample_ids_and_names_them(
    store: FeatureStoreConfig, stage_samples: StageSamples, two_runs: tuple[int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    _, second = two_runs
    stage_samples("dup", 2, start=1)  # sample-00001, -00002 again, injected past the exactly-once check
    commit_run(store, "dup", PROPS, base_snapshot_id=second)
    status, out, _ = _run(store, capsys, "validate", "--spot-check-rows", "0")
    assert status == 1 and "FAILED (1 errors)" in out
    assert "2 sample ids occur more than once (4 rows)" in out
    assert "sample-00001 (2 rows), sample-00002 (2 rows)" in out


def test_expire_dry_run_then_for_real(
    store: FeatureStoreConfig, two_runs: tuple[int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = two_runs
    status, out, _ = _run(store, capsys, "expire", "--older-than-days", "0", "--retain-last", "0", "--dry-run")
    assert status == 0 and out.startswith("would expire 1 snapshot(s)") and f"would expire {first}" in out
    status, out, _ = _run(store, capsys, "expire", "--older-than-days", "0", "--retain-last", "0")
    assert status == 0 and f"  expired {first}" in out
    assert _run(store, capsys, "ls")[1].count("\n") == 2
    status, _, err = _run(store, capsys, "expire", "--older-than-days", "-1")
    assert status == 2 and "--older-than-days" in err


def test_validate_reports_orphans_and_expire_removes_them(
    store: FeatureStoreConfig, two_runs: tuple[int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    location = open_catalog(store).load_table(store.samples_identifier).location()
    stray = f"{location}/data/left-behind.parquet"
    Path(stray.removeprefix("file://")).write_bytes(b"PAR1 not committed")
    status, out, _ = _run(store, capsys, "validate", "--spot-check-rows", "0")
    assert status == 0 and out.strip().endswith("1 issues: OK")
    assert "warning" in out and stray in out and "orphan data file" in out
    status, out, _ = _run(
        store, capsys, "expire", "--older-than-days", "1", "--orphan-grace-hours", "0", "--force", "--dry-run"
    )
    assert status == 0 and "would remove 1 orphan data file(s)" in out and f"would remove orphan {stray}" in out
    status, _, err = _run(store, capsys, "expire", "--older-than-days", "1", "--orphan-grace-hours", "0")
    assert status == 2 and "shorter than the staging-lease timeout" in err and "--force" in err
    assert Path(stray.removeprefix("file://")).exists()  # refused before anything ran
    status, out, _ = _run(store, capsys, "expire", "--older-than-days", "1", "--orphan-grace-hours", "0", "--force")
    assert status == 0 and f"removed orphan {stray}" in out and not Path(stray.removeprefix("file://")).exists()


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--older-than-days", "inf"], "--older-than-days"),
        (["--older-than-days", "nan"], "--older-than-days"),
        (["--older-than-days", "-1"], "--older-than-days"),
        (["--older-than-days", "1", "--orphan-grace-hours", "nan", "--force"], "--orphan-grace-hours"),
        (["--older-than-days", "1", "--orphan-grace-hours", "inf"], "--orphan-grace-hours"),
        (["--older-than-days", "1", "--orphan-grace-hours", "-1", "--force"], "--orphan-grace-hours"),
        (["--older-than-days", "1", "--retain-last", "-1"], "--retain-last"),
    ],
)
def test_expire_refuses_bad_numbers_in_one_line(
    store: FeatureStoreConfig, two_runs: tuple[int, int], capsys: pytest.CaptureFixture[str], flags: list[str],
    named: str,
) -> None:
    status, out, err = _run(store, capsys, "expire", *flags)
    assert status == 2 and out == "" and len(err.strip().splitlines()) == 1 and named in err
    assert "Traceback" not in err and len(list_snapshots(store)) == 2  # nothing expired


def test_ls_before_any_commit(store: FeatureStoreConfig, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(store, capsys, "ls")[:2] == (0, "mmsr.samples: no snapshots yet\n")
    status, _, err = _run(store, capsys, "validate")
    assert status == 2 and "no committed snapshot" in err


def test_show_and_diff_write_contact_sheets(
    store: FeatureStoreConfig, two_runs: tuple[int, int], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, _ = _run(store, capsys, "show", "--sheet", str(tmp_path / "show.png"), "--rows", "3", "--seed", "1")
    assert status == 0 and "contact sheet of 3 samples x 8 columns" in out and (tmp_path / "show.png").is_file()
    assert "names no VQ tokenizer" in out  # these test snapshots record none: the token cells say so
    first, second = two_runs
    status, out, _ = _run(store, capsys, "diff", str(first), str(second), "--sheet", str(tmp_path / "diff.png"))
    assert status == 0 and "contact sheet of 4 samples x 16 columns" in out and (tmp_path / "diff.png").is_file()
    status, _, err = _run(store, capsys, "show", "--sheet", str(tmp_path / "x.png"), "--rows", "0")
    assert status == 2 and "--rows must be from 1 to 256" in err

"""relocate_feature_store on a tiny store: every recorded path follows the copy, each Avro file keeps
its schema, codec and metadata, reruns and a crash midway finish the job, and the original is never read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import fastavro
import pytest

import featurestore.relocation as relocation
from featurestore.catalog import open_catalog
from featurestore.config import FeatureStoreConfig
from featurestore.readers import read_arrow
from featurestore.relocation import relocate_feature_store
from featurestore.workdir_move import PathMove, WorkdirMovedError
from tests.featurestore.conftest import commit_rows, sample_row

pytestmark = pytest.mark.integration  # ~3 s in all, measured on 2 loaded cores


def _copied_store(tmp_path: Path) -> tuple[Path, Path, FeatureStoreConfig]:
    original = tmp_path / "original"
    commit_rows(original, "run-1", [sample_row(i) for i in range(3)])
    commit_rows(original, "run-2", [sample_row(i) for i in range(3, 5)])
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(original, copy)
    return original, copy, FeatureStoreConfig(catalog_uri=f"sqlite:///{copy}/catalog.db", warehouse=str(copy / "warehouse"))


def _avro(path: Path) -> tuple[dict, list[dict]]:
    with open(path, "rb") as handle:
        reader = fastavro.reader(handle)
        return dict(reader.metadata), list(reader)


def _all_text(root: Path) -> str:
    """Every metadata JSON, Avro record and catalog row under ``root`` as text."""
    texts = [path.read_text() for path in root.rglob("*.metadata.json")]
    texts += [json.dumps(_avro(path)[1], default=str) for path in root.rglob("*.avro")]
    return "\n".join(texts) + (root / "catalog.db").read_bytes().decode("latin-1")


def test_a_copy_is_refused_until_relocated(tmp_path: Path) -> None:
    original, copy, config = _copied_store(tmp_path)
    with pytest.raises(WorkdirMovedError, match=f"moved from {original}/warehouse to {copy}/warehouse"):
        read_arrow(config)
    report = relocate_feature_store(config)
    assert report.move == PathMove(old=f"{original}/warehouse", new=f"{copy}/warehouse")
    assert report.tables == ("mmsr.errors", "mmsr.samples") and report.files > 0
    assert str(original) not in _all_text(copy)
    shutil.rmtree(original)
    assert sorted(read_arrow(config, columns=["sample_id"]).column("sample_id").to_pylist()) == [
        f"sample-{i:05d}" for i in range(5)
    ]
    assert relocate_feature_store(config).move is None  # idempotent


def test_avro_files_keep_schema_codec_and_metadata_and_manifest_lengths_follow(tmp_path: Path) -> None:
    original, copy, config = _copied_store(tmp_path)
    before = {path.name: _avro(path) for path in copy.rglob("*.avro")}
    relocate_feature_store(config)
    for path in copy.rglob("*.avro"):
        metadata, records = _avro(path)
        assert metadata == before[path.name][0]  # avro.schema (with Iceberg field ids), codec, Iceberg keys
        assert len(records) == len(before[path.name][1])
        for record in records:
            if "manifest_path" in record:
                manifest = Path(record["manifest_path"].removeprefix("file://"))
                assert manifest.is_relative_to(copy) and record["manifest_length"] == manifest.stat().st_size
            else:
                assert record["data_file"]["file_path"].startswith(f"file://{copy}/warehouse/")


def test_a_relocation_that_dies_midway_is_refused_then_finished_by_a_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original, copy, config = _copied_store(tmp_path)
    rewrite = relocation.rewrite_table_files
    calls = []

    def dies_on_the_second_table(table_dir: Path, move: PathMove) -> int:
        calls.append(table_dir)
        changed = rewrite(table_dir, move)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return changed

    monkeypatch.setattr(relocation, "rewrite_table_files", dies_on_the_second_table)
    with pytest.raises(KeyboardInterrupt):
        relocate_feature_store(config)
    monkeypatch.undo()
    with pytest.raises(WorkdirMovedError):  # the second table still names the original
        open_catalog(config)
    assert relocate_feature_store(config).tables == (f"mmsr.{calls[1].name}",)
    shutil.rmtree(original)
    assert read_arrow(config).num_rows == 5


def test_a_store_in_place_is_left_alone(tmp_path: Path) -> None:
    config = commit_rows(tmp_path, "run-1", [sample_row(0)])
    files = {path: path.read_bytes() for path in (tmp_path / "warehouse").rglob("*") if path.is_file()}
    assert relocate_feature_store(config).move is None
    assert all(path.read_bytes() == data for path, data in files.items())

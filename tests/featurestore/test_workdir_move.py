"""PathMove maps recorded paths in both spellings; find_move infers the old directory from a copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestore.workdir_move import PathMove, find_move, is_under, local_path


def test_apply_maps_file_uris_plain_paths_and_percent_encoded_uris() -> None:
    move = PathMove(old="/a/runs", new="/b/my runs")
    assert move.apply("file:///a/runs/wh/t/data/x.parquet") == "file:///b/my runs/wh/t/data/x.parquet"
    assert move.apply("/a/runs/mlflow.db") == "/b/my runs/mlflow.db"
    assert move.apply("/a/runs") == "/b/my runs"
    assert PathMove(old="/a/my runs", new="/b").apply("file:///a/my%20runs/x") == "file:///b/x"


def test_apply_leaves_other_places_and_urls_alone() -> None:
    move = PathMove(old="/a/runs", new="/b/runs")
    for location in ("/a/runs2/x", "file:///a/runsx", "gs://bucket/a/runs/x", "/elsewhere/a/runs/x", "models:/m@champion"):
        assert move.apply(location) == location


def test_substitutions_end_at_a_directory_boundary() -> None:
    assert PathMove(old="/a/runs", new="/b/runs").substitutions() == [("/a/runs/", "/b/runs/")]
    assert ("/a/my%20runs/", "/b/") in PathMove(old="/a/my runs", new="/b").substitutions()


@pytest.mark.parametrize(("old", "new"), [("/a", "/a/b"), ("/a/b", "/a"), ("a/b", "/c"), ("/a/../b", "/c")])
def test_a_move_into_itself_or_of_a_relative_path_is_refused(old: str, new: str) -> None:
    with pytest.raises(ValueError):
        PathMove(old=old, new=new)


def test_local_path_and_is_under() -> None:
    assert local_path("file:///a/b%20c/") == "/a/b c"
    assert local_path("/a//b") == "/a/b"
    assert local_path("gs://bucket/x") is None and local_path("relative/x") is None
    assert is_under("/a/b/c", "/a/b") and is_under("/a/b", "/a/b") and not is_under("/a/bc", "/a/b")


def test_find_move_takes_the_shortest_tail_that_exists_in_the_configured_directory(tmp_path: Path) -> None:
    configured = tmp_path / "copy" / "warehouse"
    (configured / "ns" / "t" / "metadata").mkdir(parents=True)
    (configured / "ns" / "t" / "metadata" / "00001-x.metadata.json").write_text("{}")
    recorded = "file:///old/place/warehouse/ns/t/metadata/00001-x.metadata.json"
    assert find_move(recorded, str(configured)) == PathMove(old="/old/place/warehouse", new=str(configured))


def test_find_move_is_none_in_place_for_urls_and_without_a_copy(tmp_path: Path) -> None:
    assert find_move(f"file://{tmp_path}/ns/t/metadata/m.json", str(tmp_path)) is None
    assert find_move("gs://bucket/ns/t/metadata/m.json", str(tmp_path)) is None
    assert find_move("file:///old/ns/t/metadata/m.json", str(tmp_path)) is None


def test_whole_values_name_the_directory_itself() -> None:
    assert PathMove(old="/a/runs", new="/b/runs").whole_values() == [
        ("/a/runs", "/b/runs"), ("file:///a/runs", "file:///b/runs"),
    ]

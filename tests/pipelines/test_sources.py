from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest

from pipelines.image_decoding import ImageDecodeError
from pipelines.sources import SourceError, expand_sources, read_bytes, read_image_source


@pytest.fixture
def image_tree(tmp_path: Path) -> Path:
    """tmp/a.jpg, tmp/b.PNG, tmp/notes.txt, tmp/sub/c.webp, tmp/sub/d.gif, tmp/sub/deeper/e.tiff"""
    for relative in ["a.jpg", "b.PNG", "notes.md", "sub/c.webp", "sub/d.gif", "sub/deeper/e.tiff"]:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(relative.encode())
    return tmp_path


def test_directory_lists_every_file_recursively_sorted(image_tree: Path) -> None:
    uris = expand_sources(str(image_tree))
    expected = ["a.jpg", "b.PNG", "notes.md", "sub/c.webp", "sub/d.gif", "sub/deeper/e.tiff"]
    assert uris == sorted(str(image_tree / name) for name in expected)


def test_listing_skips_only_the_excluded_sidecar(image_tree: Path) -> None:
    uris = expand_sources(str(image_tree), exclude=[str(image_tree / "notes.md")])
    assert str(image_tree / "notes.md") not in uris and len(uris) == 5
    assert expand_sources(f"file://{image_tree}/*", exclude=[f"file://{image_tree}/notes.md"]) == [
        f"file://{image_tree}/a.jpg", f"file://{image_tree}/b.PNG",
    ]


def test_glob_matches_every_file_it_names(image_tree: Path) -> None:
    assert expand_sources(str(image_tree / "sub" / "*")) == [str(image_tree / "sub" / n) for n in ("c.webp", "d.gif")]
    assert expand_sources(str(image_tree / "**" / "*.tiff")) == [str(image_tree / "sub" / "deeper" / "e.tiff")]


def test_file_url_keeps_its_protocol(image_tree: Path) -> None:
    uris = expand_sources(f"file://{image_tree}/*.jpg")
    assert uris == [f"file://{image_tree}/a.jpg"]
    assert read_bytes(uris[0]) == b"a.jpg"


def test_single_image_file(image_tree: Path) -> None:
    assert expand_sources(str(image_tree / "a.jpg")) == [str(image_tree / "a.jpg")]


def test_text_manifest_resolves_relative_entries(image_tree: Path) -> None:
    manifest = image_tree / "list.txt"
    manifest.write_text("# HR photos\nsub/c.webp\n\n/abs/x.jpg\ngs://bucket/y.png\nsub/c.webp\n")
    assert expand_sources(str(manifest)) == sorted(["/abs/x.jpg", "gs://bucket/y.png", str(image_tree / "sub/c.webp")])


def test_jsonl_manifest_reads_uri_fields(image_tree: Path) -> None:
    manifest = image_tree / "list.jsonl"
    manifest.write_text(json.dumps({"uri": "a.jpg", "caption": "x"}) + "\n" + json.dumps({"uri": "gs://b/z.jpg"}) + "\n")
    assert expand_sources(str(manifest)) == sorted([str(image_tree / "a.jpg"), "gs://b/z.jpg"])


def test_malformed_jsonl_manifest_names_the_line(image_tree: Path) -> None:
    manifest = image_tree / "list.jsonl"
    manifest.write_text(json.dumps({"uri": "a.jpg"}) + "\n" + json.dumps({"path": "b.jpg"}) + "\n")
    with pytest.raises(SourceError, match=r"list\.jsonl:2: expected an object with a non-empty string 'uri'"):
        expand_sources(str(manifest))


def test_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        expand_sources(str(tmp_path / "nope"))


def test_directory_without_files_raises(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="matches no files"):
        expand_sources(str(tmp_path / "empty"))
    with pytest.raises(SourceError, match="matches no files"):
        expand_sources(str(tmp_path / "*.jpg"))


def test_other_files_and_unknown_protocols_raise(image_tree: Path) -> None:
    with pytest.raises(SourceError, match="neither an image"):
        expand_sources(str(image_tree / "notes.md"))
    with pytest.raises(SourceError, match="cannot open input"):
        expand_sources("nosuchprotocol://bucket/x.jpg")


@pytest.fixture
def memory_root() -> Iterator[str]:
    """A unique folder on fsspec's in-memory file system (a stand-in for gs:// or s3://)."""
    root = f"memory://mmsr-test-{uuid.uuid4().hex}"
    yield root
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


def test_remote_style_urls_keep_their_protocol(memory_root: str) -> None:
    for name in ["hr/one.jpg", "hr/two.png", "hr/skip.json"]:
        with fsspec.open(f"{memory_root}/{name}", "wb") as handle:
            handle.write(name.encode())
    uris = expand_sources(f"{memory_root}/hr", exclude=[f"{memory_root}/hr/skip.json"])
    assert [uri.rsplit("/", 1)[-1] for uri in uris] == ["one.jpg", "two.png"]
    assert all(uri.startswith("memory://") for uri in uris)
    assert expand_sources(f"{memory_root}/hr/*.png") == [uris[1]]
    assert read_bytes(uris[0]) == b"hr/one.jpg"


def test_an_image_source_is_read_whole_and_anything_else_refused_by_its_first_bytes(tmp_path: Path) -> None:
    png = tmp_path / "ok.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    assert read_image_source(str(png)) == png.read_bytes()
    gif = tmp_path / "anim.gif"
    gif.write_bytes(b"GIF89a" + bytes(100))
    with pytest.raises(ImageDecodeError, match="a GIF file"):
        read_image_source(str(gif))

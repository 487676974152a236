from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.modalities.captions import CaptionFileError, caption_for, file_name_of, load_sidecar_captions


def write_lines(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_captions_resolve_by_file_name_and_full_uri(tmp_path: Path) -> None:
    sidecar = write_lines(
        tmp_path / "captions.jsonl",
        [
            json.dumps({"uri": "cat.png", "caption": "A cat."}),
            "",
            json.dumps({"uri": "gs://bucket/hr/dog.jpg", "caption": "A dog.", "extra": 1}),
        ],
    )
    captions = load_sidecar_captions(sidecar)
    assert caption_for("/data/hr/cat.png", captions) == "A cat."
    assert caption_for("cat.png", captions) == "A cat."
    assert caption_for("gs://bucket/hr/dog.jpg", captions) == "A dog."
    assert caption_for("/elsewhere/dog.jpg", captions) == "A dog."
    assert caption_for("/data/hr/bird.png", captions) is None


def test_file_name_shared_by_different_captions_only_resolves_by_full_uri(tmp_path: Path) -> None:
    sidecar = write_lines(
        tmp_path / "captions.jsonl",
        [
            json.dumps({"uri": "gs://a/x.png", "caption": "First."}),
            json.dumps({"uri": "gs://b/x.png", "caption": "Second."}),
        ],
    )
    captions = load_sidecar_captions(sidecar)
    assert caption_for("gs://a/x.png", captions) == "First."
    assert caption_for("gs://b/x.png", captions) == "Second."
    assert caption_for("/local/x.png", captions) is None


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("{not json", "not valid JSON"),
        ('["a", "b"]', "expected a JSON object"),
        ('{"caption": "no uri"}', "'uri' must be a non-empty string"),
        ('{"uri": "x.png", "caption": 3}', "'caption' must be a string"),
    ],
)
def test_malformed_line_error_names_the_line(tmp_path: Path, bad_line: str, reason: str) -> None:
    good = json.dumps({"uri": "ok.png", "caption": "Fine."})
    sidecar = write_lines(tmp_path / "captions.jsonl", [good, good, bad_line])
    with pytest.raises(CaptionFileError, match=rf"captions\.jsonl:3: {reason}"):
        load_sidecar_captions(sidecar)


def test_file_name_of_handles_paths_and_urls() -> None:
    assert file_name_of("gs://bucket/dir/img.png") == "img.png"
    assert file_name_of("/a/b.jpg") == "b.jpg"
    assert file_name_of("c.jpg") == "c.jpg"

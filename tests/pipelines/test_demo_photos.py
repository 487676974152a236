from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.demo_photos import write_demo_photos
from pipelines.image_decoding import decode_image
from pipelines.modalities.captions import caption_for, load_sidecar_captions
from pipelines.sources import expand_sources


def test_writes_real_colour_photos_with_captions(tmp_path: Path) -> None:
    dataset = write_demo_photos(tmp_path / "sample_hr")
    assert len(dataset.uris) >= 6
    assert expand_sources(str(dataset.image_dir), exclude=[str(dataset.captions_path)]) == dataset.uris
    captions = load_sidecar_captions(str(dataset.captions_path))
    for uri in dataset.uris:
        image = decode_image(Path(uri).read_bytes())
        assert min(image.shape[:2]) >= 256, uri
        channel_spread = np.abs(image.astype(int) - image.mean(axis=2, keepdims=True)).mean()
        assert channel_spread > 2.0, f"{uri} looks gray"
        caption = caption_for(uri, captions)
        assert caption and len(caption.split()) >= 5, uri


def test_second_call_is_a_no_op(tmp_path: Path) -> None:
    first = write_demo_photos(tmp_path)
    stamps = {path: path.stat().st_mtime_ns for path in tmp_path.iterdir()}
    second = write_demo_photos(tmp_path)
    assert second == first
    assert {path: path.stat().st_mtime_ns for path in tmp_path.iterdir()} == stamps

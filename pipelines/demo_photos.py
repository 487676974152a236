"""A small embedded HR dataset: real colour photos that ship inside installed packages.

scikit-image (``skimage/data``) and scikit-learn (``sklearn/datasets/images``) both install a
handful of real photographs. :func:`write_demo_photos` copies the colour ones of at least
256 px per side (synthetic images such as checkerboards, logos and text are left out, as are the
microscopy and retina scans) into a folder, next to a ``captions.jsonl`` sidecar with one short
hand-written caption per photo. Nothing is downloaded.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

CAPTIONS_FILE = "captions.jsonl"


@dataclass(frozen=True)
class DemoPhoto:
    """One photo inside an installed package, with its caption."""

    package: str
    resource: str
    """Path of the file inside ``package``, "/"-separated."""
    caption: str

    @property
    def file_name(self) -> str:
        return self.resource.rsplit("/", 1)[-1]

    def read(self) -> bytes:
        return files(self.package).joinpath(self.resource).read_bytes()


DEMO_PHOTOS: tuple[DemoPhoto, ...] = (
    DemoPhoto(
        "skimage",
        "data/astronaut.png",
        "A smiling astronaut in an orange spacesuit beside an American flag and a space shuttle model.",
    ),
    DemoPhoto("skimage", "data/chelsea.png", "Close-up of a tabby cat's face with green eyes."),
    DemoPhoto("skimage", "data/coffee.png", "A cup of espresso on a red saucer with a spoon, on a wooden table."),
    DemoPhoto(
        "skimage",
        "data/hubble_deep_field.jpg",
        "A Hubble deep field: many small, distant galaxies scattered over a black sky.",
    ),
    DemoPhoto("skimage", "data/motorcycle_left.png", "A red motorcycle parked in a garage in front of shelves of boxes."),
    DemoPhoto("skimage", "data/rocket.jpg", "A rocket on its launch pad between lattice towers at dusk, lit by lamps."),
    DemoPhoto(
        "sklearn",
        "datasets/images/china.jpg",
        "A tall Chinese pagoda on a wooded hill, with a lake and a hazy sky behind it.",
    ),
    DemoPhoto("sklearn", "datasets/images/flower.jpg", "An orange dahlia in bloom in front of blurred dark green leaves."),
)


@dataclass(frozen=True)
class DemoPhotos:
    """Where :func:`write_demo_photos` put the photos and their captions."""

    image_dir: Path
    captions_path: Path
    """``captions.jsonl``: one ``{"uri": <file name>, "caption": <text>}`` per photo."""
    uris: list[str]
    """Absolute paths of the photos, sorted (as :func:`pipelines.sources.expand_sources` lists them, the
    captions sidecar excluded)."""


def _write_if_changed(path: Path, content: bytes) -> None:
    if not path.is_file() or path.read_bytes() != content:
        path.write_bytes(content)


def write_demo_photos(dest: Path) -> DemoPhotos:
    """Copy the demo photos and write ``captions.jsonl`` into ``dest`` (created if missing).

    Idempotent: files already present with the right content are not rewritten.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for photo in DEMO_PHOTOS:
        _write_if_changed(dest / photo.file_name, photo.read())
    captions = "".join(
        json.dumps({"uri": photo.file_name, "caption": photo.caption}) + "\n"
        for photo in sorted(DEMO_PHOTOS, key=lambda p: p.file_name)
    )
    captions_path = dest / CAPTIONS_FILE
    _write_if_changed(captions_path, captions.encode("utf-8"))
    uris = sorted(os.path.abspath(dest / photo.file_name) for photo in DEMO_PHOTOS)
    return DemoPhotos(image_dir=dest, captions_path=captions_path, uris=uris)

"""The new-HR-images sensor: start a retraining run when the configured preprocess input changes.

Each tick lists ``preprocess.input`` with fsspec (local, ``gs://``, ``s3://``, ...) and reduces the
listing to one digest over every image's (path, size, stamp), the stamp being the etag /
generation / mtime the file system reports. The digest is the sensor's cursor and the run key:

- the first tick records the digest as the baseline and starts nothing;
- a tick whose digest equals the cursor starts nothing;
- a changed digest (an image added, replaced or removed) moves the cursor and requests one run
  whose ``run_key`` is the new digest, so Dagster never starts two runs for the same listing.

A directory or glob counts image files only (:data:`pipelines.sources.IMAGE_EXTENSIONS`), so
sidecars such as ``captions.jsonl`` do not trigger runs; a single file (one image or a
manifest) counts as itself, so editing a manifest triggers a run.
"""

# No ``from __future__ import annotations`` here: Dagster reads these annotations at definition
# time (context type, resource parameters, input/output types) and needs real classes.
import hashlib
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
from fsspec.core import has_magic, url_to_fs

from orchestration.dagster.resource import MmsrConfigResource
from pipelines.sources import IMAGE_EXTENSIONS

SENSOR_NAME = "mmsr_new_hr_images"
DEFAULT_SENSOR_INTERVAL_S = 300
STAMP_KEYS: tuple[str, ...] = (
    "etag", "ETag", "generation", "md5Hash", "mtime", "updated", "LastModified", "last_modified", "created",
)
"""Info keys that change when a file's content does, in order of preference (fsspec backends differ)."""


@dataclass(frozen=True, order=True)
class InputFile:
    path: str
    size: int
    stamp: str
    """Etag, generation or modification time: whichever the file system reports first in :data:`STAMP_KEYS`."""


@dataclass(frozen=True)
class InputListing:
    files: tuple[InputFile, ...]
    """Sorted by path."""
    digest: str
    """sha256 hex over every file's (path, size, stamp)."""


def _stamp(info: Mapping[str, Any]) -> str:
    return next((str(info[key]) for key in STAMP_KEYS if info.get(key) is not None), "")


def list_inputs(spec: str) -> InputListing:
    """The image files ``spec`` (directory, glob, image or manifest) names now, with their digest.

    Raises FileNotFoundError if ``spec`` is neither a glob nor an existing path.
    """
    fs, path = url_to_fs(spec)
    many = has_magic(path) or fs.isdir(path)
    if not many:
        found = {path: fs.info(path)}
    else:
        found = fs.glob(path, detail=True) if has_magic(path) else fs.find(path, detail=True)
    files = sorted(
        InputFile(name, int(info.get("size") or 0), _stamp(info))
        for name, info in found.items()
        if info.get("type") == "file" and (not many or posixpath.splitext(name)[1].lower() in IMAGE_EXTENSIONS)
    )
    lines = "".join(f"{f.path}\t{f.size}\t{f.stamp}\n" for f in files)
    return InputListing(files=tuple(files), digest=hashlib.sha256(lines.encode("utf-8")).hexdigest())


def build_new_images_sensor(job_name: str, minimum_interval_seconds: int = DEFAULT_SENSOR_INTERVAL_S) -> dg.SensorDefinition:
    """A sensor (stopped until switched on) that requests the job ``job_name`` when the HR images change."""

    @dg.sensor(
        name=SENSOR_NAME,
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds,
        description="Starts a retraining run when the HR images under preprocess.input change.",
    )
    def new_hr_images(context: dg.SensorEvaluationContext, mmsr: MmsrConfigResource) -> dg.RunRequest | dg.SkipReason:
        spec = mmsr.load().preprocess.input
        try:
            listing = list_inputs(spec)
        except FileNotFoundError:
            return dg.SkipReason(f"input {spec} does not exist yet")
        if context.cursor is None:
            context.update_cursor(listing.digest)
            return dg.SkipReason(f"baseline recorded: {len(listing.files)} images under {spec}")
        if listing.digest == context.cursor:
            return dg.SkipReason(f"no change in the {len(listing.files)} images under {spec}")
        context.update_cursor(listing.digest)
        return dg.RunRequest(run_key=listing.digest, tags={"mmsr/trigger": "new-hr-images", "mmsr/images": str(len(listing.files))})

    return new_hr_images

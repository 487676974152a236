"""Where HR images come from: one input spec -> a sorted list of input URIs, and their bytes.

A spec is any of (local or any fsspec file system: ``gs://``, ``s3://``, ``file://``, ...):

- a directory: every file below it, recursively;
- a glob (``gs://bucket/hr/*.jpg``, ``data/**/*.png``): every file it matches;
- one image file;
- a manifest: ``*.txt`` with one URI per line (blank lines and ``#`` comments skipped) or
  ``*.jsonl`` with one ``{"uri": ...}`` object per line. Relative entries are resolved against
  the manifest's folder.

Every file found or listed is an input, whatever its extension: it becomes samples or a row of
the errors table (a GIF, a HEIC, a text file: a ``decode`` rejection naming what it is, see
:func:`read_image_source`), so inputs = accepted + rejected and nothing is silently left out.
The only file a listing skips is the job's own captions sidecar (``exclude``). Specs given with a
protocol (``gs://``, ``file://``) yield URIs with that protocol; plain local specs yield absolute
local paths.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Collection
from typing import Any

import fsspec
from fsspec.core import has_magic, url_to_fs
from fsspec.spec import AbstractFileSystem

from pipelines.image_decoding import SIGNATURE_BYTES, check_signature

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
MANIFEST_EXTENSIONS: frozenset[str] = frozenset({".txt", ".jsonl"})


class SourceError(ValueError):
    """The input spec matches no images, does not exist, or a manifest is malformed."""


def _extension(path: str) -> str:
    return posixpath.splitext(path)[1].lower()


def _is_file(info: dict[str, Any]) -> bool:
    return info.get("type") == "file"


def _filesystem(spec: str) -> tuple[AbstractFileSystem, str]:
    try:
        return url_to_fs(spec)
    except (ValueError, ImportError) as error:  # unknown protocol, or its fsspec backend is not installed
        raise SourceError(f"cannot open input '{spec}': {error}") from error


def expand_sources(spec: str, exclude: Collection[str] = ()) -> list[str]:
    """Expand an input spec (directory, glob, image file or manifest) into sorted, unique input URIs.

    A directory or glob yields every file it holds or matches except those in ``exclude`` (local
    paths or URLs, e.g. the captions sidecar). Raises :class:`SourceError` if the spec does not
    exist, is a single file that is neither an image nor a manifest, or matches no file.
    """
    fs, path = _filesystem(spec)
    keep_protocol = "://" in spec or "::" in spec
    skipped = {_filesystem(other)[1] for other in exclude}

    def to_uri(found: str) -> str:
        return fs.unstrip_protocol(found) if keep_protocol else found

    if has_magic(path):
        matches = fs.glob(path, detail=True)
        uris = [to_uri(p) for p, info in matches.items() if _is_file(info) and p not in skipped]
    else:
        try:
            info = fs.info(path)
        except FileNotFoundError:
            raise SourceError(f"input '{spec}' does not exist") from None
        if info["type"] == "directory":
            found = fs.find(path, detail=True).items()
            uris = [to_uri(p) for p, entry in found if _is_file(entry) and p not in skipped]
        elif _extension(path) in MANIFEST_EXTENSIONS:
            uris = [_resolve_entry(entry, posixpath.dirname(path), to_uri) for entry in _read_manifest(fs, path)]
        elif _extension(path) in IMAGE_EXTENSIONS:
            uris = [to_uri(path)]
        else:
            raise SourceError(
                f"input '{spec}' is neither an image ({', '.join(sorted(IMAGE_EXTENSIONS))}) "
                f"nor a manifest ({', '.join(sorted(MANIFEST_EXTENSIONS))})"
            )
    if not uris:
        raise SourceError(f"input '{spec}' matches no files")
    return sorted(set(uris))


def _resolve_entry(entry: str, folder: str, to_uri: Callable[[str], str]) -> str:
    """A manifest entry as a URI: URLs and absolute paths as they are, relative ones under ``folder``."""
    if "://" in entry or posixpath.isabs(entry):
        return entry
    return to_uri(posixpath.join(folder, entry))


def _read_manifest(fs: AbstractFileSystem, path: str) -> list[str]:
    """The entries of a ``.txt`` or ``.jsonl`` manifest; malformed lines raise naming the line."""
    with fs.open(path, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    is_jsonl = _extension(path) == ".jsonl"
    entries = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or (not is_jsonl and line.startswith("#")):
            continue
        entries.append(_jsonl_uri(line, path, number) if is_jsonl else line)
    return entries


def _jsonl_uri(line: str, path: str, number: int) -> str:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise SourceError(f"{path}:{number}: not valid JSON ({error.msg})") from None
    uri = record.get("uri") if isinstance(record, dict) else None
    if not isinstance(uri, str) or not uri:
        raise SourceError(f"{path}:{number}: expected an object with a non-empty string 'uri'")
    return uri


def read_bytes(uri: str) -> bytes:
    """The whole content of one file, local path or any fsspec URL."""
    with fsspec.open(uri, "rb") as handle:
        return handle.read()


def read_image_source(uri: str) -> bytes:
    """The whole content of one input file, after its first bytes showed an accepted image format.

    Raises :class:`~pipelines.image_decoding.ImageDecodeError` (naming what the file is) having
    read only :data:`~pipelines.image_decoding.SIGNATURE_BYTES` of anything else, so a video or
    an archive among the images costs nothing to reject.
    """
    with fsspec.open(uri, "rb") as handle:
        head = handle.read(SIGNATURE_BYTES)
        check_signature(head)
        return head + handle.read()

"""Where HR images come from: an input spec, the files it names, and their bytes.

A spec is any of (local or any fsspec file system: ``gs://``, ``s3://``, ``file://``, ...):

- a directory: every file below it, recursively;
- a glob (``gs://bucket/hr/*.jpg``, ``data/**/*.png``): every file it matches (fsspec's glob rules);
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

Listing is split so that a Beam job can do it on its workers, in constant memory
(:mod:`pipelines.input_listing`): :func:`resolve_spec` looks at the spec itself on the driver
(a few file-system calls, whatever the input's size); :func:`list_top_level` lists the top
directory (files, and the subdirectories to descend into); :func:`walk_subdirectory` yields the
files of one subdirectory, directory by directory; :func:`manifest_entries` streams a manifest's
lines. :func:`expand_sources` runs them all in one process, for small inputs and tests.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import fsspec
from fsspec.core import has_magic, url_to_fs
from fsspec.spec import AbstractFileSystem
from fsspec.utils import glob_translate

from pipelines.image_decoding import SIGNATURE_BYTES, check_signature

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
MANIFEST_EXTENSIONS: frozenset[str] = frozenset({".txt", ".jsonl"})


class SourceError(ValueError):
    """The input spec matches no file, does not exist, or a manifest is malformed."""


@dataclass(frozen=True)
class InputSpec:
    """A spec resolved on the driver: what to list, where, and how to name what is found."""

    spec: str
    """The spec as given (for messages)."""
    kind: Literal["tree", "manifest", "file"]
    root: str
    """fsspec URL of the directory to list (``tree``), the manifest or the single file."""
    pattern: str | None = None
    """Regex (:func:`fsspec.utils.glob_translate`) a found path must match; None: every file."""
    max_depth: int | None = None
    """Directory levels below ``root`` the pattern can reach (1: ``root`` itself); None: any."""
    keep_protocol: bool = False
    """Yield URIs with their protocol (the spec had one) rather than plain local paths."""
    exclude: frozenset[str] = frozenset()
    """Protocol-less paths never yielded (the captions sidecar)."""


@dataclass(frozen=True)
class Listed:
    """One entry of a top-level listing: an input file, or a subdirectory still to walk."""

    uri: str | None = None
    subdirectory: str | None = None
    """fsspec URL of a subdirectory."""


@dataclass(frozen=True)
class ManifestEntry:
    """One manifest line: the input URI, or why the line names none."""

    uri: str | None
    error: str | None = None
    line: str = ""
    """``<manifest>:<line number>``, to name a malformed line."""


def _extension(path: str) -> str:
    return posixpath.splitext(path)[1].lower()


def _filesystem(spec: str) -> tuple[AbstractFileSystem, str]:
    try:
        return url_to_fs(spec)
    except (ValueError, ImportError) as error:  # unknown protocol, or its fsspec backend is not installed
        raise SourceError(f"cannot open input '{spec}': {error}") from error


def resolve_spec(spec: str, exclude: Collection[str] = ()) -> InputSpec:
    """Classify ``spec`` (glob, directory, manifest or image file) with O(1) file-system calls.

    Raises :class:`SourceError` if it does not exist or is a single file that is neither an image
    nor a manifest (an empty listing is found out only by listing it).
    """
    fs, path = _filesystem(spec)
    keep_protocol = "://" in spec or "::" in spec
    skipped = frozenset(_filesystem(other)[1] for other in exclude)
    if has_magic(path):
        first_magic = min(index for index in (path.find(c) for c in "*?[") if index >= 0)
        root = path[: path.rfind("/", 0, first_magic) + 1].rstrip("/") or "/"
        depth = None if "**" in path else path[len(root):].strip("/").count("/") + 1
        return InputSpec(spec, "tree", fs.unstrip_protocol(root), glob_translate(path), depth, keep_protocol, skipped)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise SourceError(f"input '{spec}' does not exist") from None
    if info["type"] == "directory":
        return InputSpec(spec, "tree", fs.unstrip_protocol(path), None, None, keep_protocol, skipped)
    if _extension(path) in MANIFEST_EXTENSIONS:
        return InputSpec(spec, "manifest", fs.unstrip_protocol(path), keep_protocol=keep_protocol)
    if _extension(path) in IMAGE_EXTENSIONS:
        return InputSpec(spec, "file", fs.unstrip_protocol(path), keep_protocol=keep_protocol)
    raise SourceError(
        f"input '{spec}' is neither an image ({', '.join(sorted(IMAGE_EXTENSIONS))}) "
        f"nor a manifest ({', '.join(sorted(MANIFEST_EXTENSIONS))})"
    )


def _uri(spec: InputSpec, fs: AbstractFileSystem, path: str) -> str:
    return fs.unstrip_protocol(path) if spec.keep_protocol else path


def _wanted(spec: InputSpec, path: str, info: dict[str, Any]) -> bool:
    if info.get("type") != "file" or path in spec.exclude:
        return False
    return spec.pattern is None or re.match(spec.pattern, path) is not None


def list_top_level(spec: InputSpec) -> Iterator[Listed]:
    """A ``tree`` spec's top level: its input files, then the subdirectories to walk. A ``file``
    spec yields its one file; a ``manifest`` spec nothing (see :func:`manifest_entries`)."""
    fs, root = url_to_fs(spec.root)
    if spec.kind == "file":
        yield Listed(uri=_uri(spec, fs, root))
        return
    if spec.kind != "tree" or not fs.isdir(root):
        return
    for info in sorted(fs.ls(root, detail=True), key=lambda entry: entry["name"]):
        path = info["name"].rstrip("/")
        if info.get("type") == "directory":
            if spec.max_depth is None or spec.max_depth > 1:
                yield Listed(subdirectory=fs.unstrip_protocol(path))
        elif _wanted(spec, path, info):
            yield Listed(uri=_uri(spec, fs, path))


def walk_subdirectory(spec: InputSpec, subdirectory: str) -> Iterator[str]:
    """Every input file below one subdirectory :func:`list_top_level` yielded, a directory at a time."""
    fs, path = url_to_fs(subdirectory)
    depth = None if spec.max_depth is None else spec.max_depth - 1
    for folder, _, files in fs.walk(path, maxdepth=depth, detail=True):
        for name, info in sorted(files.items()):
            found = info.get("name", posixpath.join(folder, name)).rstrip("/")
            if _wanted(spec, found, info):
                yield _uri(spec, fs, found)


def _resolve_entry(entry: str, spec: InputSpec, fs: AbstractFileSystem, folder: str) -> str:
    """A manifest entry as a URI: URLs and absolute paths as they are, relative ones under ``folder``."""
    if "://" in entry or posixpath.isabs(entry):
        return entry
    return _uri(spec, fs, posixpath.join(folder, entry))


def _jsonl_uri(line: str) -> tuple[str | None, str | None]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        return None, f"not valid JSON ({error.msg})"
    uri = record.get("uri") if isinstance(record, dict) else None
    if not isinstance(uri, str) or not uri:
        return None, "expected an object with a non-empty string 'uri'"
    return uri, None


def manifest_entries(spec: InputSpec) -> Iterator[ManifestEntry]:
    """A ``manifest`` spec's entries, streamed line by line; a malformed line is an entry with an error."""
    if spec.kind != "manifest":
        return
    fs, path = url_to_fs(spec.root)
    is_jsonl = _extension(path) == ".jsonl"
    folder = posixpath.dirname(path)
    with fs.open(path, "rt", encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line or (not is_jsonl and line.startswith("#")):
                continue
            uri, error = _jsonl_uri(line) if is_jsonl else (line, None)
            resolved = None if uri is None else _resolve_entry(uri, spec, fs, folder)
            yield ManifestEntry(uri=resolved, error=error, line=f"{spec.spec}:{number}")


def expand_sources(spec: str, exclude: Collection[str] = ()) -> list[str]:
    """Every input URI of ``spec``, sorted and unique, listed in this process.

    Raises :class:`SourceError` if the spec does not exist, is a single file that is neither an
    image nor a manifest, has a malformed manifest line, or matches no file.
    """
    resolved = resolve_spec(spec, exclude)
    uris: list[str] = []
    for listed in list_top_level(resolved):
        if listed.uri is not None:
            uris.append(listed.uri)
        elif listed.subdirectory is not None:
            uris += walk_subdirectory(resolved, listed.subdirectory)
    for entry in manifest_entries(resolved):
        if entry.uri is None:
            raise SourceError(f"{entry.line}: {entry.error}")
        uris.append(entry.uri)
    if not uris:
        raise SourceError(f"input '{spec}' matches no files")
    return sorted(set(uris))


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


def hash_image_source(uri: str, chunk_bytes: int = 8 << 20) -> str:
    """Hex SHA-256 of one input file, streamed (memory: one chunk), after its first bytes showed an
    accepted image format (else :class:`~pipelines.image_decoding.ImageDecodeError`, see
    :func:`read_image_source`)."""
    with fsspec.open(uri, "rb") as handle:
        head = handle.read(SIGNATURE_BYTES)
        check_signature(head)
        digest = hashlib.sha256(head)
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()

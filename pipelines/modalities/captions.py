"""Captions: read from a ``captions.jsonl`` sidecar now; a VLM plugs in behind :class:`CaptionModel`.

A sidecar has one JSON object per line, ``{"uri": ..., "caption": ...}``. ``uri`` may be a full
URI (``gs://bucket/hr/0001.png``) or a bare file name (``0001.png``); :func:`caption_for` finds a
caption by the image's full URI first, then by its file name.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Protocol

import fsspec
import numpy as np


class CaptionFileError(ValueError):
    """A sidecar captions file is malformed; the message names the file and line."""


class CaptionModel(Protocol):
    """What a captioning model (e.g. a VLM) provides to the pipeline."""

    model_version: str
    """``"model_id@revision"``, recorded in each row's extractor lineage."""

    def caption(self, images: Sequence[np.ndarray]) -> list[str]:
        """One caption per (H, W, 3) uint8 RGB image, in order."""
        ...


def file_name_of(uri: str) -> str:
    """The last path component of a local path or URL (``gs://b/x/y.png`` -> ``y.png``)."""
    return uri.rstrip("/").rsplit("/", 1)[-1]


def parse_line(line: str, path: str, number: int) -> tuple[str, str]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise CaptionFileError(f"{path}:{number}: not valid JSON ({error.msg})") from None
    if not isinstance(record, dict):
        raise CaptionFileError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
    uri, caption = record.get("uri"), record.get("caption")
    if not isinstance(uri, str) or not uri:
        raise CaptionFileError(f"{path}:{number}: 'uri' must be a non-empty string")
    if not isinstance(caption, str):
        raise CaptionFileError(f"{path}:{number}: 'caption' must be a string")
    return uri, caption


def load_sidecar_captions(path_or_url: str) -> dict[str, str]:
    """Read a ``captions.jsonl`` (local path or fsspec URL) into a lookup for :func:`caption_for`.

    Keys are each entry's ``uri`` as written and its file name; a file name shared by entries
    with different captions is left out (only the full URIs resolve). Blank lines are skipped;
    malformed lines raise :class:`CaptionFileError` naming the line number.
    """
    with fsspec.open(path_or_url, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    by_uri: dict[str, str] = {}
    by_name: dict[str, str] = {}
    ambiguous: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        uri, caption = parse_line(raw, str(path_or_url), number)
        by_uri[uri] = caption
        name = file_name_of(uri)
        if by_name.setdefault(name, caption) != caption:
            ambiguous.add(name)
    names = {name: caption for name, caption in by_name.items() if name not in ambiguous}
    return {**names, **by_uri}


def caption_for(uri: str, captions: dict[str, str]) -> str | None:
    """The caption of the image at ``uri``: by full URI, else by file name, else None."""
    found = captions.get(uri)
    return found if found is not None else captions.get(file_name_of(uri))

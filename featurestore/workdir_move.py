"""Detect a local store (the feature store's SQLite catalog and warehouse, or MLflow's SQLite store
and artifacts) that was copied or moved: its database records absolute paths of the old place.

Iceberg has no relative paths (the spec and pyiceberg write absolute ones), and MLflow records
absolute artifact URIs, so a copied workdir would read the original's files, or traceback once the
original is gone. Every command that opens such a store first compares what the store records
with what the config says and refuses with :class:`WorkdirMovedError` (``mmsr relocate`` rewrites
the recorded paths: :mod:`featurestore.relocation`, :mod:`trainers.tracking.mlflow_relocation`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

_FILE = "file://"


class WorkdirMovedError(Exception):
    """A store records paths of the place it was copied or moved from (one line, exit status 2).

    Not a ValueError: command-level handlers that report bad values must let it through."""

    def __init__(self, store: str, move: PathMove) -> None:
        super().__init__(
            f"this workdir was moved from {move.old} to {move.new} (the {store} still records the old paths); "
            "run 'mmsr relocate' with the same --config/--set to rewrite them"
        )
        self.move = move


def local_path(location: str) -> str | None:
    """The absolute local path of a ``file:`` URI or an absolute path, else None (other URLs)."""
    if location.startswith("file:"):
        return os.path.normpath(unquote(urlparse(location).path))
    if location.startswith("/"):
        return os.path.normpath(location)
    return None


def is_under(path: str, directory: str) -> bool:
    """Whether local ``path`` is ``directory`` or lies inside it (both normalised absolute paths)."""
    return path == directory or path.startswith(directory.rstrip("/") + "/")


@dataclass(frozen=True)
class PathMove:
    """Recorded local paths under ``old`` now live under ``new`` (absolute, normalised)."""

    old: str
    new: str

    def __post_init__(self) -> None:
        for name in ("old", "new"):
            value = getattr(self, name)
            if not value.startswith("/") or value != os.path.normpath(value):
                raise ValueError(f"{name} must be a normalised absolute path, got {value!r}")
        if is_under(self.new, self.old) or is_under(self.old, self.new):
            raise ValueError(f"cannot relocate {self.old} to {self.new}: one lies inside the other")

    def apply(self, location: str) -> str:
        """``location`` (a ``file:`` URI or plain path) with the ``old`` prefix replaced by ``new``
        in the same form; anything else (other URLs, paths elsewhere) is returned unchanged."""
        spellings = (
            (_FILE + self.old, _FILE + self.new), (Path(self.old).as_uri(), Path(self.new).as_uri()), (self.old, self.new),
        )
        for prefix, replacement in spellings:
            if location == prefix or location.startswith(prefix + "/"):
                return replacement + location[len(prefix):]
        return location

    def whole_values(self) -> list[tuple[str, str]]:
        """(old, new) values naming exactly the moved directory: as a path and as a ``file:`` URI."""
        pairs = [(self.old, self.new), (_FILE + self.old, _FILE + self.new)]
        quoted = (Path(self.old).as_uri(), Path(self.new).as_uri())
        return pairs if quoted in pairs else [*pairs, quoted]

    def substitutions(self) -> list[tuple[str, str]]:
        """(old, new) substrings covering both spellings: plain paths and percent-encoded URIs."""
        pairs = [(self.old + "/", self.new + "/")]
        quoted_old, quoted_new = Path(self.old).as_uri()[len(_FILE):], Path(self.new).as_uri()[len(_FILE):]
        if quoted_old != self.old or quoted_new != self.new:
            pairs.append((quoted_old + "/", quoted_new + "/"))
        return pairs


def find_move(recorded: str, configured: str) -> PathMove | None:
    """How ``recorded`` (a file the store names) moved, given that it now belongs under the
    configured directory: the shortest tail of ``recorded`` that exists under ``configured`` decides
    where the old directory was. None when ``recorded`` lies under ``configured`` already, is not a
    local path, or no tail of it exists there (a layout this check does not know)."""
    path = local_path(recorded)
    if path is None or is_under(path, configured):
        return None
    parts = Path(path).parts
    for cut in range(len(parts) - 1, 0, -1):
        if Path(configured, *parts[cut:]).exists():
            old = str(Path(*parts[:cut]))
            try:
                return PathMove(old=old, new=configured)
            except ValueError:
                return None
    return None

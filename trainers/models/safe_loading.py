"""Check a model directory file by file, by content, before any loader opens it.

An allowlist, not a denylist: every file must be one of the kinds we write, and its bytes must
parse as that kind.

- ``.safetensors``: the whole safetensors layout (u64 header length, a JSON header of tensors
  whose byte ranges tile the rest of the file exactly);
- ``.json``: UTF-8 JSON; ``.yaml``/``.yml``: UTF-8 YAML (safe loader); ``.txt``/``.md``: UTF-8
  text without NUL bytes (tokenizer merges, requirements).

Whatever its name, a file is refused when its bytes are a pickle stream of any protocol (0-5;
protocols 0 and 1 have no header and are plain ASCII, so the opcodes are parsed with
``pickletools.genops``, which reads and never executes) or a zip archive (``torch.save``, ``.npz``).
Symlinks and other non-regular files are refused. Nothing here imports or unpickles anything.
"""

from __future__ import annotations

import io
import json
import pickletools
from collections.abc import Callable
from enum import Enum
from pathlib import Path

import yaml

_ZIP_HEADER = b"PK\x03\x04"
_U64 = 8


class UnsafeArtifactError(ValueError):
    """A model directory holds a file we do not load; the message names each file and why.

    ``details``: the same without the directory (``file: reason; ...``)."""

    def __init__(self, message: str, details: str) -> None:
        super().__init__(message)
        self.details = details


class FileKind(Enum):
    SAFETENSORS = "safetensors"
    JSON = "json"
    YAML = "yaml"
    TEXT = "text"


KIND_BY_SUFFIX: dict[str, FileKind] = {
    ".safetensors": FileKind.SAFETENSORS,
    ".json": FileKind.JSON,
    ".yaml": FileKind.YAML,
    ".yml": FileKind.YAML,
    ".txt": FileKind.TEXT,
    ".md": FileKind.TEXT,
}
"""The kinds of file a model directory we write holds, by name; the content must agree."""


def is_pickle_stream(data: bytes) -> bool:
    """Whether ``data`` starts with a complete pickle stream (any protocol): what ``pickle.loads`` would run."""
    try:
        for opcode, _, _ in pickletools.genops(io.BytesIO(data)):
            if opcode.name == "STOP":
                return True
    except (ValueError, UnicodeDecodeError, OverflowError):
        return False
    return False


def safetensors_problem(data: bytes) -> str | None:
    """Why ``data`` is not a well-formed safetensors file, or None when it is."""
    if len(data) < _U64 + 2:
        return "too short for a safetensors file"
    length = int.from_bytes(data[:_U64], "little")
    if not 2 <= length <= len(data) - _U64:
        return f"safetensors header length {length} does not fit the file ({len(data)} bytes)"
    try:
        header = json.loads(data[_U64 : _U64 + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "safetensors header is not UTF-8 JSON"
    if not isinstance(header, dict):
        return "safetensors header is not a JSON object"
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(entry.get("dtype"), str) and isinstance(entry.get("shape"), list)) or not (
            isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(x, int) for x in offsets) and 0 <= offsets[0] <= offsets[1]
        ):
            return f"safetensors entry {name!r} is not a tensor description"
        end = max(end, offsets[1])
    if _U64 + length + end != len(data):
        return f"safetensors tensors end at byte {_U64 + length + end}, the file has {len(data)}"
    return None


def _text(data: bytes) -> str:
    text = data.decode("utf-8")
    if "\x00" in text:
        raise ValueError("NUL byte")
    return text


_PARSERS: dict[FileKind, Callable[[bytes], object]] = {
    FileKind.JSON: lambda data: json.loads(_text(data)),
    FileKind.YAML: lambda data: yaml.safe_load(_text(data)),
    FileKind.TEXT: _text,
}


def executable_format(data: bytes) -> str | None:
    """What loader would run code from ``data`` (a pickle stream, a zip archive), or None."""
    if data.startswith(_ZIP_HEADER):
        return "a zip archive (torch.save / npz format)"
    if is_pickle_stream(data):
        return "a pickle stream"
    return None


def content_problem(data: bytes, kind: FileKind) -> str | None:
    """Why the bytes ``data`` are not a safe file of ``kind``, or None when they are."""
    if kind is FileKind.SAFETENSORS:
        return "a zip archive (torch.save / npz format)" if data.startswith(_ZIP_HEADER) else safetensors_problem(data)
    found = executable_format(data)
    if found is not None:
        return found
    try:
        _PARSERS[kind](data)
    except (ValueError, yaml.YAMLError) as error:
        return f"not valid {kind.value} ({type(error).__name__})"
    return None


def file_problem(path: Path, kind: FileKind | None = None) -> str | None:
    """Why the file at ``path`` is refused, or None; ``kind`` defaults to the one its suffix names."""
    if path.is_symlink() or not path.is_file():
        return "not a regular file"
    kind = kind or KIND_BY_SUFFIX.get(path.suffix.lower())
    data = path.read_bytes()
    if kind is None:
        return executable_format(data) or f"not one of the expected kinds ({', '.join(sorted(KIND_BY_SUFFIX))})"
    return content_problem(data, kind)


def refusal(root: Path, problems: dict[Path, str]) -> UnsafeArtifactError:
    """One error naming (up to 5 of) the refused files under ``root`` and why."""
    listed = "; ".join(f"{path.relative_to(root).as_posix()}: {why}" for path, why in list(problems.items())[:5])
    more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
    return UnsafeArtifactError(f"refusing to load {root}: {listed}{more}", f"{listed}{more}")


def tree_problems(directory: Path) -> dict[Path, str]:
    """Every refused entry under ``directory`` (recursively, symlinks not followed) and why, sorted by path."""
    problems = {}
    for path in sorted(directory.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        why = file_problem(path)
        if why is not None:
            problems[path] = why
    return problems


def verify_artifact_tree(directory: str | Path) -> None:
    """Raise UnsafeArtifactError unless every file under ``directory`` passes ``file_problem``."""
    root = Path(directory)
    problems = tree_problems(root)
    if problems:
        raise refusal(root, problems)

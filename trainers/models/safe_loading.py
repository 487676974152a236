"""Refuse model directories that carry pickled data before any loader can open them.

Our weights are safetensors and our configs JSON; a pickle (``torch.save`` files, ``.bin``
checkpoints, ``joblib``/``cloudpickle`` dumps) runs arbitrary code when it is loaded. A file is
refused when its name ends in a pickle-format extension, or when its first bytes are a pickle
protocol 2-5 header (``0x80 <2..5>``) or a zip local-file header (``torch.save``'s archive format
and ``.npz``), whatever it is called. A ``.safetensors`` file is accepted only when it starts with a
safetensors header (little-endian u64 length, then ``{``): its length bytes may look like a pickle's.
"""

from __future__ import annotations

from pathlib import Path

PICKLE_SUFFIXES: tuple[str, ...] = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".npz")
"""Extensions of formats that are (or may contain) pickles."""

_ZIP_HEADER = b"PK\x03\x04"
_HEADER_BYTES = 9


class UnsafeArtifactError(ValueError):
    """A model directory holds pickled data; the message names the files."""


def is_pickle_header(head: bytes) -> bool:
    """Whether the first bytes of a file are a pickle (protocol 2-5) or a zip (``torch.save``) header."""
    pickled = len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5
    return pickled or head.startswith(_ZIP_HEADER)


def is_safetensors_header(head: bytes) -> bool:
    """Whether the first 9 bytes are a safetensors header: a plausible u64 JSON length, then ``{``."""
    return len(head) >= 9 and 2 <= int.from_bytes(head[:8], "little") < 1 << 32 and head[8:9] == b"{"


def _is_pickled(path: Path) -> bool:
    if path.name.lower().endswith(PICKLE_SUFFIXES):
        return True
    with path.open("rb") as handle:
        head = handle.read(_HEADER_BYTES)
    if path.name.lower().endswith(".safetensors"):
        return not is_safetensors_header(head)
    return is_pickle_header(head)


def pickle_files(directory: str | Path) -> list[Path]:
    """Every file under ``directory`` (recursively) that is or may be a pickle, sorted."""
    return [path for path in sorted(Path(directory).rglob("*")) if path.is_file() and _is_pickled(path)]


def assert_no_pickles(directory: str | Path) -> None:
    """Raise UnsafeArtifactError naming every pickle-format file under ``directory``."""
    root = Path(directory)
    found = pickle_files(root)
    if found:
        names = ", ".join(str(path.relative_to(root)) for path in found[:10])
        more = f" (+{len(found) - 10} more)" if len(found) > 10 else ""
        raise UnsafeArtifactError(
            f"refusing to load {root}: it contains pickle-format files ({names}{more}); "
            "only safetensors weights and JSON/text configs are accepted"
        )

"""A benchmark set as evaluation inputs: real LR/HR pairs, or HRs whose LRs the degradation makes.

Sources are anything ``mmsr preprocess`` reads (a folder, a glob, an fsspec URL, a manifest:
``pipelines.sources``), and every file is decoded as preprocess decodes it
(``pipelines.image_decoding``: gray, 16-bit and alpha images become 8-bit RGB).

- :func:`pair_set` (``--pairs LR HR``, RealSR, DRealSR): LR and HR files are matched by
  :func:`pair_key`, the file stem without a trailing scale or role marker (``0801x4`` and ``0801``,
  ``Canon_001_LR4`` and ``Canon_001_HR``, ``DSC_1454_x4`` and ``DSC_1454_x1``); each HR must be
  exactly ``scale`` x its LR, else :class:`BenchmarkSetError` names the pair.
- :func:`synthetic_set` (``--hr HR``, DIV2K-Val): each HR is cropped to a multiple of the scale
  (BasicSR's ``mod_crop``) and degraded by ``pipelines.degradation`` with a generator derived from
  the file's SHA-256 and a seed, so one set and one seed give byte-identical LRs in any process.

``center_crop`` N keeps the centred N x N HR (N a multiple of the scale) and the LR region under it.
A set's :attr:`BenchmarkSet.content_hash` is the SHA-256 of its files' names and contents.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from pipelines.degradation import DegradationConfig, degrade, derive_rng
from pipelines.image_decoding import ImageDecodeError, content_sha256, decode_image
from pipelines.sources import expand_sources, read_image_source, resolve_spec

SetKind = Literal["pairs", "synthetic"]
_MARKER = re.compile(r"(?i)(?:[_-]?(?:lr|hr|gt)\d*|[_-]?x\d+)$")


class BenchmarkSetError(ValueError):
    """A set that cannot be scored as given (unmatched files, a pair off the scale, a bad crop)."""


@dataclass(frozen=True)
class SetImage:
    name: str
    """The model input's file stem (the LR's for pairs, the HR's for a synthetic set)."""
    lr: np.ndarray
    """(h, w, 3) uint8 RGB."""
    hr: np.ndarray
    """(h * scale, w * scale, 3) uint8 RGB."""


@dataclass(frozen=True)
class BenchmarkSet:
    name: str
    kind: SetKind
    content_hash: str
    """SHA-256 of every file's stem and SHA-256 (both sides for pairs)."""
    images: tuple[SetImage, ...]
    seed: int | None = None
    """The degradation seed of a synthetic set."""


def pair_key(stem: str) -> str:
    """``stem`` without one trailing scale or role marker (``x4``, ``_LR4``, ``_HR``, ``_x1``, ``-gt``)."""
    return _MARKER.sub("", stem) or stem


def set_name(source: str) -> str:
    """The last folder name of a source spec (``data/DIV2K_valid_HR/*.png`` -> ``DIV2K_valid_HR``)."""
    root = resolve_spec(source).root.rstrip("/")
    return posixpath.basename(root) or root


def _stem(uri: str) -> str:
    return posixpath.splitext(posixpath.basename(uri))[0]


def _files_by_key(source: str, key: bool) -> dict[str, str]:
    files: dict[str, str] = {}
    for uri in expand_sources(source):
        name = pair_key(_stem(uri)) if key else _stem(uri)
        if name in files:
            raise BenchmarkSetError(f"{source}: {files[name]} and {uri} both match the name '{name}'")
        files[name] = uri
    return files


def _read(uri: str) -> tuple[bytes, np.ndarray]:
    try:
        data = read_image_source(uri)
        return data, decode_image(data)
    except ImageDecodeError as error:
        raise BenchmarkSetError(f"{uri}: {error}") from None


def _center_crop(lr: np.ndarray, hr: np.ndarray, size: int, scale: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    if size % scale:
        raise BenchmarkSetError(f"--center-crop {size} is not a multiple of the scale {scale}")
    lr_size = size // scale
    if min(lr.shape[:2]) < lr_size:
        raise BenchmarkSetError(f"{name}: LR {lr.shape[1]}x{lr.shape[0]} is smaller than the crop's {lr_size}x{lr_size}")
    top, left = (lr.shape[0] - lr_size) // 2, (lr.shape[1] - lr_size) // 2
    lr_crop = lr[top:top + lr_size, left:left + lr_size]
    hr_crop = hr[top * scale:(top + lr_size) * scale, left * scale:(left + lr_size) * scale]
    return np.ascontiguousarray(lr_crop), np.ascontiguousarray(hr_crop)


def _hash(records: list[list[str]]) -> str:
    return hashlib.sha256(json.dumps(sorted(records)).encode()).hexdigest()


def pair_set(lr_source: str, hr_source: str, scale: int, center_crop: int | None = None) -> BenchmarkSet:
    """Every LR of ``lr_source`` with the HR of ``hr_source`` of the same :func:`pair_key`."""
    lrs, hrs = _files_by_key(lr_source, key=True), _files_by_key(hr_source, key=True)
    unmatched = sorted(set(lrs) ^ set(hrs))
    if unmatched:
        listed = ", ".join(lrs.get(key) or hrs[key] for key in unmatched[:3])
        raise BenchmarkSetError(f"{len(unmatched)} file(s) have no pair by name (e.g. {listed})")
    images, records = [], []
    for key in sorted(lrs):
        (lr_bytes, lr), (hr_bytes, hr) = _read(lrs[key]), _read(hrs[key])
        expected = (lr.shape[0] * scale, lr.shape[1] * scale)
        if hr.shape[:2] != expected:
            raise BenchmarkSetError(
                f"pair {lrs[key]} / {hrs[key]}: HR is {hr.shape[1]}x{hr.shape[0]}, x{scale} of the "
                f"{lr.shape[1]}x{lr.shape[0]} LR is {expected[1]}x{expected[0]}"
            )
        name = _stem(lrs[key])
        if center_crop is not None:
            lr, hr = _center_crop(lr, hr, center_crop, scale, name)
        images.append(SetImage(name, lr, hr))
        records.append([name, content_sha256(lr_bytes), _stem(hrs[key]), content_sha256(hr_bytes)])
    return BenchmarkSet(set_name(hr_source), "pairs", _hash(records), tuple(images))


def mod_crop(hr: np.ndarray, scale: int) -> np.ndarray:
    """``hr`` cropped (bottom and right) to a multiple of ``scale`` on both sides."""
    return hr[: hr.shape[0] - hr.shape[0] % scale, : hr.shape[1] - hr.shape[1] % scale]


def synthetic_lr(hr: np.ndarray, source_sha256: str, degradation: DegradationConfig, seed: int) -> np.ndarray:
    """The LR of ``hr`` (sides multiples of the scale) made by the degradation with the generator of
    (``source_sha256``, ``seed``): the same file and seed give the same bytes in any process."""
    return degrade(hr, degradation, derive_rng(f"eval:{source_sha256}", seed)).lr


def synthetic_set(
    hr_source: str, degradation: DegradationConfig, seed: int, scale: int, center_crop: int | None = None
) -> BenchmarkSet:
    """Every HR of ``hr_source`` with the LR the degradation makes of it (after the crop), for a
    model of ``scale`` (it must be the degradation's)."""
    if scale != degradation.scale:
        raise BenchmarkSetError(f"the model is x{scale} but the degradation's scale is {degradation.scale}")
    images, records = [], []
    for name, uri in sorted(_files_by_key(hr_source, key=False).items()):
        data, hr = _read(uri)
        digest = content_sha256(data)
        hr = mod_crop(hr, scale)
        if center_crop is not None:
            _, hr = _center_crop(hr[::scale, ::scale], hr, center_crop, scale, name)
        images.append(SetImage(name, synthetic_lr(np.ascontiguousarray(hr), digest, degradation, seed), hr))
        records.append([name, digest])
    return BenchmarkSet(set_name(hr_source), "synthetic", _hash(records), tuple(images), seed)

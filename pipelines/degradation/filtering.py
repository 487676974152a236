"""Fast 2D filtering with BasicSR ``filter2D`` semantics (reflect-101 border, correlation).

BasicSR pads with ``F.pad(mode="reflect")`` (the edge pixel is not repeated, OpenCV's
``BORDER_REFLECT_101``) and applies ``conv2d`` (a correlation), which is exactly
``cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT_101)``. Real-ESRGAN's kernels are up
to 21x21 and mostly smooth, so instead of one dense 441-tap pass this module picks the cheapest of

* trimming border rings whose total weight is negligible (a sigma=1 Gaussian needs 11x11, not 21x21),
* a sum of separable row + column passes from the kernel's SVD (an isotropic Gaussian is rank 1;
  one 21-tap term costs about as much as 55 dense taps),
* a dense pass, split into row bands so OpenCV keeps its direct path instead of a DFT,

while keeping the result within ``tolerance`` of the exact filter for inputs in [0, 1]
(``|sum(dK * x)| <= sum|dK|``): a 1e-5 default is 0.0026 grey levels on the 0..255 scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FILTER_TOLERANCE = 1e-5
"""Default bound on ``sum |kernel - kernel actually applied|``."""

_DIRECT_AREA_LIMIT = 130
"""OpenCV's float32 ``filter2D`` switches to a DFT at this kernel area; dense bands stay below it."""
_SEPARABLE_COST_PER_TAP = 2.2
"""Cost of a separable term (a 1 x k and a k x 1 ``filter2D`` pass) per tap, in dense-tap units."""
_PASS_OVERHEAD = 4.0
"""Fixed cost of one OpenCV pass, or of accumulating a partial result, in dense-tap units."""
_BORDER = cv2.BORDER_REFLECT_101


@dataclass(frozen=True)
class SeparableTerm:
    """``column @ row``: one rank-1 piece of a kernel; column (k, 1) and row (1, k) float32."""

    column: np.ndarray
    row: np.ndarray


def trim_kernel(kernel: np.ndarray, tolerance: float) -> np.ndarray:
    """Smallest centred odd crop of ``kernel`` (k, k) whose dropped taps weigh at most ``tolerance``."""
    size = kernel.shape[0]
    half = size // 2
    absolute = np.abs(kernel)
    total = float(absolute.sum())
    for radius in range(half + 1):
        inner = absolute[half - radius : half + radius + 1, half - radius : half + radius + 1]
        if total - float(inner.sum()) <= tolerance:
            return kernel[half - radius : half + radius + 1, half - radius : half + radius + 1]
    return kernel


def separable_terms(kernel: np.ndarray, tolerance: float, max_terms: int) -> list[SeparableTerm] | None:
    """Fewest SVD terms (at most ``max_terms``) whose sum is within ``tolerance`` (L1) of ``kernel``.

    Returns ``None`` when ``max_terms`` terms are not enough.
    """
    u, s, vt = np.linalg.svd(kernel.astype(np.float64))
    approximation = np.zeros_like(kernel, dtype=np.float64)
    terms: list[SeparableTerm] = []
    for index in range(min(max_terms, len(s))):
        column, row = u[:, index] * s[index], vt[index]
        approximation += np.outer(column, row)
        terms.append(SeparableTerm(column.astype(np.float32)[:, None], row.astype(np.float32)[None, :]))
        if float(np.abs(kernel - approximation).sum()) <= tolerance:
            return terms
    return None


def _dense_cost(size: int) -> float:
    bands = -(-size // max(1, (_DIRECT_AREA_LIMIT - 1) // size)) if size * size >= _DIRECT_AREA_LIMIT else 1
    return size * size + (bands - 1) * _PASS_OVERHEAD


def _separable_cost(size: int, terms: int) -> float:
    return terms * (_SEPARABLE_COST_PER_TAP * size + 3 * _PASS_OVERHEAD) - _PASS_OVERHEAD


def filter2d(image: np.ndarray, kernel: np.ndarray, tolerance: float = FILTER_TOLERANCE) -> np.ndarray:
    """Correlate every channel of ``image`` with ``kernel`` using a reflect-101 border.

    Args:
        image: (H, W, C) or (H, W) float32.
        kernel: (k, k) float, k odd.
        tolerance: bound on the L1 distance between ``kernel`` and what is applied.

    Returns:
        Array of the shape and dtype (float32) of ``image``.
    """
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
        raise ValueError(f"kernel must be square with an odd side, got shape {kernel.shape}")
    kernel = trim_kernel(kernel, tolerance / 2)
    size = kernel.shape[0]
    if size == 1:
        return image * np.float32(kernel[0, 0])
    dense = _dense_cost(size)
    max_terms = 0
    while _separable_cost(size, max_terms + 1) < dense:
        max_terms += 1
    terms = separable_terms(kernel, tolerance / 2, max_terms) if max_terms >= 1 else None
    if terms is not None:
        return _apply_separable(image, terms).reshape(image.shape)
    return _apply_dense(image, kernel.astype(np.float32)).reshape(image.shape)


def _apply_separable(image: np.ndarray, terms: list[SeparableTerm]) -> np.ndarray:
    """Sum of row-then-column passes (two ``filter2D`` calls beat one ``sepFilter2D`` on float32)."""
    first, *rest = terms
    rows = cv2.filter2D(image, -1, first.row, borderType=_BORDER)
    output = cv2.filter2D(rows, -1, first.column, borderType=_BORDER)
    part = None
    for term in rest:
        cv2.filter2D(image, -1, term.row, dst=rows, borderType=_BORDER)
        part = cv2.filter2D(rows, -1, term.column, dst=part, borderType=_BORDER)
        cv2.add(output, part, dst=output)
    return output


def _apply_dense(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Dense correlation; kernels of area >= the DFT limit run as row bands on a padded copy."""
    size = kernel.shape[0]
    if size * size < _DIRECT_AREA_LIMIT:
        return cv2.filter2D(image, -1, kernel, borderType=_BORDER)
    half = size // 2
    height, width = image.shape[:2]
    padded = cv2.copyMakeBorder(image, half, half, half, half, _BORDER)
    rows_per_band = max(1, (_DIRECT_AREA_LIMIT - 1) // size)
    output = np.zeros((height, width, *padded.shape[2:]), dtype=np.float32)
    for top in range(0, size, rows_per_band):
        band = kernel[top : top + rows_per_band]
        source = padded[top : top + height + band.shape[0] - 1]
        part = cv2.filter2D(source, -1, band, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
        output += part[:height, :width]
    return output

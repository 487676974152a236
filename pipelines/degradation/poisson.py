"""Fast exact Poisson draws for 8-bit images (Real-ESRGAN's shot noise).

Real-ESRGAN draws ``Poisson(level * vals / 255)`` per pixel and channel, where ``level`` is the
8-bit value and ``vals`` a power of two <= 256, so a table per ``vals`` covers every rate. NumPy's
per-element sampler costs ~40 ns a draw; inverting the CDF through a guide table costs a few
vectorised passes:

* ``cdf[level, x]`` is the Poisson CDF at ``x`` (the tail past the support is below 1e-20);
* the unit interval is cut into ``GUIDE_CELLS`` cells; ``first[level, j]`` is the smallest ``x``
  with ``cdf >= j / GUIDE_CELLS``. A uniform ``u`` in a cell that no CDF step crosses (about 98%
  of draws) maps straight to its sample; the others binary-search the CDF between
  ``first[level, j]`` and ``first[level, j + 1]``.

Each sample is ``min{x : cdf(x) >= u}``, an exact inverse-transform draw; ``u`` has 32 random
bits, which moves any probability by at most 2^-32. Tables depend only on ``vals`` and are
memoised (a pure function of its argument; at most 9 distinct values ever occur).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import special

GUIDE_BITS = 12
GUIDE_CELLS = 1 << GUIDE_BITS
"""A power of two, so ``u * GUIDE_CELLS`` and ``cdf * GUIDE_CELLS`` are exact in floating point."""
_LEVELS = 256


@dataclass(frozen=True)
class PoissonTable:
    """Inverse-CDF tables of the rates ``level * vals / 255`` for the 256 levels (read-only)."""

    cdf: np.ndarray
    """(256, support) float64 CDFs; the last column is exactly 1."""
    first: np.ndarray
    """(256 * (GUIDE_CELLS + 1),) int16: ``#{x : cdf[level, x] < j / GUIDE_CELLS}`` for j = 0..GUIDE_CELLS."""
    guide: np.ndarray
    """(256 * (GUIDE_CELLS + 1),) int16: ``first``, bit-inverted (< 0) in cells a CDF step crosses."""


def _cdf_rows(rates: np.ndarray) -> np.ndarray:
    """(R, support) float64 Poisson CDFs of ``rates`` (R,), monotone, last column exactly 1."""
    peak = float(rates.max(initial=0.0))
    support = int(peak + 12.0 * np.sqrt(peak) + 24.0)
    counts = np.arange(support, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_pmf = counts[None, :] * np.log(rates)[:, None] - rates[:, None] - special.gammaln(counts + 1.0)[None, :]
    pmf = np.exp(log_pmf)
    pmf[rates == 0.0] = np.eye(1, support)[0]  # Poisson(0) is always 0
    cdf = np.minimum(np.cumsum(pmf, axis=1), 1.0)
    cdf[:, -1] = 1.0
    return cdf


@functools.lru_cache(maxsize=16)
def level_table(vals: int) -> PoissonTable:
    """Tables for ``Poisson(level * vals / 255)``, level = 0..255 (memoised per ``vals``)."""
    if vals < 1:
        raise ValueError(f"vals must be >= 1, got {vals}")
    cdf = _cdf_rows(np.arange(_LEVELS, dtype=np.float64) * (vals / 255.0))
    cells = (cdf * GUIDE_CELLS).astype(np.int64)  # exact: GUIDE_CELLS is a power of two
    offsets = np.arange(_LEVELS, dtype=np.int64)[:, None] * (GUIDE_CELLS + 1)
    hist = np.bincount((offsets + cells).ravel(), minlength=_LEVELS * (GUIDE_CELLS + 1))
    hist = hist.reshape(_LEVELS, GUIDE_CELLS + 1)  # CDF steps landing in each cell (last: cdf == 1)
    first = np.zeros_like(hist)
    np.cumsum(hist[:, :-1], axis=1, out=first[:, 1:])
    crossed = np.zeros_like(hist, dtype=bool)
    crossed[:, :-1] = hist[:, :-1] > 0
    tables = (cdf, first.astype(np.int16).ravel(), np.where(crossed, ~first, first).astype(np.int16).ravel())
    for table in tables:
        table.flags.writeable = False
    return PoissonTable(*tables)


def draw_poisson_levels(levels: np.ndarray, vals: int, rng: np.random.Generator) -> np.ndarray:
    """One ``Poisson(level * vals / 255)`` draw per uint8 entry of ``levels`` -> int16, same shape."""
    table = level_table(vals)
    flat = levels.ravel()
    bits = rng.integers(0, 1 << 32, size=flat.size, dtype=np.uint32)
    index = flat.astype(np.uint32)
    index <<= GUIDE_BITS
    index |= bits >> (32 - GUIDE_BITS)
    index += flat  # rows are GUIDE_CELLS + 1 wide
    samples = table.guide.take(index)
    crossed = np.flatnonzero(samples < 0)
    if crossed.size:
        upper = table.first.take(index[crossed] + 1)
        samples[crossed] = _search(table.cdf, flat[crossed], ~samples[crossed], upper, bits[crossed])
    return samples.reshape(levels.shape)


def _search(cdf: np.ndarray, levels: np.ndarray, low: np.ndarray, high: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Smallest ``x`` in ``[low, high]`` with ``cdf[level, x] >= u = (bits + 0.5) / 2^32`` (vectorised bisection).

    ``cdf[level, high] >= u`` holds by construction of the guide, so the answer is in range.
    """
    low, high = low.astype(np.int64), high.astype(np.int64)
    base = levels.astype(np.int64) * cdf.shape[1]
    target = (bits.astype(np.float64) + 0.5) * 2.0**-32
    flat_cdf = cdf.ravel()
    for _ in range(int(high.max() - low.min()).bit_length()):
        middle = (low + high) >> 1
        below = flat_cdf.take(base + middle) < target
        low = np.where(below, middle + 1, low)
        high = np.where(below, high, middle)
    return low.astype(np.int16)

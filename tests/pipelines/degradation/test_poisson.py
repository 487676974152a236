from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pipelines.degradation.poisson import draw_poisson_levels, level_table


@pytest.mark.parametrize(("level", "vals"), [(0, 256), (1, 256), (37, 256), (255, 256), (200, 8)])
def test_draws_follow_the_poisson_law(level: int, vals: int) -> None:
    rate = level * vals / 255
    draws = draw_poisson_levels(np.full(200_000, level, np.uint8), vals, np.random.default_rng(level)).astype(np.int64)
    if rate == 0:
        assert not draws.any()
        return
    assert draws.mean() == pytest.approx(rate, abs=4 * np.sqrt(rate / draws.size) + 1e-3)
    assert draws.var() == pytest.approx(rate, rel=0.03)
    support = np.arange(int(rate + 8 * np.sqrt(rate) + 8))
    expected = stats.poisson.pmf(support, rate) * draws.size
    observed = np.bincount(draws, minlength=support.size)[: support.size]
    keep = expected > 10
    chi2 = float(((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum())
    assert stats.chi2.sf(chi2, max(1, int(keep.sum()) - 1)) > 1e-4


def test_shape_dtype_and_determinism() -> None:
    levels = np.random.default_rng(0).integers(0, 256, (33, 17, 3), dtype=np.uint8)
    first = draw_poisson_levels(levels, 256, np.random.default_rng(9))
    assert first.shape == levels.shape and first.dtype == np.int16
    np.testing.assert_array_equal(first, draw_poisson_levels(levels, 256, np.random.default_rng(9)))
    assert not np.array_equal(first, draw_poisson_levels(levels, 256, np.random.default_rng(10)))


def test_tables_are_memoised_and_read_only() -> None:
    table = level_table(64)
    assert level_table(64) is table
    assert not table.guide.flags.writeable and not table.cdf.flags.writeable
    assert (table.cdf[:, -1] == 1.0).all() and (np.diff(table.cdf, axis=1) >= 0).all()

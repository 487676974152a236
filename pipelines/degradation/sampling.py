"""Small draws shared by the degradation stages, all from an explicit ``np.random.Generator``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def weighted_index(probs: Sequence[float], rng: np.random.Generator) -> int:
    """Index ``i`` drawn with probability ``probs[i] / sum(probs)`` (like ``random.choices``)."""
    weights = np.asarray(probs, dtype=np.float64)
    return int(rng.choice(len(weights), p=weights / weights.sum()))


def uniform_index(count: int, rng: np.random.Generator) -> int:
    """Index drawn uniformly from ``range(count)`` (like ``random.choice``)."""
    return int(rng.integers(0, count))

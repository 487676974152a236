from __future__ import annotations

import numpy as np

from pipelines.degradation import derive_rng


def test_same_key_and_seed_give_the_same_stream() -> None:
    assert (
        derive_rng("img-1", 3).integers(0, 2**63, 4).tolist() == derive_rng("img-1", 3).integers(0, 2**63, 4).tolist()
    )


def test_key_and_seed_both_change_the_stream() -> None:
    draws = {tuple(derive_rng(key, seed).integers(0, 2**63, 2)) for key in ("a", "b", "a1") for seed in (0, 1, 10)}
    assert len(draws) == 9


def test_stream_is_pinned_across_releases() -> None:
    # Changing derive_rng silently re-degrades every stored sample; this value must only change on purpose.
    rng = derive_rng("x", 0)
    assert isinstance(rng, np.random.Generator)
    assert rng.integers(0, 1000, 3).tolist() == [348, 622, 310]

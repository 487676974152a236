"""Per-sample random generators derived from a stable hash of (sample key, seed)."""

from __future__ import annotations

import hashlib
import json

import numpy as np


def derive_rng(sample_key: str, seed: int) -> np.random.Generator:
    """Generator seeded by SHA-256 of ``[sample_key, seed]``: same inputs, same stream, any process."""
    digest = hashlib.sha256(json.dumps([sample_key, int(seed)]).encode("utf-8")).digest()
    entropy = int.from_bytes(digest, "little")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))

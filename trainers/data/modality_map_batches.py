"""Decode the feature store's modality-map PNGs into VQ tokenizer inputs. Pure functions.

The samples table stores each spatial modality's map as a gray PNG (``pipelines.feature_rows``):
depth as 16-bit relative depth, segmentation as 8/16-bit class ids, edges as 8-bit 0/255; a
column is null where the modality is absent. Training the VQ tokenizer sees every present map as
one image, rendered exactly as at tokenization time (``render_modality_map``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from featurestore.modality import VQ_INPUT_SIZE, Modality
from pipelines.modality_codes import render_modality_map
from pipelines.modality_map_png import decode_modality_png


def render_map_batch(batch: dict[str, np.ndarray], modalities: Sequence[Modality]) -> dict[str, np.ndarray]:
    """A numpy batch of B sample rows (``<modality>_png`` object columns) -> one row per present map.

    Returns ``image`` (N, 256, 256, 3) uint8, each map rendered for the VQ tokenizer, and
    ``modality`` (N,) str (the modality's value), rows in order, modalities in the given order
    within a row; null maps are skipped, so N <= B * len(modalities).
    """
    images: list[np.ndarray] = []
    names: list[str] = []
    rows = len(next(iter(batch.values()))) if batch else 0
    for row in range(rows):
        for modality in modalities:
            blob = batch[modality.map_column][row]
            if blob is None:
                continue
            images.append(render_modality_map(decode_modality_png(blob, modality), modality))
            names.append(modality.value)
    if not images:
        return {"image": np.zeros((0, VQ_INPUT_SIZE, VQ_INPUT_SIZE, 3), dtype=np.uint8), "modality": np.array([], dtype=str)}
    return {"image": np.stack(images), "modality": np.array(names)}

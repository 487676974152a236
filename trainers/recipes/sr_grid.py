"""The SR grid training logs: LR | SR | HR of a few fixed eval rows (``train.image_every``).

Drawn with the contact-sheet layout of :mod:`featurestore.contact_sheet` (LR enlarged
nearest-neighbour to the HR size, the sample id and step under each row). Also reads the fixed
rows on the driver, so every worker gets the same ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from pyiceberg.expressions import In

from featurestore.config import FeatureStoreConfig
from featurestore.contact_sheet import SheetRow, render_sheet
from featurestore.readers import read_arrow
from trainers.data.feature_batches import TRAINING_COLUMNS, decode_feature_batch

GRID_HEADERS = ("LR (nearest)", "SR (EMA)", "HR")


def grid_rows_batch(store: FeatureStoreConfig, snapshot_id: int, rows: int) -> dict[str, np.ndarray] | None:
    """The first ``rows`` eval rows of the snapshot by sample id (train rows when it has no eval
    split), decoded as ``decode_feature_batch`` does; None for an empty snapshot."""
    ids = read_arrow(store, snapshot_id, ["sample_id", "split"]).to_pylist()
    eval_ids = sorted(row["sample_id"] for row in ids if row["split"] == "eval")
    chosen = (eval_ids or sorted(row["sample_id"] for row in ids))[:rows]
    if not chosen:
        return None
    table = read_arrow(store, snapshot_id, list(TRAINING_COLUMNS), In("sample_id", chosen)).sort_by("sample_id")
    return decode_feature_batch({name: table.column(name).to_numpy(zero_copy_only=False) for name in TRAINING_COLUMNS})


def to_uint8_images(pixels: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [-1, 1] (clipped) -> (B, H, W, 3) uint8."""
    scaled = ((pixels.detach().float().cpu() + 1.0) * 127.5).clamp(0.0, 255.0).round()
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).numpy()


def sr_grid(lr: np.ndarray, sr: np.ndarray, hr: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """(B, h, w, 3) LR, (B, H, W, 3) SR and HR uint8 -> one RGB uint8 image, a row per sample."""
    if not (len(lr) == len(sr) == len(hr) == len(labels)):
        raise ValueError(f"sr_grid needs as many LR, SR, HR and labels, got {len(lr)}, {len(sr)}, {len(hr)}, {len(labels)}")
    rows = [SheetRow((low, out, high), label) for low, out, high, label in zip(lr, sr, hr, labels)]
    return np.asarray(render_sheet(GRID_HEADERS, rows, int(hr.shape[1])))

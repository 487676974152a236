"""Decode feature-store rows (Ray Data numpy batches) into training arrays. Pure functions."""

from __future__ import annotations

import cv2
import numpy as np

from featurestore.modality import CAPTION_TOKENS, VQ_TOKENS, Modality

TRAINING_COLUMNS: tuple[str, ...] = ("hr_png", "lr_png") + tuple(m.tokens_column for m in Modality)


def decode_png_batch(blobs: np.ndarray) -> np.ndarray:
    """Object array of B PNG/JPEG blobs -> (B, 3, H, W) float32 in [-1, 1] (RGB)."""
    images = []
    for blob in blobs:
        bgr = cv2.imdecode(np.frombuffer(blob, dtype=np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError("a feature-store image could not be decoded (run `mmsr features validate`)")
        images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    stacked = np.stack(images).astype(np.float32).transpose(0, 3, 1, 2)
    return stacked / 127.5 - 1.0


def token_batch(column: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Object array of B token lists (or None) -> ((B, length) int64 tokens, (B,) bool present)."""
    tokens = np.zeros((len(column), length), dtype=np.int64)
    present = np.zeros(len(column), dtype=bool)
    for row, value in enumerate(column):
        if value is None:
            continue
        values = np.asarray(value, dtype=np.int64)
        if values.shape != (length,):
            raise ValueError(f"expected {length} tokens per row, got shape {values.shape}")
        tokens[row] = values
        present[row] = True
    return tokens, present


def decode_feature_batch(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Ray Data numpy batch of TRAINING_COLUMNS -> arrays the training step consumes.

    Returns ``hr`` (B,3,H,W), ``lr`` (B,3,h,w) float32 in [-1,1], and per modality
    ``<modality>_tokens`` (B,256 or 77) int64 plus ``<modality>_present`` (B,) bool.
    """
    out = {"hr": decode_png_batch(batch["hr_png"]), "lr": decode_png_batch(batch["lr_png"])}
    for modality in Modality:
        length = CAPTION_TOKENS if modality is Modality.CAPTION else VQ_TOKENS
        column = batch.get(modality.tokens_column)
        if column is None:
            column = np.full(len(out["hr"]), None, dtype=object)
        tokens, present = token_batch(column, length)
        out[f"{modality.value}_tokens"] = tokens
        out[f"{modality.value}_present"] = present
    return out

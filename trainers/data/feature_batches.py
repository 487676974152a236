"""Decode feature-store rows (Ray Data numpy batches) into training arrays. Pure functions."""

from __future__ import annotations

import cv2
import numpy as np

from featurestore.modality import CAPTION_TOKENS, VQ_TOKENS, Modality

TRAINING_COLUMNS: tuple[str, ...] = ("sample_id", "hr_png", "lr_png") + tuple(m.tokens_column for m in Modality)
HR_ONLY_COLUMNS: tuple[str, ...] = tuple(column for column in TRAINING_COLUMNS if column != "lr_png")
"""What training reads when it draws its LRs itself (``train.degradation: on_the_fly``)."""


def decode_png_batch(blobs: np.ndarray) -> np.ndarray:
    """Object array of B PNG/JPEG blobs (equal sizes) -> (B, 3, H, W) uint8 RGB.

    Stays uint8 on purpose: a quarter of float32's bytes through Ray's object store and into the
    training process; :func:`pipelines.pixel_range.to_model_range` scales on the training device.
    """
    images = []
    for blob in blobs:
        bgr = cv2.imdecode(np.frombuffer(blob, dtype=np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError("a feature-store image could not be decoded (run `mmsr features validate`)")
        images.append(bgr)
    return np.ascontiguousarray(np.stack(images)[..., ::-1].transpose(0, 3, 1, 2))  # BGR -> RGB, channels first


def token_batch(column: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """B token lists (object array of arrays/None, or a (B, length) matrix) -> ((B, length) int64, (B,) bool present)."""
    if column.ndim == 2:
        if column.shape[1] != length:
            raise ValueError(f"expected {length} tokens per row, got shape {column.shape[1:]}")
        return column.astype(np.int64), np.ones(len(column), dtype=bool)
    present = np.fromiter((value is not None for value in column), dtype=bool, count=len(column))
    tokens = np.zeros((len(column), length), dtype=np.int64)
    rows = [np.asarray(value, dtype=np.int64) for value in column[present]]
    wrong = next((values.shape for values in rows if values.shape != (length,)), None)
    if wrong is not None:
        raise ValueError(f"expected {length} tokens per row, got shape {wrong}")
    if rows:
        tokens[present] = np.stack(rows)
    return tokens, present


def decode_feature_batch(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Ray Data numpy batch of TRAINING_COLUMNS -> arrays the training step consumes.

    Returns ``hr`` (B,3,H,W), ``lr`` (B,3,h,w) uint8 RGB (no ``lr`` without ``lr_png``), per modality ``<modality>_tokens``
    (B,256 or 77) int64 plus ``<modality>_present`` (B,) bool, and ``sample_id`` (B,) str when the
    batch has it (it keys ``trainers.data.encoding_cache``).
    """
    out = {"hr": decode_png_batch(batch["hr_png"])}
    if "lr_png" in batch:
        out["lr"] = decode_png_batch(batch["lr_png"])
    if "sample_id" in batch:
        out["sample_id"] = np.asarray(batch["sample_id"], dtype=str)
    for modality in Modality:
        length = CAPTION_TOKENS if modality is Modality.CAPTION else VQ_TOKENS
        column = batch.get(modality.tokens_column)
        if column is None:
            column = np.full(len(out["hr"]), None, dtype=object)
        tokens, present = token_batch(column, length)
        out[f"{modality.value}_tokens"] = tokens
        out[f"{modality.value}_present"] = present
    return out

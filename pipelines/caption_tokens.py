"""Captions -> CLIP token ids, the form the feature store keeps them in (the text encoder that
reads them is :mod:`trainers.models.text_encoder`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from transformers import CLIPTokenizer

from featurestore.modality import CAPTION_TOKENS


def tokenize_captions(tokenizer: CLIPTokenizer, captions: Sequence[str]) -> np.ndarray:
    """B captions -> (B, 77) int32 token ids (BOS ... EOS, padded and truncated to 77)."""
    encoded = tokenizer(
        list(captions), padding="max_length", max_length=CAPTION_TOKENS, truncation=True, return_tensors="np"
    )
    return encoded["input_ids"].astype(np.int32)

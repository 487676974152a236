"""Captions from a vision-language model (any transformers image-to-text checkpoint: BLIP, GIT, ...).

The paper captions with a VLM; :class:`Captioner` is the :class:`~pipelines.modalities.captions.CaptionModel`
behind ``from_pretrained`` on a hub id (with a revision) or a local folder, safetensors only.
Decoding is greedy, so a caption depends only on the image and the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import (
    AutoModelForImageTextToText,
    AutoProcessor,
    BertTokenizer,
    BlipConfig,
    BlipForConditionalGeneration,
    BlipImageProcessorPil,
    BlipProcessor,
)

DEFAULT_CAPTION_MODEL = "Salesforce/blip-image-captioning-base"
DEFAULT_MAX_TOKENS = 30


class Captioner:
    """An image-to-text model and its processor, loaded once, captioning numpy images in batches."""

    def __init__(
        self, model_id: str = DEFAULT_CAPTION_MODEL, revision: str | None = None, device: str = "cpu",
        max_new_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        self.device = torch.device(device)
        self.max_new_tokens = max_new_tokens
        self.model_version = f"{model_id}@{revision or 'unpinned'}"
        self.processor = AutoProcessor.from_pretrained(model_id, revision=revision)
        model = AutoModelForImageTextToText.from_pretrained(model_id, revision=revision, use_safetensors=True)
        self.model = model.to(self.device).eval()

    @torch.inference_mode()
    def caption(self, images: Sequence[np.ndarray]) -> list[str]:
        """(H, W, 3) uint8 RGB images (any sizes: the processor resizes) -> one caption each, in order."""
        if not images:
            return []
        inputs = self.processor(images=list(images), return_tensors="pt").to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        ids = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        return [text.strip() for text in self.processor.batch_decode(ids, skip_special_tokens=True)]


_TINY_WORDS = (
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]",
    "a", "photo", "of", "cat", "dog", "house", "red", "blue", "sky", "tree", "on", "the", "with", "green",
)


def build_tiny_captioner(path: Path, seed: int = 0) -> Path:
    """Save a tiny random BLIP captioner (model, image processor, 20-word tokenizer) to ``path``.

    Loads back through :class:`Captioner` exactly like a hub checkpoint; its captions are random
    words but deterministic. Weights come from a private seeded RNG (the global one is untouched).
    """
    path.mkdir(parents=True, exist_ok=True)
    vocab = path / "vocab.txt"
    vocab.write_text("\n".join(_TINY_WORDS) + "\n")
    tokenizer = BertTokenizer(str(vocab), bos_token="[DEC]", model_max_length=32)
    image_processor = BlipImageProcessorPil(size={"height": 32, "width": 32})
    processor = BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)
    text = dict(
        vocab_size=len(_TINY_WORDS), hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=2,
        max_position_embeddings=32, bos_token_id=5, pad_token_id=0, sep_token_id=3, encoder_hidden_size=16,
    )
    vision = dict(
        hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=2, image_size=32, patch_size=8
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        config = BlipConfig(text_config=text, vision_config=vision, projection_dim=16)
        model = BlipForConditionalGeneration(config).eval()
    model.save_pretrained(path)
    processor.save_pretrained(path)
    vocab.unlink()  # the processor saved the tokenizer as tokenizer.json
    return path

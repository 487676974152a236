"""CLIP text encoder of captions: tokenizer + ``CLIPTextModel`` in the Stable Diffusion 2 layout.

SD2 repos hold them in the ``tokenizer/`` and ``text_encoder/`` subfolders; ``load_text_encoder``
reads exactly those, from a hub id or a local directory. ``build_tiny_clip`` writes a small
random one in that layout (byte-level BPE vocabulary generated here, nothing downloaded).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from featurestore.modality import CAPTION_TOKENS
from trainers.models.presets import ModelPreset, ModelSizes, model_sizes

BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
TINY_VOCAB_WORDS: tuple[str, ...] = (
    "a", "an", "the", "of", "in", "on", "with", "and", "photo", "image", "picture", "view", "close",
    "up", "red", "green", "blue", "white", "black", "small", "large", "old", "man", "woman", "dog",
    "cat", "tree", "trees", "house", "building", "street", "sky", "water", "grass", "mountain", "car",
)
"""Words the tiny vocabulary merges to single tokens; every other text falls back to bytes."""


@dataclass(frozen=True)
class TextEncoder:
    """A CLIP tokenizer and its text model (frozen during MMSR training)."""

    tokenizer: CLIPTokenizer
    model: CLIPTextModel

    @property
    def width(self) -> int:
        return int(self.model.config.hidden_size)


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte -> printable unicode character map (256 entries)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes)))


def tiny_bpe(words: Sequence[str] = TINY_VOCAB_WORDS) -> tuple[dict[str, int], list[str]]:
    """A byte-level CLIP BPE vocabulary (token -> id) and its merges ("left right" lines).

    Every byte appears alone and with the ``</w>`` end-of-word suffix, so any text tokenizes;
    each word of ``words`` is merged left to right into one token.
    """
    alphabet = list(bytes_to_unicode().values())
    tokens = alphabet + [c + "</w>" for c in alphabet]
    merges: list[str] = []
    for word in words:
        pieces = [*word[:-1], word[-1] + "</w>"]
        merged = pieces[0]
        for piece in pieces[1:]:
            merge = f"{merged} {piece}"
            merged += piece
            if merge not in merges:
                merges.append(merge)
                tokens.append(merged)
    vocab = {token: i for i, token in enumerate(dict.fromkeys(tokens + [BOS_TOKEN, EOS_TOKEN]))}
    return vocab, merges


def write_tiny_tokenizer(directory: Path) -> CLIPTokenizer:
    """Write vocab.json + merges.txt (the SD2 tokenizer layout) and load them back as a CLIPTokenizer."""
    directory.mkdir(parents=True, exist_ok=True)
    vocab, merges = tiny_bpe()
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    tokenizer = CLIPTokenizer.from_pretrained(directory, model_max_length=CAPTION_TOKENS)
    tokenizer.save_pretrained(directory)
    return tokenizer


def build_tiny_clip(path: Path, preset: ModelPreset | ModelSizes = "tiny") -> Path:
    """Write ``path/tokenizer`` (tiny generated BPE) and a random ``path/text_encoder`` of the preset's size.

    Returns ``path``; load it with ``load_text_encoder(path)``. Only safetensors weights are written.
    """
    sizes = model_sizes(preset).text
    tokenizer = write_tiny_tokenizer(path / "tokenizer")
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=sizes.hidden_size,
        intermediate_size=sizes.intermediate_size,
        projection_dim=sizes.projection_dim,
        num_hidden_layers=sizes.num_layers,
        num_attention_heads=sizes.num_heads,
        max_position_embeddings=CAPTION_TOKENS,
        hidden_act="gelu",
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = CLIPTextModel(config)
    model.save_pretrained(path / "text_encoder", safe_serialization=True)
    return path


def load_text_encoder(model_id_or_path: str | Path, revision: str | None = None) -> TextEncoder:
    """Load ``tokenizer/`` and ``text_encoder/`` (SD2 layout) from a hub id or a local directory."""
    source = str(model_id_or_path)
    tokenizer = CLIPTokenizer.from_pretrained(source, subfolder="tokenizer", revision=revision)
    model = CLIPTextModel.from_pretrained(source, subfolder="text_encoder", revision=revision, use_safetensors=True)
    return TextEncoder(tokenizer=tokenizer, model=model.eval().requires_grad_(False))


@torch.no_grad()
def encode_caption_ids(model: CLIPTextModel, token_ids: torch.Tensor) -> torch.Tensor:
    """(B, 77) token ids -> (B, 77, hidden) last hidden states (what SD2 cross-attends to), no gradient."""
    ids = token_ids.to(device=model.device, dtype=torch.long)
    return model(input_ids=ids).last_hidden_state

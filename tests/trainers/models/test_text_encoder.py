from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipelines.caption_tokens import tokenize_captions
from trainers.models.text_encoder import build_tiny_clip, encode_caption_ids, load_text_encoder, tiny_bpe


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("clip"))


def test_tiny_clip_is_written_in_the_sd2_layout_with_safetensors_only(clip_dir: Path) -> None:
    assert (clip_dir / "tokenizer" / "vocab.json").is_file()
    assert (clip_dir / "tokenizer" / "merges.txt").is_file()
    assert (clip_dir / "text_encoder" / "model.safetensors").is_file()
    assert not [p for p in clip_dir.rglob("*") if p.suffix in {".bin", ".pkl", ".pt"}]


def test_tokenize_pads_and_truncates_to_77(clip_dir: Path) -> None:
    text = load_text_encoder(clip_dir)
    ids = tokenize_captions(text.tokenizer, ["a photo of a dog", "Zebra ünïcode!! " * 40])
    assert ids.shape == (2, 77) and ids.dtype == np.int32
    bos, eos = text.tokenizer.bos_token_id, text.tokenizer.eos_token_id
    assert ids[0, 0] == bos and ids[1, 0] == bos
    words = ["a</w>", "photo</w>", "of</w>", "a</w>", "dog</w>"]
    assert list(ids[0, 1:6]) == text.tokenizer.convert_tokens_to_ids(words)
    assert ids[0, 6] == eos and ids[1, 76] == eos  # the long caption was truncated
    assert text.tokenizer.decode(ids[0], skip_special_tokens=True) == "a photo of a dog"


def test_text_model_gives_77_hidden_states_without_gradient(clip_dir: Path) -> None:
    text = load_text_encoder(clip_dir)
    assert text.width == 32 and text.model.config.max_position_embeddings == 77
    ids = torch.from_numpy(tokenize_captions(text.tokenizer, ["red house", "green tree"]))
    hidden = encode_caption_ids(text.model, ids)
    assert hidden.shape == (2, 77, 32) and not hidden.requires_grad
    assert not torch.allclose(hidden[0], hidden[1])


def test_tiny_bpe_covers_every_byte_and_merges_words() -> None:
    vocab, merges = tiny_bpe(("cat",))
    assert len(vocab) == 512 + 2 + 2  # bytes, bytes</w>, "ca", "cat</w>", bos/eos
    assert merges == ["c a", "ca t</w>"] and "cat</w>" in vocab

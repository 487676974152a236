"""Which tokenizers a preprocess run made its tokens with, as its snapshot summary records them.

A run's commit (and the overwrite snapshot of its replacements) carries, besides its
``config_hash``, :data:`VQ_TOKENIZER_PROPERTY` (the VQ model that coded the modality maps) and
:data:`CLIP_TOKENIZER_PROPERTY` (the CLIP tokenizer of the captions), each a JSON object of the
:class:`~pipelines.preprocess_config.TokenizerConfig` fields that name it. Snapshots committed before a
property existed lack it.
"""

from __future__ import annotations

import json

from pipelines.preprocess_config import TokenizerConfig

VQ_TOKENIZER_PROPERTY = "vq_tokenizer"
"""Snapshot-summary key: JSON of the ``TokenizerConfig`` VQ fields the run encoded tokens with."""
CLIP_TOKENIZER_PROPERTY = "clip_tokenizer"
"""Snapshot-summary key: JSON of the ``TokenizerConfig`` CLIP fields the run tokenized captions with."""


def vq_lineage(tokenizer: TokenizerConfig) -> str:
    """The :data:`VQ_TOKENIZER_PROPERTY` value of a run that tokenized with ``tokenizer``."""
    fields = {"vq_model": tokenizer.vq_model, "vq_subfolder": tokenizer.vq_subfolder, "vq_revision": tokenizer.vq_revision}
    return json.dumps(fields, sort_keys=True)


def clip_lineage(tokenizer: TokenizerConfig) -> str:
    """The :data:`CLIP_TOKENIZER_PROPERTY` value of a run that tokenized with ``tokenizer``."""
    return json.dumps({"clip_model": tokenizer.clip_model, "clip_revision": tokenizer.clip_revision}, sort_keys=True)

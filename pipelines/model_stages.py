"""The model stages of the preprocessing job as (load, apply) function pairs.

Each ``load_*`` builds its model through ``from_pretrained`` on a hub id or a local path; each
``apply_*`` adds that model's output to a batch of samples. ``model_stages`` lists the handlers
the job runs, in order, for a config.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import VQModel
from transformers import CLIPTokenizer

from featurestore.modality import Modality
from pipelines.caption_tokens import tokenize_captions
from pipelines.modalities.captioner import Captioner
from pipelines.modalities.depth import DepthEstimator
from pipelines.modalities.segmentation import SegmentationEstimator
from pipelines.modality_codes import encode_to_codes, maps_to_vq_input, render_modality_map
from pipelines.prepared_sample import PreparedSample
from pipelines.preprocess_config import PreprocessConfig, TokenizerConfig
from pipelines.sample_model_handler import SampleModelHandler


def _add_maps(
    samples: Sequence[PreparedSample], modality: Modality, predict: Callable[[list[np.ndarray]], list[np.ndarray]]
) -> list[PreparedSample]:
    """Add ``modality``'s map, predicted in one call, to the samples that compute it."""
    out = list(samples)
    todo = [i for i, sample in enumerate(out) if modality in sample.compute]
    if todo:
        for i, found in zip(todo, predict([out[i].modality_input() for i in todo])):
            out[i] = out[i].with_map(modality, found)
    return out


def apply_captioner(model: Captioner, samples: Sequence[PreparedSample]) -> list[PreparedSample]:
    """Caption, in one call, the samples that compute captions and have none from the sidecar."""
    out = list(samples)
    todo = [i for i, sample in enumerate(out) if Modality.CAPTION in sample.compute and not sample.caption]
    if todo:
        for i, caption in zip(todo, model.caption([out[i].modality_input() for i in todo])):
            out[i] = out[i].with_caption(caption, "captioner")
    return out


def apply_depth(model: DepthEstimator, samples: Sequence[PreparedSample]) -> list[PreparedSample]:
    return _add_maps(samples, Modality.DEPTH, model.predict)


def apply_segmentation(model: SegmentationEstimator, samples: Sequence[PreparedSample]) -> list[PreparedSample]:
    return _add_maps(samples, Modality.SEGMENTATION, model.predict)


@dataclass(frozen=True)
class Tokenizers:
    """The VQ model for spatial maps and the CLIP tokenizer for captions, on one device."""

    vq: VQModel
    clip: CLIPTokenizer
    device: torch.device


def load_vq_model(config: TokenizerConfig, device: str) -> VQModel:
    """The VQ tokenizer ``config`` names, on ``device``, in eval mode."""
    vq = VQModel.from_pretrained(
        config.vq_model, subfolder=config.vq_subfolder, revision=config.vq_revision, use_safetensors=True
    )
    return vq.to(device).eval()


def load_tokenizers(config: TokenizerConfig, device: str) -> Tokenizers:
    vq = load_vq_model(config, device)
    clip = CLIPTokenizer.from_pretrained(config.clip_model, subfolder="tokenizer", revision=config.clip_revision)
    return Tokenizers(vq=vq, clip=clip, device=torch.device(device))


def apply_tokenizers(tokenizers: Tokenizers, samples: Sequence[PreparedSample]) -> list[PreparedSample]:
    """Add (256,) VQ codes for every spatial map present and (77,) CLIP ids for captions."""
    out = list(samples)
    for modality in sorted({m for s in samples for m in s.maps}, key=lambda m: m.value):
        rows = [i for i, s in enumerate(out) if modality in s.maps]
        rendered = [render_modality_map(out[i].maps[modality], modality) for i in rows]
        pixels = maps_to_vq_input(rendered).to(tokenizers.device)
        codes = encode_to_codes(tokenizers.vq, pixels).cpu().numpy().astype(np.int32)
        for i, row_codes in zip(rows, codes):
            out[i] = out[i].with_tokens(modality, row_codes)
    captioned = [i for i, s in enumerate(out) if s.caption]
    if captioned:
        ids = tokenize_captions(tokenizers.clip, [out[i].caption for i in captioned])
        for i, row_ids in zip(captioned, ids):
            out[i] = out[i].with_tokens(Modality.CAPTION, np.asarray(row_ids, dtype=np.int32))
    return out


def model_stages(config: PreprocessConfig) -> list[SampleModelHandler]:
    """The RunInference handlers for the enabled modalities (the captioner when one is configured),
    then tokenization."""
    modalities = config.modalities
    batch, threads = modalities.batch_size, config.runner.worker_threads
    stages: list[SampleModelHandler] = []
    if Modality.CAPTION.value in modalities.enabled and modalities.caption_model is not None:
        load = functools.partial(
            Captioner, modalities.caption_model, revision=modalities.caption_revision, device=config.device,
            max_new_tokens=modalities.caption_max_tokens,
        )
        stages.append(SampleModelHandler("caption", load, apply_captioner, batch, threads))
    if Modality.DEPTH.value in modalities.enabled:
        load = functools.partial(
            DepthEstimator, modalities.depth_model, revision=modalities.depth_revision, device=config.device
        )
        stages.append(SampleModelHandler("depth", load, apply_depth, batch, threads))
    if Modality.SEGMENTATION.value in modalities.enabled:
        load = functools.partial(
            SegmentationEstimator,
            modalities.segmentation_model,
            revision=modalities.segmentation_revision,
            device=config.device,
        )
        stages.append(SampleModelHandler("segmentation", load, apply_segmentation, batch, threads))
    load_tok = functools.partial(load_tokenizers, config.tokenizer, config.device)
    stages.append(SampleModelHandler("tokenize", load_tok, apply_tokenizers, batch, threads))
    return stages

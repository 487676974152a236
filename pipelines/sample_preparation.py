"""Pure per-input work: decoded image -> cropped, degraded samples; edges on a sample.

Everything random comes from a generator derived from (source content hash, crop index, config
seed), so the same input and content settings always give the same crop, the same LR bytes and the
same sample id (:mod:`pipelines.sample_identity`); the further LRs of a crop
(``degradations_per_crop``) from one derived from (source, crop index, variant, seed).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from featurestore.modality import Modality
from pipelines.cropping import random_crop
from pipelines.degradation import degrade, derive_rng
from pipelines.image_decoding import decode_image
from pipelines.incremental_plan import VariantWork, WorkItem
from pipelines.modalities.edges import canny_edges
from pipelines.prepared_sample import PreparedSample
from pipelines.preprocess_config import PreprocessConfig
from pipelines.sample_identity import sample_id_for


def split_for(source_sha256: str, eval_fraction: float) -> str:
    """"eval" for a stable ``eval_fraction`` share of sources, else "train".

    Decided per source, not per crop, so crops of one photo never straddle train and eval.
    """
    return "eval" if int(source_sha256[:8], 16) / 0xFFFFFFFF < eval_fraction else "train"


def prepare_samples(work: WorkItem, data: bytes, config: PreprocessConfig, content_hash: str) -> list[PreparedSample]:
    """The job's first sample stages in one call: decode once, crop and degrade each planned crop,
    add edges where planned (what the Decode -> CropAndDegrade -> Edges transforms do, for loops
    and tests). Decoding / cropping errors propagate."""
    if not work.crops:
        return []
    samples = crop_samples(work, decode_image(data), config, content_hash)
    return [add_edges(sample, config.modalities.canny_low, config.modalities.canny_high) for sample in samples]


def crop_samples(work: WorkItem, image: np.ndarray, config: PreprocessConfig, content_hash: str) -> list[PreparedSample]:
    """The samples of ``work.crops`` from the decoded HR ``image``: each cropped and degraded with
    the generator of (source, crop index, seed), with the caption where the plan computes it.

    Crop and degradation are one step because they draw from one generator, the crop position
    first: the sample id names the crop, and the crop fixes the LR bytes.
    """
    return [
        _crop_and_degrade(work.uri, image, work.source_sha256, crop.index, config, content_hash, work.caption,
                          crop.compute, crop.replaces, crop.variants)
        for crop in work.crops
    ]


def add_edges(sample: PreparedSample, canny_low: int, canny_high: int) -> PreparedSample:
    """``sample`` with its Canny edge map when its plan computes edges, else unchanged."""
    if Modality.EDGES not in sample.compute:
        return sample
    return sample.with_map(Modality.EDGES, canny_edges(sample.modality_input(), canny_low, canny_high))


def variant_rng(source_sha256: str, crop_index: int, variant: int, seed: int) -> np.random.Generator:
    """The degradation generator of ``variant`` >= 1 of a crop (variant 0 draws from the crop's own)."""
    return derive_rng(f"{source_sha256}:{crop_index}:lr{variant}", seed)


def degradation_variants(sample: PreparedSample, config: PreprocessConfig, content_hash: str) -> list[PreparedSample]:
    """The planned degradation variants of an extracted crop (``sample.variants``), each with its
    id, its LR drawn from the shared HR crop (variant 0 keeps the crop's LR), its draw's params and
    its own plan; ``sample`` itself when it has no variants. Maps and tokens are shared."""
    if not sample.variants:
        return [sample]
    out = []
    for work in sample.variants:
        variant = dataclasses.replace(sample, compute=work.compute, replaces=work.replaces, variants=())
        if work.variant:
            rng = variant_rng(sample.source_sha256, sample.crop_index, work.variant, config.seed)
            degraded = degrade(sample.hr, config.degradation, rng)
            variant = dataclasses.replace(
                variant, sample_id=sample_id_for(sample.source_sha256, content_hash, sample.crop_index, work.variant),
                lr=degraded.lr, degradation={**degraded.params, "variant": work.variant},
            )
        out.append(variant)
    return out


def _crop_and_degrade(
    uri: str, image: np.ndarray, source_sha256: str, crop_index: int, config: PreprocessConfig, config_hash: str,
    caption: str | None, compute: frozenset[Modality], replaces: bool, variants: tuple[VariantWork, ...] = (),
) -> PreparedSample:
    rng = derive_rng(f"{source_sha256}:{crop_index}", config.seed)
    crop = random_crop(image, config.crop_size, rng, multiple_of=config.degradation.scale)
    degraded = degrade(crop.pixels, config.degradation, rng)
    sample = PreparedSample(
        crop_index=crop_index,
        variants=variants,
        sample_id=sample_id_for(source_sha256, config_hash, crop_index),
        split=split_for(source_sha256, config.eval_fraction),
        source_uri=uri,
        source_sha256=source_sha256,
        crop_box=tuple(int(v) for v in crop.box),  # type: ignore[arg-type]
        seed=config.seed,
        hr=crop.pixels,
        lr=degraded.lr,
        scale=config.degradation.scale,
        degradation=degraded.params,
        modality_source=config.modalities.source,
        compute=compute,
        replaces=replaces,
    )
    return sample.with_caption(caption, "sidecar") if Modality.CAPTION in compute else sample

"""Pure per-input work: bytes -> decoded, cropped, degraded sample with cheap modalities.

Everything random comes from a generator derived from (source content hash, crop index, config
seed), so the same input and content settings always give the same crop, the same LR bytes and the
same sample id (:mod:`pipelines.sample_identity`).
"""

from __future__ import annotations

import numpy as np

from featurestore.modality import Modality
from pipelines.cropping import random_crop
from pipelines.incremental_plan import IncrementalPlan
from pipelines.degradation import degrade, derive_rng
from pipelines.image_decoding import content_sha256, decode_image
from pipelines.modalities.captions import caption_for
from pipelines.modalities.edges import canny_edges
from pipelines.prepared_sample import PreparedSample
from pipelines.preprocess_config import PreprocessConfig
from pipelines.sample_identity import sample_id_for


def split_for(source_sha256: str, eval_fraction: float) -> str:
    """"eval" for a stable ``eval_fraction`` share of sources, else "train".

    Decided per source, not per crop, so crops of one photo never straddle train and eval.
    """
    return "eval" if int(source_sha256[:8], 16) / 0xFFFFFFFF < eval_fraction else "train"


def prepare_samples(
    uri: str,
    data: bytes,
    config: PreprocessConfig,
    config_hash: str,
    captions: dict[str, str],
    plan: IncrementalPlan = IncrementalPlan(),
) -> list[PreparedSample]:
    """Decode one HR image once and make ``config.crops_per_image`` samples of it, except the
    sample ids ``plan`` skips (committed and up to date); a stale committed sample computes only
    its stale modalities (see :mod:`pipelines.incremental_plan`). Decoding / cropping errors propagate."""
    source_sha256 = content_sha256(data)
    enabled = frozenset(Modality(name) for name in config.modalities.enabled)
    wanted: list[tuple[int, frozenset[Modality], bool]] = []
    for index in range(config.crops_per_image):
        sample_id = sample_id_for(source_sha256, config_hash, index)
        compute = plan.modalities_to_compute(sample_id, enabled)
        if compute is not None:
            wanted.append((index, compute, sample_id in plan.stale))
    if not wanted:
        return []
    image = decode_image(data)
    caption = caption_for(uri, captions) if Modality.CAPTION in enabled else None
    return [
        _prepare_crop(uri, image, source_sha256, index, config, config_hash, caption, compute, replaces)
        for index, compute, replaces in wanted
    ]


def _prepare_crop(
    uri: str, image: np.ndarray, source_sha256: str, crop_index: int, config: PreprocessConfig, config_hash: str,
    caption: str | None, compute: frozenset[Modality], replaces: bool,
) -> PreparedSample:
    """Crop and degrade with the generator of (source, crop index, seed); add the caption and edges
    if they are in ``compute``."""
    rng = derive_rng(f"{source_sha256}:{crop_index}", config.seed)
    crop = random_crop(image, config.crop_size, rng, multiple_of=config.degradation.scale)
    degraded = degrade(crop.pixels, config.degradation, rng)
    sample = PreparedSample(
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
        caption=caption if Modality.CAPTION in compute else None,
        compute=compute,
        replaces=replaces,
    )
    if Modality.EDGES in compute:
        edges = canny_edges(sample.modality_input(), config.modalities.canny_low, config.modalities.canny_high)
        sample = sample.with_map(Modality.EDGES, edges)
    return sample

"""``MMSRPipeline``: the components of multimodal diffusion super-resolution and DDIM sampling with them.

Saved layout (``save_pretrained``; every weight file is safetensors, nothing is pickled)::

    <dir>/mmsr_pipeline.json   PipelineConfig (scale, tile overlap, LR conditioning)
    <dir>/vae/ unet/ mmlc/ vq/ text_encoder/ tokenizer/ scheduler/

The text encoder and tokenizer subfolders are the Stable Diffusion 2 ones, so ``load_text_encoder``
and ``CLIPTokenizer.from_pretrained(dir, subfolder="tokenizer")`` read a pipeline directory too.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, UNet2DConditionModel, VQModel
from diffusers.utils.torch_utils import randn_tensor
from huggingface_hub import hf_hub_download
from transformers import CLIPTextModel, CLIPTokenizer

from featurestore.modality import Modality
from pipelines.caption_tokens import tokenize_captions
from trainers.models import autoencoder
from trainers.models.autoencoder import Autoencoder, build_autoencoder, load_autoencoder
from trainers.models.conditional_unet import LrConditioning, build_conditional_unet, lr_channels, lr_condition
from trainers.models.conditioning import ModalityTokens, build_modality_tokens, concat_tokens
from trainers.models.guidance import combine_guidance, negative_tokens
from trainers.models.mmlc import MultimodalLatentConnector, TemperatureMode, build_mmlc
from trainers.models.presets import ModelPreset, ModelSizes, model_sizes
from trainers.models.safe_loading import verify_artifact_tree
from trainers.models.sampling_options import SamplingOptions
from trainers.models.text_encoder import build_tiny_clip, encode_caption_ids
from trainers.models.tiling import TileBox, tile_boxes, tiled_apply
from trainers.models.vq_tokenizer import build_vq_tokenizer

PIPELINE_CONFIG_NAME = "mmsr_pipeline.json"
TileTokens = Callable[[TileBox], ModalityTokens]
"""The conditioning of one UNet tile: its (top, left, height, width) box in output pixels (of the
output padded to the UNet's multiple, so it may reach past the image) -> the batch's tokens."""
VAE_TILE_PIXELS = 512
"""Default largest image side the VAE encodes or decodes in one piece (the SD VAE's training size)."""


@dataclass(frozen=True)
class PipelineConfig:
    """What a saved pipeline is (not how it is sampled: that is ``SamplingOptions``, per call)."""

    scale: int = 4
    """HR side / LR side."""
    tile_overlap: int = 16
    """Overlap of UNet tiles in latent pixels (at most half a tile; tiles are ``unet.config.sample_size`` wide)."""
    lr_conditioning: LrConditioning = "latent"
    """The LR enters the UNet as the latent of its bicubic upsampling (the paper) or as resized pixels."""

    def __post_init__(self) -> None:
        if self.scale < 1:
            raise ValueError(f"pipeline.scale must be >= 1, got {self.scale}")
        if self.tile_overlap < 0:
            raise ValueError(f"pipeline.tile_overlap must be >= 0, got {self.tile_overlap}")


_SAMPLING_KEYS_OF_OLD_CONFIGS = ("num_inference_steps", "guidance_scale", "guidance_mode")
"""Sampling defaults that pipelines saved before ``SamplingOptions`` carried them wrote to their
config; read and ignored (every call's ``SamplingOptions`` decides)."""
DEFAULT_SAMPLING = SamplingOptions()


PredictionType = Literal["epsilon", "v_prediction", "sample"]


def ddim_scheduler(prediction_type: PredictionType = "epsilon") -> DDIMScheduler:
    """The Stable Diffusion 2 noise schedule as a DDIM sampler; epsilon prediction is SD2-base's,
    v-prediction SD2-768's (training reads the same field: ``training_step.prediction_target``)."""
    return DDIMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type=prediction_type,
    )


def sampling_scheduler(config: Mapping, steps: int, device: torch.device | str | None = None) -> DDIMScheduler:
    """A fresh DDIM sampler of the model's schedule (its ``scheduler`` config) set to ``steps`` timesteps,
    any of 1..``num_train_timesteps``. With SD2's "leading" spacing and ``steps_offset`` 1, taking every
    train timestep would start at timestep ``num_train_timesteps``, one past the schedule (IndexError);
    the offset is lowered just enough to keep the first timestep in it (only that step count changes)."""
    scheduler = DDIMScheduler.from_config(config)
    total, offset = scheduler.config.num_train_timesteps, scheduler.config.steps_offset
    if scheduler.config.timestep_spacing == "leading" and steps >= 1:
        offset = min(offset, total - 1 - (total // steps) * (steps - 1))
        scheduler = DDIMScheduler.from_config(config, steps_offset=offset)
    scheduler.set_timesteps(steps, device=device)
    return scheduler


def _read_config(source: str, revision: str | None) -> PipelineConfig:
    local = Path(source) / PIPELINE_CONFIG_NAME
    path = local if Path(source).is_dir() else Path(hf_hub_download(source, PIPELINE_CONFIG_NAME, revision=revision))
    saved = {k: v for k, v in json.loads(path.read_text()).items() if k not in _SAMPLING_KEYS_OF_OLD_CONFIGS}
    # Pipelines saved before ``lr_conditioning`` existed conditioned on pixels.
    return PipelineConfig(**{"lr_conditioning": "pixel", **saved})


@dataclass(frozen=True, eq=False)
class MMSRPipeline:
    vae: Autoencoder
    unet: UNet2DConditionModel
    mmlc: MultimodalLatentConnector
    vq: VQModel
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer
    scheduler: DDIMScheduler
    config: PipelineConfig = PipelineConfig()

    @property
    def device(self) -> torch.device:
        return self.unet.device

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> MMSRPipeline:
        """Move every model (in place) to ``device`` (and ``dtype``); returns self."""
        for model in (self.vae, self.unet, self.mmlc, self.vq, self.text_encoder):
            model.to(device)
            if dtype is not None:
                model.to(dtype=dtype)
        return self

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write every component to its subfolder (safetensors) and the pipeline config."""
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        for name in ("vae", "unet", "mmlc", "vq", "text_encoder"):
            getattr(self, name).save_pretrained(root / name, safe_serialization=True)
        self.tokenizer.save_pretrained(root / "tokenizer")
        self.scheduler.save_pretrained(root / "scheduler")
        (root / PIPELINE_CONFIG_NAME).write_text(json.dumps(dataclasses.asdict(self.config), indent=2))
        return root

    @classmethod
    def from_pretrained(
        cls,
        model_id_or_path: str | Path,
        revision: str | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype | None = None,
    ) -> MMSRPipeline:
        """Load a pipeline saved by ``save_pretrained`` from a local directory or a hub id (safetensors only).

        A local directory is checked file by file first (``safe_loading.verify_artifact_tree``:
        safetensors, JSON, YAML and text only, each checked by content) and refused with
        UnsafeArtifactError before anything in it is read; hub downloads are limited to safetensors
        by ``use_safetensors``.
        """
        source = str(model_id_or_path)
        if Path(source).is_dir():
            verify_artifact_tree(source)
        weights = {"revision": revision, "use_safetensors": True}
        pipeline = cls(
            vae=load_autoencoder(source, subfolder="vae", revision=revision),
            unet=UNet2DConditionModel.from_pretrained(source, subfolder="unet", **weights),
            mmlc=MultimodalLatentConnector.from_pretrained(source, subfolder="mmlc", **weights),
            vq=VQModel.from_pretrained(source, subfolder="vq", **weights),
            text_encoder=CLIPTextModel.from_pretrained(source, subfolder="text_encoder", **weights),
            tokenizer=CLIPTokenizer.from_pretrained(source, subfolder="tokenizer", revision=revision),
            scheduler=DDIMScheduler.from_pretrained(source, subfolder="scheduler", revision=revision),
            config=_read_config(source, revision),
        )
        for model in (pipeline.vae, pipeline.unet, pipeline.mmlc, pipeline.vq, pipeline.text_encoder):
            model.eval()
        return pipeline.to(device, dtype)

    def encode_prompt(self, captions: Sequence[str]) -> torch.Tensor:
        """B captions -> (B, 77, W) frozen CLIP hidden states."""
        ids = torch.from_numpy(tokenize_captions(self.tokenizer, captions))
        return encode_caption_ids(self.text_encoder, ids)

    def condition_tokens(
        self,
        batch_size: int,
        codes: Mapping[Modality, torch.Tensor | None] | None = None,
        captions: Sequence[str | None] | None = None,
    ) -> ModalityTokens:
        """ModalityTokens from (B, 256) VQ codes per spatial modality and B captions (None or "" = absent)."""
        caption_ids, present = None, {}
        if captions is not None and any(captions):
            caption_ids = torch.from_numpy(tokenize_captions(self.tokenizer, [c or "" for c in captions]))
            present[Modality.CAPTION] = torch.tensor([bool(c) for c in captions], device=self.device)
        if not any(c is not None for c in (codes or {}).values()) and caption_ids is None:
            return ModalityTokens(batch_size)
        return build_modality_tokens(codes or {}, caption_ids, self.vq, self.text_encoder, present)

    @property
    def max_steps(self) -> int:
        """Sampling steps at most: the scheduler's train timesteps."""
        return int(self.scheduler.config.num_train_timesteps)

    def check_steps(self, steps: int) -> None:
        """ValueError naming ``steps`` unless it is in 1..``max_steps``."""
        if not 1 <= steps <= self.max_steps:
            raise ValueError(f"steps must be in 1..{self.max_steps} (the model's train timesteps), got {steps}")

    def _pad_multiple(self) -> int:
        """LR sides must be multiples of this for the latent to fit the UNet's downsamplings."""
        unet_factor = 2 ** (len(self.unet.config.block_out_channels) - 1)
        latent_multiple = autoencoder.scale_factor(self.vae) * unet_factor
        return math.lcm(latent_multiple, self.config.scale) // self.config.scale

    def _context(self, tokens: ModalityTokens, timestep: torch.Tensor, sampling: SamplingOptions) -> torch.Tensor:
        timesteps = timestep.reshape(1).expand(tokens.batch_size).to(self.device)
        return self.mmlc(
            tokens.to(device=self.device), timesteps=timesteps,
            temperatures=sampling.modality_temperatures(), schedule=sampling.temperature_schedule,
        )

    @torch.no_grad()
    def __call__(
        self,
        lr: torch.Tensor,
        tokens: ModalityTokens | TileTokens,
        sampling: SamplingOptions = DEFAULT_SAMPLING,
        generator: torch.Generator | None = None,
        tile_size: int | None = None,
        vae_tile_size: int | None = VAE_TILE_PIXELS,
    ) -> torch.Tensor:
        """Super-resolve (B, 3, h, w) LR in [-1, 1] -> (B, 3, h * scale, w * scale) in [-1, 1].

        ``tokens``: conditioning of the B rows (``condition_tokens``), the same for every tile, or
        a :data:`TileTokens` function giving each tile the tokens of its own region (training saw
        the modalities of the crop it denoised). ``sampling``: every sampling choice (guidance mode
        and scale, steps, negative prompt, temperatures and their schedule, modalities disabled:
        sampled as m_empty whatever ``tokens`` hold); ``generator``: the initial noise's (None: a
        CPU generator seeded with ``sampling.seed``). Latents larger than ``tile_size`` (default
        ``unet.config.sample_size``) are denoised in overlapping blended tiles. Images larger than
        ``vae_tile_size`` pixels are VAE-encoded and -decoded in tiles (``autoencoder.set_tiling``;
        None: whole images).
        """
        hr_side = max(lr.shape[-2:]) * self.config.scale
        autoencoder.set_tiling(self.vae, vae_tile_size if vae_tile_size is not None and hr_side > vae_tile_size else None)
        generator = generator if generator is not None else torch.Generator().manual_seed(sampling.seed)
        height, width = lr.shape[-2:]
        multiple = self._pad_multiple()
        pad_h, pad_w = -height % multiple, -width % multiple
        lr = F.pad(lr.to(self.device, self.dtype), (0, pad_w, 0, pad_h), mode="replicate")
        factor = self.config.scale / autoencoder.scale_factor(self.vae)
        latent_hw = (round(lr.shape[-2] * factor), round(lr.shape[-1] * factor))
        tile = tile_size or self.unet.config.sample_size
        unet_factor = 2 ** (len(self.unet.config.block_out_channels) - 1)
        if tile % unet_factor:
            raise ValueError(f"tile_size must be a multiple of {unet_factor} latent pixels, got {tile}")
        overlap = min(self.config.tile_overlap, tile // 2)
        boxes = tile_boxes(*latent_hw, tile, overlap)
        per_tile = self._tile_tokens(tokens, boxes, sampling, lr.shape[0])
        latents = self._denoise(lr, latent_hw, per_tile, sampling, generator, tile, overlap)
        image = autoencoder.decode(self.vae, latents)
        return image[..., : height * self.config.scale, : width * self.config.scale].float()

    def _tile_tokens(
        self, tokens: ModalityTokens | TileTokens, boxes: Sequence[TileBox], sampling: SamplingOptions, batch_size: int,
    ) -> dict[TileBox, ModalityTokens]:
        """Each latent tile's tokens (one shared object when ``tokens`` is not per tile), the
        disabled modalities m_empty, with the guidance branch's negative tokens appended (their
        caption: ``sampling.negative_prompt``, else "")."""
        mode, disabled = sampling.guidance_mode, sampling.disabled_modalities()
        negative = None
        if mode != "none":
            if Modality.CAPTION not in self.mmlc.modality_order:
                raise ValueError(f"guidance_mode {mode!r} needs an MMLC that reads the caption (the negative prompt)")
            negative = self.encode_prompt([sampling.negative_prompt or ""] * batch_size)
        factor = autoencoder.scale_factor(self.vae)
        shared = isinstance(tokens, ModalityTokens)
        found: dict[TileBox, ModalityTokens] = {}
        for box in boxes:
            if shared and found:
                found[box] = next(iter(found.values()))
                continue
            given = tokens if isinstance(tokens, ModalityTokens) else tokens(tuple(v * factor for v in box))
            if given.batch_size != batch_size:
                raise ValueError(f"tokens have {given.batch_size} rows but the LR batch has {batch_size}")
            given = (given.without(disabled) if disabled else given).to(device=self.device)
            found[box] = given if negative is None else concat_tokens(given, negative_tokens(mode, given, negative))
        return found

    def _contexts(
        self, tokens: Mapping[TileBox, ModalityTokens], timestep: torch.Tensor, sampling: SamplingOptions
    ) -> dict[TileBox, torch.Tensor]:
        """The MMLC context of every tile, computed once per distinct tokens object."""
        by_tokens: dict[int, torch.Tensor] = {}
        for box_tokens in tokens.values():
            if id(box_tokens) not in by_tokens:
                by_tokens[id(box_tokens)] = self._context(box_tokens, timestep, sampling)
        return {box: by_tokens[id(box_tokens)] for box, box_tokens in tokens.items()}

    def _denoise(
        self,
        lr: torch.Tensor,
        latent_hw: tuple[int, int],
        tokens: Mapping[TileBox, ModalityTokens],
        sampling: SamplingOptions,
        generator: torch.Generator,
        tile: int,
        overlap: int,
    ) -> torch.Tensor:
        self.check_steps(sampling.steps)
        scheduler = sampling_scheduler(self.scheduler.config, sampling.steps, self.device)
        shape = (lr.shape[0], self.unet.config.out_channels, *latent_hw)
        latents = randn_tensor(shape, generator=generator, device=self.device, dtype=self.dtype)
        latents = latents * scheduler.init_noise_sigma
        branches = 1 if sampling.guidance_mode == "none" else 2
        condition = lr_condition(lr, latent_hw, self.config.lr_conditioning, self.vae).repeat(branches, 1, 1, 1)
        fixed = not self.mmlc.timestep_aware(sampling.temperature_schedule)
        contexts = self._contexts(tokens, scheduler.timesteps[0], sampling) if fixed else None
        for timestep in scheduler.timesteps:
            step_contexts = contexts if contexts is not None else self._contexts(tokens, timestep, sampling)
            model_input = scheduler.scale_model_input(latents.repeat(branches, 1, 1, 1), timestep)
            model_input = torch.cat([model_input, condition.to(model_input.dtype)], dim=1)
            eps = tiled_apply(
                lambda x, box: self.unet(x, timestep, encoder_hidden_states=step_contexts[box], return_dict=False)[0],
                model_input, tile, overlap,
            )
            eps_cond, eps_uncond = (eps, None) if branches == 1 else eps.chunk(2)
            guided = combine_guidance(sampling.guidance_mode, eps_cond, eps_uncond, sampling.guidance_scale)
            latents = scheduler.step(guided, timestep, latents, generator=generator, return_dict=False)[0]
        return latents


def build_pipeline_components(
    preset: ModelPreset | ModelSizes,
    clip_dir: Path,
    modalities: Sequence[Modality] = tuple(Modality),
    temperature_mode: TemperatureMode = "fixed",
    seed: int = 0,
    lr_conditioning: LrConditioning = "latent",
    prediction_type: PredictionType = "epsilon",
) -> MMSRPipeline:
    """A randomly initialised pipeline of the preset's sizes (CLIP written to ``clip_dir`` first).

    Initialisation draws from a forked, seeded torch RNG: the global RNG is untouched.
    """
    sizes = model_sizes(preset)
    build_tiny_clip(clip_dir, sizes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        pipeline = MMSRPipeline(
            vae=build_autoencoder(sizes),
            unet=build_conditional_unet(
                sizes, latent_channels=sizes.vae.latent_channels,
                lr_channels=lr_channels(lr_conditioning, sizes.vae.latent_channels),
            ),
            mmlc=build_mmlc(sizes, modalities, temperature_mode),
            vq=build_vq_tokenizer(sizes),
            text_encoder=CLIPTextModel.from_pretrained(clip_dir, subfolder="text_encoder", use_safetensors=True),
            tokenizer=CLIPTokenizer.from_pretrained(clip_dir, subfolder="tokenizer"),
            scheduler=ddim_scheduler(prediction_type),
            config=PipelineConfig(scale=sizes.scale, lr_conditioning=lr_conditioning),
        )
    return pipeline


def build_tiny_pipeline(
    path: Path,
    preset: ModelPreset | ModelSizes = "tiny",
    temperature_mode: TemperatureMode = "fixed",
    seed: int = 0,
    lr_conditioning: LrConditioning = "latent",
) -> Path:
    """Save a complete random pipeline (tiny CLIP and VQ included) to ``path``; load it with
    ``MMSRPipeline.from_pretrained(path)``. Returns ``path``."""
    pipeline = build_pipeline_components(
        preset, path, temperature_mode=temperature_mode, seed=seed, lr_conditioning=lr_conditioning
    )
    return pipeline.save_pretrained(path)

"""Inference throughput with LR-side extraction vs edges only, for each guidance mode, in one run.

    python -m benchmarks.inference_throughput                                   # SD2 sizes, real-size extractors (GPU)
    python -m benchmarks.inference_throughput --preset quickstart --steps 20    # what fits a CPU
    python -m benchmarks.inference_throughput --smoke                           # tiny everything, seconds

The serving path (``orchestration.serving.super_resolution``) upscales a 128 px LR x4 to 512 px. The
baseline is the edges-only path (no extractor packaged: Canny on the upsampled LR); "ours" adds
what a registered model with extractors runs on every request: Depth Anything V2 Small, Mask2Former
(Swin-Tiny, ADE20K's 150 classes) and a BLIP-base captioner for a request without a caption
(``orchestration.serving.lr_modalities``). Real-size architectures with random weights (same FLOPs as the
trained ones; nothing is downloaded), saved and loaded back through ``from_pretrained`` like the
packaged ones. Prints one Markdown table: images/s per guidance mode, ours vs baseline, ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import (
    BertTokenizer,
    BlipConfig,
    BlipForConditionalGeneration,
    BlipImageProcessorPil,
    BlipProcessor,
    Mask2FormerConfig,
    Mask2FormerForUniversalSegmentation,
    Mask2FormerImageProcessorPil,
    SwinConfig,
)

from benchmarks.runinference_batching import save_random_small_v2
from orchestration.serving.lr_modalities import LrModalities
from orchestration.serving.super_resolution import EDGES_ONLY, GuidanceMode, SamplingOptions, super_resolve
from pipelines.modalities.captioner import Captioner, build_tiny_captioner
from pipelines.modalities.depth import DepthEstimator, build_tiny_depth_model
from pipelines.modalities.segmentation import SegmentationEstimator, build_tiny_segmentation_model
from trainers.models.presets import ModelPreset
from trainers.models.sr_pipeline import MMSRPipeline, build_pipeline_components

GUIDANCE_MODES: tuple[GuidanceMode, ...] = ("none", "cfg", "m_empty-cfg", "m-cfg")
BERT_VOCAB = 30524
"""BLIP-base's tokenizer size: its LM head's FLOPs depend on it."""


@dataclass(frozen=True)
class Settings:
    preset: ModelPreset
    real_extractors: bool
    steps: int
    lr_size: int
    repeats: int
    device: str


def save_random_mask2former_swin_tiny(path: Path, seed: int) -> Path:
    """Random-weight Mask2Former with a Swin-Tiny backbone and 150 classes, and a 512 px processor."""
    backbone = SwinConfig(
        embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24], window_size=7,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    config = Mask2FormerConfig(backbone_config=backbone, num_labels=150)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Mask2FormerForUniversalSegmentation(config).eval()
    model.save_pretrained(path)
    Mask2FormerImageProcessorPil(size={"shortest_edge": 512, "longest_edge": 2048}, ignore_index=255).save_pretrained(path)
    return path


def save_random_blip_base(path: Path, seed: int) -> Path:
    """Random-weight BLIP-base captioner (ViT-B/16 at 384 px, BERT-base decoder) and its processor."""
    path.mkdir(parents=True, exist_ok=True)
    vocab = path / "vocab.txt"
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
    vocab.write_text("\n".join(special + [f"w{i}" for i in range(BERT_VOCAB - len(special))]) + "\n")
    tokenizer = BertTokenizer(str(vocab), bos_token="[DEC]", model_max_length=512)
    image_processor = BlipImageProcessorPil(size={"height": 384, "width": 384})
    processor = BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)
    text = dict(vocab_size=BERT_VOCAB, bos_token_id=5, pad_token_id=0, sep_token_id=3)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BlipForConditionalGeneration(BlipConfig(text_config=text)).eval()
    model.save_pretrained(path)
    processor.save_pretrained(path)
    vocab.unlink()
    return path


def load_extractors(settings: Settings, workdir: Path) -> LrModalities:
    """Every extractor, saved and loaded back the way ``LrModalities.load`` loads packaged ones."""
    if settings.real_extractors:
        depth = save_random_small_v2(workdir / "depth", seed=0)
        segmentation = save_random_mask2former_swin_tiny(workdir / "segmentation", seed=0)
        captioner = save_random_blip_base(workdir / "captioner", seed=0)
    else:
        depth = build_tiny_depth_model(workdir / "depth")
        segmentation = build_tiny_segmentation_model(workdir / "segmentation")
        captioner = build_tiny_captioner(workdir / "captioner")
    return LrModalities(
        depth=DepthEstimator(str(depth), device=settings.device),
        segmentation=SegmentationEstimator(str(segmentation), device=settings.device),
        captioner=Captioner(str(captioner), device=settings.device),
    )


def images_per_s(call: Callable[[], None], repeats: int, device: str) -> float:
    """1 / median seconds of ``repeats`` calls after one warm-up."""
    call()
    seconds = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        call()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return 1.0 / statistics.median(seconds)


def upscale_call(
    pipeline: MMSRPipeline, extractors: LrModalities, lr: np.ndarray, mode: GuidanceMode, steps: int
) -> Callable[[], None]:
    """One request as the served model runs it: caption the LR if a captioner is there, then upscale."""
    options = SamplingOptions(guidance_mode=mode, steps=steps)

    def call() -> None:
        (caption,) = extractors.fill_captions([lr], [None], pipeline.config.scale)
        super_resolve(pipeline, lr, caption, options, extractors)

    return call


def measure(settings: Settings) -> list[str]:
    """The Markdown table rows: one per guidance mode."""
    with tempfile.TemporaryDirectory(prefix="mmsr-inference-") as tmp:
        workdir = Path(tmp)
        pipeline = build_pipeline_components(settings.preset, workdir / "clip").to(settings.device)
        extractors = load_extractors(settings, workdir)
        lr = np.random.default_rng(0).integers(0, 256, (settings.lr_size, settings.lr_size, 3), dtype=np.uint8)
        out = settings.lr_size * pipeline.config.scale
        rows = []
        for mode in GUIDANCE_MODES:
            base, ours = (
                images_per_s(upscale_call(pipeline, used, lr, mode, settings.steps), settings.repeats, settings.device)
                for used in (EDGES_ONLY, extractors)
            )
            what = f"{settings.lr_size} -> {out} px, {settings.preset} UNet, {settings.steps} steps, {mode}"
            rows.append(f"| {what} | {ours:.3f} img/s | {base:.3f} img/s | {ours / base:.2f}x |")
        return rows


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=["tiny", "quickstart", "sd2"], default="sd2")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--lr-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--smoke", action="store_true", help="tiny pipeline and extractors, 2 steps, 16 px LR")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(argv)
    if args.smoke:
        settings = Settings("tiny", real_extractors=False, steps=2, lr_size=16, repeats=1, device="cpu")
    else:
        settings = Settings(args.preset, True, args.steps, args.lr_size, args.repeats, args.device)
    on_gpu = settings.device.startswith("cuda")
    device = torch.cuda.get_device_name() if on_gpu else f"cpu, {torch.get_num_threads()} threads"
    print(f"inference throughput ({device}); ours: caption + depth + segmentation + edges from the LR, "
          f"{'real-size random' if settings.real_extractors else 'tiny'} extractors; baseline: edges only\n")
    print("| what | ours | baseline (edges only) | ratio |\n| --- | --- | --- | --- |")
    for row in measure(settings):
        print(row, flush=True)


if __name__ == "__main__":
    main()

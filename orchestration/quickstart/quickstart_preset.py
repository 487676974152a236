"""Config defaults of ``mmsr quickstart`` (and of Dagster on embedded defaults): a plain mapping,
importable without the heavy stages so the CLI can validate a config before loading them."""

from __future__ import annotations

from typing import Any

QUICKSTART_STEPS = 1000
"""UNet + MMLC steps: enough for the quickstart model to clear the promotion floor against bicubic."""


def quickstart_preset(workdir: str, steps: int | None = None) -> dict[str, Any]:
    """Config defaults of the quickstart: everything under ``workdir``, tiny local models."""
    models = f"{workdir}/models"
    return {
        "preprocess": {
            "input": f"{workdir}/sample_hr",
            "crop_size": 128,
            "crops_per_image": 8,
            "eval_fraction": 0.25,
            "modalities": {
                "depth_model": f"{models}/tiny-depth",
                "segmentation_model": f"{models}/tiny-segmentation",
                "captions_path": f"{workdir}/sample_hr/captions.jsonl",
                "batch_size": 4,
            },
            "tokenizer": {"vq_model": f"{models}/mmsr-base", "vq_subfolder": "vq", "clip_model": f"{models}/mmsr-base"},
        },
        "featurestore": {
            "catalog_uri": f"sqlite:///{workdir}/featurestore/catalog.db",
            "warehouse": f"{workdir}/featurestore/warehouse",
        },
        "train": {
            "base_model": f"{models}/mmsr-base",
            "steps": steps or QUICKSTART_STEPS,
            "batch_size": 4,
            "num_workers": 1,
            "cpus_per_worker": 2,
            "learning_rate": 1e-3,
            "lr_schedule": "cosine",
            "ema_decay": 0.99,
            "checkpoint_every": 200,
            "log_every": 20,
            "storage_path": f"{workdir}/ray",
            "encoding_cache_rows": 256,
        },
        "tracking": {"tracking_uri": f"sqlite:///{workdir}/mlflow.db", "artifact_location": f"{workdir}/mlartifacts"},
        "serve": {"sampling": {"steps": 20}},
        "promotion": {"eval_limit": 8},
    }

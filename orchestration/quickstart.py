"""``mmsr quickstart``: the whole flow once, on embedded defaults, with nothing downloaded.

Sample photos from scikit-image / scikit-learn -> Beam (DirectRunner) -> feature-store commit
(Iceberg on SQLite) -> Ray Train (local, 2 CPU workers) on tiny random models built from configs
and loaded back through ``from_pretrained`` -> MLflow run, registered version, ``champion``
alias -> one super-resolution request through ``models:/<name>@champion``.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from tqdm import tqdm

from featurestore.readers import read_arrow
from orchestration.mmsr_config import MmsrConfig
from orchestration.ray_runtime import local_ray
from orchestration.mlflow_runs import fluent_tracking
from orchestration.registry import RegisteredVersion, register_pipeline, set_alias
from pipelines.modalities.depth import build_tiny_depth_model
from pipelines.modalities.segmentation import build_tiny_segmentation_model
from pipelines.preprocess_job import PreprocessResult, run_preprocess
from pipelines.sample_dataset import write_sample_dataset
from trainers.models.sr_pipeline import build_tiny_pipeline
from trainers.train_job import TrainResult, run_training

LOG = logging.getLogger(__name__)
QUICKSTART_STEPS = 30


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
            "batch_size": 2,
            "num_workers": 2,
            "checkpoint_every": 10,
            "storage_path": f"{workdir}/ray",
        },
        "tracking": {"tracking_uri": f"sqlite:///{workdir}/mlflow.db", "artifact_location": f"{workdir}/mlartifacts"},
        "serve": {"steps": 20},
    }


@dataclass(frozen=True)
class QuickstartReport:
    preprocess: PreprocessResult
    train: TrainResult
    registered: RegisteredVersion
    alias: str
    output_image: Path
    table: str
    tracking_uri: str

    def summary(self) -> str:
        p, t, r = self.preprocess, self.train, self.registered
        return "\n".join(
            [
                "quickstart finished:",
                f"  feature store  table {self.table}, snapshot {p.snapshot_id} "
                f"({p.rows} new rows, {p.errors} rejected, {p.skipped} already present)",
                f"  MLflow         run {t.mlflow_run_id} at {self.tracking_uri} (`mlflow ui --backend-store-uri {self.tracking_uri}`)",
                f"  model          {r.model_uri} = models:/{r.name}@{self.alias}",
                f"  SR output      {self.output_image}",
            ]
        )


def _ensure_tiny_models(config: MmsrConfig) -> None:
    """Build each tiny model once (a second quickstart reuses them)."""
    builders = {
        config.preprocess.modalities.depth_model: build_tiny_depth_model,
        config.preprocess.modalities.segmentation_model: build_tiny_segmentation_model,
        config.train.base_model: build_tiny_pipeline,
    }
    for path, build in builders.items():
        if not Path(path).exists():
            build(Path(path))


def _super_resolve_one(config: MmsrConfig, model_uri: str, snapshot_id: int | None, output: Path) -> Path:
    table = read_arrow(config.featurestore, snapshot_id, columns=["lr_png", "caption", "split"])
    rows = table.to_pylist()
    row = next((r for r in rows if r["split"] == "eval"), rows[0])
    with fluent_tracking(config.tracking):
        model = mlflow.pyfunc.load_model(model_uri)
    request = pd.DataFrame({"image": [base64.b64encode(row["lr_png"]).decode()], "caption": [row["caption"] or ""]})
    response = model.predict(request, params={"steps": config.serve.steps})
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(base64.b64decode(response["image"][0]))
    return output


def run_quickstart(config: MmsrConfig, workdir: str) -> QuickstartReport:
    root = Path(workdir)
    stages = tqdm(total=6, desc="quickstart", unit="stage", dynamic_ncols=True)
    stages.set_postfix_str("sample photos + tiny models")
    write_sample_dataset(root / "sample_hr")
    _ensure_tiny_models(config)
    stages.update()
    stages.set_postfix_str("preprocess (Beam)")
    pre = run_preprocess(config.preprocess, config.featurestore)
    stages.update()
    stages.set_postfix_str("train (Ray Train)")
    with local_ray(config.train.num_workers, config.train.ray_address):
        trained = run_training(config.train, config.featurestore, config.tracking)
    stages.update()
    stages.set_postfix_str("register (MLflow)")
    tags = {"featurestore.snapshot_id": str(trained.snapshot_id), "mmsr.source": "quickstart"}
    registered = register_pipeline(config.tracking, config.serve, trained.mlflow_run_id, trained.model_dir, tags)
    stages.update()
    alias = config.tracking.champion_alias
    set_alias(config.tracking, alias, registered.version)
    stages.update()
    stages.set_postfix_str("super-resolve one image")
    champion_uri = f"models:/{registered.name}@{alias}"
    output = _super_resolve_one(config, champion_uri, trained.snapshot_id, root / "outputs" / "quickstart_sr.png")
    stages.update()
    stages.close()
    fs = config.featurestore
    return QuickstartReport(
        preprocess=pre, train=trained, registered=registered, alias=alias, output_image=output,
        table=f"{fs.namespace}.{fs.samples_table}", tracking_uri=config.tracking.tracking_uri,
    )

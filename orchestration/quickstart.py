"""``mmsr quickstart``: the whole flow once, on embedded defaults, with nothing downloaded.

Sample photos from scikit-image / scikit-learn -> Beam (DirectRunner) -> feature-store commit
(Iceberg on SQLite) -> Ray Train (local, 2 CPU workers) on tiny random models built from configs
and loaded back through ``from_pretrained`` -> MLflow run, registered version (``challenger``) ->
evaluation-gated promotion to ``champion`` -> one super-resolution request through
``models:/<name>@champion``.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from featurestore.readers import read_arrow
from orchestration.checked_model import load_checked_model
from orchestration.mmsr_config import MmsrConfig
from orchestration.ray_runtime import local_ray
from orchestration.promotion import PromotionDecision, promote_version
from orchestration.registry import RegisteredVersion, register_pipeline
from pipelines.modalities.depth import build_tiny_depth_model
from pipelines.modalities.segmentation import build_tiny_segmentation_model
from pipelines.preprocess_job import PreprocessResult, run_preprocess
from pipelines.sample_dataset import write_sample_dataset
from trainers.models.sr_pipeline import build_tiny_pipeline
from trainers.train_job import TrainResult, run_training

LOG = logging.getLogger(__name__)
@dataclass(frozen=True)
class QuickstartReport:
    preprocess: PreprocessResult
    train: TrainResult
    registered: RegisteredVersion
    promotion: PromotionDecision
    alias: str
    output_image: Path
    table: str
    tracking_uri: str

    @property
    def champion_version(self) -> int | None:
        return self.registered.version if self.promotion.promote else self.promotion.champion_version

    def summary(self) -> str:
        p, t, r = self.preprocess, self.train, self.registered
        return "\n".join(
            [
                "quickstart finished:",
                f"  feature store  table {self.table}, snapshot {p.snapshot_id} "
                f"({p.added} rows added, {p.replaced} replaced, {p.already_present} already present; "
                f"{p.inputs} inputs = {p.accepted} accepted + {p.rejected} rejected)",
                f"  MLflow         run {t.mlflow_run_id} at {self.tracking_uri} (`mlflow ui --backend-store-uri {self.tracking_uri}`)",
                f"  model          {r.model_uri} ({'promoted' if self.promotion.promote else 'not promoted'})",
                f"  promotion      {self.promotion.summary()}",
                f"  champion       models:/{r.name}@{self.alias} = version {self.champion_version}",
                f"  SR output      {self.output_image}",
            ]
        )


def ensure_tiny_models(config: MmsrConfig) -> None:
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
    request = pd.DataFrame({"image": [base64.b64encode(row["lr_png"]).decode()], "caption": [row["caption"] or ""]})
    with load_checked_model(model_uri, config.tracking) as model:
        response = model.predict(request, params={"steps": config.serve.steps})
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(base64.b64decode(response["image"][0]))
    return output


def run_quickstart(config: MmsrConfig, workdir: str) -> QuickstartReport:
    root = Path(workdir)
    stages = tqdm(total=6, desc="quickstart", unit="stage", dynamic_ncols=True)
    stages.set_postfix_str("sample photos + tiny models")
    write_sample_dataset(root / "sample_hr")
    ensure_tiny_models(config)
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
    registered = register_pipeline(
        config.tracking, config.serve, trained.mlflow_run_id, trained.model_dir, tags, config.promotion.challenger_alias
    )
    stages.update()
    stages.set_postfix_str("evaluate + promote (gated)")
    decision = promote_version(config, registered.version)
    LOG.info("%s", decision.summary())
    stages.update()
    alias = config.tracking.champion_alias
    stages.set_postfix_str("super-resolve one image")
    champion_uri = f"models:/{registered.name}@{alias}"
    output = _super_resolve_one(config, champion_uri, trained.snapshot_id, root / "outputs" / "quickstart_sr.png")
    stages.update()
    stages.close()
    fs = config.featurestore
    return QuickstartReport(
        preprocess=pre, train=trained, registered=registered, promotion=decision, alias=alias, output_image=output,
        table=f"{fs.namespace}.{fs.samples_table}", tracking_uri=config.tracking.tracking_uri,
    )

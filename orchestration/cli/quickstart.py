"""``mmsr quickstart``: the whole flow once, on embedded defaults, with nothing downloaded.

Demo photos from scikit-image / scikit-learn -> Beam (DirectRunner) -> feature-store commit
(Iceberg on SQLite) -> Ray Train (local, 2 CPU workers) on the quickstart's models
(``quickstart_models``) -> MLflow run, registered version (``challenger``) -> evaluation-gated
promotion to ``champion`` (the floor against bicubic applies) -> a few eval LRs super-resolved
through ``models:/<name>@champion``: the first SR image and an LR | bicubic | SR | HR grid.

The report says plainly whether a champion clears the floor; ``mmsr quickstart`` exits 1 when
none does (the grid is then the rejected candidate's).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np
import pandas as pd
from featurestore.readers import read_arrow
from orchestration.cli.stage_clock import StageClock
from orchestration.cycle import run_cycle
from orchestration.evaluation.image_grid import GridRow, comparison_grid
from orchestration.mmsr_config import MmsrConfig
from orchestration.quickstart.quickstart_models import ensure_quickstart_models
from orchestration.registry.model_registry import RegisteredVersion
from orchestration.registry.promotion import PromotionDecision
from orchestration.serving.checked_model import load_checked_model
from pipelines.demo_photos import write_demo_photos
from pipelines.preprocess_job import PreprocessResult, run_preprocess
from trainers.recipes.train_job import TrainResult

LOG = logging.getLogger(__name__)
SHOWCASE_ROWS = 4
"""Eval LRs super-resolved for the grid."""


@dataclass(frozen=True)
class Showcase:
    sr_image: Path
    """The first eval LR's SR output (PNG)."""
    grid_image: Path
    """LR | bicubic | SR | HR, one row per eval LR (PNG)."""
    model_uri: str


@dataclass(frozen=True)
class QuickstartReport:
    preprocess: PreprocessResult
    train: TrainResult
    registered: RegisteredVersion
    promotion: PromotionDecision
    alias: str
    showcase: Showcase
    table: str
    tracking_uri: str
    stage_seconds: Mapping[str, float]
    """Wall time of each stage (models, preprocess, train, register, promote, showcase)."""

    @property
    def champion_version(self) -> int | None:
        return self.registered.version if self.promotion.promote else self.promotion.champion_version

    @property
    def champion_metrics(self) -> Mapping[str, float] | None:
        """The champion's evaluation on this run's eval snapshot (None without a champion)."""
        return self.promotion.candidate_metrics if self.promotion.promote else self.promotion.champion_metrics

    @property
    def floor_cleared(self) -> bool:
        """Whether a champion, i.e. a version that cleared the floor when promoted, exists."""
        return self.champion_version is not None

    def quality_line(self) -> str:
        metrics = self.champion_metrics if self.floor_cleared else self.promotion.candidate_metrics
        whose = f"champion (version {self.champion_version})" if self.floor_cleared else "candidate (NOT promoted)"
        scores = metrics or {}
        return (
            f"eval split: {whose} PSNR {scores.get('eval_psnr', float('nan')):.2f} dB, SSIM "
            f"{scores.get('eval_ssim', float('nan')):.3f}; bicubic PSNR {scores.get('eval_bicubic_psnr', float('nan')):.2f} dB, "
            f"SSIM {scores.get('eval_bicubic_ssim', float('nan')):.3f}"
        )

    def timing_line(self) -> str:
        stages = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in self.stage_seconds.items())
        return f"{sum(self.stage_seconds.values()):.0f} s ({stages})"

    def summary(self) -> str:
        p, t, r = self.preprocess, self.train, self.registered
        verdict = (
            f"models:/{r.name}@{self.alias} = version {self.champion_version}" if self.floor_cleared
            else "NONE: no version cleared the floor against bicubic, so nothing was promoted"
        )
        return "\n".join(
            [
                "quickstart finished:" if self.floor_cleared else "quickstart FAILED its quality floor:",
                f"  feature store  table {self.table}, snapshot {p.snapshot_id} "
                f"({p.added} rows added, {p.replaced} replaced, {p.already_present} already present; "
                f"{p.inputs} inputs = {p.accepted} accepted + {p.rejected} rejected)",
                f"  MLflow         run {t.mlflow_run_id} at {self.tracking_uri} (`mlflow ui --backend-store-uri {self.tracking_uri}`)",
                f"  model          {r.model_uri} ({'promoted' if self.promotion.promote else 'not promoted'})",
                f"  promotion      {self.promotion.summary()}",
                f"  champion       {verdict}",
                f"  quality        {self.quality_line()}",
                f"  SR output      {self.showcase.sr_image}",
                f"  grid           {self.showcase.grid_image} (LR | bicubic | SR | HR, {self.showcase.model_uri})",
                f"  wall time      {self.timing_line()}",
            ]
        )


def _decode_rgb(blob: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def showcase(config: MmsrConfig, model_uri: str, snapshot_id: int | None, out_dir: Path) -> Showcase:
    """Super-resolve up to ``SHOWCASE_ROWS`` eval LRs through ``model_uri`` (one request, checked
    download); write the first SR and the LR | bicubic | SR | HR grid under ``out_dir``."""
    table = read_arrow(config.featurestore, snapshot_id, columns=["lr_png", "hr_png", "caption", "split"])
    rows = [r for r in table.to_pylist() if r["split"] == "eval"][:SHOWCASE_ROWS] or table.to_pylist()[:1]
    request = pd.DataFrame({
        "image": [base64.b64encode(r["lr_png"]).decode() for r in rows],
        "caption": [r["caption"] or "" for r in rows],
    })
    params = config.serve.sampling.as_params()
    with load_checked_model(model_uri, config.tracking, config.serve.placement()) as model:
        response = model.predict(request, params=params)
    srs = [base64.b64decode(image) for image in response["image"]]
    out_dir.mkdir(parents=True, exist_ok=True)
    sr_image, grid_image = out_dir / "quickstart_sr.png", out_dir / "quickstart_grid.png"
    sr_image.write_bytes(srs[0])
    grid_rows = [GridRow(hr=_decode_rgb(r["hr_png"]), lr=_decode_rgb(r["lr_png"]), sr=_decode_rgb(sr)) for r, sr in zip(rows, srs)]
    grid = comparison_grid(grid_rows, columns=("lr", "bicubic", "sr", "hr"))
    cv2.imwrite(str(grid_image), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    return Showcase(sr_image=sr_image, grid_image=grid_image, model_uri=model_uri)


def run_quickstart(
    config: MmsrConfig, workdir: str, progress: TextIO | None = None, ray_log_to_driver: bool = True
) -> QuickstartReport:
    """The whole flow; its progress bar is drawn on ``progress`` (default stderr)."""
    root = Path(workdir)
    clock = StageClock(6, "quickstart", progress)
    with clock.stage("models", "demo photos + models (autoencoder fit)"):
        write_demo_photos(root / "sample_hr")
        ensure_quickstart_models(config)
    with clock.stage("preprocess", "preprocess (Beam)"):
        pre = run_preprocess(config.preprocess, config.featurestore)
    cycle = run_cycle(config, {"mmsr.source": "quickstart"}, stage=clock.stage, ray_log_to_driver=ray_log_to_driver)
    trained, registered, decision = cycle.trained, cycle.registered, cycle.decision
    LOG.info("%s", decision.summary())
    alias = config.tracking.champion_alias
    with clock.stage("showcase", "super-resolve eval images"):
        champion = decision.promote or decision.champion_version is not None
        model_uri = f"models:/{registered.name}@{alias}" if champion else registered.model_uri
        shown = showcase(config, model_uri, trained.snapshot_id, root / "outputs")
    fs = config.featurestore
    return QuickstartReport(
        preprocess=pre, train=trained, registered=registered, promotion=decision, alias=alias, showcase=shown,
        table=f"{fs.namespace}.{fs.samples_table}", tracking_uri=config.tracking.tracking_uri,
        stage_seconds=clock.close(),
    )

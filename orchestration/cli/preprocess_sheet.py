"""The contact sheet of what one ``mmsr preprocess`` run added (also printed by the quickstart).

Preprocessing has no MLflow run, so the sheet is a file: ``sheets/preprocess-<run_id>.png`` beside
the MLflow artifact root (the workdir for the quickstart, ``mmsr-runs/`` by default; ``mmsr-runs/``
when that root is remote). A sheet that cannot be written never fails the run: its line says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.mmsr_config import MmsrConfig
from trainers.tracking.tracking_config import TrackingConfig

if TYPE_CHECKING:
    from pipelines.preprocess_job import PreprocessResult

_LOCAL_ROOT = Path("mmsr-runs")


def sheet_dir(tracking: TrackingConfig) -> Path:
    """Where preprocess sheets go: ``sheets/`` beside a local artifact root, else ``mmsr-runs/sheets``."""
    root = tracking.artifact_location
    if root is None or "://" in root:
        return _LOCAL_ROOT / "sheets"
    return Path(root).parent / "sheets"


def preprocess_sheet_line(config: MmsrConfig, result: PreprocessResult, rows: int = 8) -> str:
    """Write the sheet of ``rows`` samples the run added; one line naming it (or why there is none)."""
    from pipelines.snapshot_sheet import LineageDecoders, SheetOptions, write_added_sheet

    if not result.added or result.snapshot_id is None:
        return "contact sheet: the run added no samples"
    path = sheet_dir(config.tracking) / f"preprocess-{result.run_id}.png"
    decoders = LineageDecoders(config.featurestore)
    try:
        written = write_added_sheet(config.featurestore, result.snapshot_id, path, SheetOptions(rows=rows), decoders)
    except (OSError, ValueError) as error:
        return f"contact sheet not written: {' '.join(str(error).split())}"
    if written is None:
        return "contact sheet: the run added no samples"
    notes = "".join(f" ({note})" for note in dict.fromkeys(decoders.notes))
    return f"contact sheet of {len(written.sample_ids)} added samples: {written.path}{notes}"

"""The one table of an ``mmsr evaluate --sweep``, laid out like the paper's Table 3: one row per
setting, the setting's columns first (one per swept key, its values as given on the command line),
then one column per metric (``psnr``, ``ssim``, the learned metrics, ``bicubic_psnr``,
``bicubic_ssim``, ``seconds``: the means of each setting's MLflow run, without their ``eval_`` prefix).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

SWEEP_TABLE_FILE = "sweep_table.csv"
_METRIC_PREFIX = "eval_"


@dataclass(frozen=True)
class SweepRow:
    setting: Mapping[str, str]
    """Swept key (as a request param) -> its value as given, in the flags' order."""
    metrics: Mapping[str, float]
    """``eval_<metric>`` means of the setting's run."""
    run_id: str
    """The setting's MLflow run."""


def sweep_table(rows: Sequence[SweepRow]) -> pd.DataFrame:
    """One row per setting: its setting columns, then every metric any row has (first-seen order;
    NaN where a row lacks it)."""
    if not rows:
        raise ValueError("a sweep table needs one setting at least")
    setting_columns = list(dict.fromkeys(key for row in rows for key in row.setting))
    metric_keys = list(dict.fromkeys(key for row in rows for key in row.metrics))
    records = [
        {**{key: row.setting.get(key) for key in setting_columns},
         **{_metric_column(key): row.metrics.get(key, float("nan")) for key in metric_keys}}
        for row in rows
    ]
    return pd.DataFrame(records, columns=setting_columns + [_metric_column(key) for key in metric_keys])


def _metric_column(key: str) -> str:
    return key.removeprefix(_METRIC_PREFIX)


def write_sweep_table(table: pd.DataFrame, output_dir: Path) -> Path:
    """``table`` as ``<output_dir>/sweep_table.csv`` (the folder made if needed); returns the path."""
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / SWEEP_TABLE_FILE
    table.to_csv(path, index=False)
    return path

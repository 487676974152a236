"""The Dagster resource that says which mmsr config the retraining assets and sensor run on.

Either an mmsr YAML file (exactly what ``mmsr <command> --config FILE`` reads) or, with no file,
the embedded quickstart defaults under ``workdir`` (demo photos, tiny models, SQLite catalog
and MLflow), so ``dagster dev`` works on a fresh clone with nothing downloaded.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from orchestration.config_loading import load_config
from orchestration.mmsr_config import MmsrConfig
from orchestration.quickstart.quickstart_models import ensure_quickstart_models
from orchestration.quickstart.quickstart_preset import quickstart_preset
from pipelines.demo_photos import write_demo_photos


class MmsrConfigResource(dg.ConfigurableResource):
    """Where the mmsr config comes from; every asset and the sensor call :meth:`load`."""

    config_path: str | None = None
    """An mmsr YAML config (sections preprocess, featurestore, train, tracking, serve); None = embedded defaults."""
    workdir: str = "mmsr-runs"
    """Root of the embedded defaults (as ``mmsr quickstart --workdir``); unused with ``config_path``."""
    overrides: list[str] = []  # noqa: RUF012 (a pydantic field: each instance gets its own copy)
    """``KEY=VALUE`` overrides applied last, as ``mmsr --set`` (e.g. ``train.steps=200``)."""

    @property
    def embedded(self) -> bool:
        """True when running on the embedded quickstart defaults (no config file)."""
        return self.config_path is None

    def load(self) -> MmsrConfig:
        """The validated config; ConfigError (one line naming the key) if it is invalid."""
        defaults = quickstart_preset(str(Path(self.workdir).resolve())) if self.embedded else None
        return load_config(MmsrConfig, self.config_path, list(self.overrides), defaults)

    def prepare_embedded_inputs(self, config: MmsrConfig) -> None:
        """Embedded defaults only: write the demo photos if the input folder is missing, and
        build the tiny models that are missing (both as ``mmsr quickstart`` does). No-op otherwise.

        An existing input folder is left as it is, so images added to or removed from it are what
        the next run (and the new-images sensor) sees.
        """
        if not self.embedded:
            return
        inputs = Path(config.preprocess.input)
        if not inputs.exists():
            write_demo_photos(inputs)
        ensure_quickstart_models(config)

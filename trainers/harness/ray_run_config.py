"""The settings every Ray Train job here shares: workers, precision, checkpoints, where Ray runs.

``TrainConfig`` (``train:``) and ``VqTrainConfig`` (``vq_train:``) extend :class:`RayRunConfig`, so
their YAML sections stay flat and both jobs read, check and resolve these fields one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True, kw_only=True)
class RayRunConfig:
    num_workers: int = 2
    cpus_per_worker: int = 1
    """Ray CPUs (and so torch threads: Ray sets OMP_NUM_THREADS) of each training worker."""
    use_gpu: bool = False
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    """Autocast dtype of the forward pass and loss (``trainers.harness.mixed_precision``): bf16 runs on GPU
    and CPU; fp16 (with dynamic loss scaling) needs ``use_gpu``. Weights stay float32."""
    checkpoint_every: int = 500
    max_failures: int = 2
    """Worker-group restarts Ray Train allows; each resumes from the last checkpoint."""
    log_every: int = 1
    seed: int = 0
    ray_address: str | None = None
    """Ray cluster to join ("auto", "ray://head:10001"); None starts a local Ray for the command."""
    storage_path: str = "mmsr-runs/ray"
    """Where Ray Train keeps checkpoints (local path or fsspec URL)."""

    def check_run_fields(self, section: str) -> None:
        """Range checks of the shared fields; ``section`` names the YAML section in the message."""
        for name in ("num_workers", "cpus_per_worker", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{section}.{name} must be >= 1, got {getattr(self, name)}")
        if self.max_failures < 0:
            raise ValueError(f"{section}.max_failures must be >= 0, got {self.max_failures}")
        if self.mixed_precision == "fp16" and not self.use_gpu:
            raise ValueError(f"{section}.mixed_precision: fp16 needs {section}.use_gpu: true (on CPU use bf16 or no)")

    @property
    def cpus(self) -> int:
        """Ray CPUs the training workers take together."""
        return self.num_workers * self.cpus_per_worker

    def absolute_storage_path(self) -> str:
        """``storage_path`` made absolute when local: Ray workers run in their own working directory."""
        return self.storage_path if "://" in self.storage_path else str(Path(self.storage_path).resolve())

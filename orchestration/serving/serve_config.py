"""How a registered model is served and what a request may ask for."""

from __future__ import annotations

from dataclasses import dataclass, field

from trainers.models.inference_device import InferenceDevice, InferencePrecision
from trainers.models.sampling_options import SamplingOptions


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 5005
    workers: int = 1
    """Scoring worker processes (uvicorn workers), each holding one replica of the model."""
    threads: int | None = None
    """Torch/OpenMP threads per worker; None: the machine's cores divided among the workers."""
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    """How requests and evaluations sample by default (YAML ``serve.sampling.steps`` etc.; a
    request's params override them: ``SamplingOptions.with_params``)."""
    device: InferenceDevice = "auto"
    """Where the model runs when served or evaluated: auto = the first GPU if there is one, else the CPU."""
    precision: InferencePrecision = "auto"
    """Weights and activations: auto = bf16 (fp16 without bf16 support) on a GPU, fp32 on the CPU."""
    max_input_pixels: int = 1024 * 1024
    """Larger LR inputs are refused (the model tiles, but requests must stay bounded)."""
    max_rows: int = 16
    """Most images in one request."""

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"serve.port must be in 1..65535, got {self.port}")
        if self.max_input_pixels < 1:
            raise ValueError(f"serve.max_input_pixels must be >= 1, got {self.max_input_pixels}")
        if self.max_rows < 1:
            raise ValueError(f"serve.max_rows must be >= 1, got {self.max_rows}")
        if self.workers < 1:
            raise ValueError(f"serve.workers must be >= 1, got {self.workers}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"serve.threads must be >= 1 (or null for cores / workers), got {self.threads}")

    def placement(self) -> dict[str, str]:
        """``model_config`` keys that put a loaded model on ``device`` in ``precision``."""
        return {"device": self.device, "precision": self.precision}

    def worker_threads(self, cpu_count: int) -> int:
        """Torch threads of each worker on a machine of ``cpu_count`` cores."""
        return self.threads if self.threads is not None else max(1, cpu_count // self.workers)

"""How one super-resolution is sampled: the options the sampler (``MMSRPipeline.__call__``) takes,
in one type that serving (request params), evaluation and the config share, with one set of bounds."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from featurestore.modality import Modality

GuidanceMode = Literal["none", "cfg", "m_empty-cfg", "m-cfg"]
"""What the negative branch sees (``trainers.models.guidance`` defines each); kept here, free of
torch, so that configs holding sampling options load without the model stack."""
GUIDANCE_MODES: tuple[str, ...] = ("none", "cfg", "m_empty-cfg", "m-cfg")
TemperatureSchedule = Literal["auto", "constant", "timestep_aware"]
"""How the per-modality temperatures vary over the denoising steps: ``constant`` (MMSR: s_m at
every step), ``timestep_aware`` (M3ESR: s_m * 2 tau_m(t), tau_m(t) learned by a model whose MMLC
has ``temperature_mode="timestep"``, see ``trainers.models.timestep_temperature``), ``auto``:
timestep_aware on such a model, constant on the others."""
TEMPERATURE_SCHEDULES: tuple[str, ...] = ("auto", "constant", "timestep_aware")

NOTHING = "none"
"""The ``disable_modalities`` value that disables nothing (as the empty string does)."""
SEED_RANGE = (0, 2**63 - 1)
"""Seeds accepted (a signed 64-bit integer, as the request schema's ``long`` and torch's generators take)."""
TEMPERATURE_RANGE = (0.05, 20.0)
"""Per-modality attention temperatures accepted (1.0 = as trained)."""


@dataclass(frozen=True)
class SamplingOptions:
    guidance_mode: GuidanceMode = "m-cfg"
    """What the negative branch sees (``trainers.models.guidance``); "none" = one UNet pass."""
    guidance_scale: float = 4.0
    steps: int = 50
    seed: int = 0
    """Seeds the initial noise (one generator per request or batch)."""
    negative_prompt: str | None = None
    """The negative branch's caption in every guided mode (None: the empty string "", as standard CFG)."""
    temperatures: Mapping[str, float] = field(default_factory=dict)
    """Per-modality attention temperature s (delta = s * sqrt(d_k)), by modality name."""
    temperature_schedule: TemperatureSchedule = "auto"
    """Constant s or M3ESR's timestep-aware s * 2 tau_m(t) (see :data:`TemperatureSchedule`)."""
    disabled: tuple[str, ...] = ()
    """Modalities sampled as m_empty even when extracted from the LR or given (request param
    ``disable_modalities``: names separated by commas; "" or "none": nothing disabled)."""

    def __post_init__(self) -> None:
        if self.guidance_mode not in GUIDANCE_MODES:
            raise ValueError(f"guidance_mode must be one of {', '.join(GUIDANCE_MODES)}, got {self.guidance_mode!r}")
        if self.temperature_schedule not in TEMPERATURE_SCHEDULES:
            raise ValueError(
                f"temperature_schedule must be one of {', '.join(TEMPERATURE_SCHEDULES)}, got {self.temperature_schedule!r}"
            )
        if self.steps < 1:  # at most the model's train timesteps: MMSRPipeline.check_steps
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not (math.isfinite(self.guidance_scale) and self.guidance_scale >= 0):
            raise ValueError(f"guidance_scale must be a finite number >= 0, got {self.guidance_scale}")
        if not SEED_RANGE[0] <= self.seed <= SEED_RANGE[1]:
            raise ValueError(f"seed must be in {SEED_RANGE[0]}..{SEED_RANGE[1]} (2**63 - 1), got {self.seed}")
        low, high = TEMPERATURE_RANGE
        for name, value in self.temperatures.items():
            if name not in {m.value for m in Modality}:
                raise ValueError(f"temperature_{name}: {name!r} is not a modality")
            if not low <= value <= high:
                raise ValueError(f"temperature_{name} must be in [{low}, {high}], got {value}")
        unknown = [name for name in self.disabled if name not in {m.value for m in Modality}]
        if unknown:
            raise ValueError(f"disable_modalities: {unknown} are not modalities ({', '.join(m.value for m in Modality)})")

    def with_params(self, params: Mapping[str, Any] | None) -> SamplingOptions:
        """These options with request params applied (``temperature_<modality>`` keys give
        temperatures; an empty ``negative_prompt`` means none); ValueError naming an unknown key."""
        params = dict(params or {})
        unknown = sorted(str(key) for key in params if key not in PARAM_KEYS)
        if unknown:
            raise ValueError(f"unknown params {unknown}; accepted: {', '.join(PARAM_KEYS)}")
        temperatures = dict(self.temperatures)
        for modality in Modality:
            key = f"temperature_{modality.value}"
            if key in params:
                temperatures[modality.value] = _cast(key, PARAM_TYPES[key], params[key])
        changes: dict[str, Any] = {"temperatures": temperatures}
        for name in ("guidance_mode", "guidance_scale", "steps", "seed", "temperature_schedule"):
            if name in params:
                changes[name] = _cast(name, PARAM_TYPES[name], params[name])
        if "negative_prompt" in params:
            changes["negative_prompt"] = str(params["negative_prompt"] or "") or None
        if "disable_modalities" in params:
            names = str(params["disable_modalities"] or "").split(",")
            changes["disabled"] = tuple(dict.fromkeys(n.strip() for n in names if n.strip() not in ("", NOTHING)))
        return replace(self, **changes)

    def as_params(self) -> dict[str, Any]:
        """Request params that reproduce these options (``with_params`` of the defaults)."""
        params = {k: v for k, v in asdict(self).items() if k not in ("temperatures", "negative_prompt", "disabled")}
        params["negative_prompt"] = self.negative_prompt or ""
        params["disable_modalities"] = ",".join(self.disabled)
        return params | {f"temperature_{name}": value for name, value in self.temperatures.items()}

    def disabled_modalities(self) -> frozenset[Modality]:
        """The modalities this sampling leaves m_empty."""
        return frozenset(Modality(name) for name in self.disabled)

    def modality_temperatures(self) -> dict[Modality, float] | None:
        """The temperatures keyed by modality, as the pipeline takes them (None when none is set)."""
        return {Modality(name): value for name, value in self.temperatures.items()} or None


def _cast(name: str, cast: type, value: Any) -> Any:
    try:
        return cast(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a {cast.__name__}, got {value!r}") from None


PARAM_TYPES: dict[str, type] = {
    "guidance_mode": str, "guidance_scale": float, "steps": int, "seed": int, "negative_prompt": str,
    "disable_modalities": str, **{f"temperature_{modality.value}": float for modality in Modality},
    "temperature_schedule": str,
}
"""The request params :meth:`SamplingOptions.with_params` accepts, each with the type it is cast to."""
PARAM_KEYS: tuple[str, ...] = tuple(PARAM_TYPES)

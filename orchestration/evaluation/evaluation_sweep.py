"""``mmsr evaluate --sweep``: the settings of a sweep, e.g. the paper's temperature and guidance
tables from one command.

    mmsr evaluate --model models:/mmsr-sr@champion --sweep temperature.depth=0.5,1,2 --sweep guidance_mode=cfg,m-cfg

Each ``--sweep KEY=V1,V2,...`` names a sampling option (``trainers.models.sampling_options``) and
its values; several flags give every combination. ``disable_modalities`` takes ``none`` (nothing
disabled) or modality names, ``+`` joining several (``depth+edges``). Every setting is checked
before anything runs (a bad key or value is one error line); ``sweep_evaluation`` then runs them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from trainers.models.sampling_options import SamplingOptions

SWEEP_KEYS: dict[str, str] = {
    "guidance_mode": "guidance_mode",
    "guidance_scale": "guidance_scale",
    "negative_prompt": "negative_prompt",
    "steps": "steps",
    "seed": "seed",
    "disable_modalities": "disable_modalities",
    "temperature_schedule": "temperature_schedule",
    **{f"temperature.{m}": f"temperature_{m}" for m in ("caption", "depth", "segmentation", "edges")},
}
"""``--sweep`` key -> request param of :class:`SamplingOptions`."""


def parse_sweep_flag(flag: str) -> tuple[str, list[str]]:
    """``KEY=V1,V2`` -> (the request param KEY names, the values); ValueError naming what is wrong."""
    key, sep, values = flag.partition("=")
    key = key.strip()
    if not sep or not values.strip():
        raise ValueError(f"--sweep {flag!r}: expected KEY=V1,V2,... (keys: {', '.join(SWEEP_KEYS)})")
    if key not in SWEEP_KEYS:
        raise ValueError(f"--sweep {flag!r}: unknown key {key!r} (keys: {', '.join(SWEEP_KEYS)})")
    return SWEEP_KEYS[key], [value.strip() for value in values.split(",")]


def sweep_settings(flags: Sequence[str], defaults: SamplingOptions) -> list[tuple[dict[str, Any], SamplingOptions]]:
    """Every combination of the flags' values: (the setting as request params, the options it gives),
    in the flags' order; ValueError (naming the setting) if any of them is invalid."""
    axes = [parse_sweep_flag(flag) for flag in flags]
    names = [name for name, _ in axes]
    if len(set(names)) != len(names):
        raise ValueError(f"--sweep names an option twice: {names}")
    settings = []
    for values in itertools.product(*(values for _, values in axes)):
        setting = dict(zip(names, values))
        try:
            settings.append((setting, defaults.with_params(_request_params(setting))))
        except (TypeError, ValueError) as error:
            raise ValueError(f"--sweep setting {setting}: {error}") from None
    return settings


def _request_params(setting: dict[str, Any]) -> dict[str, Any]:
    """A setting as request params: ``disable_modalities`` ``depth+edges`` -> ``depth,edges``."""
    if "disable_modalities" not in setting:
        return setting
    return {**setting, "disable_modalities": str(setting["disable_modalities"]).replace("+", ",")}


def setting_label(setting: dict[str, Any]) -> str:
    """``temperature_depth=0.5 guidance_mode=cfg``: how a setting is printed and tagged."""
    return " ".join(f"{name}={value}" for name, value in setting.items())

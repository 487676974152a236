"""SamplingOptions: request params in, every bad value refused with a message naming the param."""

from __future__ import annotations

import pytest

from trainers.models.sampling_options import PARAM_KEYS, SamplingOptions


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"guidance_scale": float("inf")}, "guidance_scale"),
        ({"guidance_scale": float("nan")}, "guidance_scale"),
        ({"guidance_scale": "Infinity"}, "guidance_scale"),
        ({"seed": 2**64}, "seed"),
        ({"seed": -1}, "seed"),
        ({"steps": 0}, "steps"),
        ({"steps": float("inf")}, "steps"),
        ({"temperature_depth": float("nan")}, "temperature_depth"),
        ({"temperature_bogus": 1.0}, "temperature_bogus"),
        ({"temperature_schedule": "linear"}, "temperature_schedule"),
    ],
)
def test_a_bad_param_is_refused_naming_it(params: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        SamplingOptions().with_params(params)


def test_an_unknown_key_lists_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match="accepted: guidance_mode, guidance_scale, steps, seed") as error:
        SamplingOptions().with_params({"temperature_bogus": 1.0})
    assert all(key in str(error.value) for key in PARAM_KEYS)


def test_the_largest_seed_and_any_step_count_are_accepted_here() -> None:
    """The upper bound of steps is the model's (``MMSRPipeline.check_steps``), not the options'."""
    options = SamplingOptions().with_params({"seed": 2**63 - 1, "steps": 1000})
    assert (options.seed, options.steps) == (2**63 - 1, 1000)
    assert SamplingOptions().with_params(options.as_params()) == options


def test_the_temperature_schedule_is_a_param_that_round_trips() -> None:
    options = SamplingOptions().with_params({"temperature_schedule": "timestep_aware", "temperature_depth": 2.0})
    assert options.temperature_schedule == "timestep_aware" and SamplingOptions().temperature_schedule == "auto"
    assert options.as_params()["temperature_schedule"] == "timestep_aware"
    assert SamplingOptions().with_params(options.as_params()) == options


def test_disable_modalities_none_disables_nothing() -> None:
    assert SamplingOptions().with_params({"disable_modalities": "none"}).disabled == ()
    assert SamplingOptions().with_params({"disable_modalities": "depth, edges"}).disabled == ("depth", "edges")

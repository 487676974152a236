"""Beam options per runner: required flags checked when the config is built, packaging on request."""

from __future__ import annotations

from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import (
    DirectOptions,
    FlinkRunnerOptions,
    GoogleCloudOptions,
    PipelineOptions,
    PortableOptions,
    SetupOptions,
    SparkRunnerOptions,
    StandardOptions,
)

from orchestration.config_loading import ConfigError, parse_config
from pipelines.preprocess_config import PreprocessConfig
from pipelines.preprocess_job import pipeline_options
from pipelines.runner_options import RunnerConfig, beam_flags, flag_names

DATAFLOW = ("--project=my-proj", "--region=europe-west4", "--temp_location=gs://bucket/tmp")
PYPROJECT = str(Path(__file__).parents[2] / "pyproject.toml")


def options_for(runner: RunnerConfig) -> PipelineOptions:
    return pipeline_options(PreprocessConfig(crop_size=64, runner=runner))


def test_flag_names_reads_both_flag_forms() -> None:
    assert flag_names(["--project=p", "--region", "europe-west4", "--streaming", "value"]) == {
        "project", "region", "streaming",
    }


@pytest.mark.parametrize("missing", ["project", "region", "temp_location"])
def test_dataflow_without_a_required_flag_is_a_one_line_error_naming_it(missing: str) -> None:
    options = tuple(option for option in DATAFLOW if not option.startswith(f"--{missing}="))
    with pytest.raises(ValueError, match=rf"^runner\.options must set --{missing} for DataflowRunner \(e\.g\. --{missing}=") as info:
        RunnerConfig(runner="DataflowRunner", options=options)
    assert "\n" not in str(info.value)


def test_a_missing_dataflow_flag_stops_config_loading() -> None:
    data = {"crop_size": 64, "runner": {"runner": "DataflowRunner", "options": ["--project=p", "--region=r"]}}
    with pytest.raises(ConfigError, match="--temp_location"):
        parse_config(PreprocessConfig, data)


def test_runner_flag_in_options_is_refused() -> None:
    with pytest.raises(ValueError, match="must not set --runner"):
        RunnerConfig(options=("--runner=DataflowRunner",))


def test_dataflow_options() -> None:
    options = options_for(RunnerConfig(runner="DataflowRunner", options=(*DATAFLOW, "--max_num_workers=8")))
    cloud = options.view_as(GoogleCloudOptions)
    assert options.view_as(StandardOptions).runner == "DataflowRunner"
    assert (cloud.project, cloud.region, cloud.temp_location) == ("my-proj", "europe-west4", "gs://bucket/tmp")
    assert options.get_all_options()["max_num_workers"] == 8
    assert not any(flag.startswith("--direct_") for flag in beam_flags(RunnerConfig(runner="DataflowRunner", options=DATAFLOW)))


def test_flink_options() -> None:
    runner = RunnerConfig(
        runner="FlinkRunner", options=("--flink_master=flink-jm:8081", "--environment_type=PROCESS", "--parallelism=4")
    )
    options = options_for(runner)
    assert options.view_as(StandardOptions).runner == "FlinkRunner"
    assert options.view_as(FlinkRunnerOptions).flink_master == "flink-jm:8081"
    assert options.view_as(FlinkRunnerOptions).parallelism == 4
    assert options.view_as(PortableOptions).environment_type == "PROCESS"


def test_portable_runner_needs_a_job_endpoint() -> None:
    with pytest.raises(ValueError, match=r"must set --job_endpoint for PortableRunner"):
        RunnerConfig(runner="PortableRunner", options=("--environment_type=EXTERNAL",))
    flags = ("--job_endpoint=localhost:8099", "--environment_type=EXTERNAL", "--environment_config=localhost:50000")
    options = options_for(RunnerConfig(runner="PortableRunner", options=flags))
    assert options.view_as(StandardOptions).runner == "PortableRunner"
    portable = options.view_as(PortableOptions)
    assert (portable.job_endpoint, portable.environment_type) == ("localhost:8099", "EXTERNAL")


def test_spark_options() -> None:
    options = options_for(RunnerConfig(runner="SparkRunner", options=("--spark_master_url=spark://master:7077",)))
    assert options.view_as(StandardOptions).runner == "SparkRunner"
    assert options.view_as(SparkRunnerOptions).spark_master_url == "spark://master:7077"


def test_direct_runner_runs_on_the_local_fn_api_runner_with_its_settings() -> None:
    runner = RunnerConfig(
        direct_num_workers=2, direct_running_mode="multi_processing", options=("--direct_runner_bundle_repeat=1",)
    )
    direct = options_for(runner).view_as(DirectOptions)
    assert options_for(runner).view_as(StandardOptions).runner == "FnApiRunner"
    assert (direct.direct_num_workers, direct.direct_running_mode, direct.direct_runner_bundle_repeat) == (
        2, "multi_processing", 1,
    )


def test_no_packaging_flags_unless_asked() -> None:
    setup = options_for(RunnerConfig(runner="DataflowRunner", options=DATAFLOW)).view_as(SetupOptions)
    assert (setup.setup_file, setup.requirements_file, setup.extra_packages) == (None, None, None)


def test_packaging_flags_when_asked() -> None:
    runner = RunnerConfig(
        runner="DataflowRunner", options=DATAFLOW, setup_file=PYPROJECT, requirements_file="requirements.txt",
        extra_packages=("dist/mmsr-0.1.0.tar.gz", "dist/extra-1.0-py3-none-any.whl"),
    )
    setup = options_for(runner).view_as(SetupOptions)
    assert setup.setup_file == PYPROJECT and Path(setup.setup_file).is_file()
    assert setup.requirements_file == "requirements.txt"
    assert setup.extra_packages == ["dist/mmsr-0.1.0.tar.gz", "dist/extra-1.0-py3-none-any.whl"]


def test_setup_file_must_be_a_pyproject_or_setup_py() -> None:
    with pytest.raises(ValueError, match="runner.setup_file must be a path to pyproject.toml or setup.py"):
        RunnerConfig(runner="FlinkRunner", setup_file="mmsr/README.md")

"""Which Beam runner runs the preprocessing job (:class:`RunnerConfig`) and its pipeline flags, checked early.

- ``DirectRunner`` runs on Beam's local batch runner, the ``FnApiRunner``. Beam's own
  ``DirectRunner`` would first try to download and start the Prism runner, which ignores
  ``direct_num_workers`` / ``direct_running_mode`` / ``--direct_runner_bundle_repeat``; naming
  the ``FnApiRunner`` keeps local runs offline and honours those settings.
- ``PortableRunner`` submits to any Beam job service (``--job_endpoint``: a Flink or Spark job
  server, or Beam's own ``local_job_service_main``); ``--environment_type`` says where the SDK
  workers run (``DOCKER``, ``PROCESS``, or ``EXTERNAL`` for a worker pool you start,
  ``python -m apache_beam.runners.worker.worker_pool_main``).
- Remote runners get only ``--runner`` plus the user's ``options``; the flags a runner cannot
  start without (:data:`REQUIRED_FLAGS`) are checked when the config is built, so a missing
  ``--project`` is a one-line error before any input is listed or any model is loaded.
- Remote workers must be able to import this project (``pipelines``, ``featurestore``,
  ``trainers``). Beam ships it when asked, through ``RunnerConfig``:

  - ``setup_file``: this repository's ``pyproject.toml`` (or a ``setup.py``). Beam builds an
    sdist with ``python -m build --sdist --no-isolation`` (install ``build`` first) and every
    worker pip-installs it with its dependencies.
  - ``extra_packages``: sdists / wheels built beforehand (``python -m build --sdist`` gives
    ``dist/mmsr-0.1.0.tar.gz``), pip-installed on every worker.
  - ``requirements_file``: a pip requirements file installed on every worker (third-party
    dependencies only; the project itself still needs one of the two above or a custom
    container, ``--sdk_container_image``).

  Nothing is added unless one of these fields is set.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

LOCAL_RUNNER = "FnApiRunner"
"""The Beam runner that executes ``runner: DirectRunner``."""

REQUIRED_FLAGS: dict[str, tuple[str, ...]] = {
    "DataflowRunner": ("project", "region", "temp_location"),
    "PortableRunner": ("job_endpoint",),
}
"""Flags (without ``--``) that ``RunnerConfig.options`` must set for each runner."""

_EXAMPLES = {
    "project": "--project=my-gcp-project",
    "region": "--region=europe-west4",
    "temp_location": "--temp_location=gs://my-bucket/tmp",
    "job_endpoint": "--job_endpoint=localhost:8099",
}
SETUP_FILE_NAMES = ("pyproject.toml", "setup.py")


def flag_names(options: Sequence[str]) -> frozenset[str]:
    """Names of the ``--flag=value`` / ``--flag value`` / ``--flag`` entries in ``options``."""
    return frozenset(option[2:].split("=", 1)[0] for option in options if option.startswith("--"))


def check_runner_options(runner: str, options: Sequence[str]) -> None:
    """Raise ValueError naming the first problem: ``--runner`` in options, or a required flag missing."""
    names = flag_names(options)
    if "runner" in names:
        raise ValueError("runner.options must not set --runner; choose the runner with runner.runner")
    for name in REQUIRED_FLAGS.get(runner, ()):
        if name not in names:
            example = _EXAMPLES.get(name, f"--{name}=...")
            raise ValueError(f"runner.options must set --{name} for {runner} (e.g. {example})")


def check_setup_file(setup_file: str | None) -> None:
    """Raise ValueError unless ``setup_file`` is None or names a pyproject.toml / setup.py."""
    if setup_file is not None and posixpath.basename(setup_file) not in SETUP_FILE_NAMES:
        raise ValueError(f"runner.setup_file must be a path to pyproject.toml or setup.py, got {setup_file!r}")


def packaging_flags(config: RunnerConfig) -> list[str]:
    """``--setup_file`` / ``--requirements_file`` / ``--extra_package`` for the fields that are set."""
    flags = [f"--setup_file={config.setup_file}"] if config.setup_file else []
    flags += [f"--requirements_file={config.requirements_file}"] if config.requirements_file else []
    return flags + [f"--extra_package={package}" for package in config.extra_packages]


def beam_flags(config: RunnerConfig) -> list[str]:
    """Every Beam flag for ``config``: runner, local-runner settings, packaging, then ``options``."""
    if config.runner == "DirectRunner":
        flags = [
            f"--runner={LOCAL_RUNNER}",
            f"--direct_num_workers={config.direct_num_workers}",
            f"--direct_running_mode={config.direct_running_mode}",
        ]
    else:
        flags = [f"--runner={config.runner}"]
    return flags + packaging_flags(config) + list(config.options)


RunningMode = Literal["in_memory", "multi_threading", "multi_processing"]
"""How the local runner runs its workers: in the driver's process, as threads, or as processes."""


@dataclass(frozen=True)
class RunnerConfig:
    """Which Beam runner executes the job; extra pipeline options pass through verbatim.

    ``DirectRunner`` runs locally on Beam's FnApiRunner; remote runners need their flags in
    ``options`` (Dataflow: ``--project``, ``--region``, ``--temp_location``, checked here) and
    the project shipped to their workers with ``setup_file`` or ``extra_packages``. See
    the module docstring.
    """

    runner: Literal["DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner", "PortableRunner"] = "DirectRunner"
    direct_num_workers: int = 1
    direct_running_mode: RunningMode = "in_memory"
    worker_threads: int | None = None
    """torch / OpenCV intra-op threads in each worker process; None keeps the libraries' default
    (all cores). With ``direct_num_workers`` processes on N cores, N // workers avoids oversubscription."""
    options: tuple[str, ...] = ()
    """Extra Beam flags, e.g. ``("--project=my-proj", "--region=europe-west4")``."""
    setup_file: str | None = None
    """This repository's ``pyproject.toml``: Beam builds an sdist of it and installs it on every worker."""
    requirements_file: str | None = None
    """A pip requirements file installed on every worker."""
    extra_packages: tuple[str, ...] = ()
    """Pre-built sdists / wheels (e.g. ``dist/mmsr-0.1.0.tar.gz``) installed on every worker."""

    def __post_init__(self) -> None:
        if self.direct_num_workers < 1:
            raise ValueError(f"runner.direct_num_workers must be >= 1, got {self.direct_num_workers}")
        if self.worker_threads is not None and self.worker_threads < 1:
            raise ValueError(f"runner.worker_threads must be >= 1 (or null), got {self.worker_threads}")
        check_runner_options(self.runner, self.options)
        check_setup_file(self.setup_file)

"""Start (and stop) a local Ray when none is running; connect to a cluster otherwise."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import ray
import ray.data


@contextlib.contextmanager
def local_ray(train_cpus: int, address: str | None = None) -> Iterator[None]:
    """Ray for one command. Locally, logical CPUs = physical + the training workers' CPUs, so the
    training workers never starve the Ray Data tasks that stream the snapshot to them."""
    if ray.is_initialized():
        yield
        return
    if address:
        ray.init(address=address)
    else:
        ray.init(
            num_cpus=(os.cpu_count() or 1) + train_cpus,
            include_dashboard=False,
            log_to_driver=True,
            configure_logging=False,
        )
    quiet_data_progress()
    try:
        yield
    finally:
        ray.shutdown()


def quiet_data_progress() -> None:
    """One line per training step is progress enough: no per-operator Ray Data bars in the log."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.enable_operator_progress_bars = False

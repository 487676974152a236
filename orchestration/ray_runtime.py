"""Start (and stop) a local Ray when none is running; connect to a cluster otherwise."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import ray
import ray.data

LOG = logging.getLogger(__name__)

@contextlib.contextmanager
def local_ray(train_cpus: int, address: str | None = None, log_to_driver: bool = True) -> Iterator[None]:
    """Ray for one command. Locally, logical CPUs = physical + the training workers' CPUs, so the
    training workers never starve the Ray Data tasks that stream the snapshot to them.
    ``log_to_driver=False`` leaves the workers' output in Ray's session logs (their folder is logged)."""
    if ray.is_initialized():
        yield
        return
    if address:
        context = ray.init(address=address, log_to_driver=log_to_driver)
    else:
        context = ray.init(
            num_cpus=(os.cpu_count() or 1) + train_cpus,
            include_dashboard=False,
            log_to_driver=log_to_driver,
            configure_logging=False,
        )
    LOG.info("Ray worker logs: %s/logs", context.address_info.get("session_dir"))
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

"""Start (and stop) a local Ray when none is running; connect to a cluster otherwise."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import ray


@contextlib.contextmanager
def local_ray(train_workers: int, address: str | None = None) -> Iterator[None]:
    """Ray for one command. Locally, logical CPUs = physical + train workers, so the training
    workers (1 CPU each) never starve the Ray Data tasks that stream the snapshot to them."""
    if ray.is_initialized():
        yield
        return
    if address:
        ray.init(address=address)
    else:
        ray.init(
            num_cpus=(os.cpu_count() or 1) + train_workers,
            include_dashboard=False,
            log_to_driver=True,
            configure_logging=False,
        )
    try:
        yield
    finally:
        ray.shutdown()

"""Run an iterator ahead in a background thread, so its work overlaps the consumer's."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_END = object()


def prefetched(items: Iterator[T], depth: int) -> Iterator[T]:
    """``items`` in their order, produced by one daemon thread at most ``depth`` ahead of the
    consumer; an exception raised by ``items`` is raised here, where its item would have been.

    Training uses it for on-the-fly LR draws (CPU) while the step runs (GPU). The one producer
    keeps the order, so what each item holds does not depend on timing.
    """
    if depth < 1:
        raise ValueError(f"prefetch depth must be >= 1, got {depth}")
    ahead: queue.Queue[object] = queue.Queue(maxsize=depth)

    def produce() -> None:
        try:
            for item in items:
                ahead.put(item)
        except BaseException as error:  # handed to the consumer, never lost in the thread
            ahead.put(_Failed(error))
            return
        ahead.put(_END)

    threading.Thread(target=produce, name="prefetch", daemon=True).start()
    while True:
        item = ahead.get()
        if item is _END:
            return
        if isinstance(item, _Failed):
            raise item.error
        yield item  # type: ignore[misc]

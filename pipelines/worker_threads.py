"""Intra-op thread counts of the numeric libraries in a worker process."""

from __future__ import annotations

import cv2
import torch


def limit_threads(threads: int | None) -> None:
    """Run torch and OpenCV on ``threads`` intra-op threads in this process (None: leave as is).

    With several worker processes on one machine each should get its share of the cores
    (``cores // workers``); libraries default to all cores per process and then oversubscribe.
    """
    if threads is None:
        return
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    cv2.setNumThreads(threads)

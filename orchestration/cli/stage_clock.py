"""A command's progress bar (one tick per stage) and each stage's wall time."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TextIO

from tqdm import tqdm


class StageClock:
    """``with clock.stage(name, label): ...`` per stage; :meth:`close` returns each stage's seconds.

    ``file`` is where the bar is drawn: the terminal while :mod:`orchestration.cli.console_log`
    sends the libraries' stderr to the log file."""

    def __init__(self, stages: int, desc: str, file: TextIO | None = None) -> None:
        self.bar = tqdm(total=stages, desc=desc, unit="stage", dynamic_ncols=True, file=file)
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str, label: str) -> Iterator[None]:
        self.bar.set_postfix_str(label)
        started = time.monotonic()
        try:
            yield
        except BaseException:  # the bar is wiped, so the error's one line is what the terminal shows
            self.bar.leave = False
            self.bar.close()
            raise
        self.seconds[name] = time.monotonic() - started
        self.bar.update()

    def close(self) -> dict[str, float]:
        self.bar.close()
        return dict(self.seconds)

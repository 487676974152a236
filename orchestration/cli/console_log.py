"""Quiet by default: library output goes to a log file under the workdir, the console keeps the
progress bars, the summary and the one-line errors; ``--verbose`` shows everything live.

Inside :meth:`ConsoleLog.capture` the process's stderr (Python's ``sys.stderr`` and file
descriptor 2, so C++ and subprocess output too) and file descriptor 1 go to the log file, and the
root logger writes there; ``sys.stdout`` stays the terminal, so the commands' ``print`` summaries
still show. Ray workers' output is kept off the driver (``log_to_driver``) and stays in Ray's own
session logs, whose folder the log file names.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

QUIET_COMMANDS = frozenset({"quickstart", "preprocess", "train", "train-vq", "evaluate", "promote"})
"""Commands that start Beam, Ray or load models, so log to a file; the others keep the console."""
DEFAULT_WORKDIR = "mmsr-runs"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_workdir(catalog_uri: str) -> str:
    """The workdir whose ``logs/`` a command writes to, from its feature-store catalog URI: the folder
    above the SQLite catalog's folder (``mmsr-runs`` for ``sqlite:///mmsr-runs/featurestore/catalog.db``,
    as the quickstart lays it out), :data:`DEFAULT_WORKDIR` for a catalog server."""
    prefix = "sqlite:///"
    if not catalog_uri.startswith(prefix):
        return DEFAULT_WORKDIR
    return str(Path(catalog_uri[len(prefix):]).parent.parent)


def log_path(workdir: str | Path, command: str, now: datetime | None = None) -> Path:
    """``<workdir>/logs/<command>-<UTC time>.log``."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return Path(workdir) / "logs" / f"{command}-{stamp}.log"


def _fd_stream(stream: TextIO, fd: int) -> TextIO | None:
    """A new text stream on a duplicate of ``fd`` if ``stream`` writes to ``fd`` (None otherwise,
    e.g. under pytest's capture, where ``stream`` is kept as it is)."""
    try:
        if stream.fileno() != fd:
            return None
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None
    return os.fdopen(os.dup(fd), "w", buffering=1, encoding=getattr(stream, "encoding", None) or "utf-8")


@dataclass(frozen=True)
class ConsoleLog:
    path: Path
    verbose: bool = False
    level: str = "INFO"

    @contextlib.contextmanager
    def capture(self) -> Iterator[TextIO]:
        """Route library output to :attr:`path` (and, with ``verbose``, to the console too); yield
        the stream progress bars write to (the terminal's stderr). Everything is restored on exit."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", buffering=1, encoding="utf-8") as log:
            handler = logging.StreamHandler(log)
            handler.setFormatter(logging.Formatter(LOG_FORMAT))
            root = logging.getLogger()
            saved_handlers, saved_level = list(root.handlers), root.level
            root.setLevel(self.level)
            if not self.verbose:
                for old in saved_handlers:
                    root.removeHandler(old)
            root.addHandler(handler)
            try:
                if self.verbose:
                    yield sys.stderr
                else:
                    with _redirected(log) as terminal:
                        yield terminal
            except Exception:
                logging.getLogger("mmsr").exception("the command failed")
                raise
            finally:
                root.removeHandler(handler)
                for old in saved_handlers:
                    if old not in root.handlers:
                        root.addHandler(old)
                root.setLevel(saved_level)


@contextlib.contextmanager
def _redirected(log: TextIO) -> Iterator[TextIO]:
    """fds 1 and 2 and ``sys.stderr`` into ``log``; ``sys.stdout`` (and the yielded bar stream) to the terminal."""
    sys.stdout.flush()
    sys.stderr.flush()
    out, err = sys.stdout, sys.stderr
    terminal_out, terminal_err = _fd_stream(out, 1), _fd_stream(err, 2)
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    try:
        for fd in (1, 2):
            os.dup2(log.fileno(), fd)
        sys.stdout, sys.stderr = terminal_out or out, log
        yield terminal_err or err
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        sys.stdout, sys.stderr = out, err
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        for stream in (terminal_out, terminal_err):
            if stream is not None:
                stream.close()

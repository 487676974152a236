from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import pytest

from orchestration.cli import main as cli_main
from orchestration.cli.console_log import ConsoleLog, log_path, log_workdir
from orchestration.mmsr_config import MmsrConfig


def _noisy_command(args: argparse.Namespace, config: MmsrConfig) -> int:
    """What a heavy command's libraries do, then its own bar line and summary."""
    logging.getLogger("pyiceberg.io").warning("library-log")
    logging.getLogger("ray.train").info("ray-train-log")
    print("library-stderr", file=sys.stderr)
    os.write(1, b"native-stdout\n")
    os.write(2, b"native-stderr\n")
    print("stage-bar", file=args.progress)
    print("summary-line")
    return 0


def test_library_output_goes_to_the_log_file_and_the_summary_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli_main, "_dispatch", _noisy_command)
    # As in a fresh `mmsr` process, where Ray is imported inside the command: a Ray imported by an
    # earlier test gave the "ray" logger a handler bound to that test's captured stderr.
    monkeypatch.setattr(logging.getLogger("ray"), "handlers", [])
    monkeypatch.setattr(logging.getLogger("ray"), "propagate", True)
    status = cli_main.main(["quickstart", "--workdir", str(tmp_path / "runs")])
    out, err = capfd.readouterr()
    (log,) = (tmp_path / "runs" / "logs").glob("quickstart-*.log")
    text = log.read_text()
    assert status == 0
    assert out.splitlines() == ["summary-line", f"log: {log}"]
    assert err.splitlines() == ["stage-bar"]
    for line in ("library-log", "ray-train-log", "library-stderr", "native-stdout", "native-stderr"):
        assert line in text


def test_verbose_shows_library_output_live_and_still_logs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli_main, "_dispatch", _noisy_command)
    assert cli_main.main(["quickstart", "--verbose", "--workdir", str(tmp_path / "runs")]) == 0
    out, err = capfd.readouterr()
    assert "library-stderr" in err and "native-stderr" in err and "native-stdout" in out
    (log,) = (tmp_path / "runs" / "logs").glob("quickstart-*.log")
    assert "library-log" in log.read_text()


def test_a_failure_is_one_line_naming_the_log_with_the_traceback_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    def broken(args: argparse.Namespace, config: MmsrConfig) -> int:
        raise RuntimeError("worker died\nsecond line")

    monkeypatch.setattr(cli_main, "_dispatch", broken)
    assert cli_main.main(["quickstart", "--workdir", str(tmp_path / "runs")]) == 1
    _, err = capfd.readouterr()
    (log,) = (tmp_path / "runs" / "logs").glob("quickstart-*.log")
    assert err.splitlines() == [f"mmsr: failed: RuntimeError: worker died second line (traceback in {log})"]
    assert "Traceback" in log.read_text()


def test_capture_restores_streams_and_logging(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = (sys.stdout, sys.stderr, list(root.handlers), root.level)
    with ConsoleLog(tmp_path / "a.log").capture():
        logging.getLogger("x").info("inside")
    assert (sys.stdout, sys.stderr, list(root.handlers), root.level) == before
    assert "inside" in (tmp_path / "a.log").read_text()
    assert log_path("w", "train").parent == Path("w/logs")


def test_commands_log_beside_their_feature_store() -> None:
    assert log_workdir("sqlite:///mmsr-runs/featurestore/catalog.db") == "mmsr-runs"  # the quickstart's layout
    assert log_workdir("sqlite:////tmp/t/store/catalog.db") == "/tmp/t"
    assert log_workdir("postgresql+psycopg2://u@db/x") == "mmsr-runs"

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.cli.main import main


def _run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["preprocess", "--input", "/definitely/not/here"], "/definitely/not/here"),
        (["preprocess", "--set", "preprocess.crop_sise=64"], "unknown config key 'preprocess.crop_sise'"),
        (["preprocess", "--set", "preprocess.crop_size=big"], "invalid value for 'preprocess.crop_size'"),
        (["train", "--set", "train.steps=0"], "train.steps must be >= 1"),
        (["promote"], "--version"),
        (["promote", "--version", "1", "--rollback"], "not allowed with argument"),
        (["promote", "--version", "1", "--set", "promotion.gates=[]"], "promotion.gates must name at least one metric"),
        (["no-such-command"], "invalid choice"),
        (["preprocess", "--config", "missing.yaml"], "config file not found: missing.yaml"),
        (["evaluate", "--model", "models:/mmsr-sr/1", "--snapshot", "123"], "snapshot_id 123 is not a snapshot of"),
    ],
)
def test_bad_input_is_one_line_exit_2_no_traceback(args: list[str], needle: str, tmp_path: Path) -> None:
    result = _run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and "WARNING" not in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mmsr: error:")
    assert needle in lines[0]
    assert "Traceback" not in result.stderr


def test_unknown_key_in_yaml_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("train:\n  stepz: 3\n")
    assert main(["train", "--config", str(config)]) == 2
    assert f"{config}: unknown config key 'train.stepz'" in capsys.readouterr().err


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("quickstart", "preprocess", "train", "train-vq", "evaluate", "promote", "serve", "features"):
        assert command in out

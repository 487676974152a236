from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.cli.main import main

pytestmark = pytest.mark.integration  # ~38 s in all, measured on 2 loaded cores


def _run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


BAD_INPUTS = [
    (["preprocess", "--input", "/definitely/not/here"], "/definitely/not/here"),
    (["preprocess", "--set", "preprocess.crop_sise=64"], "unknown config key 'preprocess.crop_sise'"),
    (["preprocess", "--set", "preprocess.crop_size=big"], "invalid value for 'preprocess.crop_size'"),
    (["train", "--set", "train.steps=0"], "train.steps must be >= 1"),
    (["train", "--set", "train.encoding_cache_rows=-1"], "train.encoding_cache_rows must be >= 0"),
    (["train", "--set", "train.cpus_per_worker=0"], "train.cpus_per_worker must be >= 1"),
    (["promote"], "--version"),
    (["promote", "--version", "1", "--rollback"], "not allowed with argument"),
    (["promote", "--version", "1", "--set", "promotion.gates=[]"], "promotion.gates must name at least one metric"),
    (["no-such-command"], "invalid choice"),
    (["preprocess", "--config", "missing.yaml"], "config file not found: missing.yaml"),
    (["evaluate", "--model", "models:/mmsr-sr/1", "--snapshot", "123"], "no feature store exists at"),
]


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip() and "WARNING" not in line]


@pytest.mark.parametrize(("args", "needle"), BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_no_traceback(
    args: list[str], needle: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    try:
        status = main(args)
    except SystemExit as exited:  # argparse's own errors
        status = exited.code
    stderr = capsys.readouterr().err
    lines = _error_lines(stderr)
    assert status == 2, stderr
    assert len(lines) == 1 and lines[0].startswith("mmsr: error:"), stderr
    assert needle in lines[0]
    assert "Traceback" not in stderr


@pytest.mark.parametrize(("args", "needle"), [BAD_INPUTS[0], BAD_INPUTS[7]])
def test_the_python_m_entry_point_exits_2_with_one_line(args: list[str], needle: str, tmp_path: Path) -> None:
    """The same through a real process (``python -m orchestration.cli``): a run-time and an argparse error."""
    result = _run_cli(*args, cwd=tmp_path)
    lines = _error_lines(result.stderr)
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("mmsr: error:") and needle in lines[0], result.stderr
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


@pytest.mark.parametrize(
    ("args", "status"),
    [(["--help"], 0), (["train", "--set", "train.steps=0"], 2), (["serve", "--set", "serve.device=tpu"], 2), (["no-such-command"], 2)],
)
def test_help_and_bad_input_answer_without_loading_the_model_stack(args: list[str], status: int, tmp_path: Path) -> None:
    """Parsing argv and checking the whole config loads no torch, Beam or Ray: it answers in well
    under a second instead of the ~5 s those imports take."""
    probe = (
        "import sys\nfrom orchestration.cli.main import main\n"
        f"try:\n    status = main({args!r})\nexcept SystemExit as exited:\n    status = exited.code\n"
        "heavy = sorted({'torch', 'apache_beam', 'ray', 'diffusers', 'mlflow'} & set(sys.modules))\n"
        "print(status, heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.stdout.splitlines()[-1] == f"{status} []", result.stdout + result.stderr

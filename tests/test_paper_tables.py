"""Every command of docs/paper_tables.md parses, its config overrides validate, its flags go together
and its sweep settings are valid (nothing is run: the data sets are not here)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from orchestration.cli.evaluate_flags import check_evaluate_flags
from orchestration.cli.main import _load, build_parser
from orchestration.evaluation.evaluation_sweep import sweep_settings

DOC = Path(__file__).parents[1] / "docs" / "paper_tables.md"


def doc_commands(text: str) -> list[list[str]]:
    """The ``mmsr ...`` commands of the doc's bash blocks, continuation lines joined, as argv."""
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [shlex.split(line) for line in lines if line.strip().startswith("mmsr ")]


COMMANDS = doc_commands(DOC.read_text())


def test_the_doc_has_every_table_s_commands() -> None:
    assert len(COMMANDS) == 11
    flags = [" ".join(argv) for argv in COMMANDS]
    assert sum("--hr " in f for f in flags) == 1 and sum("--pairs " in f for f in flags) == 2
    for sweep in ("guidance_mode=cfg,m_empty-cfg,m-cfg", "guidance_scale=2,10,14",
                  "disable_modalities=none,caption,depth,segmentation,edges", "temperature_schedule=constant,timestep_aware"):
        assert any(sweep in f for f in flags), sweep


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: " ".join(argv[3:6]))
def test_a_doc_command_parses_and_checks(argv: list[str]) -> None:
    assert argv[:2] == ["mmsr", "evaluate"]
    args = build_parser().parse_args(argv[1:])
    config = _load(args)
    check_evaluate_flags(args)
    assert config.evaluate.convention == "pyiqa-y"
    if args.sweep:
        assert len(sweep_settings(args.sweep, config.serve.sampling)) >= 2
    else:
        assert args.pairs or args.hr

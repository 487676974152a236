"""Every mistake is one line ``mmsr: error: ...`` on stderr, with exit 2 (bad input) or 1 (the data
is damaged), and no traceback; the cases the inputs alone decide answer before the command runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

from orchestration.cli import main as cli_main
from pipelines.modalities.extractor import ModalityExtractionConfig, extractor_versions
from tests.featurestore.conftest import commit_rows, sample_row


def terminal_lines(text: str) -> list[str]:
    """The non-blank lines a terminal shows: a progress bar redraws its line after each ``\r``."""
    shown = (line.rsplit("\r", 1)[-1].strip() for line in text.split("\n"))
    return [line for line in shown if line]


@dataclass(frozen=True)
class Case:
    name: str
    args: Callable[[Path], list[str]]
    """argv, given a directory holding a committed store at ``store/`` and a PNG under ``hr/``."""
    status: int
    needles: tuple[str, ...]
    before_dispatch: bool = False
    """Answered before the command's code (torch, Beam, Ray) loads."""
    marks: tuple[pytest.MarkDecorator, ...] = field(default=())


def _store(root: Path) -> list[str]:
    return ["--set", f"featurestore.catalog_uri=sqlite:///{root}/store/catalog.db",
            "--set", f"featurestore.warehouse={root}/store/warehouse"]


def _made_with_canny_30_90(root: Path) -> list[str]:
    return ["--set", f"featurestore.catalog_uri=sqlite:///{root}/canny/catalog.db",
            "--set", f"featurestore.warehouse={root}/canny/warehouse"]


def _damaged(root: Path) -> list[str]:
    return ["--set", f"featurestore.catalog_uri=sqlite:///{root}/damaged/catalog.db",
            "--set", f"featurestore.warehouse={root}/damaged/warehouse"]


CASES = [
    Case("postgres catalog unreachable",
         lambda r: ["features", "ls", "--set", "featurestore.catalog_uri=postgresql+psycopg2://u:secret@127.0.0.1:1/db"],
         2, ("cannot reach the feature-store catalog at 127.0.0.1:1", "u:***@")),
    Case("rest catalog unreachable",
         lambda r: ["features", "ls", "--set", "featurestore.catalog_type=rest",
                    "--set", "featurestore.catalog_uri=http://127.0.0.1:1"],
         2, ("cannot reach the feature-store catalog at http://127.0.0.1:1",)),
    Case("show with a missing data file", lambda r: ["features", "show", *_damaged(r)],
         1, ("feature store is damaged", "run1-part-00000.parquet", "mmsr features validate")),
    Case("ls on a store that does not exist",
         lambda r: ["features", "ls", "--set", f"featurestore.catalog_uri=sqlite:///{r}/none/x/catalog.db"],
         2, ("no feature store exists at", "none/x/catalog.db", "mmsr preprocess"), before_dispatch=True),
    Case("evaluate on a store that does not exist",
         lambda r: ["evaluate", "--model", "models:/m/1", "--set", f"featurestore.catalog_uri=sqlite:///{r}/none/c.db"],
         2, ("no feature store exists at",), before_dispatch=True),
    Case("train on a store that does not exist",
         lambda r: ["train", "--set", f"featurestore.catalog_uri=sqlite:///{r}/none/c.db"],
         2, ("no feature store exists at",), before_dispatch=True),
    Case("promote on a store that does not exist",
         lambda r: ["promote", "--version", "1", "--set", f"featurestore.catalog_uri=sqlite:///{r}/none/c.db"],
         2, ("no feature store exists at",), before_dispatch=True),
    Case("train on a missing snapshot", lambda r: ["train", "--snapshot", "no-such-tag", *_store(r)],
         2, ("'no-such-tag' is neither a snapshot id nor a tag",), before_dispatch=True),
    Case("train from a base model folder that does not exist",
         lambda r: ["train", *_store(r), "--set", f"train.base_model={r}/no-base"],
         2, ("train.base_model", "no-base", "no such model folder"), before_dispatch=True),
    Case("train --register on rows made with other Canny thresholds",
         lambda r: ["train", "--register", *_made_with_canny_30_90(r)],
         2, ("not registered: preprocess.modalities differs",
             "edges: rows canny_low=30, canny_high=90, config canny_low=100, canny_high=200"), before_dispatch=True),
    Case("train-vq on a missing snapshot", lambda r: ["train-vq", "--snapshot", "12345", *_store(r)],
         2, ("12345 is not a snapshot",), before_dispatch=True),
    Case("show an unknown snapshot", lambda r: ["features", "show", "nope", *_store(r)],
         2, ("'nope' is neither a snapshot id nor a tag",)),
    Case("preprocess input that does not exist", lambda r: ["preprocess", "--input", f"{r}/no-photos", *_store(r)],
         2, ("input", "no-photos' does not exist"), before_dispatch=True),
    Case("depth model folder that does not exist",
         lambda r: ["preprocess", "--input", str(r / "hr"), *_store(r),
                    "--set", f"preprocess.modalities.depth_model={r}/no-model"],
         2, ("preprocess.modalities.depth_model", "no-model", "no such model folder"), before_dispatch=True),
    Case("hub model that cannot be fetched",
         lambda r: ["preprocess", "--input", str(r / "hr"), *_store(r),
                    "--set", "preprocess.modalities.depth_model=no-such-org/no-such-model"],
         2, ("preprocess.modalities.depth_model = 'no-such-org/no-such-model'",), before_dispatch=True),
    Case("quickstart workdir that cannot be created", lambda r: ["quickstart", "--workdir", "/proc/mmsr-no"],
         2, ("cannot create --workdir /proc/mmsr-no",), before_dispatch=True),
    Case("override without a key", lambda r: ["train", "--set", "=3"], 2, ("expected KEY=VALUE",), before_dispatch=True),
    Case("override of the wrong type", lambda r: ["train", "--set", "train.steps=1e3"],
         2, ("invalid value for 'train.steps'",), before_dispatch=True),
    Case("override of a section with a scalar", lambda r: ["preprocess", "--set", "preprocess="],
         2, ("invalid value for 'preprocess'",), before_dispatch=True),
    Case("port out of range", lambda r: ["serve", "--set", "serve.port=99999"],
         2, ("serve.port must be in 1..65535",), before_dispatch=True),
    Case("expire --older-than-days inf", lambda r: ["features", "expire", "--older-than-days", "inf", *_store(r)],
         2, ("--older-than-days",)),
    Case("expire --orphan-grace-hours nan",
         lambda r: ["features", "expire", "--older-than-days", "1", "--orphan-grace-hours", "nan", *_store(r)],
         2, ("--orphan-grace-hours",)),
]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed store, a damaged copy (its data file deleted), a store of rows made with Canny
    thresholds 30, 90, and one HR PNG."""
    root = tmp_path_factory.mktemp("cli-errors")
    commit_rows(root / "store", "run1", [sample_row(i) for i in range(2)])
    commit_rows(root / "damaged", "run1", [sample_row(i) for i in range(2)])
    versions = json.dumps(extractor_versions(ModalityExtractionConfig(canny_low=30, canny_high=90)))
    commit_rows(root / "canny", "run1", [sample_row(i) | {"extractors": versions} for i in range(2)])
    for data_file in (root / "damaged" / "warehouse").rglob("*.parquet"):
        if "/data/" in data_file.as_posix():
            data_file.unlink()
    (root / "hr").mkdir()
    cv2.imwrite(str(root / "hr" / "a.png"), np.zeros((64, 64, 3), np.uint8))
    return root


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=c.marks) for c in CASES])
def test_every_mistake_is_one_line(
    case: Case, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    if case.before_dispatch:
        def dispatched(*_: object) -> int:
            raise AssertionError(f"{case.name}: the command ran; the mistake should be answered before it")

        monkeypatch.setattr(cli_main, "_dispatch", dispatched)
    try:
        status = cli_main.main(case.args(root))
    except SystemExit as exited:
        status = exited.code
    err = capsys.readouterr().err
    lines = terminal_lines(err)
    assert "Traceback" not in err, err
    assert status == case.status, err
    assert len(lines) == 1 and lines[0].startswith("mmsr: error: "), err
    for needle in case.needles:
        assert needle in lines[0], lines[0]


def test_read_only_commands_create_no_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = tmp_path / "absent" / "catalog.db"
    for args in (["features", "ls"], ["features", "validate"], ["features", "show"]):
        assert cli_main.main([*args, "--set", f"featurestore.catalog_uri=sqlite:///{catalog}"]) == 2
    assert not (tmp_path / "absent").exists()
    assert capsys.readouterr().err.count("no feature store exists at") == 3

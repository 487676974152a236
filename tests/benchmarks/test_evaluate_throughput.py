"""The evaluation-throughput benchmark runs end to end on a tiny model (its --smoke mode)."""

from __future__ import annotations

import re

import pytest

from benchmarks.evaluate_throughput import main

pytestmark = pytest.mark.slow(minutes=1.5)  # a benchmark end to end at smoke size: 10-30 s


def test_smoke_scores_alike_with_one_and_two_workers(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--smoke"])
    lines = capsys.readouterr().out.strip().splitlines()
    match = re.fullmatch(r"evaluate_2w_vs_1w=([\d.]+) max_metric_diff=(\S+)", lines[-1])
    assert match is not None and float(match[1]) > 0
    assert float(match[2]) == 0.0  # the same batches give the same scores on 1 and 2 workers
    assert [line.split(" | ")[0] for line in lines[-3:-1]] == ["| 1", "| 2"]

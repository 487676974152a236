"""The inference-throughput benchmark runs end to end on tiny models (its --smoke mode)."""

from __future__ import annotations

import re

import pytest

from benchmarks.inference_throughput import GUIDANCE_MODES, main

pytestmark = pytest.mark.integration  # ~82 s in all, measured on 2 loaded cores


def test_smoke_prints_one_row_per_guidance_mode_with_a_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--smoke"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 16 -> ")]
    assert [row.split(", ")[-1].split(" |")[0] for row in rows] == list(GUIDANCE_MODES)
    for row in rows:
        ours, base, ratio = (float(x) for x in re.findall(r"\| ([\d.]+)(?: img/s|x) ", row + " "))
        assert ours > 0 and base > 0 and ratio == pytest.approx(ours / base, abs=0.01)

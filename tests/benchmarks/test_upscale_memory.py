"""The upscale-memory benchmark runs end to end on the tiny preset at small sides."""

from __future__ import annotations

import re

import pytest

from benchmarks.upscale_memory import main

pytestmark = pytest.mark.slow(minutes=1.5)  # a benchmark end to end at smoke size: 10-30 s


def test_prints_one_row_per_side_with_memory_and_the_ratio_to_the_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--baseline-side", "16", "--sides", "32", "--device", "cpu"])
    rows = [line for line in capsys.readouterr().out.splitlines() if re.match(r"\| \d+ -> \d+ px", line)]
    assert [row.split(" |")[0] for row in rows] == ["| 16 -> 64 px", "| 32 -> 128 px"]
    for row in rows:
        added, base, ratio = (float(x) for x in re.findall(r"\| ([\d.]+)(?: MiB|x) ", row)[:3])
        assert added >= 0 and base >= 1
        assert ratio == pytest.approx(added / base, abs=0.05 + 0.5 / base + 0.5 / base * ratio)  # MiB print rounded

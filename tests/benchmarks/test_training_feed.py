"""The training-feed benchmark runs end to end at smoke size and prints its ratio and verdicts."""

from __future__ import annotations

import re

import pytest

from benchmarks.training_feed import main

pytestmark = pytest.mark.slow(minutes=1.5)  # a benchmark end to end at smoke size: 10-30 s


def test_smoke_prints_both_feeds_their_ratio_and_the_step(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--smoke"])
    out = capsys.readouterr().out
    stored, fresh = (float(re.search(rf"{label}.*?([\d,.]+) rows/s", out).group(1).replace(",", ""))  # type: ignore[union-attr]
                     for label in ("stored LRs", "on-the-fly LRs"))
    ratio = float(re.search(r"ratio on_the_fly/stored: ([\d.]+)", out).group(1))  # type: ignore[union-attr]
    assert stored > 0 and fresh > 0
    assert ratio == pytest.approx(fresh / stored, rel=0.05, abs=0.01)
    assert re.search(r"quickstart model step .*: \d+ ms", out)
    assert len(re.findall(r"feed (keeps up|does NOT keep up)", out)) == 2

from __future__ import annotations

from pathlib import Path

from pipelines.run_counts import RunCounts, read_counts, sum_counts, write_counts


def test_counts_add_up_and_survive_the_staging_round_trip(tmp_path: Path) -> None:
    total = sum_counts([RunCounts(inputs=1), RunCounts(inputs=1), RunCounts(accepted=1, already_present=3),
                        RunCounts(rejected=1)])
    assert total == RunCounts(inputs=2, accepted=1, rejected=1, already_present=3) and total.unaccounted == 0
    assert RunCounts(inputs=3, accepted=1).unaccounted == 2
    assert read_counts(str(tmp_path)) == RunCounts()
    write_counts(str(tmp_path / "run"), total)
    assert read_counts(str(tmp_path / "run")) == total

from __future__ import annotations

from trainers.harness.worker_loop import LoopSchedule


def test_reports_only_on_log_eval_and_checkpoint_steps_and_always_the_last() -> None:
    schedule = LoopSchedule(steps=10, checkpoint_every=4, log_every=3, items_per_step=8, eval_every=5)
    assert [s for s in range(1, 11) if schedule.checkpoints(s)] == [4, 8, 10]
    assert [s for s in range(1, 11) if schedule.evaluates(s)] == [5, 10]
    assert [s for s in range(1, 11) if schedule.reports(s)] == [3, 4, 5, 6, 8, 9, 10]


def test_without_eval_every_nothing_is_evaluated() -> None:
    schedule = LoopSchedule(steps=6, checkpoint_every=100, log_every=100, items_per_step=1)
    assert not any(schedule.evaluates(s) for s in range(1, 7))
    assert [s for s in range(1, 7) if schedule.reports(s)] == [6]

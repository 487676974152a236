"""How the runner sizes its workers (the Ray path itself runs in tests/benchmarks/test_evaluate_throughput.py)."""

from __future__ import annotations

import pytest

from orchestration.config_loading import ConfigError
from orchestration.evaluation.eval_runner import _check_resources, worker_threads
from orchestration.evaluation.quality_metrics_config import QualityMetricsConfig


def test_cpu_workers_split_the_cores_unless_threads_are_given() -> None:
    assert worker_threads(QualityMetricsConfig(num_workers=1), 8) == 8
    assert worker_threads(QualityMetricsConfig(num_workers=3), 8) == 2
    assert worker_threads(QualityMetricsConfig(num_workers=16), 8) == 1
    assert worker_threads(QualityMetricsConfig(num_workers=2, threads_per_worker=3), 8) == 3


def test_a_pool_the_cluster_cannot_hold_is_refused_in_one_line() -> None:
    _check_resources({"CPU": 4.0, "GPU": 2.0}, 4, 2)
    with pytest.raises(ConfigError, match=r"need 2 GPUs \(the cluster has 0\)"):
        _check_resources({"CPU": 4.0}, 2, 2)

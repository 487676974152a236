from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.ml.inference.base import RunInference
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that

from pipelines.sample_model_handler import SampleModelHandler


class _Model:
    """Beam keeps the loaded model through a weak reference: a plain str will not do."""


def _batch_sizes(model: _Model, batch: list[int]) -> list[int]:
    """Each element comes back as the size of the batch it was run in."""
    return [len(batch)] * len(batch)


@pytest.mark.integration  # runs a Beam pipeline
def test_model_runs_on_full_batches() -> None:
    handler = SampleModelHandler("sizes", _Model, _batch_sizes, max_batch_size=8)

    def check(sizes: list[int]) -> None:
        # 20 elements: Beam's adaptive default started at batches of 1 and grew; full batches of 8 now.
        assert sorted(sizes).count(8) >= 16, sorted(sizes)
        assert max(sizes) == 8

    with TestPipeline() as pipeline:
        sizes = pipeline | beam.Create(list(range(20)), reshuffle=False) | RunInference(handler)
        assert_that(sizes, check)

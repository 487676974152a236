"""How many inputs a run found, accepted and rejected, and how many samples it skipped.

Counted as data, not as Beam metrics: every stage emits a :class:`RunCounts` per element it
decides on, one ``CombineGlobally`` sums them and the job writes the total to its staging
directory (:func:`write_counts`), so the numbers are exact under bundle retries and replays and
the driver reads one small file. ``inputs == accepted + rejected`` is the job's accounting
invariant: every input found ends as samples or as an errors-table row.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass

import fsspec

COUNTS_FILE = "_counts.json"
"""File in a run's staging directory holding its :class:`RunCounts`."""


@dataclass(frozen=True)
class RunCounts:
    inputs: int = 0
    """Files the listing found (or manifest lines it read)."""
    accepted: int = 0
    """Inputs whose samples are all planned: computed by this run or already committed."""
    rejected: int = 0
    """Inputs recorded as errors-table rows."""
    already_present: int = 0
    """Samples committed and up to date when the run planned: skipped."""

    def __add__(self, other: RunCounts) -> RunCounts:
        return RunCounts(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))

    @property
    def unaccounted(self) -> int:
        """Inputs that ended neither accepted nor rejected (0 unless something dropped an input)."""
        return self.inputs - self.accepted - self.rejected


def sum_counts(counts: Iterable[RunCounts]) -> RunCounts:
    return sum(counts, RunCounts())


def write_counts(staged_root: str, counts: RunCounts) -> None:
    fs, path = fsspec.core.url_to_fs(f"{staged_root}/{COUNTS_FILE}")
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "w") as handle:
        json.dump(dataclasses.asdict(counts), handle)


def read_counts(staged_root: str) -> RunCounts:
    """The counts a finished job wrote (all zero if it wrote none)."""
    fs, path = fsspec.core.url_to_fs(f"{staged_root}/{COUNTS_FILE}")
    if not fs.exists(path):
        return RunCounts()
    with fs.open(path, "r") as handle:
        return RunCounts(**json.load(handle))

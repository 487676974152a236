"""List a run's inputs inside the Beam job, in constant memory on the driver and on each worker.

The driver only resolves the spec (:func:`pipelines.sources.resolve_spec`): the job graph holds
that one small object whatever the number of files. On the workers, one element lists the top
directory (or streams the manifest, line by line), each subdirectory is walked by whichever
worker gets it after a reshuffle (so a tree is listed in parallel, prefix by prefix), and
``Distinct`` both drops inputs named twice and spreads the found URIs over the workers.
A malformed manifest line becomes a rejected input (stage ``list``), never a silent drop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from pipelines import sources
from pipelines.prepared_sample import RejectedInput
from pipelines.sources import InputSpec

SUBDIRECTORIES = "subdirectories"
REJECTED = "rejected"
Subdirectory = TaggedOutput[Literal["subdirectories"], str]
RejectedLine = TaggedOutput[Literal["rejected"], RejectedInput]


class ListTopLevelFn(beam.DoFn):
    """InputSpec -> its top-level input URIs, the subdirectories to walk (tagged) and malformed
    manifest lines (tagged rejections)."""

    def process(self, spec: InputSpec) -> Iterator[str | Subdirectory | RejectedLine]:
        for listed in sources.list_top_level(spec):
            if listed.uri is not None:
                yield listed.uri
            elif listed.subdirectory is not None:
                yield TaggedOutput(SUBDIRECTORIES, listed.subdirectory)
        for entry in sources.manifest_entries(spec):
            if entry.uri is not None:
                yield entry.uri
            else:
                rejected = RejectedInput(entry.line, "list", "ManifestLineError", entry.error or "malformed line")
                yield TaggedOutput(REJECTED, rejected)


class ListInputs(beam.PTransform):
    """PBegin -> (input URIs, each once; rejected manifest lines)."""

    def __init__(self, spec: InputSpec) -> None:
        super().__init__()
        self._spec = spec

    @beam.typehints.no_annotations  # tuples of PCollections: not element types for Beam to check
    def expand(self, pbegin: beam.pvalue.PBegin) -> tuple[beam.PCollection, beam.PCollection]:
        spec = self._spec
        top = (
            pbegin
            | "Spec" >> beam.Create([spec])
            | "ListTopLevel" >> beam.ParDo(ListTopLevelFn()).with_outputs(SUBDIRECTORIES, REJECTED, main="found")
        )
        deeper = (
            top[SUBDIRECTORIES]
            | "SpreadSubdirectories" >> beam.Reshuffle()
            | "WalkSubdirectory" >> beam.FlatMap(lambda directory: sources.walk_subdirectory(spec, directory))
        )
        found = (top.found, deeper) | "AllFound" >> beam.Flatten() | "EachOnce" >> beam.Distinct()
        return found, top[REJECTED]

"""The base snapshot's committed samples of one content hash, read by the workers, keyed by source.

The driver hands the job a :class:`~featurestore.snapshot_manifests.SnapshotRef` (the table's
metadata file and a snapshot id); the workers read its manifest list, then each manifest, then
each data file's identity columns, with a reshuffle between the levels so the reads spread over
the workers. The result, ``(source_sha256, CommittedKey)``, is joined with the run's sources in
the job (:mod:`pipelines.incremental_plan`): no committed id is ever on the driver or pickled
into a transform.
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam
from pyiceberg.manifest import ManifestFile

from featurestore.snapshot_manifests import SnapshotRef, manifest_data_files, read_identity_columns, snapshot_manifests


def _manifests(ref: SnapshotRef | None) -> Iterator[tuple[SnapshotRef, ManifestFile]]:
    if ref is not None:
        for manifest in snapshot_manifests(ref):
            yield ref, manifest


class CommittedSamples(beam.PTransform):
    """PBegin -> ``(source_sha256, CommittedKey)`` of every row of ``base`` made under ``content_hash``
    (nothing when ``base`` is None: the table was empty)."""

    def __init__(self, base: SnapshotRef | None, content_hash: str) -> None:
        super().__init__()
        self._base = base
        self._content_hash = content_hash

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        content_hash = self._content_hash
        return (
            pbegin
            | "Snapshot" >> beam.Create([self._base])
            | "Manifests" >> beam.FlatMap(_manifests)
            | "SpreadManifests" >> beam.Reshuffle()
            | "DataFiles" >> beam.FlatMapTuple(manifest_data_files)
            | "SpreadDataFiles" >> beam.Reshuffle()
            | "IdentityColumns" >> beam.FlatMap(read_identity_columns, content_hash)
            | "BySource" >> beam.Map(lambda key: (key.source_sha256, key))
        )


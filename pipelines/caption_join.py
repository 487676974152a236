"""Give each input its sidecar caption with a join inside the job, not a dict on the driver.

The sidecar (``captions.jsonl``, see :mod:`pipelines.modalities.captions`) is streamed line by
line on a worker; its entries and the inputs are both keyed by file name and co-grouped, and
:func:`caption_of` resolves each input as :func:`~pipelines.modalities.captions.caption_for`
does: the entry with its full URI (the last such line), else the one caption its file name has
(a name given different captions resolves to none). Nothing proportional to the number of
captions is held on the driver or pickled into the job.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import apache_beam as beam
import fsspec

from pipelines.modalities.captions import file_name_of, parse_line


@dataclass(frozen=True)
class CaptionEntry:
    uri: str
    """The entry's ``uri`` as written: a full URI or a bare file name."""
    caption: str
    line: int


def sidecar_entries(path_or_url: str) -> Iterator[CaptionEntry]:
    """The sidecar's entries, streamed; a malformed line raises CaptionFileError naming it."""
    with fsspec.open(path_or_url, "rt", encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                uri, caption = parse_line(raw.strip(), str(path_or_url), number)
                yield CaptionEntry(uri, caption, number)


def caption_of(uri: str, entries: Iterable[CaptionEntry]) -> str | None:
    """The caption of the input ``uri`` among the entries sharing its file name, as
    :func:`~pipelines.modalities.captions.caption_for` finds it: the last entry written with its
    full URI, else the last written with its bare file name, else the one caption all entries of
    that name agree on (none if they differ)."""
    named = list(entries)
    for key in (uri, file_name_of(uri)):
        written = [entry for entry in named if entry.uri == key]
        if written:
            return max(written, key=lambda entry: entry.line).caption
    captions = {entry.caption for entry in named}
    return captions.pop() if len(captions) == 1 else None


class JoinCaptions(beam.PTransform):
    """input URIs -> (uri, caption or None); with no sidecar every caption is None."""

    def __init__(self, captions_path: str | None) -> None:
        super().__init__()
        self._path = captions_path

    def expand(self, uris: beam.PCollection) -> beam.PCollection:
        if self._path is None:
            return uris | "NoCaptions" >> beam.Map(lambda uri: (uri, None))
        path = self._path
        entries = (
            uris.pipeline
            | "Sidecar" >> beam.Create([path])
            | "SidecarLines" >> beam.FlatMap(sidecar_entries)
            | "EntryByName" >> beam.Map(lambda entry: (file_name_of(entry.uri), entry))
        )
        inputs = uris | "InputByName" >> beam.Map(lambda uri: (file_name_of(uri), uri))
        return (
            {"inputs": inputs, "entries": entries}
            | "GroupByName" >> beam.CoGroupByKey()
            | "Resolve" >> beam.FlatMap(
                lambda keyed: [(uri, caption_of(uri, keyed[1]["entries"])) for uri in keyed[1]["inputs"]]
            )
        )

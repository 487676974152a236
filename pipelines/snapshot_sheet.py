"""Contact sheets of feature-store snapshots: ``mmsr features show|diff --sheet`` and preprocess.

A sheet shows a seeded choice of a snapshot's samples, one row each (cells from
:mod:`pipelines.sheet_cells`, layout from :mod:`featurestore.contact_sheet`). Only the stored
columns are read (:data:`~pipelines.sheet_cells.SHEET_COLUMNS`, present in a snapshot of any
schema version); the only model that runs is the VQ decoder of the tokenizer the snapshot's
lineage names (:data:`~pipelines.tokenizer_lineage.VQ_TOKENIZER_PROPERTY` in the summary of the snapshot or an ancestor,
written by ``run_preprocess`` since it existed; older snapshots need it named by the caller).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from diffusers import VQModel
from pyiceberg.expressions import In
from pyiceberg.table.snapshots import ancestors_of

from featurestore.config import FeatureStoreConfig
from featurestore.contact_sheet import SheetRow, render_sheet
from featurestore.inspection import require_samples_table
from featurestore.concurrent_additions import data_files_added_since, read_ids
from featurestore.readers import read_arrow, resolve_snapshot, snapshot_files
from featurestore.snapshot_diff import diff_snapshots
from pipelines.model_stages import load_vq_model
from pipelines.preprocess_config import TokenizerConfig
from pipelines.sheet_cells import SHEET_COLUMNS, SHEET_HEADERS, hr_side, row_label, stored_cells, token_cells
from pipelines.tokenizer_lineage import VQ_TOKENIZER_PROPERTY, vq_lineage

_DEFAULT_CELL = 64

DecoderFor = Callable[[int], VQModel | None]
"""Snapshot id -> the VQ decoder of its tokens (None: the token cells say so)."""


@dataclass(frozen=True)
class SheetOptions:
    """How many samples a sheet shows and the seed of their choice."""

    rows: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.rows <= 256:
            raise ValueError(f"--rows must be from 1 to 256, got {self.rows}")


@dataclass(frozen=True)
class SheetResult:
    path: Path
    sample_ids: tuple[str, ...]
    """The samples shown, top to bottom."""
    headers: tuple[str, ...]


def snapshot_tokenizer(store: FeatureStoreConfig, snapshot_id: int) -> TokenizerConfig | None:
    """The VQ tokenizer the snapshot's lineage names (its nearest ancestor that names one), or None."""
    table = require_samples_table(store)
    snapshot = table.snapshot_by_id(snapshot_id)
    for ancestor in [] if snapshot is None else ancestors_of(snapshot, table.metadata):
        found = None if ancestor.summary is None else ancestor.summary.additional_properties.get(VQ_TOKENIZER_PROPERTY)
        if found:
            return TokenizerConfig(**json.loads(found))
    return None


class LineageDecoders:
    """:data:`DecoderFor` through each snapshot's lineage (or ``override`` for every snapshot), each
    tokenizer loaded once; one that names no tokenizer or fails to load gives None and a note."""

    def __init__(self, store: FeatureStoreConfig, override: TokenizerConfig | None = None) -> None:
        self._store = store
        self._override = override
        self._loaded: dict[str, VQModel | None] = {}
        self.notes: list[str] = []

    def __call__(self, snapshot_id: int) -> VQModel | None:
        tokenizer = self._override or snapshot_tokenizer(self._store, snapshot_id)
        if tokenizer is None:
            self.notes.append(f"snapshot {snapshot_id} names no VQ tokenizer (written before {VQ_TOKENIZER_PROPERTY} "
                              "was recorded): pass --vq-model to decode its tokens")
            return None
        key = vq_lineage(tokenizer)
        if key not in self._loaded:
            try:
                self._loaded[key] = load_vq_model(tokenizer, "cpu")
            except (OSError, ValueError) as error:
                self.notes.append(f"VQ tokenizer {tokenizer.vq_model} did not load: {' '.join(str(error).split())[:200]}")
                self._loaded[key] = None
        return self._loaded[key]


def choose_samples(sample_ids: Sequence[str], count: int, seed: int) -> tuple[str, ...]:
    """``count`` ids (all if fewer) drawn with ``seed`` from ``sample_ids``, independent of their order."""
    ordered = sorted(set(sample_ids))
    picked = np.random.default_rng(seed).permutation(len(ordered))[:count]
    return tuple(ordered[i] for i in sorted(picked))


def read_sheet_rows(store: FeatureStoreConfig, snapshot_id: int, sample_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The :data:`SHEET_COLUMNS` of ``sample_ids`` in the snapshot, eval rows first, then by id."""
    if not sample_ids:
        return []
    table = read_arrow(store, snapshot_id, list(SHEET_COLUMNS), In("sample_id", list(sample_ids)))
    return sorted(table.to_pylist(), key=lambda row: (row["split"] != "eval", row["sample_id"]))


def candidate_ids(files: Sequence[str], count: int, seed: int) -> list[str]:
    """The sample ids of a seeded choice of at most ``count`` of the data ``files``: the pool a sheet
    draws from, read from a bounded number of files (never every id of a snapshot: it may hold
    millions)."""
    return sorted(read_ids(choose_samples(files, count, seed)))


def _snapshot_ids(store: FeatureStoreConfig, snapshot_id: int, options: SheetOptions) -> list[str]:
    return candidate_ids(snapshot_files(store, snapshot_id), options.rows, options.seed)


def _cell_side(rows: Sequence[dict[str, Any]]) -> int:
    sides = [side for side in map(hr_side, rows) if side is not None]
    return max(sides, default=_DEFAULT_CELL)


def sheet_rows(rows: Sequence[dict[str, Any]], vq: VQModel | None, side: int) -> list[SheetRow]:
    """One sheet row per samples row: stored cells, token cells and the label."""
    decoded = token_cells(vq, rows, side)
    return [SheetRow((*stored_cells(row), *tokens), row_label(row)) for row, tokens in zip(rows, decoded)]


def _save(image: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", optimize=True)
    return path


def write_rows_sheet(
    store: FeatureStoreConfig, snapshot_id: int, sample_ids: Sequence[str], path: Path, decoder_for: DecoderFor
) -> SheetResult:
    """The sheet of ``sample_ids`` of one snapshot, written as a PNG at ``path``."""
    rows = read_sheet_rows(store, snapshot_id, sample_ids)
    side = _cell_side(rows)
    image = render_sheet(SHEET_HEADERS, sheet_rows(rows, decoder_for(snapshot_id), side), side)
    return SheetResult(_save(image, path), tuple(row["sample_id"] for row in rows), SHEET_HEADERS)


def write_snapshot_sheet(
    store: FeatureStoreConfig, snapshot: str | int | None, path: Path, options: SheetOptions, decoder_for: DecoderFor
) -> SheetResult:
    """The sheet of ``options.rows`` samples of a snapshot (id, tag or None = current), seeded choice."""
    snapshot_id = resolve_snapshot(store, snapshot)
    chosen = choose_samples(_snapshot_ids(store, snapshot_id, options), options.rows, options.seed)
    return write_rows_sheet(store, snapshot_id, chosen, path, decoder_for)


def added_sample_ids(store: FeatureStoreConfig, snapshot_id: int, options: SheetOptions) -> list[str]:
    """Candidate ids among the rows the snapshot added (its own new data files, from its manifests;
    all of the snapshot's files for the first one), read from at most ``options.rows`` files."""
    table = require_samples_table(store)
    found = table.snapshot_by_id(snapshot_id)
    parent = None if found is None else found.parent_snapshot_id
    added = [file.url for file in data_files_added_since(table, parent, snapshot_id)]
    return candidate_ids(sorted(added), options.rows, options.seed)


def write_added_sheet(
    store: FeatureStoreConfig, snapshot_id: int, path: Path, options: SheetOptions, decoder_for: DecoderFor
) -> SheetResult | None:
    """The sheet of a seeded choice of the samples ``snapshot_id`` added (None if it added none)."""
    added = added_sample_ids(store, snapshot_id, options)
    if not added:
        return None
    return write_rows_sheet(store, snapshot_id, choose_samples(added, options.rows, options.seed), path, decoder_for)


def _diff_ids(store: FeatureStoreConfig, a: int, b: int, options: SheetOptions) -> tuple[tuple[str, ...], dict[str, str]]:
    """Samples in both snapshots, changed ones first (seeded), and the changed columns of each."""
    diff = diff_snapshots(store, a, b)
    changed = {change.sample_id: ", ".join(change.columns) for change in diff.changed}
    chosen = choose_samples(list(changed), options.rows, options.seed)
    if len(chosen) < options.rows:  # unchanged ones of b (those a lacks drop out when a's rows are read)
        unchanged = [sample_id for sample_id in _snapshot_ids(store, b, options) if sample_id not in changed]
        chosen += choose_samples(unchanged, options.rows - len(chosen), options.seed)
    return chosen, changed


def write_diff_sheet(
    store: FeatureStoreConfig, a: str | int | None, b: str | int | None, path: Path, options: SheetOptions,
    decoder_for: DecoderFor,
) -> SheetResult:
    """The same samples in snapshots ``a`` and ``b`` side by side: each column's ``a`` cell, then its
    ``b`` cell; changed samples first, their changed columns named under the row."""
    snapshot_a, snapshot_b = resolve_snapshot(store, a), resolve_snapshot(store, b)
    chosen, changed = _diff_ids(store, snapshot_a, snapshot_b, options)
    rows_a = sorted(read_sheet_rows(store, snapshot_a, chosen), key=lambda row: row["sample_id"] not in changed)
    by_id = {row["sample_id"]: row for row in read_sheet_rows(store, snapshot_b, chosen)}
    rows_b = [by_id[row["sample_id"]] for row in rows_a]
    side = max(_cell_side(rows_a), _cell_side(rows_b))
    before = sheet_rows(rows_a, decoder_for(snapshot_a), side)
    after = sheet_rows(rows_b, decoder_for(snapshot_b), side)
    headers = tuple(f"{header} {tag}" for header in SHEET_HEADERS for tag in ("(a)", "(b)"))
    rows = [
        SheetRow(
            tuple(cell for pair in zip(old.cells, new.cells) for cell in pair),
            f"{new.label}  | changed: {changed.get(row['sample_id'], 'nothing')}",
        )
        for old, new, row in zip(before, after, rows_a)
    ]
    image = render_sheet(headers, rows, side)
    return SheetResult(_save(image, path), tuple(row["sample_id"] for row in rows_a), headers)

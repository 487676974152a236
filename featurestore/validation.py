"""Check a snapshot's data files against the schema and the token/image contracts (``mmsr features validate``).

Every data file is checked on its own, so each issue names the file and the column:

* the Parquet footer opens and every row group decodes (a truncated or corrupt file is an error);
* the file's schema equals ``SAMPLES_SCHEMA`` (missing, unexpected or wrong-typed columns); a
  column of ``ADDED_COLUMNS`` the file predates is information (readers fill it with nulls);
* token lists have ``VQ_TOKENS`` codes in ``0..VQ_CODEBOOK_SIZE-1`` (spatial modalities) or
  ``CAPTION_TOKENS`` non-negative ids (caption), with no null elements;
* a sample of ``hr_png`` / ``lr_png`` values, spread evenly over the snapshot, decodes as images;
* every ``sample_id`` occurs once in the snapshot (an error naming examples otherwise), counted by
  DuckDB over the files' ``sample_id`` column (it spills to disk rather than holding every id);
* a modality missing from some rows (coverage below 100%) is reported as information, not an error;
* orphan data files in the tables' data locations (referenced by no snapshot,
  :mod:`featurestore.orphan_files`) are warnings: invisible to readers, but left behind.

It streams every file once, batch by batch (memory stays at one batch), so it costs a full scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import cv2
import duckdb
import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from featurestore.commit import schema_differences
from featurestore.config import FeatureStoreConfig
from featurestore.modality import CAPTION_TOKENS, VQ_CODEBOOK_SIZE, VQ_TOKENS, Modality
from featurestore.orphan_files import DEFAULT_ORPHAN_GRACE_S, OrphanFile, find_orphans
from featurestore.readers import parquet_relation, resolve_snapshot, snapshot_files
from featurestore.schema import ADDED_COLUMNS, SAMPLES_SCHEMA
from featurestore.staging import in_flight_targets

IMAGE_COLUMNS = ("hr_png", "lr_png")
_BATCH_ROWS = 1024
_SHOWN_DUPLICATES = 5


class Severity(str, Enum):
    ERROR = "error"
    """The data breaks a contract readers rely on: ``validate`` fails."""
    WARNING = "warning"
    """Left behind, harmless to readers (an orphan data file): ``mmsr features expire`` removes it."""
    INFO = "info"
    """Worth knowing, allowed by the schema (e.g. a modality missing from some rows)."""


@dataclass(frozen=True)
class ValidationIssue:
    file: str
    """URL of the data file."""
    column: str | None
    """The offending column; None when the whole file is unreadable."""
    message: str
    severity: Severity = Severity.ERROR


@dataclass(frozen=True)
class ValidationReport:
    snapshot_id: int
    files: int
    rows: int
    """Rows read from the files whose footers opened."""
    images_checked: int
    """``hr_png`` + ``lr_png`` values decoded."""
    issues: tuple[ValidationIssue, ...]

    @property
    def errors(self) -> tuple[ValidationIssue, ...]:
        return tuple(issue for issue in self.issues if issue.severity is Severity.ERROR)

    @property
    def ok(self) -> bool:
        """True when no issue is an error (information may remain)."""
        return not self.errors


@dataclass(frozen=True)
class _TokenRule:
    modality: Modality
    length: int
    upper: int | None
    """Exclusive upper bound of a token value; None = only non-negativity is checked."""


_TOKEN_RULES = tuple(
    _TokenRule(m, VQ_TOKENS, VQ_CODEBOOK_SIZE) if m.is_spatial else _TokenRule(m, CAPTION_TOKENS, None)
    for m in Modality
)


@dataclass
class _Finding:
    """Rows of one file breaking one rule, and the first such sample_id."""

    rows: int = 0
    first: str | None = None

    def add(self, count: int, sample_id: str | None) -> None:
        if count:
            self.first = self.first if self.first is not None else sample_id
            self.rows += count


@dataclass
class _FileCheck:
    """Everything learnt about one data file."""

    url: str
    issues: list[ValidationIssue]
    rows: int = 0
    images: int = 0

    def error(self, column: str | None, message: str) -> None:
        self.issues.append(ValidationIssue(self.url, column, message))


def _check_schema(check: _FileCheck, found: pa.Schema) -> list[str]:
    """Record schema issues; the expected columns that are present with the right type."""
    usable = []
    for expected in SAMPLES_SCHEMA:
        if expected.name not in found.names and expected.name in ADDED_COLUMNS:
            check.issues.append(ValidationIssue(
                check.url, expected.name, f"no column {expected.name!r}: written before it existed, reads as null",
                Severity.INFO,
            ))
            continue
        if expected.name not in found.names:
            check.error(expected.name, f"missing column {expected.name!r} ({expected.type})")
            continue
        problems = schema_differences(pa.schema([found.field(expected.name)]), pa.schema([expected]))
        if problems:
            check.error(expected.name, "; ".join(problems))
        else:
            usable.append(expected.name)
    for name in found.names:
        if name not in SAMPLES_SCHEMA.names:
            check.error(name, f"unexpected column {name!r} ({found.field(name).type}), not in SAMPLES_SCHEMA")
    return usable


def _sample_id(batch: pa.RecordBatch, row: int | None) -> str | None:
    """``sample_id`` of a batch row (None if no row is given or the column is missing)."""
    if row is None or "sample_id" not in batch.schema.names:
        return None
    return batch.column("sample_id")[row].as_py()


def _first_id(batch: pa.RecordBatch, rows: pa.Array) -> str | None:
    """``sample_id`` of the first of ``rows`` (batch row indices)."""
    return _sample_id(batch, rows[0].as_py() if len(rows) else None)


def _check_tokens(batch: pa.RecordBatch, rule: _TokenRule, findings: dict[str, _Finding]) -> int:
    """Update length/range/null findings of ``rule``'s column; the batch's null (missing) rows."""
    column = batch.column(rule.modality.tokens_column)
    lengths = pc.list_value_length(column)
    wrong_length = pc.indices_nonzero(pc.fill_null(pc.not_equal(lengths, rule.length), False))
    findings["length"].add(len(wrong_length), _first_id(batch, wrong_length))
    values, parents = pc.list_flatten(column), pc.list_parent_indices(column)
    bad = pc.less(values, 0) if rule.upper is None else pc.or_(pc.less(values, 0), pc.greater_equal(values, rule.upper))
    bad_rows = pc.unique(pc.filter(parents, pc.fill_null(bad, False)))
    findings["range"].add(len(bad_rows), _first_id(batch, bad_rows))
    null_rows = pc.unique(pc.filter(parents, pc.is_null(values)))
    findings["null"].add(len(null_rows), _first_id(batch, null_rows))
    return column.null_count


def _decode_images(check: _FileCheck, batch: pa.RecordBatch, rows: list[int], findings: dict[str, _Finding]) -> None:
    """Decode ``rows`` (batch-relative) of each image column present; record failures."""
    for name in IMAGE_COLUMNS:
        if name not in batch.schema.names:
            continue
        for row in rows:
            value = batch.column(name)[row].as_py()
            decoded = None
            if value:
                try:
                    decoded = cv2.imdecode(np.frombuffer(value, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
                except cv2.error:
                    decoded = None
            check.images += 1
            findings[name].add(int(decoded is None), _sample_id(batch, row))


def _token_messages(check: _FileCheck, rule: _TokenRule, findings: dict[str, _Finding], missing: int) -> None:
    column = rule.modality.tokens_column
    bounds = f"0..{rule.upper - 1}" if rule.upper is not None else ">= 0"
    texts = {
        "length": f"token lists of length != {rule.length}",
        "range": f"token values outside {bounds}",
        "null": "null token values inside the list",
    }
    for kind, text in texts.items():
        found = findings[kind]
        if found.rows:
            check.error(column, f"{found.rows} rows have {text} (first: sample_id {found.first})")
    if missing:
        share = 100.0 * (check.rows - missing) / check.rows
        message = f"{rule.modality.value} missing in {missing}/{check.rows} rows (coverage {share:.1f}%)"
        check.issues.append(ValidationIssue(check.url, column, message, Severity.INFO))


def _scan_rows(check: _FileCheck, parquet: pq.ParquetFile, usable: list[str], image_rows: set[int]) -> None:
    """Read every row group of the usable columns, checking tokens and the sampled images."""
    rules = [rule for rule in _TOKEN_RULES if rule.modality.tokens_column in usable]
    token_findings = {rule.modality: {kind: _Finding() for kind in ("length", "range", "null")} for rule in rules}
    image_findings = {name: _Finding() for name in IMAGE_COLUMNS}
    missing = dict.fromkeys((rule.modality for rule in rules), 0)
    offset = 0
    try:
        for batch in parquet.iter_batches(batch_size=_BATCH_ROWS, columns=usable):
            for rule in rules:
                missing[rule.modality] += _check_tokens(batch, rule, token_findings[rule.modality])
            rows = sorted(index - offset for index in image_rows if offset <= index < offset + batch.num_rows)
            _decode_images(check, batch, rows, image_findings)
            offset += batch.num_rows
    except (OSError, pa.ArrowException) as error:
        check.error(None, f"corrupt data after row {offset}: {error}")
    check.rows = offset
    for rule in rules:
        _token_messages(check, rule, token_findings[rule.modality], missing[rule.modality])
    for name, found in image_findings.items():
        if found.rows:
            message = f"{found.rows} sampled {name} values do not decode as images (first: sample_id {found.first})"
            check.error(name, message)


def _validate_file(url: str, image_rows: set[int]) -> _FileCheck:
    check = _FileCheck(url=url, issues=[])
    try:
        with fsspec.open(url, "rb") as handle:
            parquet = pq.ParquetFile(handle)
            usable = _check_schema(check, parquet.schema_arrow)
            _scan_rows(check, parquet, usable, image_rows)
    except (OSError, pa.ArrowException) as error:
        check.error(None, f"unreadable Parquet file: {error}")
    return check


def _row_counts(urls: list[str]) -> list[int]:
    """Rows per file from the footers (0 where the footer does not open)."""
    counts = []
    for url in urls:
        try:
            with fsspec.open(url, "rb") as handle:
                counts.append(pq.read_metadata(handle).num_rows)
        except (OSError, pa.ArrowException):
            counts.append(0)
    return counts


def spot_check_positions(row_counts: list[int], count: int) -> list[set[int]]:
    """``count`` row positions spread evenly over files of ``row_counts`` rows: file-relative per file."""
    total = sum(row_counts)
    chosen = np.unique(np.linspace(0, total - 1, num=min(count, total)).round().astype(np.int64)) if total else []
    starts = np.cumsum([0, *row_counts])
    return [
        {int(index - start) for index in chosen if start <= index < end} for start, end in zip(starts[:-1], starts[1:])
    ]


def _id_readable(check: _FileCheck) -> bool:
    """Whether the file opened and has a well-typed ``sample_id`` (else its own issues say why)."""
    return not any(issue.column in (None, "sample_id") for issue in check.issues if issue.severity is Severity.ERROR)


def duplicate_issue(snapshot_id: int, urls: list[str]) -> ValidationIssue | None:
    """An error naming up to five sample ids that occur more than once in ``urls``; None if none does."""
    if not urls:
        return None
    connection = duckdb.connect()
    try:
        relation = parquet_relation(urls, connection).select("sample_id")
        repeated = relation.aggregate("sample_id, count(*) AS copies", "sample_id").filter("copies > 1")
        ((ids, rows),) = repeated.aggregate("count(*), coalesce(sum(copies), 0)").fetchall()
        examples = repeated.order("sample_id").limit(_SHOWN_DUPLICATES).fetchall()
    finally:
        connection.close()
    if not ids:
        return None
    shown = ", ".join(f"{sample_id} ({copies} rows)" for sample_id, copies in examples)
    message = (
        f"{ids} sample ids occur more than once ({rows} rows), e.g. {shown}: each sample id must be committed "
        "exactly once"
    )
    return ValidationIssue(f"snapshot {snapshot_id}", "sample_id", message)


def orphan_issue(orphan: OrphanFile, grace_s: float = DEFAULT_ORPHAN_GRACE_S) -> ValidationIssue:
    """A warning naming one orphan data file, its age and what removes it."""
    age = f"{orphan.age_s / 3600:.1f} h" if orphan.age_s >= 3600 else f"{orphan.age_s:.0f} s"
    if orphan.age_s >= grace_s:
        fate = "`mmsr features expire` removes it"
    else:
        fate = (f"younger than the {grace_s / 3600:g} h grace period (a commit may be in flight): the next run removes "
                "it if its run is gone, `mmsr features expire` once it is older")
    message = f"orphan data file: referenced by no snapshot, {orphan.bytes} bytes, {age} old; {fate}"
    return ValidationIssue(orphan.url, None, message, Severity.WARNING)


def _orphans(config: FeatureStoreConfig) -> list[OrphanFile]:
    """The orphan data files, leaving out those a live run listed (its commit may be in flight)."""
    return find_orphans(config, in_flight=lambda: in_flight_targets(config))


def validate_snapshot(
    config: FeatureStoreConfig, snapshot: str | int | None = None, spot_check_rows: int = 8
) -> ValidationReport:
    """Validate every data file of a snapshot (id, tag or None = current); decode ``spot_check_rows`` rows' images.

    Also reports the orphan data files of the store's tables (warnings, whatever the snapshot).
    Raises ValueError for an unknown snapshot; data problems are issues in the report, never raised.
    """
    if spot_check_rows < 0:
        raise ValueError(f"spot_check_rows must be >= 0, got {spot_check_rows}")
    snapshot_id = resolve_snapshot(config, snapshot)
    urls = snapshot_files(config, snapshot_id)
    positions = spot_check_positions(_row_counts(urls), spot_check_rows)
    checks = [_validate_file(url, rows) for url, rows in zip(urls, positions)]
    duplicates = duplicate_issue(snapshot_id, [check.url for check in checks if _id_readable(check)])
    return ValidationReport(
        snapshot_id=snapshot_id,
        files=len(urls),
        rows=sum(check.rows for check in checks),
        images_checked=sum(check.images for check in checks),
        issues=(
            tuple(issue for check in checks for issue in check.issues) + ((duplicates,) if duplicates else ())
            + tuple(orphan_issue(orphan) for orphan in _orphans(config))
        ),
    )

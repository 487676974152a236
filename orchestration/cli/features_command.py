"""``mmsr features ...``: inspect, compare, validate, tag and expire feature-store snapshots.

Only parsing and formatting live here; the work is done by :mod:`featurestore.inspection`,
:mod:`featurestore.snapshot_diff`, :mod:`featurestore.validation`, :mod:`featurestore.maintenance`
and, for ``--sheet``, :mod:`pipelines.snapshot_sheet`. Wire it into ``mmsr`` with
:func:`add_features_parser` and route the ``features`` command to :func:`run_features`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Protocol

from featurestore.config import FeatureStoreConfig

FAILED = 1
"""Exit status of ``validate`` when it finds errors."""
USAGE_ERROR = 2
"""Exit status for an unknown snapshot, an existing tag, a bad argument value."""
_SHOWN_IDS = 20
_MAX_DAYS = 36500
"""``--older-than-days`` above this (100 years) would put the cutoff before year 1."""
# Positional snapshots use dest ``target``: ``mmsr`` maps a ``snapshot`` attribute to train.snapshot.
_LS_HEADER = (
    "snapshot (* current)", "parent", "committed (UTC)", "op", "run_id", "config_hash", "rows", "errors", "refs",
)


class HasFeatureStore(Protocol):
    """Any config with a feature-store section (``MmsrConfig`` in ``mmsr``)."""

    @property
    def featurestore(self) -> FeatureStoreConfig: ...


def add_features_parser(
    subparsers: argparse._SubParsersAction, add_config_flags: Callable[[argparse.ArgumentParser], None]
) -> argparse.ArgumentParser:
    """Add ``features`` and its subcommands; ``add_config_flags`` adds ``--config``/``--set`` to each."""
    features = subparsers.add_parser("features", help="inspect, diff, validate, tag and expire feature-store snapshots")
    actions = features.add_subparsers(dest="features_command", required=True, parser_class=type(features))
    ls = actions.add_parser("ls", help="list the samples table's snapshots")
    show = actions.add_parser("show", help="schema, counts, modality coverage and lineage of a snapshot")
    show.add_argument("target", metavar="snapshot", nargs="?", help="snapshot id or tag (default: current)")
    diff = actions.add_parser("diff", help="rows added / removed / changed between two snapshots")
    diff.add_argument("a", help="older snapshot id or tag")
    diff.add_argument("b", help="newer snapshot id or tag")
    diff.add_argument("--show", type=int, default=_SHOWN_IDS, help="sample ids listed per kind (default: %(default)s)")
    _add_sheet_flags(show, "a contact sheet of N samples (HR, LR, maps, maps decoded from VQ tokens, caption)")
    _add_sheet_flags(diff, "the same samples in A and B side by side, changed ones first")
    validate = actions.add_parser(
        "validate", help="check a snapshot: schema, tokens, images, duplicate ids (exit 1 on errors); report orphan files"
    )
    validate.add_argument("target", metavar="snapshot", nargs="?", help="snapshot id or tag (default: current)")
    validate.add_argument(
        "--spot-check-rows", "--sample-images", dest="spot_check_rows", type=int, default=8,
        help="rows whose hr/lr PNGs are decoded (default: %(default)s; --sample-images: its old name)",
    )
    tag = actions.add_parser("tag", help="name a snapshot (default: current) with a tag")
    tag.add_argument("name", help="tag name, e.g. paper-v1")
    tag.add_argument("target", metavar="snapshot", nargs="?", help="snapshot id or tag (default: current)")
    tag.add_argument("--replace", action="store_true", help="move the tag if it already exists")
    expire = actions.add_parser(
        "expire", help="expire old snapshots (never tagged ones or the current one), remove orphan data files"
    )
    expire.add_argument("--older-than-days", type=float, required=True, help="expire snapshots older than this")
    expire.add_argument(
        "--retain-last", type=int, default=1, help="always keep this many newest (default: %(default)s)"
    )
    expire.add_argument("--dry-run", action="store_true", help="only report what would be expired / removed")
    expire.add_argument(
        "--orphan-grace-hours", type=float, default=24.0,
        help="remove orphan data files (referenced by no snapshot, listed by no live run) older than this; "
        "below the staging-lease timeout (24 h) only with --force (default: %(default)s)",
    )
    expire.add_argument("--force", action="store_true", help="accept an orphan grace below the staging-lease timeout")
    for parser in (ls, show, diff, validate, tag, expire):
        add_config_flags(parser)
    return features


def _add_sheet_flags(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--sheet", metavar="FILE.png", help=f"also write {what} as a PNG")
    parser.add_argument("--rows", dest="sheet_rows", type=int, default=8, help="samples on the sheet (default: %(default)s)")
    parser.add_argument("--seed", dest="sheet_seed", type=int, default=0, help="seed of their choice (default: %(default)s)")
    parser.add_argument(
        "--vq-model", help="VQ tokenizer that decodes the tokens (default: the one the snapshot's lineage names)"
    )
    parser.add_argument("--vq-subfolder", help="subfolder of --vq-model holding the VQModel (e.g. vq)")


def _write_sheet(config: FeatureStoreConfig, args: argparse.Namespace, targets: Sequence[str | None]) -> None:
    """Write ``args.sheet`` for one snapshot (``show``) or two (``diff``), print its path and any notes."""
    from pathlib import Path

    from pipelines.preprocess_config import TokenizerConfig
    from pipelines.snapshot_sheet import LineageDecoders, SheetOptions, write_diff_sheet, write_snapshot_sheet

    options = SheetOptions(rows=args.sheet_rows, seed=args.sheet_seed)
    override = None if args.vq_model is None else TokenizerConfig(vq_model=args.vq_model, vq_subfolder=args.vq_subfolder)
    decoders = LineageDecoders(config, override)
    if len(targets) == 1:
        result = write_snapshot_sheet(config, targets[0], Path(args.sheet), options, decoders)
    else:
        result = write_diff_sheet(config, targets[0], targets[1], Path(args.sheet), options, decoders)
    for note in dict.fromkeys(decoders.notes):
        print(f"note: {note}")
    print(f"contact sheet of {len(result.sample_ids)} samples x {len(result.headers)} columns: {result.path}")


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned text columns."""
    cells = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in cells)


def _ls(config: FeatureStoreConfig, args: argparse.Namespace) -> int:
    from featurestore.inspection import list_snapshots

    snapshots = list_snapshots(config)
    if not snapshots:
        print(f"{config.samples_identifier}: no snapshots yet")
        return 0
    rows = [
        [
            f"{info.snapshot_id}{' *' if info.is_current else ''}", info.parent_id or "-",
            info.timestamp.strftime("%Y-%m-%d %H:%M:%S"), info.operation, info.run_id or "-",
            info.config_hash or "-", "-" if info.rows is None else info.rows,
            "-" if info.errors is None else info.errors, ",".join(info.refs) or "-",
        ]
        for info in snapshots
    ]
    print(_table(_LS_HEADER, rows))
    return 0


def _show(config: FeatureStoreConfig, args: argparse.Namespace) -> int:
    from featurestore.inspection import describe_snapshot

    found = describe_snapshot(config, args.target)
    info, lineage = found.info, found.lineage
    lines = [
        f"snapshot      {info.snapshot_id}{' (current)' if info.is_current else ''}  "
        f"refs: {', '.join(info.refs) or '-'}",
        f"committed     {info.timestamp.isoformat()}  op: {info.operation}  parent: {info.parent_id or '-'}",
        f"rows          {found.rows}  " + "  ".join(f"{split}: {count}" for split, count in found.split_counts.items()),
        f"data files    {found.data_files}  ({found.data_bytes / 2**20:.1f} MiB)",
        f"schema        version {found.schema_version}, {len(found.schema.fields)} columns, "
        + ("matches SAMPLES_SCHEMA" if not found.schema_differences else "; ".join(found.schema_differences)),
        "coverage      " + "  ".join(f"{c.modality.value}: {100 * c.share:.1f}%" for c in found.coverage),
        f"config_hash   {', '.join(lineage.config_hashes) or '-'}",
        f"pipeline      {', '.join(lineage.pipeline_versions) or '-'}",
        f"extractors    {'; '.join(lineage.extractors) or '-'}",
        f"runs          {', '.join(lineage.run_ids) or '-'}",
        "columns:",
        *(f"  {f.name}: {f.field_type}{' not null' if f.required else ''}" for f in found.schema.fields),
    ]
    print("\n".join(lines))
    if args.sheet:
        _write_sheet(config, args, [args.target])
    return 0


def _some(ids: Sequence[str], limit: int) -> str:
    more = f" ... (+{len(ids) - limit})" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def _diff(config: FeatureStoreConfig, args: argparse.Namespace) -> int:
    from featurestore.snapshot_diff import diff_snapshots

    diff = diff_snapshots(config, args.a, args.b)
    print(
        f"{diff.snapshot_a} ({diff.rows_a} rows) -> {diff.snapshot_b} ({diff.rows_b} rows): "
        f"{diff.unchanged} unchanged"
    )
    print(f"added    {len(diff.added)}: {_some(diff.added, args.show)}")
    print(f"removed  {len(diff.removed)}: {_some(diff.removed, args.show)}")
    changed = [f"{change.sample_id} [{','.join(change.columns)}]" for change in diff.changed]
    print(f"changed  {len(diff.changed)}: {_some(changed, args.show)}")
    print(f"recomputed modalities: {', '.join(m.value for m in diff.recomputed_modalities) or '-'}")
    if args.sheet:
        _write_sheet(config, args, [args.a, args.b])
    return 0


def _validate(config: FeatureStoreConfig, args: argparse.Namespace) -> int:
    from featurestore.validation import validate_snapshot

    report = validate_snapshot(config, args.target, args.spot_check_rows)
    if report.issues:
        rows = [[issue.severity.value, issue.file, issue.column or "-", issue.message] for issue in report.issues]
        print(_table(["severity", "file", "column", "message"], rows))
    verdict = "OK" if report.ok else f"FAILED ({len(report.errors)} errors)"
    print(
        f"snapshot {report.snapshot_id}: {report.files} files, {report.rows} rows, "
        f"{report.images_checked} images decoded, {len(report.issues)} issues: {verdict}"
    )
    return 0 if report.ok else FAILED


def _tag(config: FeatureStoreConfig, args: argparse.Namespace) -> int:
    from featurestore.maintenance import tag_snapshot

    result = tag_snapshot(config, args.name, args.target, replace=args.replace)
    moved = "" if result.replaced is None else f" (was {result.replaced})"
    print(f"tag {result.name} -> snapshot {result.snapshot_id}{moved}")
    return 0


def _expire(config: FeatureStoreConfig, args: argparse.Namespace) -> int:
    from featurestore.maintenance import check_orphan_grace, expire_snapshots

    if not 0 <= args.older_than_days <= _MAX_DAYS:
        raise ValueError(f"--older-than-days must be a number from 0 to {_MAX_DAYS}, got {args.older_than_days}")
    if args.retain_last < 0:
        raise ValueError(f"--retain-last must be >= 0, got {args.retain_last}")
    try:
        check_orphan_grace(args.orphan_grace_hours * 3600, args.force)
    except ValueError as error:
        raise ValueError(f"--orphan-grace-hours {args.orphan_grace_hours:g}: {error}") from None
    cutoff = datetime.now(timezone.utc) - timedelta(days=args.older_than_days)
    report = expire_snapshots(
        config, cutoff, args.retain_last, args.dry_run, args.orphan_grace_hours * 3600, force=args.force
    )
    print(f"{report.summary}; cutoff {cutoff.isoformat(timespec='seconds')}")
    for snapshot_id in report.expired:
        print(f"  {'would expire' if report.dry_run else 'expired'} {snapshot_id}")
    for orphan in report.orphans:
        print(f"  {'would remove' if report.dry_run else 'removed'} orphan {orphan.url}")
    return 0


_ACTIONS: dict[str, Callable[[FeatureStoreConfig, argparse.Namespace], int]] = {
    "ls": _ls, "show": _show, "diff": _diff, "validate": _validate, "tag": _tag, "expire": _expire,
}


def run_features(config: HasFeatureStore, args: argparse.Namespace) -> int:
    """Run ``args.features_command`` on ``config.featurestore``; print the result, return the exit status.

    A bad snapshot name, an existing tag or a bad value prints ``mmsr: error: ...`` and
    returns 2; ``validate`` returns 1 when the snapshot has errors.
    """
    try:
        return _ACTIONS[args.features_command](config.featurestore, args)
    except ValueError as error:
        print(f"mmsr: error: {' '.join(str(error).split())}", file=sys.stderr)
        return USAGE_ERROR

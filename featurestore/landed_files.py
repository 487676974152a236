"""After a commit lands: every file its snapshot added must exist, or the snapshot is undone.

Maintenance honours the leases of live runs (:mod:`featurestore.orphan_files`), so a committed
file should never go missing. Should one all the same (a cleanup that ignores leases, a store
edited by hand), the run does not report a snapshot nobody can read: :func:`verify_landed` checks
the files after the snapshot landed and, while that snapshot is still the table's head, points
the head back at its parent (nothing of the run stays visible) before it raises
:class:`MissingCommittedFileError`. If the head moved on meanwhile, or the snapshot has no parent
to go back to, it raises all the same and says so: the store is damaged, ``mmsr features
validate`` names what is missing.
"""

from __future__ import annotations

import fsspec
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException


class MissingCommittedFileError(RuntimeError):
    """A snapshot this run just committed references a data file that does not exist."""


def missing_files(urls: list[str]) -> list[str]:
    """Those of ``urls`` that do not exist, in order."""
    missing = []
    for url in urls:
        fs, path = fsspec.core.url_to_fs(url)
        if not fs.exists(path):
            missing.append(url)
    return missing


def _undo(catalog: Catalog, identifier: str, snapshot_id: int) -> bool:
    """Point ``identifier``'s head back at ``snapshot_id``'s parent if the head is still that
    snapshot (and the parent still exists); whether it did."""
    table = catalog.load_table(identifier)
    head = table.current_snapshot()
    if head is None or head.snapshot_id != snapshot_id or head.parent_snapshot_id is None:
        return False
    if table.metadata.snapshot_by_id(head.parent_snapshot_id) is None:
        return False
    try:  # lands only while the head is still this snapshot (AssertRefSnapshotId)
        table.manage_snapshots().set_current_snapshot(snapshot_id=head.parent_snapshot_id).commit()
    except CommitFailedException:
        return False
    return True


def verify_landed(catalog: Catalog, identifier: str, snapshot_id: int, urls: list[str]) -> None:
    """Raise :class:`MissingCommittedFileError` if any of ``urls`` (the files snapshot
    ``snapshot_id`` of ``identifier`` added) is missing, after undoing the snapshot where it can."""
    missing = missing_files(urls)
    if not missing:
        return
    undone = _undo(catalog, identifier, snapshot_id)
    outcome = (
        f"the head was set back to its parent, so none of this run's rows are visible; rerun it"
        if undone else
        "it could not be undone (the table moved on or it has no parent): the store is damaged, "
        "run `mmsr features validate`"
    )
    raise MissingCommittedFileError(
        f"{identifier}: snapshot {snapshot_id} landed but {len(missing)} of its {len(urls)} new data files are "
        f"missing (first: {missing[0]}); {outcome}"
    )

"""A Ray Data datasource over a snapshot's planned Parquet files: one read task per data file.

The file list comes from the Iceberg scan plan (``featurestore.readers.snapshot_data_files``),
which already knows every file's row count and size, so planning opens no file and runs no Ray
task (``ray.data.read_parquet`` would list and sample the files again in tasks of its own). Each
read task streams its file in blocks of ``block_rows`` rows, reading only the requested columns,
so memory per task is one block however large the file is. Imported only when Ray is used.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from ray.data import Datasource, ReadTask
from ray.data.block import BlockMetadata
from ray.data.context import DataContext

from featurestore.data_file import DataFile
from featurestore.schema import conform_samples


def read_file_blocks(url: str, schema: pa.Schema, split: str | None, block_rows: int) -> Iterator[pa.Table]:
    """Blocks of at most ``block_rows`` rows of ``url``: ``schema``'s columns, typed by it.

    With ``split``, only rows whose ``split`` column equals it are kept (vectorised, per block);
    ``split`` need not be one of ``schema``'s columns.
    """
    wanted = schema.names if split is None or "split" in schema.names else [*schema.names, "split"]
    with fsspec.open(url, "rb") as handle:
        parquet = pq.ParquetFile(handle)
        columns = [name for name in wanted if name in parquet.schema_arrow.names]  # older files lack new columns
        for batch in parquet.iter_batches(batch_size=block_rows, columns=columns):
            block = pa.Table.from_batches([batch])
            if split is not None:
                block = block.filter(pc.equal(block["split"], split))
            yield conform_samples(block, schema)


class SnapshotDatasource(Datasource):
    """Read tasks over a snapshot's data files (from its scan plan), one per file.

    The datasource holds only URLs, counts and the schema, so a Dataset built on it pickles to
    any actor (Ray Train's dataset coordinator) without a catalog connection.
    """

    def __init__(
        self, files: Sequence[DataFile], schema: pa.Schema, split: str | None = None, block_rows: int = 256
    ) -> None:
        super().__init__()
        if block_rows < 1:
            raise ValueError(f"block_rows must be >= 1, got {block_rows}")
        self._files = tuple(files)
        self._schema = schema
        self._split = split
        self._block_rows = block_rows

    def get_name(self) -> str:
        return "FeatureSnapshot"

    def estimate_inmemory_data_size(self) -> int:
        """The files' compressed size: PNG bytes, the bulk of a row, do not grow when read."""
        return sum(file.bytes for file in self._files)

    def get_read_tasks(
        self, parallelism: int, per_task_row_limit: int | None = None, data_context: DataContext | None = None
    ) -> list[ReadTask]:
        """One task per data file, whatever ``parallelism`` asks: the writer sizes the files."""
        return [
            ReadTask(
                partial(read_file_blocks, file.url, self._schema, self._split, self._block_rows),
                BlockMetadata(
                    num_rows=None if self._split else file.rows, size_bytes=file.bytes,
                    input_files=[file.url], exec_stats=None,
                ),
                schema=self._schema,
                per_task_row_limit=per_task_row_limit,
            )
            for file in self._files
        ]

"""Tell a feature store with a missing data file (damaged data: exit 1) from other missing files."""

from __future__ import annotations

import re
from pathlib import Path

from featurestore.catalog import warehouse_url
from featurestore.config import FeatureStoreConfig

_QUOTED = re.compile(r"""['"]([^'"]+)['"]""")


def missing_data_file(error: FileNotFoundError, config: FeatureStoreConfig) -> str | None:
    """The feature-store data file ``error`` says is missing, or None when it names another file.

    pyarrow and pyiceberg report the path in the message (``Failed to open local file '...'``), the
    builtins in ``error.filename``; either counts when it lies under the configured warehouse."""
    warehouse = warehouse_url(config)
    local = warehouse.removeprefix("file://")
    candidates = [str(error.filename)] if error.filename else []
    candidates += _QUOTED.findall(str(error))
    for candidate in candidates:
        path = candidate.removeprefix("file://")
        if candidate.startswith(warehouse) or Path(path).as_posix().startswith(local + "/"):
            return path
    return None


def damaged_line(path: str) -> str:
    """The one-line report of a missing data file."""
    return f"the feature store is damaged: data file {path} is missing; run `mmsr features validate`"

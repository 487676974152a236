"""The extractor record a registered pipeline carries: what its training rows were made with.

Registration writes it (``orchestration.registry.model_registry``) as ``extractor_settings.json``
in the pipeline folder, a JSON object whose :data:`RECORD_SETTINGS_KEY` holds the training rows'
``extractors`` lineage ({modality: version string}) beside the training snapshot and tokenizers;
serving reads the settings back (:func:`packaged_settings`) and extracts with them, Canny
thresholds included. Pipelines registered before the record existed have none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from pipelines.modalities.extractor_settings import ExtractorSettings

EXTRACTOR_RECORD_FILE = "extractor_settings.json"
RECORD_SETTINGS_KEY = "extractors"


def write_extractor_record(pipeline_dir: str | Path, record: Mapping[str, object]) -> Path:
    """Write ``record`` (with :data:`RECORD_SETTINGS_KEY`) into ``pipeline_dir``; the file written."""
    if RECORD_SETTINGS_KEY not in record:
        raise ValueError(f"an extractor record needs {RECORD_SETTINGS_KEY!r}, got keys {sorted(record)}")
    path = Path(pipeline_dir) / EXTRACTOR_RECORD_FILE
    path.write_text(json.dumps(record, sort_keys=True, indent=1))
    return path


def packaged_settings(pipeline_dir: str | Path) -> ExtractorSettings | None:
    """The extractor settings recorded in ``pipeline_dir`` (None: registered without a record)."""
    path = Path(pipeline_dir) / EXTRACTOR_RECORD_FILE
    if not path.is_file():
        return None
    return ExtractorSettings.from_versions(json.loads(path.read_text())[RECORD_SETTINGS_KEY])

"""What a registered MMSR model may contain: checked before it is served, loaded or registered.

MLflow loads a pyfunc by running code named in its ``MLmodel``: a cloudpickled ``python_model``
(unpickled), a ``loader_module`` (imported), ``code`` paths (put on ``sys.path``) or a
models-from-code file (executed). A model version is accepted only when it is exactly what
``registry.register_pipeline`` writes:

- ``MLmodel`` (YAML) has one flavor, ``python_function``, whose loader is MLflow's models-from-code
  loader, with no ``python_model`` pickle, no ``code`` paths, no keys we do not write, and one
  artifact, ``pipeline``, inside the model directory;
- the models-from-code file is byte-for-byte the ``serving/sr_model_code.py`` this package ships, or
  one that an earlier release shipped (``LEGACY_MODEL_CODE_SHA256``: identified by its SHA-256);
- the other top-level files are MLflow's environment files (YAML/text, checked by content);
- every file of the pipeline artifact passes ``trainers.models.safe_loading`` (safetensors, JSON,
  YAML, text, each checked by content; pickles of any protocol and zips refused whatever their name);
- nothing else is present.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import yaml

from trainers.models.safe_loading import FileKind, file_problem, refusal

MODEL_CODE = Path(__file__).parents[1] / "serving" / "sr_model_code.py"
"""The models-from-code file every registered version carries (and MLflow executes on load)."""
LEGACY_MODEL_CODE_SHA256 = frozenset({"95f726eaa6f65dba2c1cbcec974aa68ea1757bd4daeae8f5a85cc1afaf1a6627"})
"""SHA-256 of the models-from-code files that earlier releases registered (``orchestration/sr_model_code.py``,
importing ``orchestration.sr_pyfunc``, kept as a re-export): versions registered then still load."""
CODE_LOADER = "mlflow.pyfunc.loaders.code_model"
PIPELINE_ARTIFACT = "pipeline"
ROOT_FILES: dict[str, FileKind] = {
    "MLmodel": FileKind.YAML,
    "conda.yaml": FileKind.YAML,
    "python_env.yaml": FileKind.YAML,
    "requirements.txt": FileKind.TEXT,
    "registered_model_meta": FileKind.YAML,
}
"""Top-level files MLflow writes next to the model code (none of them is executed by a local-env server)."""
FLAVOR_KEYS = frozenset(
    {"artifacts", "cloudpickle_version", "code", "config", "env", "loader_module", "model_code_path", "python_version", "streamable"}
)
"""The keys of the ``python_function`` flavor that models-from-code registration writes."""


def flavor_problem(flavors: object) -> str | None:
    """Why ``flavors`` (the ``MLmodel`` mapping) is not what we register, or None."""
    if not isinstance(flavors, Mapping) or set(flavors) != {"python_function"}:
        names = sorted(flavors) if isinstance(flavors, Mapping) else flavors
        return f"flavors must be exactly python_function, got {names}"
    pyfunc = flavors["python_function"]
    if not isinstance(pyfunc, Mapping):
        return "the python_function flavor is not a mapping"
    if "python_model" in pyfunc:
        return "a cloudpickled python_model (loading it would unpickle code)"
    unexpected = sorted(set(pyfunc) - FLAVOR_KEYS)
    if unexpected:
        return f"python_function keys this project does not write: {unexpected}"
    if pyfunc.get("loader_module") != CODE_LOADER:
        return f"loader module {pyfunc.get('loader_module')!r} is not {CODE_LOADER}"
    if pyfunc.get("code") is not None:
        return f"code paths {pyfunc.get('code')!r} would be put on sys.path"
    if PurePosixPath(str(pyfunc.get("model_code_path", ""))).name != MODEL_CODE.name:
        return f"model code {pyfunc.get('model_code_path')!r} is not {MODEL_CODE.name}"
    return _artifacts_problem(pyfunc.get("artifacts"))


def _artifacts_problem(artifacts: object) -> str | None:
    if not isinstance(artifacts, Mapping) or set(artifacts) != {PIPELINE_ARTIFACT}:
        names = sorted(artifacts) if isinstance(artifacts, Mapping) else artifacts
        return f"artifacts must be exactly {PIPELINE_ARTIFACT!r}, got {names}"
    entry = artifacts[PIPELINE_ARTIFACT]
    path = PurePosixPath(str(entry.get("path", ""))) if isinstance(entry, Mapping) else None
    if path is None or path.is_absolute() or ".." in path.parts or len(path.parts) < 2 or path.parts[0] != "artifacts":
        return f"the pipeline artifact path {entry!r} is not a folder under artifacts/"
    return None


def pipeline_artifact_path(flavors: Mapping) -> str:
    """The pipeline artifact's path relative to the model directory (``flavors`` already checked)."""
    return str(PurePosixPath(flavors["python_function"]["artifacts"][PIPELINE_ARTIFACT]["path"]))


def _code_problem(path: Path) -> str | None:
    if path.is_symlink() or not path.is_file():
        return "not a regular file"
    data = path.read_bytes()
    if data != MODEL_CODE.read_bytes() and hashlib.sha256(data).hexdigest() not in LEGACY_MODEL_CODE_SHA256:
        return f"not the {MODEL_CODE.name} this project ships (MLflow would execute it)"
    return None


def _entries(root: Path) -> list[Path]:
    return [path for path in sorted(root.rglob("*")) if path.is_symlink() or not path.is_dir()]


def _structure_problems(root: Path, entries: list[Path]) -> dict[Path, str]:
    """MLmodel's flavor, then where each file lies: at the top level or inside the pipeline artifact."""
    mlmodel = root / "MLmodel"
    if not mlmodel.is_file():
        return {mlmodel: "missing: not an MLflow model directory"}
    flavors = (yaml.safe_load(mlmodel.read_text()) or {}).get("flavors")
    why = flavor_problem(flavors)
    if why is not None:
        return {mlmodel: why}
    pipeline = PurePosixPath(pipeline_artifact_path(flavors))
    if not (root / pipeline).is_dir():
        return {mlmodel: f"the pipeline artifact {pipeline} is missing"}
    allowed_top = {*ROOT_FILES, MODEL_CODE.name}
    return {
        path: "not part of a model this project registers"
        for path in entries
        if path.relative_to(root).as_posix() not in allowed_top and pipeline not in PurePosixPath(path.relative_to(root).as_posix()).parents
    }


def verify_model_directory(directory: str | Path) -> None:
    """Raise UnsafeArtifactError (naming each refused file and why) unless ``directory`` is a model
    version exactly as we register it; nothing in it is imported, executed or unpickled."""
    root = Path(directory)
    entries = _entries(root)
    problems: dict[Path, str] = {}
    for path in entries:
        relative = path.relative_to(root).as_posix()
        why = _code_problem(path) if relative == MODEL_CODE.name else file_problem(path, ROOT_FILES.get(relative))
        if why is not None:
            problems[path] = why
    if root / "MLmodel" not in problems:
        for path, why in _structure_problems(root, entries).items():
            problems.setdefault(path, why)
    if problems:
        raise refusal(root, problems)

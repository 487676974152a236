"""Model versions registered through MLflow's client directly (bypassing ``register_pipeline``)
carrying code that would run on load: ``mmsr serve`` refuses each with exit 2 and one line
naming the file, and the payload (which creates a marker file when unpickled, imported or
executed) never runs.
"""

from __future__ import annotations

import builtins
import pickle
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cloudpickle
import mlflow.pyfunc
import pytest
import torch
import yaml

from orchestration.cli.main import main
from orchestration.registry.model_registry import RegisteredVersion, register_pipeline
from orchestration.serving.checked_model import fetch_checked_model, load_checked_model
from orchestration.serving.model_verification import verify_model_directory
from orchestration.serving.registry_error import RegistryError
from orchestration.serving.serve_config import ServeConfig
from trainers.models.safe_loading import UnsafeArtifactError
from trainers.models.sampling_options import SamplingOptions
from trainers.tracking.mlflow_runs import create_run, experiment_id, tracking_client
from trainers.tracking.tracking_config import TrackingConfig

pytestmark = pytest.mark.integration  # ~10 s in all, measured on 2 loaded cores

NAME = "mmsr-poisoned"
PIPELINE = "artifacts/mmsr-tiny"
PICKLE_NAMES = ("payload.pkl", "payload.txt", "payload.json", "payload")


class Payload:
    """Unpickling this creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return builtins.open, (str(self.marker), "w")


class PayloadModel(mlflow.pyfunc.PythonModel):
    """A cloudpickled pyfunc whose unpickling creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def predict(self, context: object, model_input: list[str], params: dict | None = None) -> list[str]:
        return model_input

    def __reduce__(self) -> tuple:
        return builtins.open, (str(self.marker), "w")


@pytest.fixture(scope="module")
def template(tracking: TrackingConfig, registered: RegisteredVersion, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A version exactly as we register it, minus its weights (the refusals come before any load)."""
    local = fetch_checked_model(registered.model_uri, tracking, str(tmp_path_factory.mktemp("download")))
    for weights in local.rglob("*.safetensors"):
        weights.unlink()
    verify_model_directory(local)  # the control: what the cases below change is what gets refused
    return local


@pytest.fixture(scope="module")
def marker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("marker") / "payload-ran"


def _error_lines(stderr: str) -> list[str]:
    """stderr without MLflow's download progress bars."""
    return [line for line in stderr.splitlines() if line.strip() and "Downloading artifacts" not in line]


def _register_raw(tracking: TrackingConfig, directory: Path) -> str:
    """Log ``directory`` as a run's ``model`` artifacts and register it with MLflow's client alone."""
    client = tracking_client(tracking)
    run_id = create_run(client, experiment_id(client, tracking), "poisoned", {})
    client.log_artifacts(run_id, str(directory), artifact_path="model")
    if not client.search_registered_models(filter_string=f"name = '{NAME}'"):
        client.create_registered_model(NAME)
    artifact_root = client.get_run(run_id).info.artifact_uri
    version = client.create_model_version(NAME, source=f"{artifact_root}/model", run_id=run_id)
    return f"models:/{NAME}/{version.version}"


def _edit_mlmodel(root: Path, edit: Callable[[dict], None]) -> None:
    mlmodel = yaml.safe_load((root / "MLmodel").read_text())
    edit(mlmodel["flavors"]["python_function"])
    (root / "MLmodel").write_text(yaml.safe_dump(mlmodel))


def _pickle_case(protocol: int, name: str, referenced: bool, marker: Path) -> Callable[[Path], str]:
    def poison(root: Path) -> str:
        where = root / name if referenced else root / PIPELINE / name
        where.write_bytes(pickle.dumps(Payload(marker), protocol=protocol))
        if referenced:  # MLmodel points MLflow's cloudpickle loader at it
            _edit_mlmodel(root, lambda pyfunc: (pyfunc.pop("model_code_path"), pyfunc.update(python_model=name, loader_module="mlflow.pyfunc.model")))
        return name
    return poison


def _cloudpickle_pyfunc(marker: Path) -> Callable[[Path], str]:
    def poison(root: Path) -> str:
        saved = root.parent / f"{root.name}-cloudpickle"
        mlflow.pyfunc.save_model(str(saved), python_model=PayloadModel(marker), pip_requirements=["mlflow"])
        shutil.rmtree(root)
        saved.rename(root)
        return "python_model.pkl"
    return poison


def _torch_zip(root: Path) -> str:
    torch.save({"w": torch.zeros(1)}, root / PIPELINE / "unet" / "diffusion_pytorch_model.safetensors")
    return "diffusion_pytorch_model.safetensors"


def _foreign_loader(marker: Path) -> Callable[[Path], str]:
    def poison(root: Path) -> str:
        (root / "code").mkdir()
        (root / "code" / "evil_loader.py").write_text(f"open({str(marker)!r}, 'w')\n")
        _edit_mlmodel(root, lambda pyfunc: pyfunc.update(loader_module="evil_loader", code="code"))
        return "evil_loader"
    return poison


def _changed_model_code(marker: Path) -> Callable[[Path], str]:
    def poison(root: Path) -> str:
        code = root / "sr_model_code.py"
        code.write_text(code.read_text() + f"\nopen({str(marker)!r}, 'w')\n")
        return "sr_model_code.py"
    return poison


def _cases(marker: Path) -> dict[str, Callable[[Path], str]]:
    cases = {
        f"pickle{protocol}-{name}-{'referenced' if referenced else 'unreferenced'}": _pickle_case(protocol, name, referenced, marker)
        for protocol in range(6) for name in PICKLE_NAMES for referenced in (False, True)
    }
    cases["cloudpickle-pyfunc"] = _cloudpickle_pyfunc(marker)
    cases["torch-zip-as-safetensors"] = _torch_zip
    cases["foreign-loader-module"] = _foreign_loader(marker)
    cases["changed-model-code"] = _changed_model_code(marker)
    return cases


CASE_IDS = sorted(_cases(Path("unused")))


@pytest.mark.parametrize("case", CASE_IDS)
def test_serve_refuses_poisoned_version_with_one_line_and_no_code_runs(
    case: str, tracking: TrackingConfig, template: Path, marker: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = shutil.copytree(template, tmp_path / "model")
    named = _cases(marker)[case](root)
    model_uri = _register_raw(tracking, root)
    capsys.readouterr()
    status = main(["serve", "--model", model_uri, "--set", f"tracking.tracking_uri={tracking.tracking_uri}"])
    lines = _error_lines(capsys.readouterr().err)
    assert status == 2
    assert len(lines) == 1 and lines[0].startswith(f"mmsr: error: model {model_uri} refused:"), lines
    assert named in lines[0]
    assert not marker.exists()


def test_the_installed_cli_refuses_too(tracking: TrackingConfig, template: Path, marker: Path, tmp_path: Path) -> None:
    root = shutil.copytree(template, tmp_path / "model")
    _pickle_case(0, "payload.txt", False, marker)(root)
    model_uri = _register_raw(tracking, root)
    result = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "serve", "--model", model_uri, "--set", f"tracking.tracking_uri={tracking.tracking_uri}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    lines = _error_lines(result.stderr)
    assert result.returncode == 2, result.stderr
    assert lines == [lines[0]] and "payload.txt: a pickle stream" in lines[0], result.stderr
    assert not marker.exists()


def test_registration_refuses_a_pipeline_our_loader_would_refuse(tracking: TrackingConfig, tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    poisoned = shutil.copytree(tiny_pipeline_dir, tmp_path / "poisoned")
    (poisoned / "vae" / "extra.json").write_bytes(pickle.dumps([1], protocol=1))
    client = tracking_client(tracking)
    run_id = create_run(client, experiment_id(client, tracking), "poisoned", {})
    before = len(client.search_model_versions(f"name = '{tracking.registered_model}'"))
    with pytest.raises(RegistryError, match=r"not registered: .*vae/extra\.json: a pickle stream"):
        register_pipeline(tracking, ServeConfig(sampling=SamplingOptions(steps=1)), run_id, str(poisoned), {})
    assert len(client.search_model_versions(f"name = '{tracking.registered_model}'")) == before


def test_stray_file_outside_the_pipeline_is_refused(template: Path, tmp_path: Path) -> None:
    root = shutil.copytree(template, tmp_path / "model")
    (root / "notes.txt").write_text("harmless text, but not something we register")
    with pytest.raises(UnsafeArtifactError, match=r"notes\.txt: not part of a model this project registers"):
        verify_model_directory(root)


def test_pipeline_path_escaping_the_model_directory_is_refused(template: Path, tmp_path: Path) -> None:
    root = shutil.copytree(template, tmp_path / "model")
    _edit_mlmodel(root, lambda pyfunc: pyfunc["artifacts"]["pipeline"].update(path="artifacts/../../elsewhere"))
    with pytest.raises(UnsafeArtifactError, match=r"MLmodel: the pipeline artifact path .* is not a folder under artifacts/"):
        verify_model_directory(root)


@pytest.mark.parametrize("model", ["models:/mmsr-sr/999", "models:/mmsr-sr@no-such-alias", "models:/no-such-model/1"])
def test_unknown_model_version_or_alias_is_one_line_exit_2(
    model: str, tracking: TrackingConfig, registered: RegisteredVersion, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["serve", "--model", model, "--set", f"tracking.tracking_uri={tracking.tracking_uri}"])
    lines = _error_lines(capsys.readouterr().err)
    assert status == 2
    assert len(lines) == 1 and lines[0].startswith(f"mmsr: error: model {model} could not be fetched:"), lines


def test_unreachable_tracking_server_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status = main(["serve", "--set", f"tracking.tracking_uri=http://127.0.0.1:{port}"])
    lines = _error_lines(capsys.readouterr().err)
    assert status == 2
    assert lines == [f"mmsr: error: the tracking server http://127.0.0.1:{port} is unreachable ([Errno 111] Connection refused)"]


def test_cloudpickle_payload_is_live(marker: Path, tmp_path: Path) -> None:
    """The cloudpickle case's payload does run when unpickled (so its refusal is what kept it from running)."""
    live = tmp_path / "live"
    cloudpickle.loads(cloudpickle.dumps(PayloadModel(live)))
    assert live.exists()


LEGACY_MODEL_CODE = '''"""MLflow models-from-code entry point: the registered model is ``MMSRPyfunc``.

MLflow executes this file when it loads the model; it only names the model object.
"""

import mlflow

from orchestration.sr_pyfunc import MMSRPyfunc

mlflow.models.set_model(MMSRPyfunc())
'''
"""The models-from-code file registered before the serving code moved to ``orchestration.serving``."""


def test_a_version_registered_with_the_earlier_model_code_still_loads(
    tracking: TrackingConfig, registered: RegisteredVersion, tmp_path: Path
) -> None:
    root = fetch_checked_model(registered.model_uri, tracking, str(tmp_path / "download"))
    (root / "sr_model_code.py").write_text(LEGACY_MODEL_CODE)
    model_uri = _register_raw(tracking, root)
    with load_checked_model(model_uri, tracking) as model:
        assert type(model.unwrap_python_model()).__name__ == "MMSRPyfunc"
    (root / "sr_model_code.py").write_text(LEGACY_MODEL_CODE.replace("MMSRPyfunc()", "MMSRPyfunc() "))
    with pytest.raises(UnsafeArtifactError, match=r"sr_model_code\.py: not the sr_model_code\.py this project ships"):
        verify_model_directory(root)  # accepted by exact content only

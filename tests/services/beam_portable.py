"""Beam's portable path on 127.0.0.1: a job service, and an SDK worker pool in its own environment.

This is how Flink, Spark and Dataflow run the job: the driver submits a pipeline proto to a job
service (``--job_endpoint``), the job service asks a worker pool for SDK workers
(``--environment_type=EXTERNAL``), and those workers import the project from what was installed
in *their* environment, never from the driver's source tree.

- :func:`worker_environment` builds that environment the way a worker image gets the project: the
  sdist (``python -m build --sdist``, what ``runner.setup_file`` builds) turned into a wheel and
  installed into a new venv. Third-party packages come from this test environment's
  site-packages through a ``.pth`` path line (a plain path entry: the ``.pth`` files there,
  among them the editable install of this checkout, are not run), so nothing is downloaded.
- :func:`running_job_service` is Beam's own ``local_job_service_main``, the portable job API in
  front of the FnApiRunner; :func:`running_worker_pool` is ``worker_pool_main`` started from that
  environment, in an empty working directory, with no ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.services.ports import free_port, stop, wait_for_port

REPO = Path(__file__).resolve().parents[2]


def build_sdist(outdir: Path) -> Path:
    """This checkout's sdist in ``outdir``, built as Beam's stager builds ``runner.setup_file``."""
    _run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(outdir), str(REPO)])
    (sdist,) = outdir.glob("mmsr-*.tar.gz")
    return sdist


def worker_environment(sdist: Path, root: Path) -> Path:
    """A venv under ``root`` with the project installed from ``sdist`` (and only from it); its python."""
    wheels = root / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheels), str(sdist)])
    venv = root / "worker-venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    site_packages = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).strip())
    (site_packages / "mmsr-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    (wheel,) = wheels.glob("mmsr-*.whl")
    _run([*pip, "--python", str(python), "install", "--quiet", "--no-deps", "--no-index", str(wheel)])
    return python


def worker_env(python: Path) -> dict[str, str]:
    """The environment of a worker pool that runs ``python``: its venv first on PATH (the pool starts
    each worker as ``python -c ...``), no PYTHONPATH, one intra-op thread."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "PATH": f"{python.parent}{os.pathsep}{env.get('PATH', '')}", "OMP_NUM_THREADS": "1"}


@contextmanager
def running_job_service(root: Path) -> Iterator[str]:
    """Beam's local job service; yields its ``--job_endpoint``."""
    port, log = free_port(), root / "job-service.log"
    command = [
        sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
        "--port", str(port), "--staging_dir", str(root / "job-staging"),
    ]
    with _server(command, root, port, log, "Beam job service", os.environ.copy()):
        yield f"localhost:{port}"


@contextmanager
def running_worker_pool(python: Path, root: Path) -> Iterator[str]:
    """``worker_pool_main`` run by ``python`` in an empty folder; yields its ``--environment_config``."""
    port, workdir = free_port(), root / "worker-cwd"
    workdir.mkdir()
    command = [str(python), "-m", "apache_beam.runners.worker.worker_pool_main", "--service_port", str(port)]
    with _server(command, workdir, port, root / "worker-pool.log", "Beam worker pool", worker_env(python)):
        yield f"localhost:{port}"


@contextmanager
def _server(command: list[str], cwd: Path, port: int, log: Path, name: str, env: dict[str, str]) -> Iterator[None]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        wait_for_port(port, process, log, name)
        yield
    finally:
        stop(process, signal.SIGTERM)
        _kill_group(process.pid)


def _kill_group(pid: int) -> None:
    """SIGKILL what the server started (SDK worker processes) in its own process group."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _run(command: list[str]) -> str:
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if result.returncode:
        output = result.stdout[-3000:] + result.stderr[-3000:]
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{output}")
    return result.stdout

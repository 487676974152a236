"""A throwaway PostgreSQL server on 127.0.0.1, from Debian's ``postgresql`` package (``.ci/run`` installs it).

``initdb`` a fresh cluster in a temporary folder (trust authentication, loopback only, no fsync),
start ``postgres`` on a free port, and stop it with a fast shutdown. PostgreSQL refuses to run as
root, so under root (CI) the cluster belongs to Debian's ``postgres`` user and the server runs as
that user. No binaries, no user or a server that does not start: an error naming the reason, so a
test that needs the server fails instead of skipping.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from tests.services.ports import free_port, stop, wait_for_port

SUPERUSER = "mmsr"
SERVER_GLOBS = ("/usr/lib/postgresql/*/bin/postgres", "/usr/local/pgsql/bin/postgres")
OS_USER_WHEN_ROOT = "postgres"


@dataclass(frozen=True)
class PostgresServer:
    port: int

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` (pyiceberg's SQL catalog, MLflow's backend store)."""
        return f"postgresql+psycopg2://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database; its SQLAlchemy URL."""
        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres")
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.url(name)


def server_bindir() -> Path:
    """The folder of ``initdb`` and ``postgres``: on PATH, else Debian's versioned folder (newest)."""
    on_path = shutil.which("postgres")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    found = sorted((path for pattern in SERVER_GLOBS for path in glob.glob(pattern)), key=_version_key)
    if not found:
        raise RuntimeError(
            "the PostgreSQL server is not installed (no initdb/postgres on PATH or under /usr/lib/postgresql): "
            "install Debian's postgresql package (`apt-get install postgresql`; .ci/run does)"
        )
    return Path(found[-1]).parent


def _version_key(path: str) -> tuple[int, ...]:
    parts = [part for part in Path(path).parts if part.isdigit()]
    return tuple(int(part) for part in parts)


def _os_user() -> str | None:
    """Who runs the server: this process's user, or Debian's ``postgres`` user under root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(OS_USER_WHEN_ROOT)
    except KeyError:
        raise RuntimeError(
            f"running as root, and there is no {OS_USER_WHEN_ROOT!r} user to run PostgreSQL as "
            "(Debian's postgresql package creates it)"
        ) from None
    return OS_USER_WHEN_ROOT


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A fresh cluster and server for the duration of the block; the folder is removed afterwards."""
    bindir = server_bindir()
    user = _os_user()
    root = Path(tempfile.mkdtemp(prefix="mmsr-postgres-"))
    try:
        data, log = root / "data", root / "server.log"
        if user:
            shutil.chown(root, user)
        init = subprocess.run(
            [bindir / "initdb", "-D", data, "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync"],
            user=user, capture_output=True, text=True, check=False,
        )
        if init.returncode:
            raise RuntimeError(f"initdb failed ({init.returncode}): {init.stderr[-2000:]}")
        port = free_port()
        command = [bindir / "postgres", "-D", data, "-p", str(port), "-k", root,
                   "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"]
        with log.open("w") as sink:
            if user:
                shutil.chown(log, user)
            process = subprocess.Popen(command, user=user, stdout=sink, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, process, log, "postgres")
            yield PostgresServer(port=port)
        finally:
            stop(process, signal.SIGINT)  # "fast" shutdown: roll back open transactions, exit
    finally:
        shutil.rmtree(root, ignore_errors=True)

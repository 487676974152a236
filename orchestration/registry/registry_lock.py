"""An exclusive lock any MLflow model registry can hold: a registered model with a fixed name.

Creating a registered model is atomic on every MLflow registry (a unique name in the SQL stores,
the same check behind a tracking server's REST API), so of several callers creating
``<model>-promotion-lock`` at once exactly one succeeds and holds the lock; releasing deletes it.
Each holder writes a random owner token as a tag, so a create whose response was lost and retried
is still recognised as ours.

A holder that dies (SIGKILL, lost machine) leaves the lock behind; a waiter that has seen the same
owner for ``stale_after_s`` seconds deletes it and competes again. Breaking a stale lock is
best-effort (two waiters breaking it at the same moment can race): keep ``stale_after_s`` far
above the longest critical section.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

LOG = logging.getLogger(__name__)
LOCK_SUFFIX = "-promotion-lock"
OWNER_TAG = "mmsr.lock_owner"
_CONTENDED = ("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST")
"""Error codes of a create that lost the race (or raced a release): wait and try again."""


def lock_name(model_name: str) -> str:
    return f"{model_name}{LOCK_SUFFIX}"


def _owner(client: MlflowClient, name: str) -> str | None:
    """The token of the current holder, or None if nobody holds the lock right now."""
    try:
        return client.get_registered_model(name).tags.get(OWNER_TAG, "")
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def _try_create(client: MlflowClient, name: str, token: str) -> bool:
    try:
        client.create_registered_model(name, tags={OWNER_TAG: token}, description="mmsr promotion lock")
        return True
    except MlflowException as error:
        if error.error_code in _CONTENDED:
            return False
        raise


def _delete_if_owned_by(client: MlflowClient, name: str, token: str) -> None:
    if _owner(client, name) != token:
        return
    try:
        client.delete_registered_model(name)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise


def _acquire(client: MlflowClient, name: str, token: str, stale_after_s: float, poll_s: float) -> None:
    seen, since = None, time.monotonic()
    while not _try_create(client, name, token):
        holder = _owner(client, name)
        if holder == token:  # our create went through; its response was lost
            return
        if holder != seen:
            seen, since = holder, time.monotonic()
        elif holder is not None and time.monotonic() - since > stale_after_s:
            LOG.warning("breaking stale registry lock %s held by %s for over %.0f s", name, holder, stale_after_s)
            _delete_if_owned_by(client, name, holder)
            continue
        time.sleep(poll_s)


@contextlib.contextmanager
def registry_lock(client: MlflowClient, model_name: str, stale_after_s: float, poll_s: float = 0.2) -> Iterator[str]:
    """Hold the promotion lock of ``model_name`` for the enclosed block; yields the owner token."""
    name = lock_name(model_name)
    token = uuid.uuid4().hex
    _acquire(client, name, token, stale_after_s, poll_s)
    try:
        yield token
    finally:
        _delete_if_owned_by(client, name, token)

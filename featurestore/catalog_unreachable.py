"""The error raised when the configured catalog cannot be reached (server down, wrong host or port)."""

from __future__ import annotations

import re

import requests.exceptions
import sqlalchemy.engine
import sqlalchemy.exc

CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, requests.exceptions.ConnectionError,
)
"""What the SQL catalog (SQLAlchemy) and the REST catalog (requests) raise when they cannot connect."""


_ERRNO = re.compile(r"\[Errno -?\d+\] [^\"')]+")


class CatalogUnreachableError(ConnectionError):
    """The catalog named by ``featurestore.catalog_uri`` does not answer; the message is one line
    naming where it was looked for (host and port, password hidden) and why it failed."""

    @classmethod
    def from_error(cls, uri: str, error: Exception) -> CatalogUnreachableError:
        cause = getattr(error, "orig", None) or error  # SQLAlchemy wraps the driver's error
        reason = next((line.strip() for line in str(cause).splitlines() if line.strip()), type(cause).__name__)
        errno = _ERRNO.search(reason)  # requests nests the socket error in three wrappers
        if isinstance(error, requests.exceptions.ConnectionError) and errno:
            reason = errno.group(0)
        return cls(f"cannot reach the feature-store catalog at {_where(uri)}: {reason} (featurestore.catalog_uri)")


def _where(uri: str) -> str:
    """``host:port`` of a server URL, the file of a SQLite URL; never the password."""
    if uri.startswith(("http://", "https://")):
        return uri
    try:
        url = sqlalchemy.engine.make_url(uri)
    except sqlalchemy.exc.ArgumentError:
        return uri
    if url.host is None:
        return url.database or uri
    return f"{url.host}:{url.port or 'default port'} ({url.render_as_string(hide_password=True)})"

"""Whether ``mmsr serve`` can listen where it is told to, checked before anything is loaded."""

from __future__ import annotations

import errno
import socket


class PortInUseError(Exception):
    """The server's address is taken or cannot be bound; the message says which and what to do."""


def check_port_free(host: str, port: int) -> None:
    """PortInUseError unless a server could listen on ``host``:``port`` now (bound as uvicorn binds,
    with SO_REUSEADDR, so a port in TIME_WAIT counts as free)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as error:
        raise PortInUseError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"port {port} on {host} is in use (another server is listening there); "
                    "choose another with --port N or --set serve.port=N"
                ) from None
            raise PortInUseError(f"cannot listen on {host}:{port}: {error.strerror}") from None

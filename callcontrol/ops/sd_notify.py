"""systemd's service notification protocol (sd_notify(3)), for units with Type=notify.

systemd counts a Type=notify service as started only when it says READY=1, so units
ordered after it (and `systemctl start`) wait until every listener is bound; STOPPING=1
tells it the stop that follows is ours. The protocol is one AF_UNIX datagram of
newline-separated KEY=VALUE lines sent to the socket named by $NOTIFY_SOCKET (a name
starting with "@" is in the abstract namespace). Without $NOTIFY_SOCKET (not run by
systemd) nothing is sent. A few lines over a socket need no libsystemd binding.
"""
from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

logger = logging.getLogger(__name__)

ENV = "NOTIFY_SOCKET"


def notify_address(environ: Mapping[str, str] | None = None) -> str | None:
    """Where to send, as socket.sendto takes it; None when not run by systemd (or not a unix socket)."""
    address = (os.environ if environ is None else environ).get(ENV, "")
    if address.startswith("@"):
        return "\0" + address[1:]  # abstract namespace: no file, the name starts with a NUL byte
    if address.startswith("/"):
        return address
    if address:
        logger.warning("%s=%r is not a unix socket path: not notifying systemd", ENV, address)
    return None


def notify(*assignments: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``READY=1``, ``STOPPING=1``, ``STATUS=...`` to systemd; True when a datagram went out.

    Never raises: the server runs the same whether or not systemd listens."""
    address = notify_address(environ)
    if address is None:
        return False
    payload = "\n".join(assignments).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.setblocking(False)  # a full queue drops the notice rather than stalling the loop
            sock.sendto(payload, address)
    except OSError as exc:
        logger.warning("cannot notify systemd at %s (%s): %s", os.environ.get(ENV), exc.strerror or exc,
                       " ".join(assignments))
        return False
    return True

"""Who sent a message or where one goes: a transport name and an address.

Its own module so that pure code (routing decisions, authentication, the
registrar) can name a peer without importing the socket adapters.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True, frozen=True)
class Peer:
    """The far end of one message: transport name and address."""

    transport: str  # "UDP", "TCP" or "TLS"
    host: str
    port: int
    # TLS only: the name the peer's certificate must carry (RFC 5922 §4: the host of the URI we
    # were given, not the SRV target or address it resolved to); None: the address itself.
    # Not part of equality: the connection table and transport errors match on the address.
    tls_name: str | None = field(default=None, compare=False)

    @property
    def addr(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"

    def __str__(self) -> str:
        return f"{self.transport.lower()}:{self.host}:{self.port}"


def parse_peer(uri_host: str, port: int | None, transport: str | None) -> Peer:
    """A Peer for a host/port/transport taken from a URI (no DNS: IPs and localhost)."""
    host = "127.0.0.1" if uri_host == "localhost" else uri_host.strip("[]")
    t = (transport or "udp").upper()
    return Peer(t if t in ("UDP", "TCP", "TLS") else "UDP", host, port or 5060)

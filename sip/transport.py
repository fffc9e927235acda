"""Asyncio adapters for SIP transports: UDP and TCP (TLS is TCP with an SSL context).

These are thin: they move bytes and report who sent them. Parsing, matching
and retransmission live in the sans-I/O layers above. RFC 3261 §18.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import ssl as ssl_module
from collections.abc import Callable

from sip.errors import SipParseError
from sip.framing import KeepAlivePing, StreamFramer
from sip.peer import Peer

logger = logging.getLogger(__name__)


# Receive buffer asked for on UDP listeners (the kernel caps it at net.core.rmem_max).
# The default (~200 KB) holds only ~100 datagrams on loopback, i.e. a few tens of
# milliseconds of a busy server's input: any pause (GC, a busy neighbour core)
# would drop requests and turn into retransmissions.
DEFAULT_UDP_RCVBUF = 4 * 1024 * 1024

ReceiveCallback = Callable[[bytes, Peer], None]
ErrorCallback = Callable[[Peer, str], None]


class UdpTransport(asyncio.DatagramProtocol):
    name = "UDP"
    reliable = False

    def __init__(self, on_receive: ReceiveCallback) -> None:
        self._on_receive = on_receive
        self._transport: asyncio.DatagramTransport | None = None
        self.local: tuple[str, int] = ("", 0)

    @classmethod
    async def listen(cls, host: str, port: int, on_receive: ReceiveCallback, *,
                     rcvbuf: int | None = DEFAULT_UDP_RCVBUF) -> "UdpTransport":
        loop = asyncio.get_running_loop()
        proto = cls(on_receive)
        transport, _ = await loop.create_datagram_endpoint(lambda: proto, local_addr=(host, port))
        if rcvbuf:
            try:
                transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            except OSError as exc:  # not fatal: the kernel default still works, only less slack
                logger.warning("could not set UDP receive buffer to %d: %s", rcvbuf, exc)
        sock = transport.get_extra_info("sockname")
        proto.local = (sock[0], sock[1])
        return proto

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        try:
            self._on_receive(data, Peer("UDP", addr[0], addr[1]))
        except Exception:  # one bad message never stops the listener
            logger.exception("error handling datagram from %s:%s", addr[0], addr[1])

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable etc.: the transaction layer's timers handle the loss.
        logger.debug("UDP error: %s", exc)

    def send(self, data: bytes, peer: Peer) -> None:
        if self._transport is not None:
            self._transport.sendto(data, peer.addr)

    @property
    def is_open(self) -> bool:
        """The socket is bound and not closing (for a health check)."""
        return self._transport is not None and not self._transport.is_closing()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class TcpConnection(asyncio.Protocol):
    """One TCP (or TLS) connection: frames the stream and writes messages."""

    def __init__(self, owner: "TcpTransport", peer: Peer | None = None) -> None:
        self._owner = owner
        self._framer = StreamFramer()
        self._transport: asyncio.Transport | None = None
        self._pending: list[bytes] = []
        self.peer = peer
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        if self.peer is None:
            addr = transport.get_extra_info("peername")
            self.peer = Peer(self._owner.name, addr[0], addr[1])
        self._owner._register(self.peer, self)
        for data in self._pending:
            self._transport.write(data)  # type: ignore[union-attr]
        self._pending.clear()

    def data_received(self, data: bytes) -> None:
        try:
            items = self._framer.feed(data)
        except SipParseError as exc:
            # The stream cannot be re-synchronised after a framing error.
            logger.info("closing %s: %s", self.peer, exc.reason)
            if self._transport is not None:
                self._transport.close()
            return
        assert self.peer is not None
        for item in items:
            if isinstance(item, KeepAlivePing):
                self.write(b"\r\n")
                continue
            try:
                self._owner._on_receive(item, self.peer)
            except Exception:
                logger.exception("error handling message from %s", self.peer)

    def write(self, data: bytes) -> None:
        if self._transport is None:
            self._pending.append(data)
        elif not self.closed:
            self._transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.peer is not None:
            self._owner._unregister(self.peer, self)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class TcpTransport:
    """A listening socket plus the table of open connections, reused by peer address."""

    reliable = True

    def __init__(self, on_receive: ReceiveCallback, on_error: ErrorCallback | None = None,
                 ssl: ssl_module.SSLContext | None = None,
                 client_ssl: ssl_module.SSLContext | None = None) -> None:
        self._on_receive = on_receive
        self._on_error = on_error
        # TLS: ``ssl`` is the listener's (our certificate), ``client_ssl`` the one of the
        # connections we open (verifies the peer's certificate and name).
        self._ssl = ssl
        self._client_ssl = client_ssl
        self.name = "TLS" if ssl is not None else "TCP"
        self._server: asyncio.base_events.Server | None = None
        self._connections: dict[tuple[str, int], TcpConnection] = {}
        self.local: tuple[str, int] = ("", 0)

    @classmethod
    async def listen(cls, host: str, port: int, on_receive: ReceiveCallback,
                     on_error: ErrorCallback | None = None,
                     ssl: ssl_module.SSLContext | None = None,
                     client_ssl: ssl_module.SSLContext | None = None) -> "TcpTransport":
        self = cls(on_receive, on_error, ssl, client_ssl)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: TcpConnection(self), host, port, ssl=ssl)
        sock = self._server.sockets[0].getsockname()
        self.local = (sock[0], sock[1])
        return self

    def _register(self, peer: Peer, conn: TcpConnection) -> None:
        self._connections[peer.addr] = conn

    def _unregister(self, peer: Peer, conn: TcpConnection) -> None:
        for key in [k for k, c in self._connections.items() if c is conn]:
            del self._connections[key]

    def alias(self, addr: tuple[str, int], peer: Peer) -> None:
        """Make ``addr`` (e.g. a Via sent-by or Contact) reach the connection of ``peer``."""
        conn = self._connections.get(peer.addr)
        if conn is not None:
            self._connections[addr] = conn

    def send(self, data: bytes, peer: Peer) -> None:
        conn = self._connections.get(peer.addr)
        if conn is None or conn.closed:
            conn = TcpConnection(self, peer)
            self._connections[peer.addr] = conn
            asyncio.get_running_loop().create_task(self._connect(conn, peer))
        conn.write(data)

    async def _connect(self, conn: TcpConnection, peer: Peer) -> None:
        loop = asyncio.get_running_loop()
        tls: dict[str, object] = {}
        if self._ssl is not None:
            context = self._client_ssl
            if context is None:
                context = self._client_ssl = ssl_module.create_default_context()
            tls = {"ssl": context, "server_hostname": peer.tls_name or peer.host}
        try:
            await loop.create_connection(lambda: conn, peer.host, peer.port, **tls)  # type: ignore[arg-type]
        except OSError as exc:  # ssl.SSLError (a certificate refused) is one too
            logger.info("connect to %s failed: %s", peer, exc)
            if self._connections.get(peer.addr) is conn:
                del self._connections[peer.addr]
            if self._on_error is not None:
                self._on_error(peer, str(exc))

    @property
    def is_open(self) -> bool:
        """The listening socket accepts connections (for a health check)."""
        return self._server is not None and self._server.is_serving()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections.values()):
            conn.close()
        self._connections.clear()

"""One call leg's media endpoint: a local RTP + RTCP UDP socket pair (asyncio).

The endpoint knows where the leg's audio should go (``set_remote`` with the SDP facts),
corrects that by *symmetric RTP latching* (a NATed phone's packets come from a public
address the SDP did not say: answer to where they come from), counts traffic, remembers
when it last heard the leg (``idle_for``), and hands each received packet to whoever
consumes it (``on_rtp`` / ``on_rtcp``: a :class:`~ivr.relay.Relay`).  DTMF detection is a
:class:`~ivr.dtmf_tap.DtmfTap` attached only while switched on.

Latching rules: until the endpoint has latched, the first valid RTP packet from an
address other than the current target moves the target there; afterwards a move needs
``relatch_packets`` consecutive packets from one new address (a single stray or spoofed
packet cannot steal the stream).  ``set_remote`` starts over.  RTCP latches the same way
on its own socket.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from .dtmf_dedup import DtmfDeduplicator
from .dtmf_tap import METHOD_INFO, DtmfCallback, DtmfTap
from .payload import PayloadFacts
from .ports import BoundPair, PortPairAllocator

logger = logging.getLogger(__name__)

Address = tuple[Any, ...]
PacketSink = Callable[[bytes], None]


class _Datagrams(asyncio.DatagramProtocol):
    """Routes a socket's datagrams straight to the endpoint's handler."""

    def __init__(self, handler: Callable[[bytes, Address], None], name: str) -> None:
        self.datagram_received = handler  # type: ignore[method-assign]
        self.name = name

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable after a send to a phone that went away: not our failure.
        logger.debug("%s socket error: %s", self.name, exc)


class MediaEndpoint:
    def __init__(
        self,
        pair: BoundPair,
        *,
        host: str,
        allocator: PortPairAllocator | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        relatch_packets: int = 3,
    ) -> None:
        """Use :meth:`open`; this wraps an already bound pair."""
        self._loop = loop or asyncio.get_running_loop()
        self._time = self._loop.time
        self._pair = pair
        self._allocator = allocator
        self._family = pair.rtp.family
        self.local_host = host
        self.local_port = pair.port
        self.relatch_packets = relatch_packets
        self.facts = PayloadFacts()
        self.remote_rtp: Address | None = None
        self.remote_rtcp: Address | None = None
        self._latched = False
        self._rtcp_latched = False
        self._candidate: Address | None = None
        self._candidate_count = 0
        self._rtp_transport: asyncio.DatagramTransport | None = None
        self._rtcp_transport: asyncio.DatagramTransport | None = None
        self.on_rtp: PacketSink | None = None
        self.on_rtcp: PacketSink | None = None
        self.player_active = False  # a PromptPlayer owns the outgoing stream; relays hold back
        self._facts_listeners: list[Callable[[MediaEndpoint], None]] = []
        self._dtmf: DtmfTap | None = None
        self.packets_in = 0
        self.bytes_in = 0
        self.packets_out = 0
        self.bytes_out = 0
        self.rtcp_in = 0
        self.rtcp_out = 0
        self.bad_packets = 0
        self.created = self._time()
        self.last_received: float | None = None
        self.closed = False

    @classmethod
    async def open(
        cls,
        allocator: PortPairAllocator,
        host: str = "127.0.0.1",
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        relatch_packets: int = 3,
    ) -> MediaEndpoint:
        """Bind a port pair from ``allocator`` on ``host`` and start receiving."""
        loop = loop or asyncio.get_running_loop()
        pair = allocator.bind_pair(host)
        endpoint = cls(pair, host=host, allocator=allocator, loop=loop, relatch_packets=relatch_packets)
        try:
            await endpoint._start()
        except BaseException:
            endpoint.close()
            raise
        return endpoint

    async def _start(self) -> None:
        loop = self._loop
        rtp, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self._rtp_received, f"RTP :{self.local_port}"), sock=self._pair.rtp
        )
        self._rtp_transport = rtp  # type: ignore[assignment]
        rtcp, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self._rtcp_received, f"RTCP :{self.local_port + 1}"), sock=self._pair.rtcp
        )
        self._rtcp_transport = rtcp  # type: ignore[assignment]

    @property
    def rtcp_port(self) -> int:
        return self.local_port + 1

    # -- remote side ---------------------------------------------------------------------

    def set_remote(
        self,
        address: str,
        port: int,
        facts: PayloadFacts | None = None,
        *,
        rtcp_port: int | None = None,
    ) -> None:
        """Where the leg's SDP says to send (and, optionally, new payload facts).  Latching
        starts over, so a NATed phone's real source wins again."""
        self.remote_rtp = self._address(address, port)
        self.remote_rtcp = self._address(address, rtcp_port if rtcp_port is not None else port + 1)
        self._latched = False
        self._rtcp_latched = False
        self._candidate = None
        if facts is not None:
            self.set_facts(facts)

    def set_facts(self, facts: PayloadFacts) -> None:
        self.facts = facts
        if self._dtmf is not None:
            self._dtmf.update_facts(facts)
        for listener in list(self._facts_listeners):
            listener(self)

    def add_facts_listener(self, listener: Callable[[MediaEndpoint], None]) -> None:
        self._facts_listeners.append(listener)

    def remove_facts_listener(self, listener: Callable[[MediaEndpoint], None]) -> None:
        if listener in self._facts_listeners:
            self._facts_listeners.remove(listener)

    def _address(self, host: str, port: int) -> Address:
        # Compare like with like: an AF_INET6 socket reports 4-tuples.
        if self._family == socket.AF_INET6:
            return (host, port, 0, 0)
        return (host, port)

    # -- receiving -----------------------------------------------------------------------

    def _rtp_received(self, data: bytes, addr: Address) -> None:
        size = len(data)
        if size < 12 or data[0] & 0xC0 != 0x80:
            self.bad_packets += 1
            return
        b1 = data[1]
        if 200 <= b1 <= 204:  # RTCP multiplexed on the RTP port (RFC 5761)
            self._rtcp_received(data, addr)
            return
        self.packets_in += 1
        self.bytes_in += size
        now = self._time()
        self.last_received = now
        if addr != self.remote_rtp:
            self._source_changed(addr)
        elif self._candidate is not None:
            self._candidate = None
        tap = self._dtmf
        if tap is not None:
            tap.on_packet(data, b1 & 0x7F, now)
        sink = self.on_rtp
        if sink is not None:
            sink(data)

    def _source_changed(self, addr: Address) -> None:
        if not self._latched:
            self._latch(addr)
            return
        if addr == self._candidate:
            self._candidate_count += 1
        else:
            self._candidate = addr
            self._candidate_count = 1
        if self._candidate_count >= self.relatch_packets:
            self._latch(addr)

    def _latch(self, addr: Address) -> None:
        logger.debug("RTP :%d latched to %s (was %s)", self.local_port, addr, self.remote_rtp)
        self.remote_rtp = addr
        if not self._rtcp_latched:
            self.remote_rtcp = (addr[0], addr[1] + 1, *addr[2:])
        self._latched = True
        self._candidate = None
        self._candidate_count = 0

    def _rtcp_received(self, data: bytes, addr: Address) -> None:
        if len(data) < 8 or data[0] & 0xC0 != 0x80 or not 200 <= data[1] <= 204:
            self.bad_packets += 1
            return
        self.rtcp_in += 1
        self.last_received = self._time()
        if addr != self.remote_rtcp and not self._rtcp_latched:
            self.remote_rtcp = addr
        self._rtcp_latched = True
        sink = self.on_rtcp
        if sink is not None:
            sink(data)

    def idle_for(self, now: float) -> float:
        """Seconds since the leg last sent anything (since creation when it never did)."""
        last = self.last_received
        return now - (last if last is not None else self.created)

    # -- sending -------------------------------------------------------------------------

    def send_rtp(self, data: bytes | bytearray | memoryview) -> None:
        """Send one RTP packet to the leg.  The transport copies when it must queue, so the
        caller may reuse ``data`` right after."""
        remote = self.remote_rtp
        transport = self._rtp_transport
        if remote is None or transport is None:
            return
        transport.sendto(data, remote)
        self.packets_out += 1
        self.bytes_out += len(data)

    def send_rtcp(self, data: bytes | bytearray | memoryview) -> None:
        remote = self.remote_rtcp
        transport = self._rtcp_transport
        if remote is None or transport is None:
            return
        transport.sendto(data, remote)
        self.rtcp_out += 1

    # -- DTMF ----------------------------------------------------------------------------

    @property
    def dtmf_enabled(self) -> bool:
        return self._dtmf is not None

    def enable_dtmf(
        self,
        on_dtmf: DtmfCallback,
        *,
        rfc2833: bool = True,
        inband: bool = True,
        dedup: DtmfDeduplicator | None = None,
    ) -> None:
        """Report each digit the leg sends as ``on_dtmf(digit, duration_ms, method)`` with
        method ``"rfc2833"``, ``"inband"`` (or ``"info"`` via :meth:`report_dtmf`)."""
        if self._dtmf is not None:
            self._dtmf.close()
        self._dtmf = DtmfTap(on_dtmf, self.facts, self._loop, rfc2833=rfc2833, inband=inband, dedup=dedup)

    def disable_dtmf(self) -> None:
        if self._dtmf is not None:
            self._dtmf.close()
            self._dtmf = None

    def report_dtmf(self, digit: str, duration_ms: int, method: str = METHOD_INFO) -> bool:
        """A digit that arrived by signalling (SIP INFO): reported through the same
        callback unless RTP already reported that press.  False when detection is off
        or it was a duplicate."""
        tap = self._dtmf
        if tap is None:
            return False
        return tap.report(digit, duration_ms, method, self._time())

    # -- teardown ------------------------------------------------------------------------

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.disable_dtmf()
        self.on_rtp = None
        self.on_rtcp = None
        self._facts_listeners.clear()
        for transport, sock in (
            (self._rtp_transport, self._pair.rtp),
            (self._rtcp_transport, self._pair.rtcp),
        ):
            if transport is not None:
                transport.close()
            else:
                sock.close()
        self._rtp_transport = None  # later sends (a player's last tick) become no-ops
        self._rtcp_transport = None
        if self._allocator is not None:
            self._allocator.release(self.local_port)

    def __repr__(self) -> str:
        return f"<MediaEndpoint {self.local_host}:{self.local_port} -> {self.remote_rtp}>"

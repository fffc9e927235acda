"""Media anchoring for one B2BUA call: an RTP endpoint per side, SDP rewritten both ways.

Every SDP that crosses the B2BUA from one side to the other is rewritten to point
at the endpoint that faces the receiving side (``sip.sdp.rewrite_media_address``),
with the o= line kept per side and its version bumped only when the content
changes (``next_version``). Once a side has both an SDP from it and one sent to it,
the negotiated facts (``negotiated_media``) tell that side's endpoint where to send
and which payload types the leg uses; the two endpoints are joined by one
:class:`ivr.relay.Relay`, which latches to where packets really come from.

``Side`` 0 is leg A (the caller), 1 is leg B (the callee).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from ivr.endpoint import MediaEndpoint
from ivr.payload import TELEPHONE_EVENT, PayloadFacts
from ivr.ports import PortPairAllocator
from ivr.relay import Relay
from sip.sdp import (
    MediaFacts,
    SessionDescription,
    negotiated_media,
    next_version,
    parse_sdp,
    rewrite_media_address,
)

logger = logging.getLogger(__name__)

A = 0
B = 1


def payload_facts(facts: MediaFacts) -> PayloadFacts:
    """The media plane's view of a negotiated stream (``ivr`` never reads SDP)."""
    codec = facts.codec
    pts: dict[int, str] = {}
    for rtpmap in (*facts.codecs, *facts.receive_codecs):
        pts.setdefault(rtpmap.payload_type, rtpmap.encoding)
    # The phone may send events with the PT it offered or the one we answered: know both.
    for pt in (facts.telephone_event_pt, facts.receive_telephone_event_pt):
        if pt is not None:
            pts.setdefault(pt, TELEPHONE_EVENT)
    return PayloadFacts(codec=codec.encoding, payload_type=codec.payload_type,
                        telephone_event_pt=facts.telephone_event_pt, payload_types=pts,
                        clock_rate=codec.clock_rate, ptime_ms=facts.ptime or 20)


@dataclass(slots=True)
class _SideState:
    endpoint: MediaEndpoint
    received: SessionDescription | None = None  # the last SDP the side sent us
    sent: SessionDescription | None = None  # the last SDP we sent the side
    facts: MediaFacts | None = None


class MediaAnchor:
    """The two endpoints of one call and the relay between them."""

    __slots__ = ("_sides", "closed", "host", "relay")

    def __init__(self, host: str, a: MediaEndpoint, b: MediaEndpoint) -> None:
        self.host = host
        self._sides = (_SideState(a), _SideState(b))
        self.relay = Relay(a, b)
        self.closed = False

    @classmethod
    async def open(cls, allocator: PortPairAllocator, host: str) -> MediaAnchor:
        a = await MediaEndpoint.open(allocator, host)
        try:
            b = await MediaEndpoint.open(allocator, host)
        except BaseException:
            a.close()
            raise
        return cls(host, a, b)

    def endpoint(self, side: int) -> MediaEndpoint:
        return self._sides[side].endpoint

    def facts(self, side: int) -> MediaFacts | None:
        return self._sides[side].facts

    def forward(self, source: int, body: bytes) -> bytes:
        """An SDP received from ``source``, rewritten for the other side. Raises
        ``sip.sdp.SdpParseError`` (answer 488) when it cannot be read."""
        src = self._sides[source]
        dst = self._sides[1 - source]
        received = parse_sdp(body)
        src.received = received
        out = rewrite_media_address(received, self.host, dst.endpoint.local_port)
        if dst.sent is not None:
            out = next_version(dst.sent, out)
        dst.sent = out
        self._update(src)
        self._update(dst)
        return out.to_bytes()

    def _update(self, side: _SideState) -> None:
        if side.received is None or side.sent is None:
            return
        facts = negotiated_media(side.sent, side.received)
        if facts is None or facts == side.facts:
            return
        old = side.facts
        side.facts = facts
        endpoint = side.endpoint
        pf = payload_facts(facts)
        if old is None or (old.address, old.port, old.rtcp_address, old.rtcp_port) != (
                facts.address, facts.port, facts.rtcp_address, facts.rtcp_port):
            # set_remote restarts latching: only when the address really changed.
            if facts.address in ("0.0.0.0", "::"):
                endpoint.set_facts(pf)
            else:
                endpoint.set_remote(facts.address, facts.port, pf, rtcp_port=facts.rtcp_port)
        else:
            endpoint.set_facts(pf)

    def idle_for(self, now: float) -> float:
        """Seconds since the quietest side that is expected to send last sent anything
        (0 when no side is expected to send: both on hold)."""
        worst = 0.0
        for side in self._sides:
            facts = side.facts
            if facts is None or not facts.direction.receives:
                continue
            worst = max(worst, side.endpoint.idle_for(now))
        return worst

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.relay.close()
        for side in self._sides:
            side.endpoint.close()

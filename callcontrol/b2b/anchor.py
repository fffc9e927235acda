"""Media anchoring for one B2BUA call: an RTP endpoint per side, SDP rewritten both ways.

Every SDP that crosses the B2BUA from one side to the other is rewritten to point
at the endpoint that faces the receiving side (``sip.sdp.rewrite_media_address``),
with the o= line kept per side and its version bumped only when the content
changes (``next_version``). Once a side has both an SDP from it and one sent to it,
the negotiated facts (``negotiated_media``) tell that side's endpoint where to send
and which payload types the leg uses; the two endpoints are joined by one
:class:`ivr.relay.Relay`, which latches to where packets really come from.

``Side`` 0 is leg A (the caller), 1 is leg B (the callee).

Call control changes who sits on a side without touching the phone on the other:
the server may speak for itself (``own_offer`` to a phone it calls, ``own_answer``
for a call it answers: originate, IVR), offer one side what the other side said
(``relay_offer``: a transfer target gets the transferee's media), re-offer a side
its last SDP with another direction (``redirect``: hold by the server), put a new
party on a side (``reset``) or hand a side, endpoint and SDP state, to another
call's anchor (``take`` / ``put``: attended transfer bridges two calls).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from ivr.endpoint import MediaEndpoint
from ivr.payload import TELEPHONE_EVENT, PayloadFacts
from ivr.ports import PortPairAllocator
from ivr.relay import Relay
from sip.offer_answer import (
    MediaFacts,
    make_answer,
    make_offer,
    negotiated_media,
    rewrite_media_address,
)
from sip.sdp import Direction, SdpParseError, SessionDescription, next_version, parse_sdp

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

    __slots__ = ("_given", "_sides", "closed", "host", "relay")

    def __init__(self, host: str, a: MediaEndpoint, b: MediaEndpoint) -> None:
        self.host = host
        self._sides = (_SideState(a), _SideState(b))
        self.relay = Relay(a, b)
        self.closed = False
        self._given: set[int] = set()  # sides handed to another anchor (``take``)

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

    def _send(self, side: int, description: SessionDescription) -> bytes:
        """Record ``description`` (already pointing at our endpoint) as sent to ``side``."""
        state = self._sides[side]
        out = next_version(state.sent, description) if state.sent is not None else description
        state.sent = out
        self._update(state)
        return out.to_bytes()

    def heard(self, side: int, body: bytes) -> None:
        """An SDP from ``side`` that stays with us (an answer to our own offer). SdpParseError."""
        state = self._sides[side]
        state.received = parse_sdp(body)
        self._update(state)

    def own_offer(self, side: int) -> bytes:
        """The server's own offer to ``side`` (G.711 both laws and telephone-event)."""
        endpoint = self._sides[side].endpoint
        return self._send(side, make_offer(self.host, endpoint.local_port))

    def own_answer(self, side: int, offer: bytes) -> bytes:
        """The server answers ``side``'s offer itself (SdpParseError when nothing is acceptable)."""
        state = self._sides[side]
        received = parse_sdp(offer)
        answer = make_answer(received, address=self.host, port=state.endpoint.local_port, single_codec=True)
        if answer.find_media() is None:
            raise SdpParseError("no acceptable audio stream")
        state.received = received
        return self._send(side, answer)

    def relay_offer(self, source: int, target: int) -> bytes:
        """What ``source`` last said, as an offer to ``target`` (pointing at target's endpoint)."""
        received = self._sides[source].received
        if received is None:
            return self.own_offer(target)
        offer = received.with_direction(Direction.SENDRECV)
        return self._send(target, rewrite_media_address(offer, self.host, self._sides[target].endpoint.local_port))

    def redirect(self, side: int, direction: Direction | str) -> bytes:
        """The last SDP sent to ``side`` again with another direction (hold/unhold by the server)."""
        state = self._sides[side]
        if state.sent is None:
            return self.own_offer(side)
        return self._send(side, state.sent.with_direction(direction))

    def sent_offer(self, side: int) -> SessionDescription | None:
        """The last SDP sent to ``side`` (to put back with ``restore_offer`` if it is refused)."""
        return self._sides[side].sent

    def restore_offer(self, side: int, sent: SessionDescription | None) -> None:
        """``side`` refused our last offer (a hold re-INVITE answered 488): what it has is what we
        sent before, so the next offer's o= version follows that one."""
        state = self._sides[side]
        state.sent = sent
        self._update(state)

    def resend(self, side: int) -> bytes | None:
        """The last SDP sent to ``side``, unchanged (a session refresh re-INVITE changes nothing)."""
        sent = self._sides[side].sent
        return sent.to_bytes() if sent is not None else None

    def reset(self, side: int) -> None:
        """A new party takes ``side``: forget what the old one said (the endpoint stays)."""
        state = self._sides[side]
        state.received = None
        state.sent = None
        state.facts = None

    def take(self, side: int) -> _SideState:
        """Hand ``side`` (endpoint and SDP state) to another anchor; this anchor gets a closed
        placeholder there and stops relaying to it."""
        state = self._sides[side]
        self.relay.close()
        self._given.add(side)
        return state

    def put(self, side: int, state: _SideState) -> None:
        """Seat ``state`` (from another anchor's ``take``) on ``side``; our old endpoint there closes."""
        old = self._sides[side]
        self.relay.close()
        sides = list(self._sides)
        sides[side] = state
        self._sides = (sides[0], sides[1])
        if side in self._given:
            self._given.discard(side)
        else:
            old.endpoint.close()
        self.relay = Relay(self._sides[0].endpoint, self._sides[1].endpoint)

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
        for index, side in enumerate(self._sides):
            facts = side.facts
            if index in self._given:
                continue
            if facts is None or not facts.direction.receives:
                continue
            worst = max(worst, side.endpoint.idle_for(now))
        return worst

    def packet_counts(self) -> tuple[int, int]:
        """RTP packets (received from the phones, sent to them) by this anchor's own endpoints."""
        received = sent = 0
        for index, side in enumerate(self._sides):
            if index not in self._given:
                received += side.endpoint.packets_in
                sent += side.endpoint.packets_out
        return received, sent

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.relay.close()
        for index, side in enumerate(self._sides):
            if index not in self._given:
                side.endpoint.close()

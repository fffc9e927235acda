"""MediaAnchor: SDP rewritten both ways to our endpoints, RTP relayed between two loopback phones."""
from __future__ import annotations

import asyncio

import pytest

from callcontrol.b2b.anchor import A, B, MediaAnchor, payload_facts
from ivr.ports import PortPairAllocator
from ivr.rtp import build_rtp, parse_rtp
from sip.offer_answer import negotiated_media
from sip.sdp import Direction, parse_sdp

HOST = "127.0.0.1"
TIMEOUT = 2.0


def sdp(port: int, pts: str, maps: list[str], direction: str = "sendrecv", version: int = 1,
        host: str = HOST) -> bytes:
    lines = ["v=0", f"o=phone 42 {version} IN IP4 {host}", "s=-", f"c=IN IP4 {host}", "t=0 0",
             f"m=audio {port} RTP/AVP {pts}", *maps, f"a={direction}", ""]
    return "\r\n".join(lines).encode()


OFFER_MAPS = ["a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000", "a=rtpmap:120 telephone-event/8000",
              "a=fmtp:120 0-16", "a=rtcp-mux"]
ANSWER_MAPS = ["a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"]


class _Queue(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.queue.put_nowait((data, addr))


class Phone:
    def __init__(self, transport: asyncio.DatagramTransport, proto: _Queue, port: int) -> None:
        self.transport, self.queue, self.port = transport, proto.queue, port

    @classmethod
    async def open(cls) -> Phone:
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_datagram_endpoint(_Queue, local_addr=(HOST, 0))
        return cls(transport, proto, transport.get_extra_info("sockname")[1])  # type: ignore[arg-type]

    async def recv(self) -> tuple[bytes, tuple]:
        return await asyncio.wait_for(self.queue.get(), TIMEOUT)


@pytest.fixture
async def call():
    anchor = await MediaAnchor.open(PortPairAllocator(44000, 44999), HOST)
    pa, pb = await Phone.open(), await Phone.open()
    yield anchor, pa, pb
    anchor.close()
    pa.transport.close()
    pb.transport.close()


async def test_offer_and_answer_point_at_our_endpoints(call) -> None:
    anchor, pa, pb = call
    to_b = parse_sdp(anchor.forward(A, sdp(pa.port, "0 8 120", OFFER_MAPS)))
    assert to_b.connection.host == HOST  # type: ignore[union-attr]
    assert to_b.media[0].port == anchor.endpoint(B).local_port
    assert not to_b.media[0].has_attribute("rtcp-mux")  # the relay keeps RTP and RTCP apart
    assert to_b.media[0].payload_types == [0, 8, 120]
    to_a = parse_sdp(anchor.forward(B, sdp(pb.port, "0 101", ANSWER_MAPS)))
    assert to_a.media[0].port == anchor.endpoint(A).local_port
    facts_a, facts_b = anchor.facts(A), anchor.facts(B)
    assert facts_a is not None and (facts_a.address, facts_a.port) == (HOST, pa.port)
    assert facts_b is not None and (facts_b.address, facts_b.port) == (HOST, pb.port)
    # each endpoint sends DTMF with the PT its own phone negotiated (pjsua wants the one it offered)
    assert anchor.endpoint(A).facts.telephone_event_pt == 120
    assert anchor.endpoint(B).facts.telephone_event_pt == 101


async def test_rtp_is_relayed_both_ways_with_event_pt_translated(call) -> None:
    anchor, pa, pb = call
    anchor.forward(A, sdp(pa.port, "0 8 120", OFFER_MAPS))
    anchor.forward(B, sdp(pb.port, "0 101", ANSWER_MAPS))
    ea, eb = anchor.endpoint(A), anchor.endpoint(B)
    voice = build_rtp(0, 1, 160, 0x1234, b"\xff" * 160)
    pa.transport.sendto(voice, (HOST, ea.local_port))
    data, source = await pb.recv()
    assert data == voice and source == (HOST, eb.local_port)
    event = build_rtp(101, 7, 1120, 0x5678, b"\x05\x0a\x00\xa0")
    pb.transport.sendto(event, (HOST, eb.local_port))
    data, source = await pa.recv()
    packet = parse_rtp(data)
    assert source == (HOST, ea.local_port)
    assert (packet.payload_type, bytes(packet.payload)) == (120, b"\x05\x0a\x00\xa0")
    assert anchor.idle_for(asyncio.get_running_loop().time()) < 1.0


async def test_latching_follows_where_the_phone_really_sends_from(call) -> None:
    anchor, pa, pb = call
    # The offer names a port nobody listens on (a NATed phone's private address)
    anchor.forward(A, sdp(9, "0", ["a=rtpmap:0 PCMU/8000"]))
    anchor.forward(B, sdp(pb.port, "0", ["a=rtpmap:0 PCMU/8000"]))
    pa.transport.sendto(build_rtp(0, 1, 160, 1, b"\xff" * 160), (HOST, anchor.endpoint(A).local_port))
    await pb.recv()
    back = build_rtp(0, 1, 160, 2, b"\x7f" * 160)
    pb.transport.sendto(back, (HOST, anchor.endpoint(B).local_port))
    data, _ = await pa.recv()
    assert data == back


async def test_reoffer_bumps_version_only_when_changed_and_hold_is_not_idle(call) -> None:
    anchor, pa, pb = call
    first = parse_sdp(anchor.forward(A, sdp(pa.port, "0", ["a=rtpmap:0 PCMU/8000"])))
    anchor.forward(B, sdp(pb.port, "0", ["a=rtpmap:0 PCMU/8000"]))
    same = parse_sdp(anchor.forward(A, sdp(pa.port, "0", ["a=rtpmap:0 PCMU/8000"])))
    assert same.origin.sess_version == first.origin.sess_version
    held = parse_sdp(anchor.forward(A, sdp(pa.port, "0", ["a=rtpmap:0 PCMU/8000"], "sendonly", 2)))
    assert held.origin.sess_version == first.origin.sess_version + 1
    assert held.media_direction(0) is Direction.SENDONLY
    anchor.forward(B, sdp(pb.port, "0", ["a=rtpmap:0 PCMU/8000"], "recvonly"))
    # B was told not to send (recvonly answer to a hold): its silence does not count as idle
    facts_b = anchor.facts(B)
    assert facts_b is not None and not facts_b.direction.receives
    later = asyncio.get_running_loop().time() + 1000
    assert anchor.idle_for(later) == pytest.approx(anchor.endpoint(A).idle_for(later))


def test_payload_facts_from_negotiated_media() -> None:
    ours = parse_sdp(sdp(5000, "0 101", ANSWER_MAPS))
    theirs = parse_sdp(sdp(6000, "0 8 120", OFFER_MAPS))
    facts = negotiated_media(ours, theirs)
    assert facts is not None
    pf = payload_facts(facts)
    assert (pf.codec, pf.payload_type, pf.telephone_event_pt, pf.ptime_ms) == ("PCMU", 0, 120, 20)
    assert pf.encoding_of(101) == "telephone-event"  # what the phone may send, as we answered

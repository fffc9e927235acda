"""MediaEndpoint and Relay over real loopback UDP sockets, in-process."""

from __future__ import annotations

import asyncio
import math
import struct

import pytest

from ivr.dtmf import generate_event_packets
from ivr.endpoint import MediaEndpoint
from ivr.g711 import ULAW_TO_ALAW, ulaw_encode
from ivr.inband import DTMF_FREQUENCIES
from ivr.payload import PayloadFacts
from ivr.ports import PortPairAllocator
from ivr.relay import Relay
from ivr.rtp import build_rtp, parse_rtp

HOST = "127.0.0.1"
TIMEOUT = 2.0

PCMU_101 = PayloadFacts(
    codec="PCMU", payload_type=0, telephone_event_pt=101, payload_types={0: "PCMU", 101: "telephone-event"}
)
PJSUA_120 = PayloadFacts(
    codec="PCMU", payload_type=0, telephone_event_pt=120, payload_types={0: "PCMU", 120: "telephone-event"}
)


class _Queue(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.queue.put_nowait((data, addr))


class Phone:
    """A far end: an RTP socket and its RTCP socket on the next port."""

    def __init__(self, pair, rtp, rtcp, rtp_proto: _Queue, rtcp_proto: _Queue) -> None:
        self.port = pair.port
        self._rtp, self._rtcp = rtp, rtcp
        self._rtp_q, self._rtcp_q = rtp_proto.queue, rtcp_proto.queue

    @classmethod
    async def open(cls, alloc: PortPairAllocator) -> Phone:
        loop = asyncio.get_running_loop()
        pair = alloc.bind_pair(HOST)
        rtp, rp = await loop.create_datagram_endpoint(_Queue, sock=pair.rtp)
        rtcp, cp = await loop.create_datagram_endpoint(_Queue, sock=pair.rtcp)
        return cls(pair, rtp, rtcp, rp, cp)

    def send(self, data: bytes, endpoint: MediaEndpoint) -> None:
        self._rtp.sendto(data, (HOST, endpoint.local_port))

    def send_rtcp(self, data: bytes, endpoint: MediaEndpoint) -> None:
        self._rtcp.sendto(data, (HOST, endpoint.rtcp_port))

    async def recv(self) -> bytes:
        data, _ = await asyncio.wait_for(self._rtp_q.get(), TIMEOUT)
        return data

    async def recv_rtcp(self) -> bytes:
        data, _ = await asyncio.wait_for(self._rtcp_q.get(), TIMEOUT)
        return data

    def close(self) -> None:
        self._rtp.close()
        self._rtcp.close()


@pytest.fixture
def alloc() -> PortPairAllocator:
    return PortPairAllocator(43000, 43999)


@pytest.fixture
async def legs(alloc: PortPairAllocator):
    """phone A <-> endpoint A  ==relay==  endpoint B <-> phone B"""
    ea = await MediaEndpoint.open(alloc, HOST)
    eb = await MediaEndpoint.open(alloc, HOST)
    pa = await Phone.open(alloc)
    pb = await Phone.open(alloc)
    ea.set_remote(HOST, pa.port, PCMU_101)
    eb.set_remote(HOST, pb.port, PJSUA_120)
    relay = Relay(ea, eb)
    yield pa, ea, eb, pb, relay
    relay.close()
    for thing in (ea, eb, pa, pb):
        thing.close()


def rtp(
    seq: int, pt: int = 0, payload: bytes = b"\xff" * 160, marker: bool = False, ssrc: int = 0x1111
) -> bytes:
    return build_rtp(pt, seq, seq * 160, ssrc, payload, marker=marker)


async def test_relay_forwards_audio_unchanged_both_ways(legs) -> None:
    pa, ea, eb, pb, relay = legs
    packet = rtp(1, payload=bytes(range(160)))
    pa.send(packet, ea)
    assert await pb.recv() == packet
    back = rtp(7, ssrc=0x2222)
    pb.send(back, eb)
    assert await pa.recv() == back
    assert (ea.packets_in, ea.bytes_in, eb.packets_out, eb.bytes_out) == (1, len(packet), 1, len(packet))
    assert (eb.packets_in, ea.packets_out) == (1, 1)
    assert relay.forwarded_to(eb) == 1 and relay.forwarded_to(ea) == 1


async def test_telephone_event_pt_mapped_per_leg(legs) -> None:
    pa, ea, eb, pb, _ = legs
    event = build_rtp(101, 5, 800, 0x1111, b"\x05\x0a\x00\xa0", marker=True)
    pa.send(event, ea)
    got = await pb.recv()
    assert got[1] == 0x80 | 120  # marker kept, PT 101 -> 120 (what pjsua expects)
    assert got[2:] == event[2:]
    pb.send(build_rtp(120, 9, 1600, 0x2222, b"\x05\x8a\x01\x40"), eb)
    got = await pa.recv()
    assert parse_rtp(got).payload_type == 101
    # audio is untouched by the mapping
    pa.send(rtp(6), ea)
    assert await pb.recv() == rtp(6)


async def test_pcmu_to_pcma_leg_is_transcoded(alloc: PortPairAllocator) -> None:
    ea = await MediaEndpoint.open(alloc, HOST)
    eb = await MediaEndpoint.open(alloc, HOST)
    pa, pb = await Phone.open(alloc), await Phone.open(alloc)
    ea.set_remote(HOST, pa.port, PayloadFacts(codec="PCMU", payload_type=0, payload_types={0: "PCMU"}))
    eb.set_remote(HOST, pb.port, PayloadFacts(codec="PCMA", payload_type=8, payload_types={8: "PCMA"}))
    relay = Relay(ea, eb)
    try:
        payload = bytes(range(0, 256, 2)) + bytes(32)
        pa.send(build_rtp(0, 1, 160, 7, payload, csrcs=[9]), ea)
        got = parse_rtp(await pb.recv())
        assert got.payload_type == 8 and got.csrcs == (9,)
        assert got.payload == payload.translate(ULAW_TO_ALAW)
    finally:
        relay.close()
        for thing in (ea, eb, pa, pb):
            thing.close()


async def test_rtcp_relayed_to_the_other_legs_rtcp_port(legs) -> None:
    pa, ea, eb, pb, _ = legs
    rr = struct.pack("!BBHI", 0x80, 201, 1, 0x1111)
    pa.send_rtcp(rr, ea)
    assert await pb.recv_rtcp() == rr
    assert (ea.rtcp_in, eb.rtcp_out) == (1, 1)


async def test_pause_one_direction_and_player_mute(legs) -> None:
    pa, ea, eb, pb, relay = legs
    relayed = ea.on_rtp
    seen: asyncio.Queue = asyncio.Queue()
    ea.on_rtp = lambda data: (relayed(data), seen.put_nowait(data))  # observe A's arrivals
    relay.pause(towards=eb)
    assert relay.is_paused(eb) and not relay.is_paused(ea)
    pa.send(rtp(1), ea)
    await asyncio.wait_for(seen.get(), TIMEOUT)
    pb.send(rtp(50, ssrc=2), eb)  # the other direction still flows
    assert parse_rtp(await pa.recv()).sequence == 50
    relay.resume(towards=eb)
    eb.player_active = True  # a prompt is playing to B
    pa.send(rtp(2), ea)
    await asyncio.wait_for(seen.get(), TIMEOUT)
    eb.player_active = False
    pa.send(rtp(3), ea)
    assert parse_rtp(await pb.recv()).sequence == 3  # 1 and 2 were never sent
    assert relay.dropped_to(eb) == 2


async def test_latching_to_where_packets_come_from(alloc: PortPairAllocator) -> None:
    ep = await MediaEndpoint.open(alloc, HOST, relatch_packets=3)
    phone, intruder = await Phone.open(alloc), await Phone.open(alloc)
    got = asyncio.Queue()
    ep.on_rtp = got.put_nowait
    try:
        ep.set_remote(HOST, 9, PCMU_101)  # the SDP names an address nobody answers on (NAT)
        phone.send(rtp(1), ep)
        await asyncio.wait_for(got.get(), TIMEOUT)
        assert ep.remote_rtp == (HOST, phone.port)
        assert ep.remote_rtcp == (HOST, phone.port + 1)
        ep.send_rtp(rtp(100))
        assert parse_rtp(await phone.recv()).sequence == 100
        # one stray packet from elsewhere does not steal the stream ...
        intruder.send(rtp(2), ep)
        await asyncio.wait_for(got.get(), TIMEOUT)
        assert ep.remote_rtp == (HOST, phone.port)
        # ... a source that keeps sending does (the phone moved)
        for seq in (3, 4, 5):
            intruder.send(rtp(seq), ep)
            await asyncio.wait_for(got.get(), TIMEOUT)
        assert ep.remote_rtp == (HOST, intruder.port)
        ep.send_rtp(rtp(101))
        assert parse_rtp(await intruder.recv()).sequence == 101
        # a new SDP starts over: the first packet latches again
        ep.set_remote(HOST, 9)
        phone.send(rtp(6), ep)
        await asyncio.wait_for(got.get(), TIMEOUT)
        assert ep.remote_rtp == (HOST, phone.port)
        assert ep.packets_in == 6
    finally:
        for thing in (ep, phone, intruder):
            thing.close()


async def test_bad_datagrams_counted_and_idle_time(alloc: PortPairAllocator) -> None:
    loop = asyncio.get_running_loop()
    ep = await MediaEndpoint.open(alloc, HOST)
    phone = await Phone.open(alloc)
    got = asyncio.Queue()
    ep.on_rtp = got.put_nowait
    try:
        created = ep.created
        assert ep.idle_for(created + 5) == pytest.approx(5)
        phone.send(b"\x00garbage", ep)
        phone.send(b"\x80", ep)
        phone.send(rtp(1), ep)
        await asyncio.wait_for(got.get(), TIMEOUT)
        assert ep.bad_packets == 2 and ep.packets_in == 1
        assert ep.last_received is not None
        assert ep.idle_for(ep.last_received + 30) == pytest.approx(30)
        assert 0 <= ep.idle_for(loop.time()) < 1
    finally:
        ep.close()
        phone.close()


async def test_close_releases_the_port(alloc: PortPairAllocator) -> None:
    before = alloc.in_use
    ep = await MediaEndpoint.open(alloc, HOST)
    assert alloc.in_use == before + 1
    ep.close()
    ep.close()  # idempotent
    assert alloc.in_use == before


async def test_rfc2833_detection_reports_once_and_still_relays(legs) -> None:
    pa, ea, _eb, pb, _ = legs
    digits: asyncio.Queue = asyncio.Queue()
    ea.enable_dtmf(lambda d, ms, method: digits.put_nowait((d, ms, method)), inband=False)
    packets = generate_event_packets("5", 100, 4000)
    for seq, p in enumerate(packets):
        pa.send(build_rtp(101, seq, p.timestamp, 0x1111, p.payload, marker=p.marker), ea)
    assert await asyncio.wait_for(digits.get(), TIMEOUT) == ("5", 100, "rfc2833")
    for _ in packets:  # every packet was relayed (with PT 120) as well
        assert parse_rtp(await pb.recv()).payload_type == 120
    # the same press signalled by INFO is a duplicate; a later INFO press is not
    assert ea.report_dtmf("5", 100) is False
    ea.enable_dtmf(lambda d, ms, method: digits.put_nowait((d, ms, method)))
    assert ea.report_dtmf("6", 100) is True
    assert digits.get_nowait() == ("6", 100, "info")
    ea.disable_dtmf()
    assert ea.report_dtmf("7", 100) is False
    assert digits.empty()


async def test_inband_detection_on_received_pcmu(legs) -> None:
    pa, ea, _eb, _pb, _ = legs
    digits: asyncio.Queue = asyncio.Queue()
    ea.enable_dtmf(lambda d, ms, method: digits.put_nowait((d, ms, method)))
    f_row, f_col = DTMF_FREQUENCIES["7"]
    samples = [0] * 400 + [
        round(
            5000 * math.sin(2 * math.pi * f_row * i / 8000) + 5000 * math.sin(2 * math.pi * f_col * i / 8000)
        )
        for i in range(800)
    ]
    samples += [0] * (1920 - len(samples))
    audio = ulaw_encode(samples)
    for n in range(len(audio) // 160):
        pa.send(rtp(n, payload=audio[n * 160 : (n + 1) * 160]), ea)
    digit, ms, method = await asyncio.wait_for(digits.get(), TIMEOUT)
    assert (digit, method) == ("7", "inband")
    assert abs(ms - 100) <= 4


async def test_dtmf_off_costs_no_callback(legs) -> None:
    pa, ea, _eb, pb, _ = legs
    calls = []
    ea.enable_dtmf(lambda *a: calls.append(a))
    ea.disable_dtmf()
    for seq, p in enumerate(generate_event_packets("1", 60, 0)):
        pa.send(build_rtp(101, seq, p.timestamp, 1, p.payload), ea)
        await pb.recv()
    assert calls == [] and not ea.dtmf_enabled

"""LegMedia over real loopback RTP endpoints and a local aiohttp prompt server.

The "phone" is a plain UDP socket the endpoint sends to.  The number of packets to read
is always the endpoint's own ``packets_out`` (exact), read with bounded timeouts; events
are awaited on a queue fed by LegMedia's publish callback.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
import pytest
from aiohttp import web

from callcontrol.b2b.leg_media import (
    DEFAULT_INFO_DURATION_MS,
    InfoDigit,
    LegMedia,
    parse_info_dtmf,
)
from callcontrol.model.callinfo import CallInfo, CallState, Party
from callcontrol.model.calls import Call, Leg
from ivr.au import write_au
from ivr.dtmf import generate_event_packets
from ivr.endpoint import MediaEndpoint
from ivr.g711 import ulaw_decode, ulaw_encode, ulaw_to_alaw
from ivr.moh import MohUnavailable, moh_audio
from ivr.payload import PayloadFacts
from ivr.ports import PortPairAllocator
from ivr.prompts import PromptFetcher, PromptFormatError, PromptNotFound, PromptTimeout
from ivr.rtp import RtpPacket, build_rtp, parse_rtp

HOST = "127.0.0.1"
TIMEOUT = 3.0
FRAME = 160

PCMU_101 = PayloadFacts(
    codec="PCMU", payload_type=0, telephone_event_pt=101, payload_types={0: "PCMU", 101: "telephone-event"}
)
PCMA_101 = PayloadFacts(
    codec="PCMA", payload_type=8, telephone_event_pt=101, payload_types={8: "PCMA", 101: "telephone-event"}
)
G729_ONLY = PayloadFacts(codec="G729", payload_type=18, payload_types={18: "G729"})


def sweep(count: int) -> bytes:
    """u-law audio of ``count`` samples: a rising tone, every byte value well spread."""
    return ulaw_encode(round(12000 * math.sin(2 * math.pi * (300 + n) * n / 8000)) for n in range(count))


def frames(tag: int, count: int) -> bytes:
    """Audio whose every 160-byte frame says which prompt (``tag``) and frame it is."""
    return b"".join(bytes([tag, n]) * 80 for n in range(count))


SWEEP = sweep(1000)  # 6.25 frames: the last one padded with silence
PROMPTS = {
    "/sweep.au": SWEEP,
    "/long.au": frames(0x20, 60),
    "/over.au": frames(0x30, 5),
    "/one.au": frames(0x40, 1),
    "/two.au": frames(0x50, 2),
}


# -- fixtures --------------------------------------------------------------------------


class PromptServer:
    def __init__(self) -> None:
        self.bodies = {path: write_au(audio) for path, audio in PROMPTS.items()}
        self.bodies["/wrong.au"] = b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(40)
        self.never = asyncio.Event()
        self.arrived = asyncio.Event()  # a request for /held.au is being held
        self.release = asyncio.Event()  # ... until this is set
        self.base = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/slow.au":
            self.arrived.set()
            await self.never.wait()
        if request.path == "/held.au":
            self.arrived.set()
            await self.release.wait()
            return web.Response(body=self.bodies["/one.au"], content_type="audio/basic")
        body = self.bodies.get(request.path)
        if body is None:
            return web.Response(status=404)
        return web.Response(body=body, content_type="audio/basic", headers={"Cache-Control": "max-age=60"})


@pytest.fixture
async def server() -> AsyncIterator[PromptServer]:
    srv = PromptServer()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", srv.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    srv.base = f"http://{HOST}:{runner.addresses[0][1]}"
    yield srv
    srv.never.set()
    srv.release.set()
    await runner.cleanup()


class _Queue(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.queue.put_nowait(data)


class Phone:
    """The far end: receives what the endpoint sends, sends RTP to it."""

    def __init__(self, transport: asyncio.DatagramTransport, proto: _Queue) -> None:
        self.transport = transport
        self.queue = proto.queue
        self.port: int = transport.get_extra_info("sockname")[1]
        self.received: list[RtpPacket] = []

    @classmethod
    async def open(cls) -> Phone:
        transport, proto = await asyncio.get_running_loop().create_datagram_endpoint(
            _Queue, local_addr=(HOST, 0)
        )
        return cls(transport, proto)  # type: ignore[arg-type]

    async def receive_until(self, count: int) -> list[RtpPacket]:
        """Read until ``count`` packets have arrived in all; the new ones."""
        new: list[RtpPacket] = []
        while len(self.received) < count:
            packet = parse_rtp(await asyncio.wait_for(self.queue.get(), TIMEOUT))
            self.received.append(packet)
            new.append(packet)
        return new

    def send(self, data: bytes, endpoint: MediaEndpoint) -> None:
        self.transport.sendto(data, (HOST, endpoint.local_port))

    def close(self) -> None:
        self.transport.close()


@dataclass
class Rig:
    media: LegMedia
    endpoint: MediaEndpoint
    phone: Phone
    leg: Leg
    events: asyncio.Queue[CallInfo]
    server: PromptServer
    fetcher: PromptFetcher

    def url(self, name: str) -> str:
        return f"{self.server.base}/{name}"

    async def event(self) -> CallInfo:
        return await asyncio.wait_for(self.events.get(), TIMEOUT)

    async def all_sent(self) -> list[RtpPacket]:
        """Every packet the endpoint has sent so far, in order."""
        await self.phone.receive_until(self.endpoint.packets_out)
        return self.phone.received

    async def sentinel(self) -> None:
        """Play a one-frame prompt in order 3 and check its completion is the next event:
        nothing else (a second completion, a stray digit) was published before it."""
        await self.media.play_prompt(self.url("one"), order=3)
        info = await self.event()
        assert (info.event, info.order) == ("play_prompt_completed", 3)


def make_leg() -> tuple[Call, Leg]:
    states: list[CallInfo] = []
    call = Call("lm-1@host", states.append)
    leg = call.add_leg(tag="t1", sip_call_id="lm-1@host", type="outgoing",
                       caller=Party(id="1001", account_id="1001", i_account=1, i_customer=1, i_main_office=1),
                       callee=Party(id="7000", i_ivr_an=1, i_customer=1), transport_id="127.0.0.1:5060",
                       now=1000.0)
    call.move(leg, CallState.CONNECTED, 1001.0)
    return call, leg


async def make_rig(server: PromptServer, facts: PayloadFacts = PCMU_101) -> Rig:
    alloc = PortPairAllocator(46000, 46999)
    endpoint = await MediaEndpoint.open(alloc, HOST)
    phone = await Phone.open()
    endpoint.set_remote(HOST, phone.port, facts)
    _, leg = make_leg()
    events: asyncio.Queue[CallInfo] = asyncio.Queue()
    # A fetch from the local prompt server answers at once; under a loaded machine that can
    # still take longer than a short timeout, so only the test that wants a timeout sets one.
    fetcher = PromptFetcher(timeout=TIMEOUT)
    media = LegMedia(endpoint, leg, events.put_nowait, fetcher)
    return Rig(media, endpoint, phone, leg, events, server, fetcher)


@pytest.fixture
async def rig(server: PromptServer) -> AsyncIterator[Rig]:
    r = await make_rig(server)
    yield r
    r.media.close()
    r.endpoint.close()
    r.phone.close()
    await r.fetcher.close()


def payload(packets: list[RtpPacket]) -> bytes:
    return b"".join(p.payload for p in packets)


def assert_one_stream(packets: list[RtpPacket]) -> None:
    """Consecutive sequence numbers and +160 timestamps on one SSRC."""
    for a, b in itertools.pairwise(packets):
        assert b.ssrc == a.ssrc
        assert b.sequence == (a.sequence + 1) & 0xFFFF
        assert b.timestamp == (a.timestamp + FRAME) & 0xFFFFFFFF


def padded(audio: bytes, silence: int = 0xFF) -> bytes:
    return audio + bytes((silence,)) * (-len(audio) % FRAME)


# -- prompts ---------------------------------------------------------------------------


async def test_prompt_audio_reaches_the_phone_as_sent(rig: Rig) -> None:
    prompt = await rig.media.play_prompt(rig.url("sweep"))
    assert prompt is not None and prompt.url.endswith("/sweep.au")
    assert rig.endpoint.player_active  # the relay holds the other leg back
    info = await rig.event()
    assert (info.event, info.order) == ("play_prompt_completed", 2)
    packets = await rig.all_sent()
    assert len(packets) == 7 and {p.payload_type for p in packets} == {0}
    got = payload(packets)
    assert got == padded(SWEEP)
    assert list(ulaw_decode(got[: len(SWEEP)])) == list(ulaw_decode(SWEEP))
    assert set(ulaw_decode(got[len(SWEEP):])) == {0}  # the short last frame padded with silence
    assert [p.marker for p in packets] == [True] + [False] * 6
    assert_one_stream(packets)


async def test_completion_is_a_new_snapshot_of_the_leg(rig: Rig) -> None:
    before = rig.leg.info
    assert before is not None
    before.encoded()  # the hub has encoded the state snapshot (bytes cached on it)
    await rig.media.play_prompt(rig.url("one"), order=2)
    info = await rig.event()
    assert info is not before and rig.leg.info is before  # the leg's state snapshot is untouched
    assert before.event is None
    assert (info.call, info.state) == (before.call, CallState.CONNECTED)
    assert info.connect_time == before.connect_time
    wire = orjson.loads(info.encoded())
    assert wire["event"] == "play_prompt_completed" and wire["order"] == 2 and wire["state"] == "connected"
    assert "digit" not in wire and "duration" not in wire
    assert info.routing_keys() == before.routing_keys()


async def test_events_after_a_new_peer_go_to_the_legs_parties_only(rig: Rig) -> None:
    """A leg that just met a new party (Leg.meet: its snapshot also goes to the party that left);
    the events that follow go to its parties' subscribers only."""
    moved = rig.leg.meet(Party(id="1002", account_id="1002", i_account=2, i_customer=1, i_main_office=1),
                         CallState.CONNECTED, 1002.0)
    assert ("i_ivr_an", 1) in moved.audience() and ("i_ivr_an", 1) not in moved.routing_keys()
    await rig.media.play_prompt(rig.url("one"), order=2)
    info = await rig.event()
    assert info.event == "play_prompt_completed" and info.callee.id == "1002"
    assert info.audience() == info.routing_keys() and ("i_ivr_an", 1) not in info.audience()


async def test_pcma_leg_gets_the_ulaw_file_as_alaw(server: PromptServer) -> None:
    r = await make_rig(server, PCMA_101)
    try:
        await r.media.play_prompt(r.url("sweep"))
        await r.event()
        packets = await r.all_sent()
        assert {p.payload_type for p in packets} == {8}
        assert payload(packets)[: len(SWEEP)] == ulaw_to_alaw(SWEEP)
    finally:
        r.media.close()
        r.endpoint.close()
        r.phone.close()
        await r.fetcher.close()


async def test_each_prompt_completes_once_and_the_stream_continues(rig: Rig) -> None:
    await rig.media.play_prompt(rig.url("two"))
    assert (await rig.event()).order == 2
    await rig.all_sent()
    await rig.media.play_prompt(rig.url("two"), order=2)
    assert (await rig.event()).order == 2  # the second prompt's, not a repeat of the first's
    packets = await rig.all_sent()
    assert len(packets) == 4
    assert payload(packets) == frames(0x50, 2) * 2
    assert [p.marker for p in packets[:2]] == [True, False] and not packets[3].marker
    assert_one_stream(packets[:2])
    assert_one_stream(packets[2:])
    a, b = packets[1], packets[2]
    assert b.ssrc == a.ssrc and b.sequence == (a.sequence + 1) & 0xFFFF  # no sequence gap
    gap = (b.timestamp - a.timestamp) & 0xFFFFFFFF
    # Either the player had gone idle (a new talkspurt: marker, and the timestamp moved on
    # by the real pause) or the second prompt came before its next 20 ms tick and simply
    # continued the stream (no silence in between: no marker, +160).
    assert (b.marker and FRAME <= gap < 2**31) or (not b.marker and gap == FRAME)
    await rig.sentinel()


async def test_order_3_interrupts_2_which_resumes_where_it_stopped(rig: Rig) -> None:
    await rig.fetcher.fetch(rig.url("over"), rig.endpoint.facts)  # cached: starts at once when asked
    await rig.media.play_prompt(rig.url("long"), order=2)
    await rig.phone.receive_until(10)
    await rig.media.play_prompt(rig.url("over"), order=3)
    assert rig.media.is_playing(2) and rig.media.is_playing(3)
    first = await rig.event()
    second = await rig.event()
    assert [(first.event, first.order), (second.event, second.order)] == [
        ("play_prompt_completed", 3),
        ("play_prompt_completed", 2),
    ]
    packets = await rig.all_sent()
    ids = [(p.payload[0], p.payload[1]) for p in packets]
    assert len(ids) == 65
    cut = next(i for i, (tag, _) in enumerate(ids) if tag == 0x30)
    assert cut >= 10
    assert ids == (
        [(0x20, n) for n in range(cut)] + [(0x30, n) for n in range(5)] + [(0x20, n) for n in range(cut, 60)]
    )
    assert_one_stream(packets)
    assert [p.marker for p in packets].count(True) == 1 and packets[0].marker
    await rig.sentinel()


async def test_repeat_2_plays_twice_and_completes_once(rig: Rig) -> None:
    await rig.media.play_prompt(rig.url("sweep"), repeat=2)
    info = await rig.event()
    assert (info.event, info.order) == ("play_prompt_completed", 2)
    packets = await rig.all_sent()
    assert payload(packets) == padded(SWEEP * 2)  # back to back, padded only at the very end
    assert_one_stream(packets)
    await rig.sentinel()


async def test_repeat_forever_until_stopped_never_completes(rig: Rig) -> None:
    await rig.media.play_prompt(rig.url("two"), repeat=-1)
    await rig.phone.receive_until(7)  # more than the prompt's two frames: it looped
    assert rig.media.stop_prompt(2)
    assert not rig.media.stop_prompt(2)
    assert not rig.endpoint.player_active
    packets = await rig.all_sent()
    assert payload(packets) == (frames(0x50, 2) * len(packets))[: len(packets) * FRAME]
    assert rig.events.empty()  # stopped, not completed
    await rig.sentinel()


async def test_stop_while_fetching_keeps_the_prompt_from_starting(rig: Rig) -> None:
    play = asyncio.ensure_future(rig.media.play_prompt(rig.url("held")))
    await asyncio.wait_for(rig.server.arrived.wait(), TIMEOUT)  # the server holds the request
    assert not rig.media.stop_prompt(2)  # nothing plays yet, but the pending play is off
    rig.server.release.set()
    assert await asyncio.wait_for(play, TIMEOUT) is None
    assert rig.endpoint.packets_out == 0 and not rig.endpoint.player_active
    await rig.sentinel()  # order 3 still plays; nothing else was published


async def test_a_later_play_of_the_same_order_wins_over_one_still_fetching(rig: Rig) -> None:
    held = asyncio.ensure_future(rig.media.play_prompt(rig.url("held")))
    await asyncio.wait_for(rig.server.arrived.wait(), TIMEOUT)
    await rig.media.play_prompt(rig.url("two"))
    rig.server.release.set()
    assert await asyncio.wait_for(held, TIMEOUT) is None
    assert (await rig.event()).order == 2
    packets = await rig.all_sent()
    assert payload(packets) == frames(0x50, 2)


@pytest.mark.parametrize(
    ("name", "error", "reason"),
    [
        ("missing", PromptNotFound, "not found"),
        ("slow", PromptTimeout, "timed out"),
        ("wrong", PromptFormatError, ""),
    ],
)
async def test_prompt_errors_are_typed_and_play_nothing(
    rig: Rig, name: str, error: type, reason: str
) -> None:
    if name == "slow":
        rig.fetcher.timeout = 0.3  # /slow.au never answers: the timeout is certain to fire
    with pytest.raises(error) as caught:
        await rig.media.play_prompt(rig.url(name))
    assert name in caught.value.url and reason in str(caught.value)
    assert not rig.endpoint.player_active and rig.endpoint.packets_out == 0
    assert rig.events.empty()


async def test_bad_order_and_repeat_are_refused_before_fetching(rig: Rig) -> None:
    for kwargs in ({"order": 1}, {"order": 4}, {"repeat": 0}, {"repeat": -2}):
        with pytest.raises(ValueError):
            await rig.media.play_prompt(rig.url("one"), **kwargs)
    assert rig.fetcher.requests == 0


# -- DTMF ------------------------------------------------------------------------------


def send_rfc4733(rig: Rig, digit: str, timestamp: int, seq: int, duration_ms: int = 100) -> int:
    for p in generate_event_packets(digit, duration_ms, timestamp):
        rig.phone.send(build_rtp(101, seq, p.timestamp, 0x4242, p.payload, marker=p.marker), rig.endpoint)
        seq += 1
    return seq


def assert_digit(info: CallInfo, digit: str, method: str, duration: int) -> None:
    assert (info.event, info.digit, info.dtmf_method, info.duration) == (
        "dtmf_digit_detected", digit, method, duration)
    wire = orjson.loads(info.encoded())
    assert (wire["digit"], wire["dtmf_method"], wire["duration"]) == (digit, method, duration)
    assert "order" not in wire and wire["state"] == "connected"


async def test_rfc4733_digits_reported(rig: Rig) -> None:
    rig.media.start_dtmf()
    assert rig.endpoint.dtmf_enabled
    seq = send_rfc4733(rig, "7", 8000, 1)
    assert_digit(await rig.event(), "7", "rfc4733", 100)
    send_rfc4733(rig, "#", 16000, seq, duration_ms=160)
    assert_digit(await rig.event(), "#", "rfc4733", 160)


async def test_info_digits_reported(rig: Rig) -> None:
    rig.media.start_dtmf()
    assert rig.media.sip_info("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n")
    assert_digit(await rig.event(), "5", "info", 160)
    assert rig.media.sip_info("Application/DTMF; charset=us-ascii", "#")
    assert_digit(await rig.event(), "#", "info", DEFAULT_INFO_DURATION_MS)
    assert rig.media.sip_info("application/dtmf-relay", b"Signal=10\nDuration=200")
    assert_digit(await rig.event(), "*", "info", 200)


async def test_digit_sent_both_ways_reported_once(rig: Rig) -> None:
    rig.media.start_dtmf()
    # INFO first (phones send it at the press), RFC 4733 ends later: one digit
    assert rig.media.sip_info("application/dtmf-relay", b"Signal=7\r\nDuration=100\r\n")
    seq = send_rfc4733(rig, "7", 8000, 1)
    # RFC 4733 first, then INFO: one digit
    seq = send_rfc4733(rig, "4", 16000, seq)
    assert_digit(await rig.event(), "7", "info", 100)
    assert_digit(await rig.event(), "4", "rfc4733", 100)
    assert rig.media.sip_info("application/dtmf-relay", b"Signal=4\r\nDuration=100\r\n")  # understood ...
    # ... but not reported again: the next event is the next press
    send_rfc4733(rig, "8", 24000, seq)
    assert_digit(await rig.event(), "8", "rfc4733", 100)
    assert rig.events.empty()


async def test_no_digits_while_detection_is_off(rig: Rig) -> None:
    arrived: asyncio.Queue[bytes] = asyncio.Queue()
    rig.endpoint.on_rtp = arrived.put_nowait
    assert rig.media.sip_info("application/dtmf", b"3")  # understood, not reported
    assert not rig.endpoint.dtmf_enabled
    rig.media.start_dtmf()
    rig.media.start_dtmf()  # idempotent
    rig.media.stop_dtmf()
    assert not rig.endpoint.dtmf_enabled and not rig.media.dtmf_enabled
    seq = send_rfc4733(rig, "1", 8000, 1)
    for _ in range(seq - 1):  # the endpoint has taken in every packet of that press
        await asyncio.wait_for(arrived.get(), TIMEOUT)
    assert rig.media.sip_info("application/dtmf", b"2")
    rig.media.start_dtmf()
    send_rfc4733(rig, "9", 16000, seq)
    assert_digit(await rig.event(), "9", "rfc4733", 100)  # neither 3, 1 nor 2 came before it


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", InfoDigit("5", 160)),
        ("application/dtmf-relay", b"Duration=100\r\nSignal=*\r\n", InfoDigit("*", 100)),
        ("application/dtmf-relay", b"signal = b\nduration = 90", InfoDigit("B", 90)),
        ("application/dtmf-relay", b"Signal=11\r\nDuration=250", InfoDigit("#", 250)),
        ("application/dtmf-relay", b"Signal=15", InfoDigit("D", DEFAULT_INFO_DURATION_MS)),
        ("application/dtmf-relay", b"Signal=1\r\nDuration=soon", InfoDigit("1", DEFAULT_INFO_DURATION_MS)),
        ("application/dtmf-relay", b"Signal=1\r\nDuration=999999", InfoDigit("1", 60000)),
        ("application/dtmf-relay", "Signal:0\r\nDuration:40", InfoDigit("0", 40)),
        ("APPLICATION/DTMF-RELAY", b"Signal=9", InfoDigit("9", DEFAULT_INFO_DURATION_MS)),
        ("application/dtmf", b"5", InfoDigit("5", DEFAULT_INFO_DURATION_MS)),
        ("application/dtmf", b" a\r\n", InfoDigit("A", DEFAULT_INFO_DURATION_MS)),
        ("application/dtmf", b"10", InfoDigit("*", DEFAULT_INFO_DURATION_MS)),
        ("application/dtmf-relay", b"Signal=16", None),
        ("application/dtmf-relay", b"Signal=E", None),
        ("application/dtmf-relay", b"Duration=160", None),
        ("application/dtmf-relay", b"", None),
        ("application/dtmf-relay", b"Signal=\xff", None),
        ("application/dtmf", b"55", None),
        ("application/dtmf", b"", None),
        ("text/plain", b"Signal=5", None),
        ("application/sdp", b"5", None),
    ],
)
def test_parse_info_dtmf(content_type: str, body: bytes | str, expected: InfoDigit | None) -> None:
    assert parse_info_dtmf(content_type, body) == expected


async def test_unknown_info_body_is_not_understood(rig: Rig) -> None:
    rig.media.start_dtmf()
    assert not rig.media.sip_info("text/plain", b"5")
    assert not rig.media.sip_info("application/dtmf-relay", b"garbage")
    assert rig.media.sip_info("application/dtmf", b"6")
    assert_digit(await rig.event(), "6", "info", DEFAULT_INFO_DURATION_MS)


# -- music on hold ---------------------------------------------------------------------


async def test_moh_reaches_the_phone_publishes_nothing_and_resumes_after_a_prompt(rig: Rig) -> None:
    music = moh_audio("PCMU")
    rig.media.start_moh()
    assert rig.media.moh_active and rig.endpoint.player_active
    start = await rig.phone.receive_until(10)
    assert payload(start) == music[: 10 * FRAME] and start[0].marker
    await rig.media.play_prompt(rig.url("two"), order=2)  # a prompt to the held party
    info = await rig.event()
    assert (info.event, info.order) == ("play_prompt_completed", 2)
    await rig.phone.receive_until(rig.endpoint.packets_out + 3)  # the music is back
    assert rig.media.stop_moh()
    assert not rig.media.stop_moh()
    assert not rig.endpoint.player_active and not rig.media.moh_active
    packets = await rig.all_sent()
    chunks = [p.payload for p in packets]
    cut = chunks.index(frames(0x50, 2)[:FRAME])
    assert b"".join(chunks[:cut]) == music[: cut * FRAME]
    assert b"".join(chunks[cut : cut + 2]) == frames(0x50, 2)
    rest = b"".join(chunks[cut + 2 :])
    assert len(rest) >= 3 * FRAME and rest == music[cut * FRAME : cut * FRAME + len(rest)]
    assert_one_stream(packets)
    assert rig.events.empty()  # the music itself published nothing


async def test_moh_alone_publishes_nothing(rig: Rig) -> None:
    rig.media.start_moh()
    rig.media.start_moh()  # idempotent
    await rig.phone.receive_until(5)
    rig.media.stop_moh()
    packets = await rig.all_sent()
    assert payload(packets) == moh_audio("PCMU")[: len(packets) * FRAME]
    assert rig.events.empty()
    await rig.sentinel()


async def test_moh_needs_g711(server: PromptServer) -> None:
    r = await make_rig(server, G729_ONLY)
    try:
        with pytest.raises(MohUnavailable):
            r.media.start_moh()
        assert not r.media.moh_active and not r.endpoint.player_active
    finally:
        r.media.close()
        r.endpoint.close()
        r.phone.close()
        await r.fetcher.close()


# -- teardown --------------------------------------------------------------------------


async def test_close_stops_everything_and_publishes_nothing_more(rig: Rig) -> None:
    rig.media.start_dtmf()
    rig.media.start_moh()
    await rig.media.play_prompt(rig.url("long"), order=2)
    await rig.phone.receive_until(3)
    rig.media.close()
    rig.media.close()
    assert not rig.endpoint.player_active and not rig.endpoint.dtmf_enabled
    sent = rig.endpoint.packets_out
    assert not rig.media.sip_info("text/plain", b"1")
    assert rig.media.sip_info("application/dtmf", b"1")  # still understood, never reported
    assert await rig.media.play_prompt(rig.url("one")) is None
    rig.media.start_dtmf()
    rig.media.start_moh()
    assert not rig.endpoint.dtmf_enabled and not rig.endpoint.player_active
    assert rig.endpoint.packets_out == sent and rig.fetcher.requests == 1
    assert rig.events.empty()
    assert not rig.endpoint.closed  # the anchor owns the endpoint


async def test_close_while_fetching_plays_nothing(rig: Rig) -> None:
    play = asyncio.ensure_future(rig.media.play_prompt(rig.url("held")))
    await asyncio.wait_for(rig.server.arrived.wait(), TIMEOUT)
    rig.media.close()
    rig.server.release.set()
    assert await asyncio.wait_for(play, TIMEOUT) is None
    assert rig.endpoint.packets_out == 0 and not rig.endpoint.player_active


async def test_events_of_a_terminated_leg_are_dropped(rig: Rig) -> None:
    rig.leg.move(CallState.TERMINATED, 1002.0, reason="normal")
    rig.media.start_dtmf()
    assert rig.media.sip_info("application/dtmf", b"1")
    await rig.media.play_prompt(rig.url("one"))
    # its one packet was sent by the tick that also completed the prompt
    await rig.phone.receive_until(1)
    assert rig.endpoint.packets_out == 1 and rig.events.empty()

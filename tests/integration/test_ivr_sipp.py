"""The IVR hand-off end to end (issue 6): SIPp calls the access number 7000 of the demo
directory, ``callcontrol serve`` answers it itself, and an IVR application (a
:class:`~callcontrol.client.CallControlClient` subscribed to ``i_ivr_an`` 1) drives the
caller: prompts fetched from an aiohttp server run by this test, DTMF by RFC 2833, SIP
INFO and in-band tones, transfer to account 1002, release.

What is checked on the wire:

- prompt audio: the caller's SDP names a UDP port this test listens on, so every RTP
  packet the server plays is captured; the payloads must be exactly the ``.au`` file's
  u-law bytes (the last frame padded with u-law silence 0xFF), in the order the playback
  stack implies, with one SSRC, sequence numbers that never jump, timestamps +160 per
  frame inside a talkspurt and forward across silences, the marker bit on the first
  packet of each talkspurt only;
- DTMF: SIPp scenarios ``ivr_dtmf_*.xml`` send digits on cue (SIPp's 3PCC twin socket,
  served here by :class:`Cues`), so detection is switched on before a digit leaves and
  each digit is awaited as a notification, never slept for;
- release: the SIPp caller's scenario succeeds only when it receives the server's BYE.

Errors expected from ``play_prompt`` for a bad URL (SPEC "CallControl methods"):
``sip.wrong_parameters`` with ``details == [{"field": "params.url", "message": M}]`` where M
contains the URL given (404, fetch timeout, a body that is not an .au file).
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import socket
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from callcontrol.client import CallControlClient, WrongParametersError
from ivr.au import write_au
from tests.integration.harness import (
    ROOT,
    SCENARIOS,
    Server,
    free_port,
    register,
    sip_start_line,
    sipp_messages,
    start_server,
)

pytestmark = pytest.mark.integration

ACCESS_NUMBER = "7000"
I_IVR_AN = 1
ULAW_SILENCE = 0xFF
FRAME = 160  # bytes of u-law per 20 ms packet
RFC4733, INFO, INBAND = "rfc4733", "info", "inband"  # dtmf_method values
INBAND_PCAP = SCENARIOS / "dtmf_inband_1593.pcap"
WAIT = 15.0  # bound on any single awaited event


def _pattern(seed: int, size: int) -> bytes:
    """Deterministic u-law 'noise' with no silence-like byte (0xFF / 0x7F encode 0)."""
    rng = random.Random(seed)
    return bytes(b if b not in (0xFF, 0x7F) else 0x80 for b in rng.randbytes(size))


PROMPT_A = _pattern(1, 8000)  # 1 s, 50 frames
PROMPT_B = _pattern(2, 3200)  # 0.4 s, 20 frames
PROMPT_ODD = _pattern(3, 1000)  # 6.25 frames: the last one is padded with silence


# --------------------------------------------------------------------------- prompt web server


class PromptServer:
    """aiohttp, in the test's loop: ``/p/<name>.au`` from :attr:`files`; ``/p/slow.au``
    never answers; ``/p/garbage.au`` is not an .au file; anything else is 404."""

    def __init__(self) -> None:
        self.files = {
            "hello.au": write_au(PROMPT_A, annotation=b"hello"),
            "second.au": write_au(PROMPT_B),
            "odd.au": write_au(PROMPT_ODD),
            "garbage.au": b"<html>this is not a Sun .au file</html>\n" * 20,
        }
        self.requested: list[str] = []
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/p"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.requested.append(name)
        if name == "slow.au":
            await self._release.wait()  # held open until teardown: the server's fetch times out
            raise web.HTTPServiceUnavailable()
        body = self.files.get(name)
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(body=body, content_type="audio/basic")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/p/{name}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()


# --------------------------------------------------------------------------- RTP capture


@dataclass(slots=True, frozen=True)
class Rtp:
    seq: int
    ts: int
    marker: bool
    pt: int
    ssrc: int
    payload: bytes
    source: tuple[str, int]


class RtpCapture(asyncio.DatagramProtocol):
    """The caller's media port: keeps every RTP packet the server sends to it."""

    def __init__(self) -> None:
        self.packets: list[Rtp] = []
        self.transport: asyncio.DatagramTransport | None = None
        self._changed = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 12 or data[0] >> 6 != 2:
            return
        b0, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", data)
        start = 12 + 4 * (b0 & 0x0F)
        self.packets.append(Rtp(seq, ts, bool(b1 & 0x80), b1 & 0x7F, ssrc, data[start:], addr))
        self._changed.set()

    async def wait_until(self, ready: Callable[[list[Rtp]], bool], what: str, timeout: float = WAIT) -> None:
        async with asyncio.timeout(timeout):
            while not ready(self.packets):
                self._changed.clear()
                await self._changed.wait()

    async def wait_payload(self, start: int, size: int, timeout: float = WAIT) -> list[Rtp]:
        """Packets from index ``start`` on, once they carry at least ``size`` payload bytes."""
        await self.wait_until(lambda p: sum(len(x.payload) for x in p[start:]) >= size,
                              f"{size} bytes of audio", timeout)
        return self.packets[start:]


async def open_capture() -> tuple[RtpCapture, int]:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    _, proto = await loop.create_datagram_endpoint(RtpCapture, sock=sock)
    return proto, sock.getsockname()[1]


def audio(packets: list[Rtp]) -> bytes:
    return b"".join(p.payload for p in packets)


def padded(data: bytes) -> bytes:
    """What a prompt sounds like on the wire: whole frames, the last one filled with silence."""
    return data + bytes([ULAW_SILENCE]) * (-len(data) % FRAME)


def assert_one_talkspurt(packets: list[Rtp], *, after_silence: bool = True) -> None:
    """PCMU frames with consecutive sequence numbers and timestamps +160, no marker bit
    after the first packet; the first one has it when playback starts ``after_silence``
    (a prompt that starts within a frame of the previous one's end continues its talkspurt)."""
    assert packets, "no RTP"
    if after_silence:
        assert packets[0].marker, "the first packet after a silence carries the marker bit"
    for prev, cur in itertools.pairwise(packets):
        assert not cur.marker, f"marker bit inside a talkspurt at seq {cur.seq}"
        assert cur.seq == (prev.seq + 1) & 0xFFFF, f"sequence jumps {prev.seq} -> {cur.seq}"
        assert cur.ts == (prev.ts + len(prev.payload)) & 0xFFFFFFFF, f"timestamp {prev.ts} -> {cur.ts}"
    assert {p.pt for p in packets} == {0}
    assert {len(p.payload) for p in packets} == {FRAME}


def assert_one_stream(packets: list[Rtp]) -> None:
    """The whole call: one SSRC, sequence numbers never jump, timestamps only move forward
    (by at least a frame), and a timestamp gap (a silence) only before a marked packet."""
    assert packets[0].marker, "the first packet of the stream carries the marker bit"
    assert len({p.ssrc for p in packets}) == 1, "one RTP stream per call leg"
    for prev, cur in itertools.pairwise(packets):
        assert cur.seq == (prev.seq + 1) & 0xFFFF, f"sequence jumps {prev.seq} -> {cur.seq}"
        step = (cur.ts - prev.ts) & 0xFFFFFFFF
        assert FRAME <= step < 1 << 31, f"timestamp {prev.ts} -> {cur.ts} does not move forward a frame"
        if step != FRAME:
            assert cur.marker, f"timestamp gap {prev.ts} -> {cur.ts} without the marker bit"


# --------------------------------------------------------------------------- SIPp 3PCC cues


class Cues:
    """SIPp's 3PCC twin socket, served by the test. The ``ivr_*`` scenarios connect to it,
    report ``X-Ivr-Event: <event>`` with their Call-ID, and wait for a command before each
    step. Commands are header blocks terminated by ESC (what SIPp's twin socket frames on)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []  # (call id, event), not yet taken
        self._writers: dict[str, asyncio.StreamWriter] = {}
        self._changed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for writer in self._writers.values():
            writer.close()
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf = b""
        while chunk := await reader.read(65536):
            buf += chunk
            while b"\x1b" in buf:
                frame, buf = buf.split(b"\x1b", 1)
                headers = {}
                for line in frame.decode(errors="replace").splitlines():
                    name, colon, value = line.partition(":")
                    if colon:
                        headers[name.strip().lower()] = value.strip()
                call_id = headers.get("call-id", "")
                self._writers[call_id] = writer
                self.events.append((call_id, headers.get("x-ivr-event", "")))
                self._changed.set()

    async def expect(self, event: str, call_id: str | None = None, timeout: float = WAIT) -> str:
        """The first untaken ``event`` (of ``call_id`` if given); returns its Call-ID."""
        async with asyncio.timeout(timeout):
            while True:
                for i, (cid, ev) in enumerate(self.events):
                    if ev == event and call_id in (None, cid):
                        del self.events[i]
                        return cid
                self._changed.clear()
                await self._changed.wait()

    async def step(self, call_id: str, n: int, timeout: float = WAIT) -> None:
        """Cue step ``n`` of the call's scenario and wait until it reports it done."""
        writer = self._writers[call_id]
        writer.write(f"Call-ID: {call_id}\r\nX-Ivr-Cue: {n}\r\n\r\n\x1b".encode())
        await writer.drain()
        await self.expect(f"done {n}", call_id, timeout)


# --------------------------------------------------------------------------- SIPp processes


_TRACE_NUMBERS = itertools.count(1)


@dataclass
class Sipp:
    proc: asyncio.subprocess.Process
    name: str

    async def finished(self, timeout: float = WAIT) -> tuple[int, str]:
        """Exit status and output; 0 means every call of the scenario succeeded."""
        out, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        return self.proc.returncode or 0, (out + err).decode(errors="replace")[-4000:]

    async def assert_succeeded(self, timeout: float = WAIT) -> None:
        code, text = await self.finished(timeout)
        assert code == 0, f"SIPp {self.name} failed ({code}): {text}"

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def start_sipp(scenario: Path, *args: str, name: str = "") -> Sipp:
    """SIPp for one call. With IVR_TEST_SIPP_TRACE=DIR it logs every message it sends and
    receives to DIR/<scenario>-<n>.log (debugging aid)."""
    trace = os.environ.get("IVR_TEST_SIPP_TRACE")
    if trace and "-message_file" not in args:
        log = Path(trace) / f"{scenario.stem}-{next(_TRACE_NUMBERS)}.log"
        args = (*args, "-trace_msg", "-message_file", str(log))
    proc = await asyncio.create_subprocess_exec(
        "sipp", *args, "-sf", str(scenario), "-i", "127.0.0.1", "-m", "1", "-nostdin",
        "-timeout", "120s", "-timeout_error", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    return Sipp(proc, name or scenario.name)


# --------------------------------------------------------------------------- the IVR application


@dataclass
class IvrApp:
    """The WebSocket IVR application: notifications kept in order, awaited by predicate."""

    client: CallControlClient
    seen: list[dict[str, Any]] = field(default_factory=list)  # call_info of every update so far
    _taken: int = 0

    async def next_info(self, match: Callable[[dict[str, Any]], bool], what: str,
                        timeout: float = WAIT) -> dict[str, Any]:
        """The next notification (after the last one taken) that ``match``es; the ones
        skipped stay in :attr:`seen`."""
        async with asyncio.timeout(timeout):
            while True:
                while self._taken < len(self.seen):
                    info = self.seen[self._taken]
                    self._taken += 1
                    if match(info):
                        return info
                n = await self.client.next_notification()
                if n.action == "update" and n.call_info is not None:
                    self.seen.append(n.call_info)
                else:
                    raise AssertionError(f"unexpected notification while waiting for {what}: {n.raw}")

    async def state(self, state: str, pred: Callable[[dict[str, Any]], bool] = lambda i: True,
                    timeout: float = WAIT) -> dict[str, Any]:
        return await self.next_info(lambda i: i.get("state") == state and not i.get("event") and pred(i),
                                    f"state {state}", timeout)

    async def event(self, event: str, timeout: float = WAIT) -> dict[str, Any]:
        return await self.next_info(lambda i: i.get("event") == event, f"event {event}", timeout)

    def events(self, event: str) -> list[dict[str, Any]]:
        return [i for i in self.seen if i.get("event") == event]


def leg(info: dict[str, Any]) -> dict[str, Any]:
    return {"call": info["call"], "transport_id": info["transport_id"]}


@dataclass
class Ivr:
    server: Server
    prompts: PromptServer
    cues: Cues


@pytest.fixture
async def ivr(tmp_path: Path) -> AsyncIterator[Ivr]:
    srv = await asyncio.to_thread(start_server, tmp_path, media="rtp_timeout = 300")
    prompts, cues = PromptServer(), Cues()
    try:
        await prompts.start()
        await cues.start()
        yield Ivr(srv, prompts, cues)
    finally:
        await cues.stop()
        await prompts.stop()
        await asyncio.to_thread(srv.proc.stop)


@contextlib.asynccontextmanager
async def ivr_app(ivr: Ivr, *, i_customer: int | None = None) -> AsyncIterator[IvrApp]:
    async with CallControlClient.connect(f"ws://127.0.0.1:{ivr.server.ws_port}/ws",
                                         request_timeout=30) as client:
        await client.login("demo-corp", "demo-corp-pass")
        await client.enable_api_notifications(i_ivr_an=I_IVR_AN)
        if i_customer is not None:
            await client.enable_api_notifications(i_customer=i_customer)
        yield IvrApp(client)


async def answered_ivr_call(app: IvrApp, ivr: Ivr) -> dict[str, Any]:
    """The IVR call's connected notification (the first leg to connect must be it)."""
    info = await app.state("connected")
    assert info["callee"]["access_number"] == ACCESS_NUMBER, info
    assert info["transport_id"] == f"127.0.0.1:{ivr.server.sip_port}"
    return info


async def call_ivr(ivr: Ivr, scenario: str, *extra: str) -> Sipp:
    return await start_sipp(SCENARIOS / scenario, f"127.0.0.1:{ivr.server.sip_port}", "-s", ACCESS_NUMBER,
                            "-p", str(free_port()), *extra)


async def release(app: IvrApp, info: dict[str, Any], caller: Sipp) -> None:
    """terminate_call: the caller's scenario ends only on the server's BYE; the leg ends."""
    await app.client.terminate_call(**leg(info))
    await caller.assert_succeeded()
    await app.state("terminated", lambda i: i["call"] == info["call"])


@contextlib.asynccontextmanager
async def prompt_call(ivr: Ivr) -> AsyncIterator[tuple[IvrApp, RtpCapture, dict[str, Any]]]:
    """An IVR application, a SIPp caller of 7000 whose RTP goes to a capture socket, and the
    answered leg; released with terminate_call when the test body ends cleanly."""
    capture, rtp_port = await open_capture()
    try:
        async with ivr_app(ivr) as app:
            caller = await call_ivr(ivr, "ivr_caller.xml", "-key", "rtp_port", str(rtp_port))
            try:
                info = await answered_ivr_call(app, ivr)
                yield app, capture, info
                await release(app, info, caller)
            finally:
                await caller.kill()
    finally:
        capture.transport.close()  # type: ignore[union-attr]


# --------------------------------------------------------------------------- prompts


async def test_prompt_is_fetched_as_au_and_played_sample_exact(ivr: Ivr) -> None:
    async with prompt_call(ivr) as (app, capture, info):
        assert info["type"] == "outgoing" and info["caller"]["id"] == "sipp"
        listed = await app.client.get_sip_calls_list(i_ivr_an=I_IVR_AN)
        assert [x["call"] for x in listed] == [info["call"]]

        assert capture.packets == [], "nothing is played before the application asks"
        await app.client.play_prompt(url=f"{ivr.prompts.base}/hello", order=2, repeat=1, **leg(info))
        done = await app.event("play_prompt_completed")
        assert done["order"] == 2 and done["call"] == info["call"]
        packets = await capture.wait_payload(0, len(PROMPT_A))
        assert ivr.prompts.requested == ["hello.au"]  # url + ".au", once
        assert audio(packets) == PROMPT_A  # 50 whole frames, nothing before, nothing added
        assert_one_talkspurt(packets)

        # A prompt that does not fill its last frame: padded with u-law silence.
        mark = len(capture.packets)
        await app.client.play_prompt(url=f"{ivr.prompts.base}/odd", **leg(info))
        assert (await app.event("play_prompt_completed"))["order"] == 2
        packets = await capture.wait_payload(mark, len(padded(PROMPT_ODD)))
        assert audio(packets) == padded(PROMPT_ODD)
        assert_one_talkspurt(packets, after_silence=False)
        assert_one_stream(capture.packets)


async def test_order_3_interrupts_order_2_which_resumes(ivr: Ivr) -> None:
    async with prompt_call(ivr) as (app, capture, info):
        await app.client.play_prompt(url=f"{ivr.prompts.base}/hello", order=2, **leg(info))
        await capture.wait_until(lambda p: len(p) >= 10, "10 frames of prompt A")
        await app.client.play_prompt(url=f"{ivr.prompts.base}/second", order=3, **leg(info))
        first = await app.event("play_prompt_completed")
        second = await app.event("play_prompt_completed")
        assert (first["order"], second["order"]) == (3, 2)
        packets = await capture.wait_payload(0, len(PROMPT_A) + len(PROMPT_B))
        heard = audio(packets)
        cut = heard.find(PROMPT_B)
        assert cut >= 10 * FRAME and cut % FRAME == 0, f"prompt B starts at byte {cut}"
        # A up to a frame boundary, all of B, then A from exactly where it stopped.
        assert heard == PROMPT_A[:cut] + PROMPT_B + PROMPT_A[cut:]
        assert_one_talkspurt(packets)  # switching prompts is not a new talkspurt


async def test_repeat_2_plays_twice_and_stop_play_prompt_stops(ivr: Ivr) -> None:
    async with prompt_call(ivr) as (app, capture, info):
        await app.client.play_prompt(url=f"{ivr.prompts.base}/odd", repeat=2, **leg(info))
        assert (await app.event("play_prompt_completed"))["order"] == 2
        packets = await capture.wait_payload(0, len(padded(PROMPT_ODD * 2)))
        assert audio(packets) == padded(PROMPT_ODD * 2)  # back to back, one completion
        assert_one_talkspurt(packets)

        # For ever (repeat -1) in slot 3, stopped after more than one loop; then B in slot 2.
        mark = len(capture.packets)
        await app.client.play_prompt(url=f"{ivr.prompts.base}/second", order=3, repeat=-1, **leg(info))
        loops = len(PROMPT_B) // FRAME
        await capture.wait_until(lambda p: len(p) - mark > loops + 5, "prompt B looping")
        await app.client.stop_play_prompt(order=3, **leg(info))
        await app.client.play_prompt(url=f"{ivr.prompts.base}/hello", order=2, **leg(info))
        done = await app.event("play_prompt_completed")
        assert done["order"] == 2, "a stopped prompt does not complete; the loop never did"

        def a_heard(p: list[Rtp]) -> bool:
            starts = [i for i in range(mark + 1, len(p)) if p[i].marker]
            return bool(starts) and len(audio(p[starts[0]:])) >= len(PROMPT_A)

        await capture.wait_until(a_heard, "prompt A after the loop")
        packets = capture.packets[mark:]
        heard = audio(packets)
        start_a = next(i for i, p in enumerate(packets) if i and p.marker)
        looped = audio(packets[:start_a])
        assert len(looped) > len(PROMPT_B)
        assert looped == (PROMPT_B * (len(looped) // len(PROMPT_B) + 1))[:len(looped)]
        assert audio(packets[start_a:]) == PROMPT_A
        assert_one_talkspurt(packets[:start_a], after_silence=False)  # it followed "odd" at once
        assert_one_talkspurt(packets[start_a:])
        assert len(heard) == len(looped) + len(PROMPT_A)
        assert_one_stream(capture.packets)
        assert [e["order"] for e in app.events("play_prompt_completed")] == [2, 2]


@pytest.mark.parametrize("name, why", [("missing", "404"), ("slow", "timeout"), ("garbage", "not .au")])
async def test_bad_prompt_url_is_wrong_parameters_naming_it(ivr: Ivr, name: str, why: str) -> None:
    async with prompt_call(ivr) as (app, capture, info):
        url = f"{ivr.prompts.base}/{name}"
        with pytest.raises(WrongParametersError) as raised:
            await app.client.play_prompt(url=url, **leg(info))
        err = raised.value
        assert err.code == "sip.wrong_parameters", why
        assert isinstance(err.details, list) and len(err.details) == 1, err.details
        assert err.details[0]["field"] == "params.url"
        assert url in err.details[0]["message"], err.details
        assert capture.packets == []
        # The call is still fine: a good prompt plays.
        await app.client.play_prompt(url=f"{ivr.prompts.base}/second", **leg(info))
        await app.event("play_prompt_completed")
        assert audio(await capture.wait_payload(0, len(PROMPT_B))) == PROMPT_B
        assert len(app.events("play_prompt_completed")) == 1


# --------------------------------------------------------------------------- DTMF


async def dtmf_call(ivr: Ivr, app: IvrApp, scenario: Path | str) -> tuple[Sipp, dict[str, Any]]:
    """A DTMF scenario's call, answered, its scenario ready for cues, detection on."""
    caller = await start_sipp(SCENARIOS / scenario if isinstance(scenario, str) else scenario,
                              f"127.0.0.1:{ivr.server.sip_port}", "-s", ACCESS_NUMBER, "-p", str(free_port()),
                              "-mp", str(free_port()), "-3pcc", f"127.0.0.1:{ivr.cues.port}")
    info = await answered_ivr_call(app, ivr)
    await ivr.cues.expect("ready", info["call"]["id"])
    await app.client.start_dtmf_detect(**leg(info))
    return caller, info


async def next_digit(app: IvrApp) -> dict[str, Any]:
    return await app.event("dtmf_digit_detected")


async def test_rfc2833_digits_each_reported_once(ivr: Ivr) -> None:
    async with ivr_app(ivr) as app:
        caller, info = await dtmf_call(ivr, app, "ivr_dtmf_2833.xml")
        try:
            call_id = info["call"]["id"]
            await ivr.cues.step(call_id, 1)  # digit 1, 280 ms, end packet three times
            one = await next_digit(app)
            assert (one["digit"], one["dtmf_method"], one["duration"]) == ("1", RFC4733, 280)
            assert one["call"] == info["call"]
            await ivr.cues.step(call_id, 2)  # digit #
            pound = await next_digit(app)  # not a second "1" from the retransmitted end packets
            assert (pound["digit"], pound["dtmf_method"], pound["duration"]) == ("#", RFC4733, 280)
            await release(app, info, caller)
            assert [d["digit"] for d in app.events("dtmf_digit_detected")] == ["1", "#"]
        finally:
            await caller.kill()


async def test_info_digits_both_content_types_and_stop_dtmf_detect(ivr: Ivr) -> None:
    async with ivr_app(ivr) as app:
        caller, info = await dtmf_call(ivr, app, "ivr_dtmf_info.xml")
        try:
            call_id = info["call"]["id"]
            await ivr.cues.step(call_id, 1)  # application/dtmf-relay Signal=5 Duration=160
            five = await next_digit(app)
            assert (five["digit"], five["dtmf_method"], five["duration"]) == ("5", INFO, 160)
            await ivr.cues.step(call_id, 2)  # application/dtmf "7"
            seven = await next_digit(app)
            assert (seven["digit"], seven["dtmf_method"]) == ("7", INFO)
            assert isinstance(seven["duration"], int) and seven["duration"] >= 0

            await app.client.stop_dtmf_detect(**leg(info))
            await ivr.cues.step(call_id, 3)  # Signal=3: answered 200, not reported
            await app.client.start_dtmf_detect(**leg(info))
            await ivr.cues.step(call_id, 4)  # application/dtmf "#"
            pound = await next_digit(app)
            assert (pound["digit"], pound["dtmf_method"]) == ("#", INFO), "3 was sent while detection was off"
            await release(app, info, caller)
            assert [d["digit"] for d in app.events("dtmf_digit_detected")] == ["5", "7", "#"]
        finally:
            await caller.kill()


def _inband_scenario(tmp_path: Path, scenario: str) -> tuple[Path, Path]:
    """The scenario as shipped, or, while the shared pcap is not there yet, a copy that
    plays one made by scripts/make_inband_dtmf_pcap.py into ``tmp_path``."""
    if INBAND_PCAP.exists():
        return SCENARIOS / scenario, INBAND_PCAP
    import subprocess
    import sys

    pcap = tmp_path / INBAND_PCAP.name
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_inband_dtmf_pcap.py"), "1593",
                    "--output", str(pcap)], check=True, cwd=ROOT, timeout=60)
    copy = tmp_path / scenario
    copy.write_text((SCENARIOS / scenario).read_text().replace(
        "sipp_scenarios/dtmf_inband_1593.pcap", str(pcap)))
    return copy, pcap


async def test_inband_tones_are_detected(ivr: Ivr, tmp_path: Path) -> None:
    async with ivr_app(ivr) as app:
        caller, info = await dtmf_call(ivr, app, _inband_scenario(tmp_path, "ivr_dtmf_inband.xml")[0])
        try:
            await ivr.cues.step(info["call"]["id"], 1, timeout=WAIT)  # tones 1 5 9 3, 100 ms each
            digits = [await next_digit(app) for _ in range(4)]
            assert [d["digit"] for d in digits] == list("1593")
            assert {d["dtmf_method"] for d in digits} == {INBAND}
            for d in digits:  # the tone's length as measured from the audio, in whole ms
                assert isinstance(d["duration"], int) and 60 <= d["duration"] <= 140, d
            await release(app, info, caller)
            assert len(app.events("dtmf_digit_detected")) == 4
        finally:
            await caller.kill()


async def test_one_key_by_rfc2833_and_info_at_once_is_reported_once(ivr: Ivr) -> None:
    async with ivr_app(ivr) as app:
        caller, info = await dtmf_call(ivr, app, "ivr_dtmf_both.xml")
        try:
            call_id = info["call"]["id"]
            await ivr.cues.step(call_id, 1)  # "1" as 2833 events and as INFO together
            one = await next_digit(app)
            assert one["digit"] == "1" and one["dtmf_method"] in (RFC4733, INFO)
            await ivr.cues.step(call_id, 2)  # "2" by INFO alone, after the 2833 end packets
            two = await next_digit(app)
            assert two["digit"] == "2", "the same key press was reported twice"
            await release(app, info, caller)
            assert [d["digit"] for d in app.events("dtmf_digit_detected")] == ["1", "2"]
        finally:
            await caller.kill()


# --------------------------------------------------------------------------- transfer, fallback


def _pcap_payloads(path: Path) -> list[bytes]:
    """RTP payloads of a classic pcap of Ethernet/IPv4/UDP/RTP frames, in order."""
    data = path.read_bytes()
    out, off = [], 24
    while off < len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        frame = data[off + 16: off + 16 + incl]
        off += 16 + incl
        ip = frame[14:]
        udp = ip[(ip[0] & 0x0F) * 4:]
        rtp = udp[8:]
        out.append(rtp[12 + 4 * (rtp[0] & 0x0F):])
    return out


async def test_transfer_call_connects_the_ivr_caller_to_1002(ivr: Ivr, tmp_path: Path) -> None:
    phone_port = free_port()
    reply = await asyncio.to_thread(register, ivr.server.sip_port, phone_port, "1002")
    assert reply.startswith("SIP/2.0 200 "), reply
    scenario, pcap = _inband_scenario(tmp_path, "ivr_phone_uas.xml")
    phone = await start_sipp(scenario, "-p", str(phone_port), "-mp", str(free_port()),
                             "-3pcc", f"127.0.0.1:{ivr.cues.port}", name="phone 1002")
    capture, rtp_port = await open_capture()
    caller_log = tmp_path / "caller-messages.log"
    async with ivr_app(ivr, i_customer=1) as app:
        caller = await call_ivr(ivr, "ivr_caller.xml", "-key", "rtp_port", str(rtp_port),
                                "-trace_msg", "-message_file", str(caller_log))
        try:
            info = await answered_ivr_call(app, ivr)
            await app.client.transfer_call(cld="1002", **leg(info))
            phone_call = await ivr.cues.expect("answered")  # the phone got the INVITE and answered
            new = await app.state("connected", lambda i: i["call"]["id"] == info["call"]["id"]
                                  and i["call"].get("tag") != info["call"].get("tag"))
            assert new["callee"]["id"] == "1002"
            states = [i["state"] for i in app.seen if i["call"] == new["call"] and not i.get("event")]
            assert states == ["trying", "ringing", "connected"]

            # The phone talks: its audio reaches the caller's media port unchanged (both PCMU).
            await ivr.cues.step(phone_call, 1)
            sent = [p for p in _pcap_payloads(pcap) if set(p) != {ULAW_SILENCE}]
            await capture.wait_until(lambda p: _contains_in_order([x.payload for x in p], sent),
                                     "the phone's audio at the caller")
            await release(app, info, caller)
            await phone.assert_succeeded()  # the phone got its BYE too
        finally:
            await caller.kill()
            await phone.kill()
    capture.transport.close()  # type: ignore[union-attr]
    # The caller was re-INVITEd (its media now goes to the phone), in its dialog, with an SDP offer.
    reinvites = [m for d, m in sipp_messages(caller_log) if d == "received" and sip_start_line(m).startswith("INVITE ")]
    assert len(reinvites) == 1, [sip_start_line(m) for _, m in sipp_messages(caller_log)]
    assert f"Call-ID: {info['call']['id']}" in reinvites[0] and "\r\nm=audio " in reinvites[0]


def _contains_in_order(heard: list[bytes], sent: list[bytes]) -> bool:
    it = iter(heard)
    return all(any(h == s for h in it) for s in sent)


async def test_no_application_plays_the_fallback_and_releases_the_caller(ivr: Ivr) -> None:
    capture, rtp_port = await open_capture()
    caller = await call_ivr(ivr, "ivr_caller.xml", "-key", "rtp_port", str(rtp_port))
    try:
        await caller.assert_succeeded(timeout=60)  # the scenario succeeds only on the server's BYE
    finally:
        await caller.kill()
    packets = capture.packets
    assert packets, "the caller heard nothing before being released"
    assert any(set(p.payload) != {ULAW_SILENCE} for p in packets), "the fallback is not silence"
    assert_one_stream(packets)
    capture.transport.close()  # type: ignore[union-attr]

"""The B2BUA in-process over loopback UDP: phones are UserAgents of our own stack.

Covers what the SIPp integration tests do not drive: BYE from the callee,
re-INVITE pass-through with hold states, late offer, parallel forking, and RTP
relayed through the anchored endpoints.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from callcontrol.b2bua import TRUSTED, B2bua, B2buaSettings
from callcontrol.callinfo import CallInfo
from callcontrol.calls import CallRegistry
from callcontrol.routing import Route, RouteKind, Target
from callcontrol.store import Cdr
from ivr.ports import PortPairAllocator
from sip.dialog import Dialog, new_call_id, new_tag
from sip.message import Request, Response, make_request
from sip.sdp import parse_sdp
from sip.transaction import TimerConfig
from sip.transport import Peer
from sip.ua import IncomingRequest, UserAgent

HOST = "127.0.0.1"
TIMEOUT = 3.0


def sdp(port: int, direction: str = "sendrecv", version: int = 1) -> bytes:
    return (f"v=0\r\no=phone 7 {version} IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na={direction}\r\n").encode()


class Trusted:
    def check(self, incoming: IncomingRequest, *, proxy: bool) -> Any:
        return TRUSTED


class Phone:
    """A UAS or UAC on its own UserAgent; records what happens as events in a queue."""

    def __init__(self, ua: UserAgent, name: str) -> None:
        self.ua = ua
        self.name = name
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.dialog: Dialog | None = None
        self.invite: IncomingRequest | None = None
        self.answer_with: int | None = 200  # None: ring until cancelled
        self.media_port = 0
        self.reinvites: list[Request] = []
        self.send_ack = True
        ua.on_request = self._on_request

    @classmethod
    async def open(cls, name: str) -> Phone:
        ua = UserAgent()
        await ua.listen("UDP", HOST, 0)
        phone = cls(ua, name)
        phone.media_port = ua.local_address()[1] + 1000 if ua.local_address()[1] < 64000 else 4000
        return phone

    @property
    def port(self) -> int:
        return self.ua.local_address()[1]

    def contact(self) -> str:
        return f"<sip:{self.name}@{HOST}:{self.port}>"

    async def next(self, kind: str) -> Any:
        while True:
            got, value = await asyncio.wait_for(self.events.get(), TIMEOUT)
            if got == kind:
                return value

    # -- UAS --------------------------------------------------------------------------------------
    def _on_request(self, incoming: IncomingRequest) -> None:
        req = incoming.request
        self.events.put_nowait(("invite", req))
        tag = new_tag()
        self.dialog = Dialog.from_uas(req, tag, self.contact())
        self.invite = incoming
        self.ua.register_dialog(req.call_id, tag, self)
        incoming.on_cancel = lambda: self.events.put_nowait(("cancelled", None))
        incoming.respond(180, to_tag=tag, headers=[("Contact", self.contact())])
        if self.answer_with is not None:
            self.answer(self.answer_with)

    def answer(self, status: int = 200) -> None:
        assert self.invite is not None and self.dialog is not None
        body = sdp(self.media_port)
        if status == 200:
            resp = self.invite.respond(200, to_tag=self.dialog.local_tag,
                                       headers=[("Contact", self.contact()), ("Content-Type", "application/sdp")],
                                       body=body)
        else:
            resp = self.invite.respond(status, to_tag=self.dialog.local_tag)
        self.dialog.response_sent(self.invite.request, resp)

    def on_ack(self, request: Request, peer: Peer) -> None:
        self.events.put_nowait(("ack", request))

    def on_request(self, incoming: IncomingRequest) -> None:
        assert self.dialog is not None
        status = self.dialog.receive_request(incoming.request)
        if status is not None:
            incoming.respond(status)
            return
        req = incoming.request
        self.events.put_nowait((req.method.lower(), req))
        if req.method == "INVITE":
            offer = parse_sdp(req.body)
            direction = "recvonly" if offer.is_hold else "sendrecv"
            resp = incoming.respond(200, headers=[("Contact", self.contact()), ("Content-Type", "application/sdp")],
                                    body=sdp(self.media_port, direction, 2))
            self.dialog.response_sent(req, resp)
        else:
            incoming.respond(200)

    # -- UAC --------------------------------------------------------------------------------------
    def call(self, target: str, peer: Peer, *, offer: bool = True) -> Request:
        call_id = new_call_id(HOST)
        headers = [("From", f"<sip:{self.name}@{HOST}>;tag={new_tag()}"), ("To", f"<{target}>"),
                   ("Call-ID", call_id), ("CSeq", "1 INVITE"), ("Contact", self.contact()),
                   ("Max-Forwards", "70")]
        if offer:
            headers.append(("Content-Type", "application/sdp"))
        invite = make_request("INVITE", target, headers, sdp(self.media_port) if offer else b"")
        self.peer = peer

        def on_response(resp: Response) -> None:
            self.events.put_nowait((f"r{resp.status}", resp))
            if 200 <= resp.status < 300 and self.dialog is None and self.send_ack:
                self.dialog = Dialog.from_uac(invite, resp, 0.0)
                self.ua.register_dialog(call_id, self.dialog.local_tag, self)
                body = b"" if offer else sdp(self.media_port)
                self.ua.send_ack(self.dialog.create_ack(invite.cseq, body, "application/sdp" if body else None),
                                 peer, tx)

        tx = self.ua.send_request(invite, peer, on_response)
        self.tx = tx
        return invite

    def send_in_dialog(self, request: Request, peer: Peer) -> None:
        def on_response(resp: Response) -> None:
            self.events.put_nowait((f"{request.method.lower()}{resp.status}", resp))
            assert self.dialog is not None
            self.dialog.receive_response(request, resp, 0.0)
            if request.method == "INVITE" and resp.status == 200:
                self.ua.send_ack(self.dialog.create_ack(request.cseq), peer, tx)  # type: ignore[arg-type]

        tx = self.ua.send_request(request, peer, on_response)

    def close(self) -> None:
        self.ua.close()


class Rig:
    def __init__(self, b2b: B2bua, ua: UserAgent, published: list[CallInfo], cdrs: list[Cdr]) -> None:
        self.b2b, self.ua, self.published, self.cdrs = b2b, ua, published, cdrs

    @property
    def peer(self) -> Peer:
        return Peer("UDP", HOST, self.ua.local_address()[1])

    def states(self, tag: str) -> list[str]:
        return [str(i.state) for i in self.published if i.call.tag == tag]

    def tags(self, type_: str) -> list[str]:
        return list(dict.fromkeys(i.call.tag for i in self.published if i.type == type_))  # type: ignore[misc]


async def _make_rig(targets: Callable[[], tuple[Target, ...]], *, anchor: bool = True,
                    timers: TimerConfig | None = None) -> Rig:
    ua = UserAgent(timers=timers)
    await ua.listen("UDP", HOST, 0)
    published: list[CallInfo] = []
    cdrs: list[Cdr] = []
    registry = CallRegistry(published.append)

    def router(number: str | None) -> Route:
        return Route(RouteKind.TRUNK, number or "", targets())

    b2b = B2bua(ua, directory=None, registry=registry, router=router, authorizer=Trusted(),
                settings=B2buaSettings(media_anchor=anchor, rtp_timeout=60),
                allocator=PortPairAllocator(45000, 45999) if anchor else None, cdr_sink=cdrs.append)
    ua.on_request = b2b.handle_invite
    b2b.start()
    return Rig(b2b, ua, published, cdrs)


@pytest.fixture
async def make_rig():
    """A factory of B2BUAs; each is shut down (BYE/CANCEL what is left) and closed after the test."""
    rigs: list[Rig] = []

    async def factory(targets: Callable[[], tuple[Target, ...]], *, anchor: bool = True,
                      timers: TimerConfig | None = None) -> Rig:
        rig = await _make_rig(targets, anchor=anchor, timers=timers)
        rigs.append(rig)
        return rig

    yield factory
    for rig in rigs:
        rig.b2b.settings.shutdown_grace = 0.2
        await rig.b2b.shutdown()
        rig.ua.close()


@pytest.fixture
async def phones():
    a, b, c = await Phone.open("alice"), await Phone.open("bob"), await Phone.open("carol")
    yield a, b, c
    for p in (a, b, c):
        p.close()


def target(phone: Phone) -> Target:
    return Target(f"sip:bob@{HOST}:{phone.port}", Peer("UDP", HOST, phone.port))


async def wait_for(predicate: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.005)  # polling a condition under a deadline

    await asyncio.wait_for(poll(), TIMEOUT)


@pytest.mark.parametrize("anchor", [True, False], ids=["anchored", "no-media"])
async def test_answer_then_callee_hangs_up(phones, make_rig, anchor: bool) -> None:
    a, b, _ = phones
    rig = await make_rig(lambda: (target(b),), anchor=anchor)
    a.call("sip:5551234@127.0.0.1", rig.peer)
    invite_b: Request = await b.next("invite")
    ok: Response = await a.next("r200")
    await b.next("ack")
    offer_b = parse_sdp(invite_b.body)
    answer_a = parse_sdp(ok.body)
    if anchor:  # both sides see our endpoints, not each other
        assert offer_b.media[0].port != a.media_port and answer_a.media[0].port != b.media_port
    else:
        assert offer_b.media[0].port == a.media_port and answer_a.media[0].port == b.media_port
    assert invite_b.call_id != ok.call_id  # each leg its own dialog
    assert b.dialog is not None
    b.send_in_dialog(b.dialog.create_bye(), Peer("UDP", HOST, rig.ua.local_address()[1]))
    await b.next("bye200")
    await a.next("bye")
    await wait_for(lambda: len(rig.cdrs) == 3)
    (a_tag,), (b_tag,) = rig.tags("outgoing"), rig.tags("incoming")
    assert rig.states(a_tag) == ["trying", "ringing", "connected", "terminated"]
    assert rig.states(b_tag) == ["trying", "ringing", "connected", "terminated"]
    assert rig.published[-1].reason == "callee hung up"
    assert not rig.b2b.calls


async def test_reinvite_passes_through_and_hold_states_follow(phones, make_rig) -> None:
    a, b, _ = phones
    rig = await make_rig(lambda: (target(b),))
    a.call("sip:5551234@127.0.0.1", rig.peer)
    await a.next("r200")
    await b.next("ack")
    assert a.dialog is not None
    a.send_in_dialog(a.dialog.create_reinvite(sdp(a.media_port, "sendonly", 2)), rig.peer)
    hold_offer: Request = await b.next("invite")
    assert parse_sdp(hold_offer.body).media_direction(0).value == "sendonly"
    answer: Response = await a.next("invite200")
    assert parse_sdp(answer.body).media_direction(0).value == "recvonly"
    await b.next("ack")
    (a_tag,), (b_tag,) = rig.tags("outgoing"), rig.tags("incoming")
    await wait_for(lambda: rig.states(a_tag)[-1] == "holding")
    assert rig.states(b_tag)[-1] == "held"
    a.send_in_dialog(a.dialog.create_reinvite(sdp(a.media_port, "sendrecv", 3)), rig.peer)
    await a.next("invite200")
    await wait_for(lambda: rig.states(a_tag)[-1] == "connected")
    assert rig.states(b_tag)[-3:] == ["connected", "held", "connected"]
    a.send_in_dialog(a.dialog.create_bye(), rig.peer)
    await a.next("bye200")
    await b.next("bye")
    await wait_for(lambda: len(rig.cdrs) == 3)


async def test_late_offer_answer_travels_in_the_acks(phones, make_rig) -> None:
    a, b, _ = phones
    rig = await make_rig(lambda: (target(b),))
    a.call("sip:5551234@127.0.0.1", rig.peer, offer=False)
    invite_b: Request = await b.next("invite")
    assert invite_b.body == b""
    ok: Response = await a.next("r200")
    assert parse_sdp(ok.body).media[0].port != b.media_port  # B's offer, anchored
    ack: Request = await b.next("ack")
    answer = parse_sdp(ack.body)  # A's answer, forwarded in our ACK to B
    assert answer.media[0].port not in (0, a.media_port)


async def test_parallel_fork_first_answer_wins_other_is_cancelled(phones, make_rig) -> None:
    a, b, c = phones
    c.answer_with = None  # rings until cancelled
    b.answer_with = None
    rig = await make_rig(lambda: (target(b), target(c)))
    a.call("sip:1002@127.0.0.1", rig.peer)
    await b.next("invite")
    await c.next("invite")
    await a.next("r180")
    b.answer(200)
    await a.next("r200")
    await c.next("cancelled")
    incoming = rig.tags("incoming")
    assert len(incoming) == 2
    winner, loser = incoming if rig.states(incoming[0])[-1] == "connected" else incoming[::-1]
    assert rig.states(winner)[-1] == "connected"
    assert rig.states(loser)[-1] == "terminated"
    assert [i.reason for i in rig.published if i.call.tag == loser][-1] == "answered elsewhere"


async def test_cancel_from_caller_and_busy_callee(phones, make_rig) -> None:
    a, b, _ = phones
    b.answer_with = None
    rig = await make_rig(lambda: (target(b),))
    a.call("sip:5551234@127.0.0.1", rig.peer)
    await b.next("invite")
    await a.next("r180")
    a.ua.cancel(a.tx)
    await b.next("cancelled")
    await a.next("r487")
    await wait_for(lambda: len(rig.cdrs) == 3)
    assert {(c.disconnect_reason, c.sip_code) for c in rig.cdrs} == {("cancelled", 487)}

    b.answer_with = 486
    b.dialog = None
    a.dialog = None
    a.call("sip:5551234@127.0.0.1", rig.peer)
    await a.next("r486")
    await wait_for(lambda: len(rig.cdrs) == 6)
    assert {(c.disconnect_reason, c.sip_code) for c in rig.cdrs[3:]} == {("Busy Here", 486)}


async def test_rtp_flows_through_the_anchor(phones, make_rig) -> None:
    a, b, _ = phones
    loop = asyncio.get_running_loop()
    got: asyncio.Queue[tuple[bytes, tuple]] = asyncio.Queue()

    class Sink(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple) -> None:
            got.put_nowait((data, addr))

    rtp_b, _ = await loop.create_datagram_endpoint(Sink, local_addr=(HOST, 0))
    rtp_a, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=(HOST, 0))
    b.media_port = rtp_b.get_extra_info("sockname")[1]
    a.media_port = rtp_a.get_extra_info("sockname")[1]
    try:
        rig = await make_rig(lambda: (target(b),))
        a.call("sip:5551234@127.0.0.1", rig.peer)
        ok: Response = await a.next("r200")
        anchor_port = parse_sdp(ok.body).media[0].port
        packet = bytes([0x80, 0]) + bytes(10) + b"\xff" * 160
        rtp_a.sendto(packet, (HOST, anchor_port))
        data, _ = await asyncio.wait_for(got.get(), TIMEOUT)
        assert data == packet
    finally:
        rtp_a.close()
        rtp_b.close()


async def test_shutdown_byes_both_legs_and_refuses_new_calls(phones, make_rig) -> None:
    a, b, c = phones
    rig = await make_rig(lambda: (target(b),))
    a.call("sip:5551234@127.0.0.1", rig.peer)
    await a.next("r200")
    await b.next("ack")
    await rig.b2b.shutdown()
    await a.next("bye")
    await b.next("bye")
    assert {(x.disconnect_reason, x.sip_code) for x in rig.cdrs} == {("server shutdown", 503)}
    c.call("sip:5551234@127.0.0.1", rig.peer)
    refused: Response = await c.next("r503")
    assert refused.headers.get("retry-after") == "5"


async def test_rtp_timeout_ends_a_silent_call(phones, make_rig) -> None:
    a, b, _ = phones
    rig = await make_rig(lambda: (target(b),))
    rig.b2b.settings.rtp_timeout = 0.2
    rig.b2b.start()  # re-arm the check with the short timeout
    a.call("sip:5551234@127.0.0.1", rig.peer)
    await a.next("r200")
    await a.next("bye")
    await b.next("bye")
    await wait_for(lambda: len(rig.cdrs) == 3)
    assert {x.disconnect_reason for x in rig.cdrs} == {"RTP timeout"}
    assert rig.b2b.stats.rtp_timeouts == 1


async def test_ring_timeout_cancels_b_and_answers_a_480(phones, make_rig) -> None:
    a, b, _ = phones
    b.answer_with = None
    rig = await make_rig(lambda: (target(b),))
    rig.b2b.settings.ring_timeout = 0.2
    a.call("sip:5551234@127.0.0.1", rig.peer)
    await a.next("r180")
    await b.next("cancelled")
    await a.next("r480")
    await wait_for(lambda: len(rig.cdrs) == 3)
    codes = {x.leg_tag: (x.disconnect_reason, x.sip_code) for x in rig.cdrs}
    (b_tag,) = rig.tags("incoming")
    assert codes.pop(b_tag) == ("no answer", 487)  # leg B itself was cancelled
    assert set(codes.values()) == {("no answer", 480)}  # the call and leg A: what the caller got


async def test_2xx_never_acked_ends_the_call(phones, make_rig) -> None:
    a, b, _ = phones
    a.send_ack = False
    rig = await make_rig(lambda: (target(b),), anchor=False, timers=TimerConfig(0.01, 0.04, 0.05))
    a.call("sip:5551234@127.0.0.1", rig.peer)
    await a.next("r200")
    await b.next("ack")
    await b.next("bye")  # 64*T1 = 0.64 s without A's ACK
    await wait_for(lambda: len(rig.cdrs) == 3)
    assert {(x.disconnect_reason, x.sip_code) for x in rig.cdrs} == {("no ACK", 408)}


async def test_authenticated_account_calling_an_account_carries_routing_keys(phones, tmp_path) -> None:
    """The caller is the digest-authenticated account; the callee the routed account: both
    parties carry the keys subscriptions and scopes use."""
    from callcontrol.directory import Directory

    a, b, _ = phones
    directory = await Directory.open(tmp_path)
    ua = UserAgent()
    await ua.listen("UDP", HOST, 0)
    published: list[CallInfo] = []
    callee = directory.account_by_id("1002")

    class AsAccount:
        def check(self, incoming: IncomingRequest, *, proxy: bool) -> Any:
            assert proxy  # INVITEs are proxy-challenged (407)
            return directory.account_by_id("1001")

    b2b = B2bua(ua, directory=directory, registry=CallRegistry(published.append),
                router=lambda number: Route(RouteKind.ACCOUNT, number or "", (target(b),), account=callee),
                authorizer=AsAccount(), settings=B2buaSettings(media_anchor=False))
    ua.on_request = b2b.handle_invite
    try:
        a.call("sip:1002@127.0.0.1", Peer("UDP", HOST, ua.local_address()[1]))
        await a.next("r200")
        first = published[0]
        assert (first.caller.id, first.caller.i_account, first.caller.i_customer, first.caller.i_main_office) == (
            "1001", 1, 1, 1)
        assert (first.callee.id, first.callee.account_id, first.callee.i_account) == ("1002", "1002", 2)
        assert set(first.routing_keys()) >= {("i_account", 1), ("i_account", 2), ("i_customer", 1)}
        await b2b.shutdown()
    finally:
        ua.close()
        await directory.close()

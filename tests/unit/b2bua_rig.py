"""In-process phones (UserAgents of our own stack) and a B2BUA between them, for the B2BUA and
call-action unit tests."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from callcontrol.actions.engine import B2buaEngine
from callcontrol.b2b.b2bua import TRUSTED, B2bua, B2buaSettings
from callcontrol.b2b.routing import Route, RouteKind, Target
from callcontrol.model.callinfo import CallInfo
from callcontrol.model.calls import CallRegistry
from callcontrol.store.sqlite import Cdr
from ivr.ports import PortPairAllocator
from sip.dialog import Dialog, new_call_id, new_tag
from sip.message import Request, Response, make_request
from sip.peer import Peer
from sip.sdp import parse_sdp
from sip.transaction import TimerConfig
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
        self.refuse_hold: int | None = None  # answer a hold re-INVITE with this error instead
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
            if offer.is_hold and self.refuse_hold is not None:
                self.dialog.response_sent(req, incoming.respond(self.refuse_hold))
                return
            direction = "recvonly" if offer.is_hold else "sendrecv"
            resp = incoming.respond(200, headers=[("Contact", self.contact()), ("Content-Type", "application/sdp")],
                                    body=sdp(self.media_port, direction, 2))
            self.dialog.response_sent(req, resp)
        else:
            incoming.respond(200)

    # -- UAC --------------------------------------------------------------------------------------
    def call(self, target: str, peer: Peer, *, offer: bool = True,
             extra: tuple[tuple[str, str], ...] = ()) -> Request:
        call_id = new_call_id(HOST)
        headers = [("From", f"<sip:{self.name}@{HOST}>;tag={new_tag()}"), ("To", f"<{target}>"),
                   ("Call-ID", call_id), ("CSeq", "1 INVITE"), ("Contact", self.contact()),
                   ("Max-Forwards", "70"), *extra]
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
                    timers: TimerConfig | None = None,
                    router: Callable[[str | None], Route] | None = None) -> Rig:
    ua = UserAgent(timers=timers)
    await ua.listen("UDP", HOST, 0)
    published: list[CallInfo] = []
    cdrs: list[Cdr] = []
    registry = CallRegistry(published.append)

    def trunk(number: str | None) -> Route:
        return Route(RouteKind.TRUNK, number or "", targets())

    b2b = B2bua(ua, directory=None, registry=registry, router=router if router is not None else trunk,
                authorizer=Trusted(),
                settings=B2buaSettings(media_anchor=anchor, rtp_timeout=60),
                allocator=PortPairAllocator(45000, 45999) if anchor else None, cdr_sink=cdrs.append)
    B2buaEngine(b2b)  # wires a phone's REFER to the transfer action, as the server does
    ua.on_request = b2b.handle_invite
    b2b.start()
    return Rig(b2b, ua, published, cdrs)


@pytest.fixture(name="make_rig")
async def make_rig_fixture():
    """A factory of B2BUAs; each is shut down (BYE/CANCEL what is left) and closed after the test."""
    rigs: list[Rig] = []

    async def factory(targets: Callable[[], tuple[Target, ...]], *, anchor: bool = True,
                      timers: TimerConfig | None = None,
                      router: Callable[[str | None], Route] | None = None) -> Rig:
        rig = await _make_rig(targets, anchor=anchor, timers=timers, router=router)
        rigs.append(rig)
        return rig

    yield factory
    for rig in rigs:
        rig.b2b.settings.shutdown_grace = 0.2
        await rig.b2b.shutdown()
        rig.ua.close()


@pytest.fixture(name="phones")
async def phones_fixture():
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



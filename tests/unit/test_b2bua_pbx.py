"""The B2BUA ringing PBX routes in-process (docs/pbx.md): ring groups, hunt lists, forwarding,
failover, system targets; phones are UserAgents of our own stack on loopback, the directory is
the real one (demo accounts 1001-1003, PBX numbers added through it), routing is the server's."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from callcontrol.b2b.b2bua import B2bua, B2buaSettings
from callcontrol.b2b.routing import Route, Via, route
from callcontrol.directory.service import Directory
from callcontrol.model.callinfo import CallInfo
from callcontrol.model.calls import CallRegistry
from callcontrol.pbx.model import Failover, HuntList, Member, RingGroup
from callcontrol.store.sqlite import Binding, Cdr
from ivr.au import write_au
from ivr.ports import PortPairAllocator
from ivr.prompts import PromptFetcher
from sip.message import Response
from sip.peer import Peer
from sip.sdp import parse_sdp
from sip.ua import UserAgent
from tests.unit.b2bua_rig import HOST, TIMEOUT, Phone, Trusted, wait_for

SHORT = 0.3  # seconds: a member's ring time in these tests


@dataclass
class Pbx:
    b2b: B2bua
    ua: UserAgent
    directory: Directory
    phones: dict[str, Phone]
    published: list[CallInfo] = field(default_factory=list)
    cdrs: list[Cdr] = field(default_factory=list)
    dialplan_patch: dict[str, Any] = field(default_factory=dict)
    prompt_base: str = ""

    @property
    def peer(self) -> Peer:
        return Peer("UDP", HOST, self.ua.local_address()[1])

    def call(self, number: str) -> Phone:
        caller = self.phones["caller"]
        caller.call(f"sip:{number}@{HOST}", self.peer)
        return caller

    def legs(self, state: str | None = None) -> list[CallInfo]:
        return [i for i in self.published if state is None or i.state == state]

    def incoming(self) -> dict[str, list[CallInfo]]:
        """Leg B snapshots by the callee they call."""
        out: dict[str, list[CallInfo]] = {}
        for info in self.published:
            if info.type == "incoming":
                out.setdefault(info.callee.id, []).append(info)
        return out

    def caller_leg(self) -> list[CallInfo]:
        return [i for i in self.published if i.type == "outgoing"]


@pytest.fixture
async def pbx(data_dir: Path) -> AsyncIterator[Pbx]:
    directory = await Directory.open(data_dir)
    phones = {name: await Phone.open(name) for name in ("caller", "1001", "1002", "1003")}
    bindings = {name: [Binding(aor=name, contact=f"sip:{name}@{HOST}:{p.port}", expires_at=9e9, call_id="r",
                               cseq=1, source=f"{HOST}:{p.port}")] for name, p in phones.items() if name != "caller"}
    ua = UserAgent()
    await ua.listen("UDP", HOST, 0)
    holder: dict[str, Pbx] = {}

    def router(number: str | None, via: Via | None = None) -> Route:
        dialplan = directory.dialplan
        patch = holder["pbx"].dialplan_patch
        if patch:
            dialplan = type(dialplan)({**dialplan.numbers, **patch}, dialplan.forwardings, dialplan.zones)
        return route(number, directory=directory, contacts=lambda aor: bindings.get(aor, []), trunk_uri=None,
                     dialplan=dialplan, via=via)

    published: list[CallInfo] = []
    cdrs: list[Cdr] = []
    b2b = B2bua(ua, directory=directory, registry=CallRegistry(published.append), router=router,
                authorizer=Trusted(), settings=B2buaSettings(media_anchor=True, rtp_timeout=60),
                allocator=PortPairAllocator(46000, 46999), cdr_sink=cdrs.append)
    ua.on_request = b2b.handle_invite
    b2b.start()
    # Menu prompts: 0.2 s and 0.1 s of u-law from a local HTTP server.
    app = web.Application()
    prompts = {"/menu.au": write_au(b"\x7f" * 1600), "/invalid.au": write_au(b"\x7f" * 800)}

    async def prompt(request: web.Request) -> web.Response:
        body = prompts.get(f"/{request.match_info['name']}")
        return web.Response(body=body) if body is not None else web.Response(status=404)

    app.router.add_get("/{name}", prompt)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    b2b.fetcher = PromptFetcher()
    holder["pbx"] = rig = Pbx(b2b, ua, directory, phones, published, cdrs)
    rig.prompt_base = f"http://{HOST}:{runner.addresses[0][1]}"
    try:
        yield rig
    finally:
        b2b.settings.shutdown_grace = 0.2
        await b2b.shutdown()
        ua.close()
        for p in phones.values():
            p.close()
        await b2b.fetcher.close()
        await runner.cleanup()
        await directory.close()


def short_group(kind: type, number: str, members: str, **kw: Any) -> Any:
    """A ring group or hunt list with sub-second ring times (the CLI's floor is 1 s)."""
    return kind(number, 1, number, tuple(Member(m) for m in members.split(",")), ring_time=SHORT, **kw)


def reasons(infos: list[CallInfo]) -> list[str | None]:
    return [i.reason for i in infos if i.state == "terminated"]


# --------------------------------------------------------------------------- ring groups


async def test_ring_group_rings_every_member_first_answer_wins_the_other_is_cancelled(pbx: Pbx) -> None:
    await pbx.directory.add_pbx_number("ringgroup", 1, "600", "Sales", {"members": "1001,1002"})
    p1, p2 = pbx.phones["1001"], pbx.phones["1002"]
    p1.answer_with = p2.answer_with = None
    caller = pbx.call("600")
    await p1.next("invite")
    await p2.next("invite")
    await caller.next("r180")
    p2.answer(200)
    await caller.next("r200")
    await p1.next("cancelled")
    legs = pbx.incoming()
    assert set(legs) == {"1001", "1002"}
    assert {i.callee.huntgroup_id for infos in legs.values() for i in infos} == {"600"}
    assert legs["1002"][-1].state == "connected" and reasons(legs["1001"]) == ["answered elsewhere"]
    assert {(i.callee.id, i.callee.huntgroup_id, i.callee.i_customer) for i in pbx.caller_leg()} == {("600", "600", 1)}


async def test_ring_group_members_ring_their_own_time_then_the_group_answers_480(pbx: Pbx) -> None:
    pbx.dialplan_patch["600"] = short_group(RingGroup, "600", "1001,1002")
    for name in ("1001", "1002"):
        pbx.phones[name].answer_with = None
    caller = pbx.call("600")
    await pbx.phones["1001"].next("cancelled")
    await pbx.phones["1002"].next("cancelled")
    final: Response = await caller.next("r480")
    assert final.reason == "no answer"
    assert {tuple(reasons(infos)) for infos in pbx.incoming().values()} == {("no answer",)}


async def test_group_failover_on_busy_and_on_no_answer(pbx: Pbx) -> None:
    pbx.dialplan_patch["600"] = short_group(RingGroup, "600", "1001,1002",
                                            failover=Failover(busy="1003", noanswer="sys:busy"))
    for name in ("1001", "1002"):
        pbx.phones[name].answer_with = 486
    caller = pbx.call("600")
    await pbx.phones["1003"].next("invite")
    await caller.next("r200")
    b3 = pbx.incoming()["1003"]
    assert b3[0].callee.huntgroup_id is None and b3[0].callee.forwarder_list == ()  # a group is no forwarder
    assert pbx.caller_leg()[-1].callee.id == "1003"  # leg A now calls 1003

    pbx.phones["caller"].dialog = None
    for name in ("1001", "1002"):
        pbx.phones[name].answer_with = None
    pbx.published.clear()
    caller = pbx.call("600")
    final: Response = await caller.next("r486")  # both rang out: the noanswer failover is sys:busy
    assert final.status == 486


# --------------------------------------------------------------------------- hunt lists


async def test_hunt_rings_members_one_after_the_other(pbx: Pbx) -> None:
    pbx.dialplan_patch["610"] = short_group(HuntList, "610", "1001,1002,1003")
    pbx.phones["1001"].answer_with = None
    pbx.phones["1002"].answer_with = 486
    caller = pbx.call("610")
    await pbx.phones["1001"].next("invite")
    await caller.next("r180")
    await pbx.phones["1001"].next("cancelled")  # its ring time ran out
    await pbx.phones["1002"].next("invite")  # busy: next member at once
    await pbx.phones["1003"].next("invite")
    await caller.next("r200")
    legs = pbx.incoming()
    assert list(legs) == ["1001", "1002", "1003"]
    assert reasons(legs["1001"]) == ["no answer"] and reasons(legs["1002"]) == ["Busy Here"]
    assert legs["1003"][-1].state == "connected"
    assert {i.callee.huntgroup_id for infos in legs.values() for i in infos} == {"610"}


async def test_hunt_where_nobody_answers_fails_over_to_a_ring_group(pbx: Pbx) -> None:
    pbx.dialplan_patch["610"] = short_group(HuntList, "610", "1001",
                                            failover=Failover(noanswer="600"))
    await pbx.directory.add_pbx_number("ringgroup", 1, "600", "Sales", {"members": "1002,1003"})
    pbx.phones["1001"].answer_with = None
    pbx.phones["1002"].answer_with = None
    caller = pbx.call("610")
    await pbx.phones["1001"].next("cancelled")
    await pbx.phones["1002"].next("invite")
    await pbx.phones["1003"].next("invite")
    await caller.next("r200")
    await pbx.phones["1002"].next("cancelled")
    legs = pbx.incoming()
    assert legs["1001"][0].callee.huntgroup_id == "610" and legs["1003"][0].callee.huntgroup_id == "600"
    assert pbx.caller_leg()[-1].callee.huntgroup_id == "600"


# --------------------------------------------------------------------------- forwarding


async def test_forwarding_always_carries_the_forwarder_on_both_legs(pbx: Pbx) -> None:
    await pbx.directory.add_forwarding("1003", "always", "1001")
    caller = pbx.call("1003")
    await pbx.phones["1001"].next("invite")
    await caller.next("r200")
    b = pbx.incoming()["1001"]
    assert {i.callee.forwarder_list for i in b} == {("1003",)}
    assert b[0].callee.to_wire()["forwarder_list"] == [{"id": "1003"}]
    assert {(i.callee.id, i.callee.forwarder_list) for i in pbx.caller_leg()} == {("1001", ("1003",))}
    assert "1003" not in pbx.incoming()


async def test_busy_forwarding(pbx: Pbx) -> None:
    await pbx.directory.add_forwarding("1003", "busy", "1001")
    pbx.phones["1003"].answer_with = 486
    caller = pbx.call("1003")
    await pbx.phones["1001"].next("invite")
    await caller.next("r200")
    legs = pbx.incoming()
    assert reasons(legs["1003"]) == ["Busy Here"] and legs["1003"][0].callee.forwarder_list == ()
    assert {i.callee.forwarder_list for i in legs["1001"]} == {("1003",)}
    assert pbx.caller_leg()[-1].callee.forwarder_list == ("1003",) and pbx.caller_leg()[-1].state == "connected"


async def test_noanswer_forwarding_after_its_time(pbx: Pbx) -> None:
    await pbx.directory.add_forwarding("1003", "noanswer", "1002", after=1)
    pbx.phones["1003"].answer_with = None
    caller = pbx.call("1003")
    await pbx.phones["1003"].next("invite")
    await caller.next("r180")
    await asyncio.wait_for(pbx.phones["1003"].next("cancelled"), TIMEOUT + 1)
    await pbx.phones["1002"].next("invite")
    await caller.next("r200")
    assert reasons(pbx.incoming()["1003"]) == ["no answer"]
    assert {i.callee.forwarder_list for i in pbx.incoming()["1002"]} == {("1003",)}


async def test_unreachable_forwarding_on_a_timeout(pbx: Pbx) -> None:
    await pbx.directory.add_forwarding("1003", "unreachable", "1001")
    pbx.phones["1003"].answer_with = 503
    caller = pbx.call("1003")
    await pbx.phones["1001"].next("invite")
    await caller.next("r200")
    assert {i.callee.forwarder_list for i in pbx.incoming()["1001"]} == {("1003",)}


async def test_a_forwarding_loop_at_run_time_ends_482_naming_the_path(pbx: Pbx) -> None:
    await pbx.directory.add_forwarding("1003", "busy", "1001")
    await pbx.directory.add_forwarding("1001", "busy", "1003")
    pbx.phones["1003"].answer_with = 486
    pbx.phones["1001"].answer_with = 486
    caller = pbx.call("1003")
    final: Response = await caller.next("r482")
    assert final.reason == "routing loop via 1003 -> 1001 -> 1003"
    await wait_for(lambda: any(i.type == "outgoing" and i.state == "terminated" for i in pbx.published))
    assert reasons(pbx.caller_leg()) == ["routing loop via 1003 -> 1001 -> 1003"]


# --------------------------------------------------------------------------- system targets, queues


async def test_system_targets_busy_and_hangup(pbx: Pbx) -> None:
    await pbx.directory.add_pbx_number("timerule", 1, "650", "Always", {"period": "hr {0-23}", "match": "sys:busy",
                                                                        "nomatch": "sys:busy"})
    caller = pbx.call("650")
    assert (await caller.next("r486")).status == 486
    caller.dialog = None
    await pbx.directory.add_forwarding("1002", "always", "sys:hangup")
    assert (await pbx.call("1002").next("r603")).status == 603


async def test_echo_sends_the_callers_rtp_back(pbx: Pbx) -> None:
    await pbx.directory.add_pbx_number("timerule", 1, "650", "Echo", {"period": "hr {0-23}", "match": "sys:echo",
                                                                      "nomatch": "sys:echo"})
    loop = asyncio.get_running_loop()
    got: asyncio.Queue[bytes] = asyncio.Queue()

    class Sink(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple) -> None:
            got.put_nowait(data)

    rtp, _ = await loop.create_datagram_endpoint(Sink, local_addr=(HOST, 0))
    caller = pbx.phones["caller"]
    caller.media_port = rtp.get_extra_info("sockname")[1]
    try:
        ok: Response = await pbx.call("650").next("r200")
        port = parse_sdp(ok.body).media[0].port
        packet = bytes([0x80, 0, 0, 1]) + bytes(4) + b"\x11\x22\x33\x44" + b"\x7f" * 160
        rtp.sendto(packet, (HOST, port))
        echoed = await asyncio.wait_for(got.get(), TIMEOUT)
        assert echoed[:8] == packet[:8] and echoed[12:] == packet[12:]
        assert echoed[8:12] != packet[8:12]  # our own SSRC
        assert pbx.caller_leg()[-1].state == "connected"
    finally:
        rtp.close()


async def test_a_queue_without_a_queue_engine_is_480(pbx: Pbx) -> None:
    await pbx.directory.add_pbx_number("queue", 1, "800", "Support", {"agents": "1001,1002"})
    final: Response = await pbx.call("800").next("r480")
    assert final.status == 480


async def test_the_queue_seam_gets_the_unanswered_call_with_its_route(pbx: Pbx) -> None:
    await pbx.directory.add_pbx_number("queue", 1, "800", "Support", {"agents": "1001,1002"})
    taken: list[tuple[bool, Route]] = []

    class Queues:
        def take(self, call: Any, route: Route) -> None:
            ready = call.media is not None and call.a is not None and not call.a.incoming.final_sent
            taken.append((ready, route))
            call.reject(486, "Busy Here", reason="queue full")

    pbx.b2b.queues = Queues()
    await pbx.call("800").next("r486")
    ready, queue_route = taken[0]
    assert ready and queue_route.pbx.number == "800" and queue_route.path == ("800",)


# --------------------------------------------------------------------------- IVR menus


def info_dtmf(caller: Phone, digit: str, peer: Peer) -> None:
    """A DTMF digit as SIP INFO in the caller's dialog (application/dtmf-relay)."""
    assert caller.dialog is not None
    body = f"Signal={digit}\r\nDuration=160\r\n".encode()
    caller.send_in_dialog(caller.dialog.create_request("INFO", body=body, content_type="application/dtmf-relay"),
                          peer)


def completions(pbx: Pbx) -> int:
    return sum(i.event == "play_prompt_completed" for i in pbx.published)


async def test_menu_routes_on_a_dtmf_digit(pbx: Pbx) -> None:
    await pbx.directory.add_pbx_number("ringgroup", 1, "600", "Sales", {"members": "1002,1003"})
    await pbx.directory.add_pbx_number("menu", 1, "660", "Main", {
        "prompt": f"{pbx.prompt_base}/menu", "choices": "1=1001;2=600", "timeout": 5})
    caller = pbx.call("660")
    await caller.next("r200")  # the server answers the menu itself
    await wait_for(lambda: any(i.event == "play_prompt_completed" for i in pbx.published))
    info_dtmf(caller, "2", pbx.peer)
    await pbx.phones["1002"].next("invite")
    await pbx.phones["1003"].next("invite")
    await wait_for(lambda: any(i.type == "incoming" and i.state == "connected" for i in pbx.published))
    assert [i.digit for i in pbx.published if i.event == "dtmf_digit_detected"] == ["2"]
    assert pbx.caller_leg()[0].callee.id == "660"
    # Once the caller's media is with the member that answered, its leg names that member.
    answered = next(i for i in pbx.published if i.type == "incoming" and i.state == "connected")
    await wait_for(lambda: pbx.caller_leg()[-1].callee.id == answered.callee.id)
    assert str(pbx.caller_leg()[-1].state) == "connected"


async def test_menu_invalid_digit_then_timeout_takes_the_default(pbx: Pbx) -> None:
    await pbx.directory.add_pbx_number("menu", 1, "660", "Main", {
        "prompt": f"{pbx.prompt_base}/menu", "choices": "1=1001", "timeout": 1, "default": "1003",
        "invalid_prompt": f"{pbx.prompt_base}/invalid"})
    caller = pbx.call("660")
    await caller.next("r200")
    await wait_for(lambda: completions(pbx) >= 1)
    info_dtmf(caller, "7", pbx.peer)  # no such choice: the invalid prompt, then the menu again
    await wait_for(lambda: completions(pbx) >= 3)
    await pbx.phones["1003"].next("invite")  # nothing pressed within 1 s: the default
    await wait_for(lambda: any(i.type == "incoming" and i.state == "connected" for i in pbx.published))
    assert pbx.phones["1001"].events.empty()


async def test_menu_without_a_choice_or_default_ends_and_a_loop_back_is_482(pbx: Pbx) -> None:
    await pbx.directory.add_pbx_number("menu", 1, "661", "Loop", {
        "prompt": f"{pbx.prompt_base}/menu", "choices": "1=662", "timeout": 1})
    await pbx.directory.add_pbx_number("menu", 1, "662", "Back", {
        "prompt": f"{pbx.prompt_base}/menu", "choices": "1=661", "timeout": 1})
    caller = pbx.call("661")
    await caller.next("r200")
    await wait_for(lambda: completions(pbx) >= 1)
    info_dtmf(caller, "1", pbx.peer)  # to menu 662 (played on the same call)
    await wait_for(lambda: completions(pbx) >= 2)
    info_dtmf(caller, "1", pbx.peer)  # back to 661: already on the path
    bye = await caller.next("bye")
    assert bye is not None
    await wait_for(lambda: any(i.type == "outgoing" and i.state == "terminated" for i in pbx.published))
    assert reasons(pbx.caller_leg()) == ["routing loop via 661 -> 662 -> 661"]

"""The B2BUA in-process over loopback UDP: phones are UserAgents of our own stack.

Covers what the SIPp integration tests do not drive: BYE from the callee,
re-INVITE pass-through with hold states, late offer, parallel forking, and RTP
relayed through the anchored endpoints.
"""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from callcontrol.b2b.b2bua import DRAIN_RETRY_AFTER, B2bua, B2buaSettings, Intake
from callcontrol.b2b.routing import Route, RouteKind
from callcontrol.model.callinfo import CallInfo
from callcontrol.model.calls import CallRegistry
from sip.message import Request, Response
from sip.peer import Peer
from sip.sdp import parse_sdp
from sip.transaction import TimerConfig
from sip.ua import IncomingRequest, UserAgent
from tests.unit.b2bua_rig import (  # noqa: F401  (fixtures)
    HOST,
    TIMEOUT,
    Phone,
    make_rig_fixture,
    phones_fixture,
    sdp,
    target,
    wait_for,
)


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


async def test_drain_refuses_new_calls_and_waits_for_the_call_up(phones, make_rig) -> None:
    a, b, c = phones
    rig = await make_rig(lambda: (target(b),))
    await asyncio.wait_for(rig.b2b.wait_no_calls(), TIMEOUT)  # no call yet: at once
    a.call("sip:5551234@127.0.0.1", rig.peer)
    await a.next("r200")
    await b.next("ack")
    assert rig.b2b.drain() and not rig.b2b.drain()  # a second drain changes nothing
    assert rig.b2b.intake is Intake.DRAINING and not rig.b2b.accepting
    drained = asyncio.ensure_future(rig.b2b.wait_no_calls())
    c.call("sip:5551234@127.0.0.1", rig.peer)
    refused: Response = await c.next("r503")
    assert refused.reason == "Draining" and refused.headers.get("retry-after") == str(DRAIN_RETRY_AFTER)
    assert not drained.done() and len(rig.b2b.calls) == 1
    assert b.dialog is not None
    b.send_in_dialog(b.dialog.create_bye(), Peer("UDP", HOST, rig.ua.local_address()[1]))
    await a.next("bye")
    await asyncio.wait_for(drained, TIMEOUT)
    assert not rig.b2b.calls
    await rig.b2b.shutdown()
    assert rig.b2b.intake is Intake.CLOSED and not rig.b2b.drain()  # a shutdown is final


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
    from callcontrol.directory.service import Directory

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

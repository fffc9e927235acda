"""callcontrol.b2b.cdrs: every leg's final SIP status and reason, who hung up, the route.

Through the in-process B2BUA rig (phones are UserAgents of our own stack), one test per way a
call ends; each checks the call's row and both legs' rows field by field.
"""
from __future__ import annotations

from callcontrol.b2b.routing import Route, RouteKind
from callcontrol.store.sqlite import Cdr
from sip.peer import Peer
from tests.unit.b2bua_rig import (  # noqa: F401  (fixtures)
    HOST,
    Phone,
    make_rig_fixture,
    phones_fixture,
    target,
    wait_for,
)


def _rows(cdrs: list[Cdr]) -> tuple[Cdr, Cdr, Cdr]:
    """(call row, leg A row, leg B row) of a single call."""
    assert len(cdrs) == 3, cdrs
    whole, a, b = cdrs
    assert whole.leg_tag is None and (a.leg_type, b.leg_type) == ("outgoing", "incoming")
    return whole, a, b


def _status(cdr: Cdr) -> tuple[int | None, str | None, str | None]:
    return cdr.sip_code, cdr.sip_reason, cdr.hangup_side


async def _answered_call(a: Phone, b: Phone, make_rig):  # type: ignore[no-untyped-def]
    rig = await make_rig(lambda: (target(b),), anchor=False)
    a.call("sip:5551234@127.0.0.1", rig.peer)
    await a.next("r200")
    await b.next("ack")
    return rig


async def test_caller_bye_records_200_ok_caller_on_every_row(phones, make_rig) -> None:
    """The bug this fixes: a leg ended by BYE had sip_code NULL (a BYE carries no status)."""
    a, b, _ = phones
    rig = await _answered_call(a, b, make_rig)
    assert a.dialog is not None
    a.send_in_dialog(a.dialog.create_bye(), rig.peer)
    await a.next("bye200")
    await b.next("bye")
    await wait_for(lambda: len(rig.cdrs) == 3)
    whole, leg_a, leg_b = _rows(rig.cdrs)
    for row in (whole, leg_a, leg_b):
        assert _status(row) == (200, "OK", "caller")
        assert row.disconnect_reason == "caller hung up"
        assert row.connect_time is not None
    assert whole.route == leg_a.route == "trunk"
    assert leg_b.route == target(b).uri  # the Request-URI the server sent
    assert leg_a.sip_call_id == leg_a.call_id == whole.call_id
    assert leg_b.sip_call_id != whole.call_id  # leg B has its own dialog
    assert (leg_a.leg_id, leg_b.leg_id) == (whole.call_id, whole.call_id)


async def test_callee_bye_is_the_callees_hangup(phones, make_rig) -> None:
    a, b, _ = phones
    rig = await _answered_call(a, b, make_rig)
    assert b.dialog is not None
    b.send_in_dialog(b.dialog.create_bye(), Peer("UDP", HOST, rig.ua.local_address()[1]))
    await b.next("bye200")
    await a.next("bye")
    await wait_for(lambda: len(rig.cdrs) == 3)
    for row in _rows(rig.cdrs):
        assert _status(row) == (200, "OK", "callee")
        assert row.disconnect_reason == "callee hung up"


async def test_busy_callee_records_its_refusal(phones, make_rig) -> None:
    a, b, _ = phones
    b.answer_with = 486
    rig = await make_rig(lambda: (target(b),), anchor=False)
    a.call("sip:5551234@127.0.0.1", rig.peer)
    await a.next("r486")
    await wait_for(lambda: len(rig.cdrs) == 3)
    for row in _rows(rig.cdrs):
        assert _status(row) == (486, "Busy Here", "callee")
        assert (row.connect_time, row.duration) == (None, 0.0)


async def test_cancel_from_caller_records_487_caller(phones, make_rig) -> None:
    a, b, _ = phones
    b.answer_with = None
    rig = await make_rig(lambda: (target(b),), anchor=False)
    a.call("sip:5551234@127.0.0.1", rig.peer)
    await b.next("invite")
    await a.next("r180")
    a.ua.cancel(a.tx)
    await b.next("cancelled")
    await a.next("r487")
    await wait_for(lambda: len(rig.cdrs) == 3)
    for row in _rows(rig.cdrs):
        assert _status(row) == (487, "Request Terminated", "caller")


async def test_ring_timeout_is_the_servers(phones, make_rig) -> None:
    a, b, _ = phones
    b.answer_with = None
    rig = await make_rig(lambda: (target(b),), anchor=False)
    rig.b2b.settings.ring_timeout = 0.2
    a.call("sip:5551234@127.0.0.1", rig.peer)
    await b.next("cancelled")
    await a.next("r480")
    await wait_for(lambda: len(rig.cdrs) == 3)
    whole, leg_a, leg_b = _rows(rig.cdrs)
    assert _status(whole) == _status(leg_a) == (480, "Temporarily Unavailable", "server")
    assert _status(leg_b) == (487, "Request Terminated", "server")


async def test_losing_fork_is_cancelled_by_the_server(phones, make_rig) -> None:
    a, b, c = phones
    b.answer_with = c.answer_with = None
    rig = await make_rig(lambda: (target(b), target(c)), anchor=False)
    a.call("sip:1002@127.0.0.1", rig.peer)
    await b.next("invite")
    await c.next("invite")
    await a.next("r180")
    b.answer(200)
    await a.next("r200")
    await c.next("cancelled")
    assert a.dialog is not None
    a.send_in_dialog(a.dialog.create_bye(), rig.peer)
    await a.next("bye200")
    await wait_for(lambda: len(rig.cdrs) == 4)
    by_reason = {row.disconnect_reason: row for row in rig.cdrs if row.leg_type == "incoming"}
    assert _status(by_reason["answered elsewhere"]) == (487, "Request Terminated", "server")
    assert _status(by_reason["caller hung up"]) == (200, "OK", "caller")


async def test_shutdown_of_an_answered_call_records_503_server(phones, make_rig) -> None:
    a, b, _ = phones
    rig = await _answered_call(a, b, make_rig)
    await rig.b2b.shutdown()
    await a.next("bye")
    await b.next("bye")
    await wait_for(lambda: len(rig.cdrs) == 3)
    for row in _rows(rig.cdrs):
        assert _status(row) == (503, "Service Unavailable", "server")


async def test_route_is_the_routers_decision(phones, make_rig) -> None:
    """The route recorded is the router's decision for the dialled number."""
    a, b, _ = phones

    def account(number: str | None) -> Route:
        return Route(RouteKind.ACCOUNT, number or "", (target(b),))

    rig = await make_rig(lambda: (target(b),), anchor=False, router=account)
    a.call("sip:1002@127.0.0.1", rig.peer)
    await a.next("r200")
    await b.next("ack")
    assert a.dialog is not None
    a.send_in_dialog(a.dialog.create_bye(), rig.peer)
    await a.next("bye200")
    await wait_for(lambda: len(rig.cdrs) == 3)
    whole, leg_a, _ = _rows(rig.cdrs)
    assert whole.route == leg_a.route == "account"


async def test_console_ending_a_ringing_leg_records_what_each_invite_got(phones, make_rig) -> None:
    """terminate_call on leg B while it rings: B's INVITE is cancelled (487), the caller, ended
    without a code of its own, got the server's default refusal (480)."""
    from callcontrol.actions import terminate

    a, b, _ = phones
    b.answer_with = None
    rig = await make_rig(lambda: (target(b),), anchor=False)
    a.call("sip:5551234@127.0.0.1", rig.peer)
    await b.next("invite")
    await a.next("r180")
    (leg_b,) = [leg for leg in rig.b2b.registry.live_legs() if leg.type == "incoming"]
    terminate.terminate(leg_b.side)
    await b.next("cancelled")
    await a.next("r480")
    await wait_for(lambda: len(rig.cdrs) == 3)
    whole, leg_a, row_b = _rows(rig.cdrs)
    assert _status(whole) == _status(leg_a) == (480, "Temporarily Unavailable", "server")
    assert _status(row_b) == (487, "Request Terminated", "server")
    assert {row.disconnect_reason for row in rig.cdrs} == {"terminated by API"}

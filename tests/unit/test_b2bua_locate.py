"""Leg B to a host by name: looked up (RFC 3263) before the INVITE goes out, and failed over to
the next hop on 503, timeout or transport error (§4.3). The lookup is a stand-in coroutine
here (sip/resolver.py and the dnsmasq integration test cover real DNS)."""
from __future__ import annotations

import asyncio
import socket

from callcontrol.b2b.routing import target_for_uri
from sip.locate import Destination
from sip.message import Request
from sip.peer import Peer
from sip.transaction import TimerConfig
from tests.unit.b2bua_rig import (  # noqa: F401  (fixtures)
    HOST,
    make_rig_fixture,
    phones_fixture,
    wait_for,
)


def trunk_by_name() -> object:
    target = target_for_uri("sip:trunk.test", user="5551234")
    assert target is not None and target.locate == Destination("trunk.test")
    return target


def lookup_to(hops: list[Peer], asked: list[Destination], gate: asyncio.Event | None = None):
    async def locate(dest: Destination) -> list[Peer]:
        asked.append(dest)
        if gate is not None:
            await gate.wait()
        return list(hops)

    return locate


def same_request_new_branch(first: Request, second: Request) -> None:
    for name in ("call-id", "from", "to", "cseq"):
        assert first.headers.get(name) == second.headers.get(name), name
    assert first.top_via.params["branch"] != second.top_via.params["branch"]


async def test_503_fails_over_to_the_next_hop(phones, make_rig) -> None:
    a, b, c = phones
    c.answer_with = 503
    rig = await make_rig(lambda: (trunk_by_name(),))
    asked: list[Destination] = []
    rig.b2b.ctx.locate = lookup_to([Peer("UDP", HOST, c.port), Peer("UDP", HOST, b.port)], asked)
    a.call("sip:5551234@127.0.0.1", rig.peer)
    first: Request = await c.next("invite")
    assert first.uri == "sip:5551234@trunk.test"  # the Request-URI keeps the name
    second: Request = await b.next("invite")
    same_request_new_branch(first, second)
    assert (await a.next("r200")).status == 200
    assert asked == [Destination("trunk.test")]


async def test_transport_error_fails_over_and_the_contact_follows_the_transport(phones, make_rig) -> None:
    a, b, _ = phones
    rig = await make_rig(lambda: (trunk_by_name(),))
    # The rig's UA has no TCP transport: sending there is a transport error at once.
    rig.b2b.ctx.locate = lookup_to([Peer("TCP", HOST, 9), Peer("UDP", HOST, b.port)], [])
    a.call("sip:5551234@127.0.0.1", rig.peer)
    invite: Request = await b.next("invite")
    assert invite.top_via.transport == "UDP"
    assert ";transport=tcp" not in invite.headers.get("contact")
    assert (await a.next("r200")).status == 200


async def test_timeout_fails_over(phones, make_rig) -> None:
    a, b, _ = phones
    rig = await make_rig(lambda: (trunk_by_name(),), timers=TimerConfig(0.005, 0.04, 0.05))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # receives, never answers
        silent.bind((HOST, 0))
        rig.b2b.ctx.locate = lookup_to([Peer("UDP", HOST, silent.getsockname()[1]), Peer("UDP", HOST, b.port)],
                                       [])
        a.call("sip:5551234@127.0.0.1", rig.peer)
        await b.next("invite")
        assert (await a.next("r200")).status == 200
        silent.settimeout(1)
        assert silent.recv(65535).startswith(b"INVITE sip:5551234@trunk.test SIP/2.0")


async def test_every_hop_failing_gives_the_caller_the_error(phones, make_rig) -> None:
    a, b, c = phones
    b.answer_with = c.answer_with = 503
    rig = await make_rig(lambda: (trunk_by_name(),))
    rig.b2b.ctx.locate = lookup_to([Peer("UDP", HOST, c.port), Peer("UDP", HOST, b.port)], [])
    a.call("sip:5551234@127.0.0.1", rig.peer)
    await c.next("invite")
    await b.next("invite")
    assert (await a.next("r503")).status == 503


async def test_a_name_that_does_not_resolve_is_503(phones, make_rig) -> None:
    a, _, _ = phones
    rig = await make_rig(lambda: (trunk_by_name(),))
    rig.b2b.ctx.locate = lookup_to([], [])
    a.call("sip:5551234@127.0.0.1", rig.peer)
    assert (await a.next("r503")).status == 503
    await wait_for(lambda: not rig.b2b.calls)


async def test_cancelled_while_looking_up_sends_nothing(phones, make_rig) -> None:
    a, b, _ = phones
    gate = asyncio.Event()
    asked: list[Destination] = []
    rig = await make_rig(lambda: (trunk_by_name(),))
    rig.b2b.ctx.locate = lookup_to([Peer("UDP", HOST, b.port)], asked, gate)
    a.call("sip:5551234@127.0.0.1", rig.peer)
    await wait_for(lambda: bool(asked))
    a.ua.cancel(a.tx)
    assert (await a.next("r487")).status == 487
    gate.set()
    await wait_for(lambda: not rig.b2b.calls)  # the call finished once the lookup came back
    assert b.events.empty()  # no INVITE went to the hop found too late

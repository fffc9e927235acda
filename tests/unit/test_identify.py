"""Issue 12 point 1: a request from a trusted source is identified as the registered account it
comes from or names in From (callcontrol.access.identify), over the registrar's address index;
and the B2BUA builds leg A's caller from it."""
from __future__ import annotations

from pathlib import Path

from callcontrol.access.identify import TrustedIdentity
from callcontrol.b2b.routing import Route, RouteKind, Target
from callcontrol.directory.service import Directory
from sip.message import Request, make_request
from sip.peer import Peer
from sip.ua import UserAgent
from tests.unit.b2bua_rig import (  # noqa: F401  (fixtures)
    HOST,
    make_rig_fixture,
    phones_fixture,
    wait_for,
)
from tests.unit.test_registrar import Clock, Phone, client_ua, start_server, stop_server  # noqa: F401


def invite(from_user: str) -> Request:
    return make_request("INVITE", "sip:1001@127.0.0.1", [
        ("Via", "SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKx"), ("From", f"<sip:{from_user}@127.0.0.1>;tag=f"),
        ("To", "<sip:1001@127.0.0.1>"), ("Call-ID", "c@h"), ("CSeq", "1 INVITE")])


async def test_registrar_knows_the_account_at_each_registered_address(data_dir: Path,
                                                                      client_ua: UserAgent) -> None:
    clock = Clock()
    server = await start_server(data_dir, clock, trusted=True)
    registrar = server.registrar
    source = client_ua.local_address()[1]
    try:
        phone = Phone(client_ua, server.address(), user="1002")
        r = await phone.send(contacts=["<sip:1002@127.0.0.1:5072>"], expires=120, credentials=False)
        assert r.status == 200
        assert registrar.account_at("127.0.0.1", source) == "1002"  # where the REGISTER came from
        assert registrar.account_at("127.0.0.1", 5072) == "1002"  # the Contact's address
        assert registrar.account_at("127.0.0.1", 5073) is None
        assert registrar.account_at("192.0.2.1", 5072) is None
        # Another account registering from the same source and Contact address takes them over...
        other = Phone(client_ua, server.address(), user="1003")
        await other.send(contacts=["<sip:1003@127.0.0.1:5072>"], credentials=False)
        assert registrar.account_at("127.0.0.1", 5072) == registrar.account_at("127.0.0.1", source) == "1003"
        # ...until it unregisters: 1002's binding names them still.
        await other.send(contacts=["*"], expires=0, credentials=False)
        assert registrar.account_at("127.0.0.1", 5072) == registrar.account_at("127.0.0.1", source) == "1002"
        clock.now += 121
        assert registrar.account_at("127.0.0.1", source) is None  # expired, before any purge
        clock.now -= 121
        await registrar.flush()
    finally:
        await stop_server(server)
    server = await start_server(data_dir, clock, trusted=True)  # bindings restored from the store
    try:
        assert server.registrar.account_at("127.0.0.1", 5072) == "1002"
    finally:
        await stop_server(server)


async def test_trusted_requests_are_identified_by_address_then_registered_from_user(
        data_dir: Path, client_ua: UserAgent) -> None:
    server = await start_server(data_dir, Clock(), trusted=True)
    try:
        identity = TrustedIdentity(server.directory, server.registrar)
        phone = Phone(client_ua, server.address(), user="1002")
        await phone.send(contacts=["<sip:1002@127.0.0.1:5072>"], credentials=False)
        at_phone = Peer("UDP", "127.0.0.1", 5072)
        trunk = Peer("UDP", "127.0.0.1", 5090)
        assert identity.identify(invite("1002"), at_phone).i_account == 2  # type: ignore[union-attr]
        # From the phone's address, whatever number the From presents.
        assert identity.identify(invite("+15551230000"), at_phone).id == "1002"  # type: ignore[union-attr]
        # From elsewhere: by the From user, when that account is registered...
        assert identity.identify(invite("1002"), trunk).id == "1002"  # type: ignore[union-attr]
        # ...and not when it is not (1001 has no binding), nor for a number outside the directory.
        assert identity.identify(invite("1001"), trunk) is None
        assert identity.identify(invite("5551234"), trunk) is None
    finally:
        await stop_server(server)


async def test_a_trusted_phone_identified_is_its_account_as_caller(phones, make_rig, data_dir: Path) -> None:
    alice, bob, _ = phones
    directory = await Directory.open(data_dir)
    try:
        rig = await make_rig(lambda: (), router=lambda number: Route(
            RouteKind.TRUNK, number or "", (Target(f"sip:{number}@{HOST}:{bob.port}", Peer("UDP", HOST, bob.port)),)))
        rig.b2b.directory = directory
        seen: list[tuple[str, int]] = []

        def identify(request: Request, peer: Peer) -> object:
            seen.append((peer.host, peer.port))
            return directory.account_by_id("1002") if peer.port == alice.port else None

        rig.b2b.identify = identify
        alice.call(f"sip:1001@{HOST}", rig.peer)  # alice's From user is "alice"
        await alice.next("r200")
        first = rig.published[0]
        assert seen == [(HOST, alice.port)]
        wire = first.caller.to_wire()
        assert (wire["id"], wire["account_id"], wire["display_id"], wire["centrex_id"]) == ("1002", "1002", "alice", "1")
        assert ("i_account", 2) in first.routing_keys()
        rig.b2b.identify = lambda request, peer: None  # not identified: the From user, nobody's
        bob2_invite = alice.call(f"sip:1001@{HOST}", rig.peer)
        await wait_for(lambda: any(i.call.id == bob2_invite.call_id for i in rig.published))
        other = next(i for i in rig.published if i.call.id == bob2_invite.call_id)
        assert other.caller.to_wire() == {"display_id": "alice", "forwarder_list": [], "id": "alice"}
        assert other.routing_keys() == ()
    finally:
        await directory.close()

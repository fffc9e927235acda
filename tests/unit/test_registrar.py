"""callcontrol.access.registrar: REGISTER over real loopback sockets against the real directory and store."""
from __future__ import annotations

import asyncio
import logging
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from callcontrol.access.registrar import BindingTable, RegisterFacts, Registrar, binding_peer, contact_key
from callcontrol.access.sip_auth import RequestAuthenticator
from callcontrol.b2b.routing import target_for_binding
from callcontrol.directory.service import Directory
from callcontrol.store.sqlite import Binding
from sip.auth_client import ClientAuthState
from sip.errors import SipParseError
from sip.headers import parse_name_addr
from sip.message import Response, make_request
from sip.peer import Peer
from sip.ua import IncomingRequest, UserAgent
from sip.uri import SipUri

T0 = 1_700_000_000.0
TIMEOUT = 5.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class Server:
    ua: UserAgent
    registrar: Registrar
    directory: Directory
    clock: Clock
    changes: list[tuple[str, list[Binding]]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def address(self, transport: str = "UDP") -> Peer:
        host, port = self.ua.local_address(transport)
        return Peer(transport, host, port)


async def start_server(data_dir: Path, clock: Clock, *, trusted: bool = False, **kw: object) -> Server:
    directory = await Directory.open(data_dir)
    auth = RequestAuthenticator(directory, directory.sip_realm, is_trusted=lambda h: trusted,
                                secret=b"s" * 32, clock=clock)
    registrar = Registrar(directory, auth, clock=clock, **kw)  # type: ignore[arg-type]
    ua = UserAgent()
    server = Server(ua, registrar, directory, clock)

    def on_change(aor: str, bindings: list[Binding]) -> None:
        server.changes.append((aor, bindings))
        server.changed.set()

    registrar.on_change = on_change

    def on_request(incoming: IncomingRequest) -> None:
        if incoming.request.method == "REGISTER":
            registrar.handle_register(incoming)
        else:
            incoming.respond(405)

    ua.on_request = on_request
    await ua.listen("UDP", "127.0.0.1", 0)
    await ua.listen("TCP", "127.0.0.1", 0)
    await registrar.start()
    return server


async def stop_server(server: Server) -> None:
    server.ua.close()
    await server.registrar.close()
    await server.directory.close()


@pytest.fixture
async def server(data_dir: Path) -> AsyncIterator[Server]:
    s = await start_server(data_dir, Clock())
    yield s
    await stop_server(s)


class Phone:
    """A REGISTER client on its own UserAgent: answers 401s like a phone does."""

    _ids = itertools.count(1)

    def __init__(self, ua: UserAgent, server: Peer, user: str = "1001", password: str | None = None) -> None:
        self.ua = ua
        self.server = server
        self.user = user
        self.auth = ClientAuthState(user, password if password is not None else f"secret{user}")
        self.call_id = f"reg-{next(self._ids)}@test"
        self.cseq = 0

    async def send(self, *, contacts: list[str] | None = None, expires: int | None = None,
                   to_user: str | None = None, extra: list[tuple[str, str]] | None = None,
                   cseq: int | None = None, credentials: bool = True, to: str | None = None) -> Response:
        self.cseq = cseq if cseq is not None else self.cseq + 1
        headers = [
            ("Max-Forwards", "70"),
            ("From", f"<sip:{self.user}@127.0.0.1>;tag=t{self.cseq}"),
            ("To", to or f"<sip:{to_user or self.user}@127.0.0.1>"),
            ("Call-ID", self.call_id),
            ("CSeq", f"{self.cseq} REGISTER"),
        ]
        headers += [("Contact", c) for c in contacts or []]
        if expires is not None:
            headers.append(("Expires", str(expires)))
        headers += extra or []
        if credentials:
            headers += self.auth.authorization_headers(method="REGISTER", uri="sip:127.0.0.1")
        request = make_request("REGISTER", "sip:127.0.0.1", headers)
        done: asyncio.Future[Response] = asyncio.get_running_loop().create_future()

        def on_response(response: Response) -> None:
            if response.status >= 200 and not done.done():
                done.set_result(response)

        def on_failure(reason: str) -> None:
            if not done.done():
                done.set_exception(AssertionError(reason))

        self.ua.send_request(request, self.server, on_response, on_failure)
        return await asyncio.wait_for(done, TIMEOUT)

    async def register(self, **kw: object) -> Response:
        """Send; on 401 answer the challenge once and send again (CSeq + 1)."""
        response = await self.send(**kw)  # type: ignore[arg-type]
        if response.status == 401:
            assert self.auth.on_challenge(response.headers.get_all("www-authenticate"))
            kw.pop("cseq", None)
            response = await self.send(**kw)  # type: ignore[arg-type]
        return response


@pytest.fixture
async def client_ua() -> AsyncIterator[UserAgent]:
    ua = UserAgent()
    await ua.listen("UDP", "127.0.0.1", 0)
    yield ua
    ua.close()


def contact_expires(response: Response) -> dict[str, int]:
    out = {}
    for value in response.headers.get_all("contact"):
        na = parse_name_addr(value)
        out[na.uri] = int(na.params["expires"] or -1)
    return out


# --------------------------------------------------------------------------- over sockets


async def test_register_is_challenged_then_bound(server: Server, client_ua: UserAgent) -> None:
    phone = Phone(client_ua, server.address())
    first = await phone.send(contacts=["<sip:1001@127.0.0.1:5099>"])
    assert first.status == 401 and first.to_tag
    assert "qop=\"auth\"" in (first.headers.get("www-authenticate") or "")
    assert server.registrar.contacts("1001") == []
    ok = await phone.register(contacts=["<sip:1001@127.0.0.1:5099>"])
    assert ok.status == 200
    assert contact_expires(ok) == {"sip:1001@127.0.0.1:5099": 3600}
    assert (ok.headers.get("date") or "").endswith(" GMT")
    (b,) = server.registrar.contacts("1001")
    assert (b.aor, b.contact, b.expires_at, b.call_id, b.cseq) == (
        "1001", "sip:1001@127.0.0.1:5099", T0 + 3600, phone.call_id, 3)
    host, port = client_ua.local_address("UDP")
    assert (b.source, b.transport) == (f"{host}:{port}", "udp")
    # Another port of the same host, and no sign of NAT: calls go to the Contact.
    assert not b.reach_source
    assert binding_peer(b) == Peer("UDP", "127.0.0.1", 5099)
    assert server.changes[-1][0] == "1001"


async def test_multiple_contacts_per_contact_expires_and_clamping(server: Server, client_ua: UserAgent) -> None:
    phone = Phone(client_ua, server.address())
    ok = await phone.register(contacts=["<sip:a@127.0.0.1:5001>;expires=120",
                                        "<sip:b@127.0.0.1:5002>;q=0.5, <sip:c@127.0.0.1:5003>"], expires=600)
    assert ok.status == 200
    assert contact_expires(ok) == {"sip:a@127.0.0.1:5001": 120, "sip:b@127.0.0.1:5002": 600,
                                   "sip:c@127.0.0.1:5003": 600}
    assert any(";q=0.5" in v for v in ok.headers.get_all("contact"))
    server.clock.now += 100
    # A second REGISTER from another device adds to the set; 99999 s is cut to max_expires.
    other = Phone(client_ua, server.address())
    ok2 = await other.register(contacts=["<sip:d@127.0.0.1:5004>"], expires=99999)
    assert contact_expires(ok2) == {"sip:a@127.0.0.1:5001": 20, "sip:b@127.0.0.1:5002": 500,
                                    "sip:c@127.0.0.1:5003": 500, "sip:d@127.0.0.1:5004": 3600}
    # Highest q first, then the latest expiry.
    assert [b.contact for b in server.registrar.contacts("1001")] == [
        "sip:d@127.0.0.1:5004", "sip:c@127.0.0.1:5003", "sip:a@127.0.0.1:5001", "sip:b@127.0.0.1:5002"]


async def test_interval_too_brief_gets_423_with_min_expires(server: Server, client_ua: UserAgent) -> None:
    phone = Phone(client_ua, server.address())
    r = await phone.register(contacts=["<sip:1001@127.0.0.1:5099>"], expires=30)
    assert r.status == 423
    assert r.headers.get("min-expires") == "60"
    r = await phone.register(contacts=["<sip:1001@127.0.0.1:5099>;expires=59", "<sip:x@127.0.0.1:5098>"])
    assert r.status == 423
    assert server.registrar.contacts("1001") == []  # all or nothing


async def test_unregister_one_then_all(server: Server, client_ua: UserAgent) -> None:
    phone = Phone(client_ua, server.address())
    await phone.register(contacts=["<sip:a@127.0.0.1:5001>", "<sip:b@127.0.0.1:5002>", "<sip:c@127.0.0.1:5003>"])
    r = await phone.register(contacts=["<sip:a@127.0.0.1:5001>;expires=0"])
    assert r.status == 200
    assert set(contact_expires(r)) == {"sip:b@127.0.0.1:5002", "sip:c@127.0.0.1:5003"}
    r = await phone.register(contacts=["*"], expires=5)
    assert r.status == 400
    r = await phone.register(contacts=["*"], expires=0)
    assert r.status == 200 and r.headers.get_all("contact") == []
    assert server.registrar.contacts("1001") == []
    assert server.changes[-1] == ("1001", [])
    await server.registrar.flush()
    assert await server.directory.store.load_bindings() == []


async def test_query_lists_bindings_without_changing_them(server: Server, client_ua: UserAgent) -> None:
    phone = Phone(client_ua, server.address())
    await phone.register(contacts=["<sip:a@127.0.0.1:5001>"], expires=300)
    before = len(server.changes)
    server.clock.now += 60
    r = await phone.register()
    assert r.status == 200 and contact_expires(r) == {"sip:a@127.0.0.1:5001": 240}
    assert len(server.changes) == before


async def test_out_of_order_cseq_fails_and_other_call_id_wins(server: Server, client_ua: UserAgent) -> None:
    phone = Phone(client_ua, server.address())
    assert (await phone.register(contacts=["<sip:a@127.0.0.1:5001>"], cseq=10)).status in (200,)
    assert phone.cseq == 11
    stale = await phone.send(contacts=["<sip:a@127.0.0.1:5001>"], cseq=11, expires=0)
    assert stale.status == 500
    assert server.registrar.contacts("1001")[0].cseq == 11
    # A rebooted phone uses a new Call-ID: any CSeq is then in order.
    rebooted = Phone(client_ua, server.address())
    rebooted.auth = phone.auth
    r = await rebooted.register(contacts=["<sip:a@127.0.0.1:5001>"], cseq=1, expires=120)
    assert r.status == 200 and contact_expires(r) == {"sip:a@127.0.0.1:5001": 120}
    assert server.registrar.contacts("1001")[0].call_id == rebooted.call_id


async def test_to_must_be_the_authenticated_account(server: Server, client_ua: UserAgent) -> None:
    phone = Phone(client_ua, server.address())
    r = await phone.register(contacts=["<sip:1002@127.0.0.1:5001>"], to_user="1002")
    assert r.status == 403
    assert server.registrar.contacts("1002") == [] and server.registrar.contacts("1001") == []


async def test_wrong_password_gets_403_after_one_challenge(server: Server, client_ua: UserAgent) -> None:
    phone = Phone(client_ua, server.address(), password="wrong")
    r = await phone.register(contacts=["<sip:1001@127.0.0.1:5001>"])
    assert r.status == 403
    assert server.registrar.contacts("1001") == []


@pytest.mark.parametrize("to", ["isbn:2983792873", "<http://www.example.com>", "<tel:+15551234>"])
async def test_to_that_is_not_a_sip_uri_gets_400_before_any_challenge(server: Server, client_ua: UserAgent,
                                                                      to: str) -> None:
    # RFC 4475 §3.3.4: the address-of-record must be a SIP or SIPS URI (RFC 3261 §10.2).
    phone = Phone(client_ua, server.address())
    r = await phone.send(contacts=["<sip:1001@127.0.0.1:5001>"], to=to, credentials=False)
    assert r.status == 400 and r.reason == "To Is Not A SIP URI"
    assert server.registrar.contacts("1001") == []


async def test_unsupported_require_gets_420(server: Server, client_ua: UserAgent) -> None:
    phone = Phone(client_ua, server.address())
    r = await phone.send(contacts=["<sip:1001@127.0.0.1:5001>"], extra=[("Require", "path")])
    assert r.status == 420 and r.headers.get("unsupported") == "path"


async def test_too_many_contacts(data_dir: Path, client_ua: UserAgent) -> None:
    server = await start_server(data_dir, Clock(), max_contacts=2)
    try:
        phone = Phone(client_ua, server.address())
        assert (await phone.register(contacts=["<sip:a@127.0.0.1:1>", "<sip:b@127.0.0.1:2>"])).status == 200
        r = await phone.register(contacts=["<sip:c@127.0.0.1:3>"])
        assert (r.status, r.reason) == (403, "Too Many Contacts")
        # Replacing one is fine.
        r = await phone.register(contacts=["<sip:a@127.0.0.1:1>;expires=0", "<sip:c@127.0.0.1:3>"])
        assert r.status == 200 and set(contact_expires(r)) == {"sip:b@127.0.0.1:2", "sip:c@127.0.0.1:3"}
    finally:
        await stop_server(server)


async def test_trusted_source_registers_without_challenge(data_dir: Path, client_ua: UserAgent) -> None:
    server = await start_server(data_dir, Clock(), trusted=True)
    try:
        phone = Phone(client_ua, server.address())
        r = await phone.send(contacts=["<sip:1002@127.0.0.1:5002>"], to_user="1002")
        assert r.status == 200 and [b.aor for b in server.registrar.contacts("1002")] == ["1002"]
        r = await phone.send(contacts=["<sip:x@127.0.0.1:5002>"], to_user="9999")
        assert r.status == 404
    finally:
        await stop_server(server)


async def test_tcp_binding_records_the_connection(server: Server) -> None:
    ua = UserAgent()
    await ua.listen("TCP", "127.0.0.1", 0)
    try:
        phone = Phone(ua, server.address("TCP"))
        r = await phone.register(contacts=["<sip:1001@127.0.0.1:5090;transport=tcp>"])
        assert r.status == 200
        (b,) = server.registrar.contacts("1001")
        peer = binding_peer(b)
        assert (peer.transport, peer.host, b.transport) == ("TCP", "127.0.0.1", "tcp")
    finally:
        ua.close()


async def test_bindings_survive_a_restart_and_expired_ones_do_not(data_dir: Path, client_ua: UserAgent) -> None:
    clock = Clock()
    server = await start_server(data_dir, clock)
    phone = Phone(client_ua, server.address())
    await phone.register(contacts=["<sip:a@127.0.0.1:5001>;expires=100", "<sip:b@127.0.0.1:5002>"])
    await stop_server(server)  # close() drains the queued writes

    clock.now += 200  # past a's expiry, not b's
    server = await start_server(data_dir, clock)
    try:
        (b,) = server.registrar.contacts("1001")
        assert (b.contact, b.expires_at, b.call_id, b.source) == (
            "sip:b@127.0.0.1:5002", T0 + 3600, phone.call_id, f"127.0.0.1:{client_ua.local_address()[1]}")
        stored = await server.directory.store.load_bindings()
        assert [s.contact for s in stored] == ["sip:b@127.0.0.1:5002"]  # a purged at start
        # The restored binding keeps its CSeq order: a replay of the old REGISTER fails.
        phone.server = server.address()
        phone.auth.forget()
        r = await phone.register(contacts=["<sip:b@127.0.0.1:5002>"], cseq=1)
        assert r.status == 500
    finally:
        await stop_server(server)


async def test_periodic_purge_expires_bindings(data_dir: Path, client_ua: UserAgent) -> None:
    clock = Clock()
    server = await start_server(data_dir, clock, purge_interval=0.01)
    try:
        phone = Phone(client_ua, server.address())
        await phone.register(contacts=["<sip:a@127.0.0.1:5001>"], expires=60)
        await server.registrar.flush()
        server.changes.clear()
        server.changed.clear()
        clock.now += 61
        assert server.registrar.contacts("1001") == []  # expired for routing at once
        await asyncio.wait_for(server.changed.wait(), TIMEOUT)
        assert server.changes[0] == ("1001", [])
        await server.registrar.flush()
        assert await server.directory.store.load_bindings() == []
    finally:
        await stop_server(server)


# --------------------------------------------------------------------------- the core, no sockets


def facts(contacts: list[str], *, cseq: int = 1, call_id: str = "c1", expires: int | None = None,
          star: bool = False) -> RegisterFacts:
    return RegisterFacts("1001", call_id, cseq, tuple(parse_name_addr(c) for c in contacts), star, expires,
                         "192.0.2.1:5060", "udp")


def test_table_same_contact_spelt_differently_replaces_the_binding() -> None:
    table = BindingTable()
    out = table.register(facts(["<sip:alice@EXAMPLE.com:5060>"]), T0)
    assert out.status == 200 and [op.kind for op in out.ops] == ["save"]
    out = table.register(facts(["<sip:alice@example.com:5060>"], cseq=2), T0)
    assert [(op.kind, op.contact) for op in out.ops] == [
        ("delete", "sip:alice@EXAMPLE.com:5060"), ("save", "sip:alice@example.com:5060")]
    assert [b.contact for b in table.current("1001", T0)] == ["sip:alice@example.com:5060"]


def test_table_rejects_malformed_contact_params() -> None:
    table = BindingTable()
    assert table.register(facts(["<sip:a@h>;expires=soon"]), T0).status == 400
    assert table.register(facts(["<sip:a@h>;q=2"]), T0).status == 400
    assert table.register(facts(["<tel:+1234>"]), T0).status == 400
    assert len(table) == 0
    out = table.register(facts(["<sip:a@h>;expires=99999999999999"]), T0)
    assert out.status == 200 and table.current("1001", T0)[0].expires_at == T0 + table.max_expires


def test_table_purge_and_current_use_the_given_time() -> None:
    table = BindingTable(min_expires=1, default_expires=10, max_expires=10)
    table.register(facts(["<sip:a@h>;expires=5", "<sip:b@h>"]), T0)
    assert [b.contact for b in table.current("1001", T0 + 6)] == ["sip:b@h"]
    assert table.purge(T0 + 6) == ["1001"] and len(table) == 1
    assert table.purge(T0 + 10) == ["1001"] and table.aors() == []


def test_table_validates_its_limits() -> None:
    with pytest.raises(ValueError):
        BindingTable(min_expires=100, default_expires=50)


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("sip:alice@atlanta.com:5060", "sip:alice@ATLANTA.com:5060", True),
        ("sip:%61lice@atlanta.com", "sip:alice@atlanta.com", True),
        ("sip:alice@atlanta.com;transport=TCP", "sip:alice@atlanta.com;transport=tcp", True),
        ("sip:alice@atlanta.com;ob", "sip:alice@atlanta.com", True),
        ("sip:ALICE@atlanta.com", "sip:alice@atlanta.com", False),
        ("sip:alice@atlanta.com", "sip:alice@atlanta.com:5060", False),
        ("sip:alice@atlanta.com;transport=tcp", "sip:alice@atlanta.com", False),
        ("sips:alice@atlanta.com", "sip:alice@atlanta.com", False),
    ],
)
def test_contact_key(a: str, b: str, equal: bool) -> None:
    assert (contact_key(a) == contact_key(b)) is equal


@pytest.mark.parametrize("uri", ["sip:a@bad host", "tel:+1234", "mailto:a@b"])
def test_contact_key_rejects_garbage_and_non_sip(uri: str) -> None:
    with pytest.raises(SipParseError):
        contact_key(uri)


# -- where calls to a binding go (docs/sip.md, "Where a registered phone's calls go")

@pytest.mark.parametrize(("contact", "source", "sent_by", "transport", "by_source"), [
    # a SIPp register scenario on 5070 beside its UAS on 5080: the Contact
    ("<sip:1001@127.0.0.1:5080>", "127.0.0.1:5070", "127.0.0.1:5070", "udp", False),
    ("<sip:1001@192.0.2.1>", "192.0.2.1:5062", "192.0.2.1:5062", "udp", False),  # Contact port 5060
    ("<sip:1001@[2001:db8::1]:5080>", "[2001:db8::1]:5070", "[2001:db8::1]:5070", "udp", False),
    # NAT: the Contact's host is not where the packet came from (a private address, a name)
    ("<sip:1001@10.0.0.7:5060>", "192.0.2.1:40123", "10.0.0.7:5060", "udp", True),
    ("<sip:1001@phone.example.com:5080>", "192.0.2.1:5070", "192.0.2.1:5070", "udp", True),
    # NAT: the Via says another address or port than the packet's source (nat_uac_test 2, 16)
    ("<sip:1001@192.0.2.1:5080>", "192.0.2.1:40123", "192.0.2.1:5070", "udp", True),
    ("<sip:1001@192.0.2.1:5080>", "192.0.2.1:5070", "10.0.0.7:5070", "udp", True),
    # RFC 5626 flows: reg-id (with +sip.instance) or ob
    ('<sip:1001@192.0.2.1:5080>;reg-id=1;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"',
     "192.0.2.1:5070", "192.0.2.1:5070", "udp", True),
    ("<sip:1001@192.0.2.1:5080;ob>", "192.0.2.1:5070", "192.0.2.1:5070", "udp", True),
    # a stream: the connection the phone opened is the way back
    ("<sip:1001@192.0.2.1:5080;transport=tcp>", "192.0.2.1:5070", "192.0.2.1:5070", "tcp", True),
    ("<sips:1001@192.0.2.1:5081>", "192.0.2.1:5071", "192.0.2.1:5071", "tls", True),
])
def test_a_binding_is_reached_at_its_contact_unless_nat_or_a_flow(contact: str, source: str, sent_by: str,
                                                                 transport: str, by_source: bool) -> None:
    table = BindingTable()
    f = RegisterFacts("1001", "c1", 1, (parse_name_addr(contact),), False, 3600, source, transport, sent_by)
    assert table.register(f, T0).status == 200
    (b,) = table.current("1001", T0)
    assert b.reach_source is by_source
    peer = binding_peer(b)
    source_host, _, source_port = source.rpartition(":")
    if by_source:
        assert peer == Peer(transport.upper(), source_host.strip("[]"), int(source_port))
    else:
        uri = parse_name_addr(contact).parsed_uri()
        assert isinstance(uri, SipUri)
        assert peer == Peer("UDP", *uri.address())
        target = target_for_binding(b)
        assert target is not None and target.peer == peer and target.uri == parse_name_addr(contact).uri


def test_a_binding_without_the_decision_keeps_the_source_path() -> None:
    # What bindings stored before the decision was recorded read back as.
    b = Binding("1001", "sip:1001@127.0.0.1:5080", T0, "c", 1, source="127.0.0.1:5070")
    assert b.reach_source
    assert binding_peer(b) == Peer("UDP", "127.0.0.1", 5070)
    target = target_for_binding(b)
    assert target is not None and target.peer == Peer("UDP", "127.0.0.1", 5070)


def test_binding_peer_ipv6() -> None:
    b = Binding("1001", "sip:x@[::1]", T0, "c", 1, source="[::1]:5070", transport="tcp")
    assert binding_peer(b) == Peer("TCP", "::1", 5070)


async def test_a_failed_store_write_does_not_stop_the_writer(server: Server, client_ua: UserAgent,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    phone = Phone(client_ua, server.address())
    store = server.directory.store
    real_save = store.save_binding
    calls = 0

    async def failing_once(binding: Binding) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk full")
        await real_save(binding)

    store.save_binding = failing_once  # type: ignore[method-assign]
    assert (await phone.register(contacts=["<sip:a@127.0.0.1:5001>"])).status == 200
    assert (await phone.register(contacts=["<sip:b@127.0.0.1:5002>"])).status == 200
    await server.registrar.flush()
    assert "store write save" in caplog.text
    # Memory has both; the store has the one whose write worked.
    assert len(server.registrar.contacts("1001")) == 2
    assert [b.contact for b in await store.load_bindings()] == ["sip:b@127.0.0.1:5002"]


async def test_outcomes_counted_and_changes_logged(server: Server, client_ua: UserAgent, caplog) -> None:
    """Each REGISTER counts one outcome (the metrics); additions, removals and expiries log one line each."""
    caplog.set_level(logging.INFO, logger="callcontrol.access.registrar")
    phone = Phone(client_ua, server.address())
    await phone.register(contacts=["<sip:a@127.0.0.1:5001>", "<sip:b@127.0.0.1:5002>"], expires=120)
    await phone.register(contacts=["<sip:a@127.0.0.1:5001>"], expires=120)  # a refresh
    await phone.register()  # a query
    await phone.register(contacts=["<sip:a@127.0.0.1:5001>;expires=0"])
    await phone.register(contacts=["<sip:c@127.0.0.1:5003>"], expires=30)  # 423
    await Phone(client_ua, server.address(), password="wrong").register(contacts=["<sip:x@127.0.0.1:5009>"])
    assert server.registrar.outcomes == {"challenged": 2, "registered": 1, "refreshed": 1, "queried": 1,
                                         "unregistered": 1,
                                         "too_brief": 1, "forbidden": 1}
    server.clock.now += 121
    assert server.registrar.purge() == 1
    assert server.registrar.expired == 1
    events = [(r.event, r.contact) for r in caplog.records if hasattr(r, "event")]  # type: ignore[attr-defined]
    assert events == [("registered", "sip:a@127.0.0.1:5001"), ("registered", "sip:b@127.0.0.1:5002"),
                      ("unregistered", "sip:a@127.0.0.1:5001"), ("expired", "sip:b@127.0.0.1:5002")]
    first = [r for r in caplog.records if hasattr(r, "event")][0]
    assert first.getMessage().startswith("registration 1001: registered sip:a@127.0.0.1:5001 from udp ")
    assert first.expires_s == 120  # type: ignore[attr-defined]

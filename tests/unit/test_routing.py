"""SPEC routing: account contacts (forked), static contact, IVR number, trunk, 404/480."""
from __future__ import annotations

from dataclasses import dataclass

from callcontrol.b2b.routing import RouteKind, dialled_number, route, target_for_binding, target_for_uri
from callcontrol.directory.model import Account, IvrAccessNumber
from callcontrol.store.sqlite import Binding
from sip.peer import Peer

ACCOUNTS = {
    "1001": Account(1, "1001", 1, "1001", "Alice", None),
    "1004": Account(6, "1004", 1, "104", "Reception", "sip:1004@10.1.1.1:5062"),
}
IVR = {"7000": IvrAccessNumber(1, "7000", 1, None)}


class FakeDirectory:
    def account_by_id(self, number: str) -> Account | None:
        return ACCOUNTS.get(number)

    def ivr_an_by_number(self, number: str) -> IvrAccessNumber | None:
        return IVR.get(number)


def binding(contact: str, source: str = "192.0.2.7:40000", transport: str = "udp") -> Binding:
    return Binding(aor="1001", contact=contact, expires_at=9e9, call_id="r1", cseq=1, source=source,
                   transport=transport)


def test_dialled_number_from_sip_and_tel_uris() -> None:
    assert dialled_number("sip:1001@127.0.0.1:5060") == "1001"
    assert dialled_number("sip:+15551234;phone-context=x@h") == "+15551234"
    assert dialled_number("sip:%31001@h") == "1001"
    assert dialled_number("tel:+15551234") == "+15551234"
    assert dialled_number("sip:127.0.0.1") is None
    assert dialled_number("not a uri") is None


def test_registered_contacts_fork_in_order_and_go_to_the_register_source() -> None:
    contacts = {"1001": [binding("sip:alice@10.0.0.5:5060"),
                         binding("sip:alice@10.0.0.6:5070;transport=tcp", "192.0.2.8:5070", "tcp")]}
    r = route("1001", directory=FakeDirectory(), contacts=lambda aor: contacts.get(aor, []), trunk_uri=None)
    assert r.kind is RouteKind.ACCOUNT and r.account is ACCOUNTS["1001"]
    assert [t.uri for t in r.targets] == ["sip:alice@10.0.0.5:5060", "sip:alice@10.0.0.6:5070;transport=tcp"]
    assert [t.peer for t in r.targets] == [Peer("UDP", "192.0.2.7", 40000), Peer("TCP", "192.0.2.8", 5070)]


def test_duplicate_contacts_are_called_once() -> None:
    same = [binding("sip:alice@10.0.0.5:5060"), binding("sip:alice@10.0.0.5:5060")]
    r = route("1001", directory=FakeDirectory(), contacts=lambda aor: same, trunk_uri=None)
    assert len(r.targets) == 1


def test_static_contact_when_not_registered() -> None:
    r = route("1004", directory=FakeDirectory(), contacts=lambda aor: [], trunk_uri="sip:127.0.0.1:5090")
    assert r.kind is RouteKind.ACCOUNT
    assert r.targets[0].uri == "sip:1004@10.1.1.1:5062"
    assert r.targets[0].peer == Peer("UDP", "10.1.1.1", 5062)


def test_account_without_contacts_is_480_not_the_trunk() -> None:
    r = route("1001", directory=FakeDirectory(), contacts=lambda aor: [], trunk_uri="sip:127.0.0.1:5090")
    assert (r.kind, r.status) == (RouteKind.REJECT, 480)


def test_ivr_access_number() -> None:
    r = route("7000", directory=FakeDirectory(), contacts=None, trunk_uri="sip:127.0.0.1:5090")
    assert r.kind is RouteKind.IVR and r.ivr_an is IVR["7000"]


def test_other_numbers_go_to_the_trunk_with_the_number_as_user() -> None:
    r = route("5551234", directory=FakeDirectory(), contacts=None, trunk_uri="sip:127.0.0.1:5090;transport=tcp")
    assert r.kind is RouteKind.TRUNK
    assert r.targets[0].uri == "sip:5551234@127.0.0.1:5090;transport=tcp"
    assert r.targets[0].peer == Peer("TCP", "127.0.0.1", 5090)


def test_unknown_number_without_trunk_is_404() -> None:
    r = route("5551234", directory=FakeDirectory(), contacts=None, trunk_uri=None)
    assert (r.kind, r.status) == (RouteKind.REJECT, 404)
    assert route(None, directory=FakeDirectory(), contacts=None, trunk_uri="sip:h").status == 404


def test_bad_trunk_uri_is_503() -> None:
    r = route("5551234", directory=FakeDirectory(), contacts=None, trunk_uri="mailto:x@y")
    assert (r.kind, r.status) == (RouteKind.REJECT, 503)


def test_target_helpers() -> None:
    assert target_for_uri("sip:localhost").peer == Peer("UDP", "127.0.0.1", 5060)  # type: ignore[union-attr]
    assert target_for_uri("sips:h.example") is not None
    assert target_for_uri("sip:h;transport=sctp") is None

    @dataclass
    class NoSource:
        contact: str

    t = target_for_binding(NoSource("sip:a@10.0.0.9:5099"))
    assert t is not None and t.peer == Peer("UDP", "10.0.0.9", 5099)

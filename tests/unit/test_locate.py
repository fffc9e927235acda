"""RFC 3263 server location, sans-I/O: records in, ordered hops out (sip.locate)."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from sip.locate import Destination, Naptr, Query, Record, Srv, destination_of, locate, order_srv, run
from sip.peer import Peer
from sip.uri import parse_uri

ALL = ("UDP", "TCP", "TLS")


class Zone:
    """A dict of (name, type) -> records; records every lookup asked for."""

    def __init__(self, records: dict[tuple[str, str], list[Record]]) -> None:
        self.records = records
        self.asked: list[Query] = []

    def __call__(self, query: Query) -> list[Record]:
        self.asked.append(query)
        return list(self.records.get((query.name, query.rdtype), []))


def hops(uri: str, zone: Zone, supported: tuple[str, ...] = ALL, seed: int = 1) -> list[Peer]:
    dest = destination_of(parse_uri(uri))  # type: ignore[arg-type]
    assert dest is not None
    return run(locate(dest, supported, address_types=("A",), rng=random.Random(seed)), zone)


def test_ip_literal_needs_no_dns() -> None:
    zone = Zone({})
    assert hops("sip:1001@192.0.2.7:5070", zone) == [Peer("UDP", "192.0.2.7", 5070)]
    assert hops("sip:[2001:db8::1];transport=tcp", zone) == [Peer("TCP", "2001:db8::1", 5060)]
    assert hops("sips:192.0.2.7", zone) == [Peer("TLS", "192.0.2.7", 5061)]
    assert hops("sip:localhost:5090", zone) == [Peer("UDP", "127.0.0.1", 5090)]
    assert zone.asked == []


def test_port_given_means_address_records_only() -> None:
    zone = Zone({("trunk.test", "A"): ["192.0.2.1", "192.0.2.2"]})
    assert hops("sip:trunk.test:5070;transport=tcp", zone) == [Peer("TCP", "192.0.2.1", 5070),
                                                               Peer("TCP", "192.0.2.2", 5070)]
    assert zone.asked == [Query("trunk.test", "A")]


def test_naptr_then_srv_then_a() -> None:
    zone = Zone({
        ("example.test", "NAPTR"): [
            Naptr(20, 10, "s", "SIP+D2U", "_sip._udp.example.test."),
            Naptr(10, 10, "S", "SIP+D2T", "_sip._tcp.example.test."),
            Naptr(5, 10, "s", "E2U+sip", "ignored.example.test."),  # not a SIP service
            Naptr(5, 10, "a", "SIP+D2U", "ignored.example.test."),  # not an SRV pointer
        ],
        ("_sip._tcp.example.test", "SRV"): [Srv(10, 0, 5080, "b.example.test."),
                                            Srv(5, 0, 5070, "a.example.test.")],
        ("_sip._udp.example.test", "SRV"): [Srv(1, 0, 5060, "a.example.test.")],
        ("a.example.test", "A"): ["192.0.2.1"],
        ("b.example.test", "A"): ["192.0.2.2"],
    })
    assert hops("sip:+15551234@example.test", zone) == [
        Peer("TCP", "192.0.2.1", 5070), Peer("TCP", "192.0.2.2", 5080),  # order 10 first, SRV priority
        Peer("UDP", "192.0.2.1", 5060),
    ]
    assert zone.asked[0] == Query("example.test", "NAPTR")


def test_naptr_of_unsupported_transport_is_skipped() -> None:
    zone = Zone({
        ("example.test", "NAPTR"): [Naptr(10, 10, "s", "SIPS+D2T", "_sips._tcp.example.test"),
                                    Naptr(20, 10, "s", "SIP+D2U", "_sip._udp.example.test")],
        ("_sips._tcp.example.test", "SRV"): [Srv(1, 0, 5061, "a.example.test")],
        ("_sip._udp.example.test", "SRV"): [Srv(1, 0, 5060, "a.example.test")],
        ("a.example.test", "A"): ["192.0.2.1"],
    })
    assert hops("sip:example.test", zone, supported=("UDP", "TCP")) == [Peer("UDP", "192.0.2.1", 5060)]


def test_sips_uses_only_tls_and_the_uri_domain_names_the_certificate() -> None:
    zone = Zone({
        ("example.test", "NAPTR"): [Naptr(10, 10, "s", "SIP+D2U", "_sip._udp.example.test"),
                                    Naptr(20, 10, "s", "SIPS+D2T", "_sips._tcp.example.test")],
        ("_sips._tcp.example.test", "SRV"): [Srv(1, 0, 5061, "edge.provider.test")],
        ("edge.provider.test", "A"): ["192.0.2.9"],
    })
    (hop,) = hops("sips:alice@Example.Test", zone)
    assert hop == Peer("TLS", "192.0.2.9", 5061)
    assert hop.tls_name == "example.test"  # RFC 5922: the domain asked for, not the SRV target


def test_no_naptr_queries_srv_of_each_supported_transport() -> None:
    zone = Zone({
        ("_sip._tcp.example.test", "SRV"): [Srv(1, 0, 5070, "a.example.test")],
        ("a.example.test", "A"): ["192.0.2.1"],
    })
    assert hops("sip:example.test", zone, supported=("UDP", "TCP")) == [Peer("TCP", "192.0.2.1", 5070)]
    assert Query("_sip._udp.example.test", "SRV") in zone.asked
    assert Query("_sips._tcp.example.test", "SRV") not in zone.asked  # no TLS here


def test_transport_given_queries_its_srv_only() -> None:
    zone = Zone({
        ("_sip._tcp.example.test", "SRV"): [Srv(1, 0, 5070, "a.example.test")],
        ("a.example.test", "A"): ["192.0.2.1"],
    })
    assert hops("sip:example.test;transport=tcp", zone) == [Peer("TCP", "192.0.2.1", 5070)]
    assert all(q.rdtype != "NAPTR" for q in zone.asked)


def test_nothing_but_an_address_record() -> None:
    zone = Zone({("example.test", "A"): ["192.0.2.1"]})
    assert hops("sip:example.test", zone) == [Peer("UDP", "192.0.2.1", 5060)]
    assert hops("sips:example.test", zone) == [Peer("TLS", "192.0.2.1", 5061)]
    assert hops("sip:example.test;transport=tcp", zone) == [Peer("TCP", "192.0.2.1", 5060)]


def test_srv_dot_target_means_not_offered() -> None:
    zone = Zone({("_sip._udp.example.test", "SRV"): [Srv(0, 0, 0, ".")],
                 ("example.test", "A"): ["192.0.2.1"]})
    assert hops("sip:example.test;transport=udp", zone) == []  # not "found nothing": no A fallback


def test_unknown_name_gives_no_hop() -> None:
    assert hops("sip:nowhere.test", Zone({})) == []


def test_unsupported_transport_gives_no_hop() -> None:
    zone = Zone({("example.test", "A"): ["192.0.2.1"]})
    assert hops("sips:example.test", zone, supported=("UDP",)) == []
    assert hops("sip:192.0.2.1;transport=tls", zone, supported=("UDP",)) == []
    assert destination_of(parse_uri("sip:example.test;transport=sctp")) is None  # type: ignore[arg-type]


def test_lookups_of_one_step_come_in_one_batch() -> None:
    """The adapter makes each batch's lookups concurrently: NAPTR, then all SRV, then all A."""
    dest = Destination("example.test")
    gen = locate(dest, ALL, address_types=("A", "AAAA"), rng=random.Random(1))
    assert next(gen) == (Query("example.test", "NAPTR"),)
    batch = gen.send([[]])
    assert set(batch) == {Query("_sip._udp.example.test", "SRV"), Query("_sip._tcp.example.test", "SRV"),
                          Query("_sips._tcp.example.test", "SRV")}
    batch = gen.send([[Srv(1, 0, 5060, "a.test")], [Srv(1, 0, 5060, "b.test")], []])
    assert batch == (Query("a.test", "A"), Query("a.test", "AAAA"), Query("b.test", "A"), Query("b.test", "AAAA"))
    with pytest.raises(StopIteration) as done:
        gen.send([["192.0.2.1"], ["2001:db8::1"], [], []])
    assert done.value.value == [Peer("UDP", "192.0.2.1", 5060), Peer("UDP", "2001:db8::1", 5060)]


def test_srv_priority_first_then_weight_draws() -> None:
    records = [Srv(20, 0, 1, "backup"), Srv(10, 90, 1, "big"), Srv(10, 10, 1, "small")]
    firsts: Counter[str] = Counter()
    rng = random.Random(7)
    for _ in range(2000):
        ordered = order_srv(records, rng)
        assert ordered[-1].target == "backup"  # a lower priority is only tried after
        assert {r.target for r in ordered[:2]} == {"big", "small"}
        firsts[ordered[0].target] += 1
    # Weight 90 against 10: "big" first about nine times in ten (a seeded draw: deterministic).
    assert 1650 < firsts["big"] < 1950, firsts


def test_srv_zero_weights_are_still_tried() -> None:
    ordered = order_srv([Srv(1, 0, 1, "zero"), Srv(1, 5, 1, "five")], random.Random(3))
    assert {r.target for r in ordered} == {"zero", "five"}

"""The asyncio RFC 3263 adapter (sip.resolver) against a DNS responder on loopback.

The responder is a few lines over dnspython's message codec on a UDP socket of the test's
loop: it answers from a table and counts the queries it gets, so the adapter's record
conversion, its TTL cache and its sharing of lookups in flight are seen from outside.
(The integration test uses Debian's dnsmasq instead: tests/integration/test_dns_trunk_sipp.py.)
"""
from __future__ import annotations

import asyncio
from collections import Counter

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from sip.locate import Destination, Naptr, Query, Srv
from sip.peer import Peer
from sip.locate import parse_nameserver
from sip.resolver import Resolver

ZONE = {
    ("example.test.", "NAPTR"): ['10 10 "s" "SIP+D2T" "" _sip._tcp.example.test.',
                                 '20 10 "s" "SIP+D2U" "" _sip._udp.example.test.'],
    ("_sip._tcp.example.test.", "SRV"): ["10 0 5070 a.example.test.", "20 0 5080 b.example.test."],
    ("_sip._udp.example.test.", "SRV"): ["10 0 5060 a.example.test."],
    ("a.example.test.", "A"): ["127.0.0.2"],
    ("b.example.test.", "A"): ["127.0.0.3"],
    ("short.test.", "A"): ["127.0.0.4"],
}
TTL = {"short.test.": 0}


class Responder(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.queries: Counter[tuple[str, str]] = Counter()
        self.hold: asyncio.Event | None = None  # set: answers wait for it (to see lookups shared)
        self.asked = asyncio.Event()  # a query came

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        q = query.question[0]
        key = (q.name.to_text().lower(), dns.rdatatype.to_text(q.rdtype))
        self.queries[key] += 1
        self.asked.set()
        response = dns.message.make_response(query)
        values = ZONE.get(key)
        if values:
            response.answer.append(dns.rrset.from_text_list(q.name, TTL.get(key[0], 300), "IN", key[1], values))
        elif not any(name == key[0] for name, _ in ZONE):
            response.set_rcode(dns.rcode.NXDOMAIN)
        if self.hold is not None:
            asyncio.get_running_loop().create_task(self._later(response, addr))
        else:
            assert self.transport is not None
            self.transport.sendto(response.to_wire(), addr)

    async def _later(self, response: dns.message.Message, addr: tuple[str, int]) -> None:
        assert self.hold is not None and self.transport is not None
        await self.hold.wait()
        self.transport.sendto(response.to_wire(), addr)


@pytest.fixture
async def responder() -> tuple[Responder, int]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(Responder, local_addr=("127.0.0.1", 0))
    yield proto, transport.get_extra_info("sockname")[1]
    transport.close()


ALL = ("UDP", "TCP", "TLS")


async def test_naptr_srv_a_through_a_real_socket(responder: tuple[Responder, int]) -> None:
    proto, port = responder
    resolver = Resolver([("127.0.0.1", port)], address_types=("A",))
    hops = await resolver.locate(Destination("example.test"), ALL)
    assert hops == [Peer("TCP", "127.0.0.2", 5070), Peer("TCP", "127.0.0.3", 5080), Peer("UDP", "127.0.0.2", 5060)]
    assert set(await resolver.lookup(Query("example.test", "NAPTR"))) == {  # an RRset has no order
        Naptr(10, 10, "s", "SIP+D2T", "_sip._tcp.example.test."),
        Naptr(20, 10, "s", "SIP+D2U", "_sip._udp.example.test.")}
    assert Srv(10, 0, 5070, "a.example.test.") in await resolver.lookup(Query("_sip._tcp.example.test", "SRV"))


async def test_answers_are_cached_by_ttl(responder: tuple[Responder, int]) -> None:
    proto, port = responder
    resolver = Resolver([("127.0.0.1", port)], address_types=("A",))
    for _ in range(3):
        await resolver.locate(Destination("example.test"), ALL)
        await resolver.locate(Destination("short.test", 5060), ALL)
        await resolver.locate(Destination("nowhere.test", 5060), ALL)
    assert proto.queries[("example.test.", "NAPTR")] == 1  # TTL 300: asked once
    assert proto.queries[("a.example.test.", "A")] == 1
    assert proto.queries[("short.test.", "A")] == 3  # TTL 0: asked every time


async def test_concurrent_lookups_share_one_query(responder: tuple[Responder, int]) -> None:
    proto, port = responder
    proto.hold = asyncio.Event()
    resolver = Resolver([("127.0.0.1", port)], address_types=("A",))
    tasks = [asyncio.ensure_future(resolver.locate(Destination("a.example.test", 5060), ALL)) for _ in range(5)]
    await asyncio.wait_for(proto.asked.wait(), 10)
    proto.hold.set()
    results = await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert all(r == [Peer("UDP", "127.0.0.2", 5060)] for r in results)
    assert proto.queries[("a.example.test.", "A")] == 1


async def test_ip_literal_sends_no_query(responder: tuple[Responder, int]) -> None:
    proto, port = responder
    resolver = Resolver([("127.0.0.1", port)])
    assert await resolver.locate(Destination("127.0.0.9", 5099, "TCP"), ALL) == [Peer("TCP", "127.0.0.9", 5099)]
    assert not proto.queries


async def test_dead_nameserver_gives_no_hops() -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # a port nobody answers on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        resolver = Resolver([("127.0.0.1", port)], timeout=0.3)
        assert await resolver.locate(Destination("example.test"), ALL) == []


def test_parse_nameserver() -> None:
    assert parse_nameserver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_nameserver("192.0.2.53") == ("192.0.2.53", 53)
    assert parse_nameserver("[::1]:5353") == ("::1", 5353)
    assert parse_nameserver("::1") == ("::1", 53)
    for bad in ("dns.example:53", "127.0.0.1:x", "127.0.0.1:0", "[::1]x"):
        with pytest.raises(ValueError):
            parse_nameserver(bad)

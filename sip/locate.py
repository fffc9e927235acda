"""Locating SIP servers (RFC 3263), sans-I/O: DNS records in, ordered next hops out.

:func:`locate` is a generator. It yields batches of :class:`Query` (the lookups it
needs next, to be made concurrently), is sent back one list of records per query
(empty for NXDOMAIN, no data or a failed lookup), and returns the next hops to try, in
order, as :class:`~sip.peer.Peer`. The asyncio adapter (``sip.resolver``) drives it
with a real resolver; tests drive it with a dict of records.

What it does, for a URI's host, port, ``transport`` parameter and scheme (§4.1, §4.2):

- a numeric host (IPv4, IPv6) needs no DNS: one hop, the transport the URI names, else
  UDP for ``sip:`` and TLS for ``sips:``; the port the URI names, else 5060/5061;
- a name with a port: that transport (same default), the name's A/AAAA records;
- a name with a transport but no port: the SRV records of that transport
  (``_sip._udp``, ``_sip._tcp``, ``_sips._tcp``), else the name's addresses, port 5060/5061;
- a name alone: its NAPTR records whose service we support (``SIP+D2U``, ``SIP+D2T``,
  ``SIPS+D2T``; only the last for ``sips:``), by order then preference, each leading to
  SRV records; without NAPTR, the SRV records of every transport we support; without
  those, the name's addresses over UDP (TLS for ``sips:``).

SRV records are ordered by priority, and within one priority by a weighted random draw
(RFC 2782); a target of "." means the service is not offered there. Every SRV target's
addresses follow one another, so that a caller failing over (§4.3: on a 503, a timeout
or a transport error, try the next hop) moves to the next address, then the next target,
then the next transport. Hops reached over TLS carry the URI's host as the name their
certificate must show (RFC 5922 §4), not the SRV target.
"""
from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable, Collection, Generator, Sequence
from dataclasses import dataclass

from sip.peer import Peer
from sip.uri import SipUri

DEFAULT_PORT = {"UDP": 5060, "TCP": 5060, "TLS": 5061}
# NAPTR services (RFC 3263 §4.1) and SRV prefixes (§4.2) of each transport.
NAPTR_SERVICE = {"SIP+D2U": "UDP", "SIP+D2T": "TCP", "SIPS+D2T": "TLS"}
SRV_PREFIX = {"UDP": "_sip._udp.", "TCP": "_sip._tcp.", "TLS": "_sips._tcp."}
# Our preference when the domain publishes no NAPTR records (§4.1 leaves it to the client).
PREFERENCE = ("UDP", "TCP", "TLS")


@dataclass(slots=True, frozen=True)
class Query:
    """One DNS lookup: ``rdtype`` is "NAPTR", "SRV", "A" or "AAAA"."""

    name: str
    rdtype: str


@dataclass(slots=True, frozen=True)
class Naptr:
    order: int
    preference: int
    flags: str
    service: str
    replacement: str  # the SRV name, for flag "s"


@dataclass(slots=True, frozen=True)
class Srv:
    priority: int
    weight: int
    port: int
    target: str


Record = Naptr | Srv | str  # str: an address (A, AAAA)
Locating = Generator[tuple[Query, ...], list[list[Record]], list[Peer]]


@dataclass(slots=True, frozen=True)
class Destination:
    """What RFC 3263 starts from: the scheme, the host (``maddr`` when present), port, transport."""

    host: str
    port: int | None = None
    transport: str | None = None  # "UDP" | "TCP" | "TLS" | None
    secure: bool = False  # a sips: URI: TLS only

    @property
    def numeric(self) -> bool:
        return is_ip(self.host)


def destination_of(uri: SipUri) -> Destination | None:
    """The RFC 3263 input of a sip:/sips: URI; None for a transport we do not know (sctp, ws)."""
    transport = uri.transport
    if transport is not None and transport.upper() not in DEFAULT_PORT:
        return None
    host = uri.params.get("maddr") or uri.host
    if host == "localhost":
        host = "127.0.0.1"  # never looked up: /etc/hosts is not DNS, and loopback is what it means
    return Destination(host.strip("[]"), uri.port, transport.upper() if transport else None,
                       secure=uri.scheme == "sips")


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _name(host: str) -> str:
    return host.rstrip(".").lower()


def direct(dest: Destination) -> list[Peer] | None:
    """The hop of a numeric host (no DNS needed); None when ``dest`` has to be looked up."""
    if not dest.numeric:
        return None
    transport = _transport(dest)
    return [Peer(transport, dest.host.strip("[]"), dest.port or DEFAULT_PORT[transport])]


def _transport(dest: Destination) -> str:
    if dest.secure:
        return "TLS"  # sips: over "tcp" is TLS; sips: over UDP does not exist
    return dest.transport or "UDP"


def locate(dest: Destination, supported: Collection[str], *, address_types: Sequence[str] = ("A", "AAAA"),
           rng: random.Random | None = None) -> Locating:
    """The hops for ``dest`` over the transports in ``supported`` (see the module doc)."""
    hops = direct(dest)
    if hops is not None:
        return [h for h in hops if h.transport in supported]
    rng = rng or random.Random()
    host = _name(dest.host)
    tls_name = host
    if dest.port is not None or dest.transport is not None:
        transport = _transport(dest)
        if transport not in supported:
            return []
        if dest.port is not None:
            return (yield from _addresses(host, [(transport, dest.port)], address_types, tls_name))
        srv_sets: list[tuple[str, str]] = [(transport, SRV_PREFIX[transport] + host)]
    else:
        (naptrs,) = yield (Query(host, "NAPTR"),)
        srv_sets = _from_naptr(naptrs, supported, dest.secure)
        if not srv_sets:
            wanted = ("TLS",) if dest.secure else PREFERENCE
            srv_sets = [(t, SRV_PREFIX[t] + host) for t in wanted if t in supported]
    answers = yield tuple(Query(name, "SRV") for _t, name in srv_sets)
    targets: list[tuple[str, str, int]] = []  # (transport, target, port), in the order to try
    refused = False
    for (transport, _srv_name), records in zip(srv_sets, answers, strict=True):
        srvs = [r for r in records if isinstance(r, Srv)]
        if any(_name(s.target) in ("", ".") for s in srvs):
            refused = True  # RFC 2782: "." = decidedly not offered at this domain
            continue
        targets += [(transport, _name(s.target), s.port) for s in order_srv(srvs, rng)]
    if not targets and refused:
        return []
    if not targets:
        transport = _transport(dest) if dest.transport or dest.secure else next(
            (t for t in PREFERENCE if t in supported), "UDP")
        if transport not in supported:
            return []
        return (yield from _addresses(host, [(transport, DEFAULT_PORT[transport])], address_types, tls_name))
    return (yield from _srv_addresses(targets, address_types, tls_name))


def _from_naptr(records: list[Record], supported: Collection[str], secure: bool) -> list[tuple[str, str]]:
    """(transport, SRV name) of the usable NAPTR records, by order then preference (§4.1)."""
    usable: list[tuple[int, int, str, str]] = []
    for r in records:
        if not isinstance(r, Naptr) or r.flags.lower() != "s":
            continue
        transport = NAPTR_SERVICE.get(r.service.upper())
        if transport is None or transport not in supported or (secure and transport != "TLS"):
            continue
        usable.append((r.order, r.preference, transport, _name(r.replacement)))
    usable.sort(key=lambda u: (u[0], u[1]))
    out: list[tuple[str, str]] = []
    for _o, _p, transport, name in usable:
        if (transport, name) not in out:
            out.append((transport, name))
    return out


def order_srv(records: Sequence[Srv], rng: random.Random) -> list[Srv]:
    """RFC 2782: by priority; within a priority, repeatedly draw by weight (weight 0: least likely)."""
    out: list[Srv] = []
    for priority in sorted({r.priority for r in records}):
        # Zero weights first, as RFC 2782 says, so that they are chosen only when the draw lands on 0.
        pool = sorted((r for r in records if r.priority == priority), key=lambda r: r.weight != 0)
        while pool:
            total = sum(r.weight for r in pool)
            pick = rng.randint(0, total) if total else 0
            running = 0
            for i, r in enumerate(pool):
                running += r.weight
                if running >= pick:
                    out.append(pool.pop(i))
                    break
    return out


def _addresses(host: str, endpoints: list[tuple[str, int]], address_types: Sequence[str],
               tls_name: str) -> Locating:
    answers = yield tuple(Query(host, t) for t in address_types)
    addresses = [a for records in answers for a in records if isinstance(a, str)]
    return _dedup([_peer(t, a, port, tls_name) for t, port in endpoints for a in addresses])


def _srv_addresses(targets: list[tuple[str, str, int]], address_types: Sequence[str], tls_name: str) -> Locating:
    names = list(dict.fromkeys(target for _t, target, _p in targets))
    queries = tuple(Query(name, t) for name in names for t in address_types)
    answers = yield queries
    by_name: dict[str, list[str]] = {}
    for query, records in zip(queries, answers, strict=True):
        by_name.setdefault(query.name, []).extend(a for a in records if isinstance(a, str))
    return _dedup([_peer(transport, a, port, tls_name) for transport, target, port in targets
                   for a in by_name.get(target, [])])


def _peer(transport: str, address: str, port: int, tls_name: str) -> Peer:
    return Peer(transport, address, port, tls_name=tls_name if transport == "TLS" else None)


def _dedup(peers: list[Peer]) -> list[Peer]:
    seen: set[Peer] = set()
    out: list[Peer] = []
    for p in peers:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def run(locating: Locating, lookup: Callable[[Query], list[Record]]) -> list[Peer]:
    """Drive :func:`locate` with a synchronous ``lookup`` (tests, tools)."""
    try:
        batch = next(locating)
        while True:
            batch = locating.send([lookup(q) for q in batch])
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def parse_nameserver(text: str) -> tuple[str, int]:
    """``HOST`` or ``HOST:PORT`` (``[v6]:PORT``) as (address, port); ValueError when it is neither."""
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(text)
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, p = text.partition(":")
        if not p.isdigit():
            raise ValueError(text)
        port = int(p)
    if not is_ip(host):  # a nameserver is an address: resolving its name would need a nameserver
        raise ValueError(text)
    if not 0 < port < 65536:
        raise ValueError(text)
    return host, port

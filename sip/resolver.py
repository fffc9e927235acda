"""The asyncio adapter of RFC 3263 location (``sip.locate``): dnspython's async resolver.

``Resolver.locate`` drives the sans-I/O :func:`sip.locate.locate` generator: each batch
of queries it yields is looked up concurrently on the event loop (nothing blocks it),
and the answers, turned into plain records, are sent back. Answers are cached by their
TTL by dnspython's own cache (negative answers too, by the zone's SOA minimum), and a
lookup already in flight is shared by everyone asking the same at the same time, so a
trunk by name costs DNS traffic once per TTL, not once per call. A numeric host never
gets here (``sip.locate.direct``). A failed lookup (timeout, SERVFAIL, no nameserver) is
logged and counts as no records: the caller gets fewer hops, or none.
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Collection, Sequence

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from sip.locate import Destination, Locating, Naptr, Query, Record, Srv, direct, locate
from sip.peer import Peer

logger = logging.getLogger(__name__)


class Resolver:
    """RFC 3263 next hops for names, over ``nameservers`` ((host, port) pairs; None: the system's)."""

    def __init__(self, nameservers: Sequence[tuple[str, int]] | None = None, *, timeout: float = 3.0,
                 address_types: Sequence[str] = ("A", "AAAA"), cache_size: int = 10_000,
                 rng: random.Random | None = None) -> None:
        if nameservers:
            self._dns = dns.asyncresolver.Resolver(configure=False)
            self._dns.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in nameservers]
        else:
            try:
                self._dns = dns.asyncresolver.Resolver()
            except dns.resolver.NoResolverConfiguration:
                logger.warning("no nameserver configured (/etc/resolv.conf, [dns] nameservers): "
                               "SIP hosts by name will not resolve")
                self._dns = dns.asyncresolver.Resolver(configure=False)
        self._dns.lifetime = timeout
        self._dns.cache = dns.resolver.LRUCache(cache_size)
        self.address_types = tuple(address_types)
        self._rng = rng or random.Random()
        self._inflight: dict[Query, asyncio.Future[list[Record]]] = {}

    async def locate(self, dest: Destination, supported: Collection[str]) -> list[Peer]:
        """The hops to try for ``dest``, in order (RFC 3263 §4); [] when nothing was found."""
        hops = direct(dest)
        if hops is not None:
            return [h for h in hops if h.transport in supported]
        return await self._drive(locate(dest, supported, address_types=self.address_types, rng=self._rng))

    async def _drive(self, locating: Locating) -> list[Peer]:
        try:
            batch = next(locating)
            while True:
                answers = await asyncio.gather(*(self.lookup(q) for q in batch))
                batch = locating.send(list(answers))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def lookup(self, query: Query) -> list[Record]:
        """One query's records; [] for NXDOMAIN, no data or a failed lookup. Shared while in flight."""
        pending = self._inflight.get(query)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[list[Record]] = asyncio.get_running_loop().create_future()
        self._inflight[query] = future
        try:
            records = await self._query(query)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # marked retrieved: nobody else may be waiting
            raise
        else:
            future.set_result(records)
        finally:
            del self._inflight[query]
        return records

    async def _query(self, query: Query) -> list[Record]:
        try:
            answer = await self._dns.resolve(query.name, query.rdtype, search=False, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException as exc:  # timeout, SERVFAIL from every nameserver...
            logger.info("DNS %s %s failed: %s", query.rdtype, query.name, exc)
            return []
        if answer.rrset is None:
            return []
        return [_record(rdata) for rdata in answer.rrset]


def _record(rdata: object) -> Record:
    rdtype = rdata.rdtype  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.NAPTR:
        return Naptr(rdata.order, rdata.preference, rdata.flags.decode(), rdata.service.decode(),  # type: ignore[attr-defined]
                     rdata.replacement.to_text())  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.SRV:
        return Srv(rdata.priority, rdata.weight, rdata.port, rdata.target.to_text())  # type: ignore[attr-defined]
    return rdata.address  # type: ignore[attr-defined, no-any-return]


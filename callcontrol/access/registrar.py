"""The registrar (RFC 3261 §10.3): REGISTER adds, refreshes and removes an account's contacts.

The address-of-record is the account id ("1001"): the user part of the To
URI, whatever the domain (one server is one domain). Bindings live in memory
(``contacts()`` is a dict read on the routing hot path) and in the store, so
that they survive a restart.

``BindingTable`` is the sans-I/O core: a REGISTER's facts and ``now`` in, the
response and the store operations out. ``Registrar`` is the asyncio adapter:
it authenticates, answers at once from memory, and hands the store
operations, in order, to one writer task; ``close()`` drains it.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Literal
from urllib.parse import unquote as pct_unquote

from callcontrol.access.sip_auth import RequestAuthenticator, request_user
from callcontrol.directory.service import Directory
from callcontrol.store.sqlite import Binding, Store
from sip.errors import SipParseError
from sip.headers import NameAddr, unquote
from sip.message import Request
from sip.peer import Peer
from sip.ua import IncomingRequest
from sip.uri import SipUri, parse_uri

logger = logging.getLogger(__name__)

__all__ = [
    "BindingTable",
    "RegisterFacts",
    "RegisterOutcome",
    "Registrar",
    "StoreOp",
    "binding_peer",
    "contact_key",
]

OnChange = Callable[[str, list[Binding]], None]

# What a REGISTER did (the metric's outcome label; docs/operations.md).
REGISTER_OUTCOMES = ("registered", "refreshed", "unregistered", "queried", "challenged", "forbidden",
                     "not_found", "too_brief", "invalid", "failed")

# URI parameters that take part in URI equality even when only one side has
# them (§19.1.4); any other parameter is ignored when only one side has it.
_KEY_PARAMS = ("transport", "user", "ttl", "method", "maddr")


def contact_key(uri: str) -> str:
    """A string equal for two Contact URIs that RFC 3261 §19.1.4 calls equal (nearly).

    Scheme and host compare case-insensitively, user and password exactly,
    the port only if present on both sides' spelling; transport, user, ttl,
    method and maddr parameters count. Other parameters are left out, which
    treats URIs differing only in them as equal (the RFC calls them unequal
    when both carry different values): such a re-REGISTER then replaces its
    binding instead of adding a second one. Raises ``SipParseError``, also
    for URIs other than sip:/sips: (nothing could be routed to them).
    """
    parsed = parse_uri(uri)
    if not isinstance(parsed, SipUri):
        raise SipParseError.bad("Contact is not a SIP URI")
    parts = [parsed.scheme, ":"]
    if parsed.user is not None:
        parts.append(unquote_user(parsed.user))
        if parsed.password is not None:
            parts.append(":" + parsed.password)
        parts.append("@")
    parts.append(parsed.host.lower())
    if parsed.port is not None:
        parts.append(f":{parsed.port}")
    for name in _KEY_PARAMS:
        value = parsed.params.get(name)
        if value is not None or name in parsed.params:
            parts.append(f";{name}={(value or '').lower()}")
    return "".join(parts)


def _sent_by(request: Request) -> str:
    """The top Via's sent-by, "host:port" (port 5060 when it has none)."""
    host, port = request.top_via.sent_by
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def unquote_user(user: str) -> str:
    """%-escapes decoded so that ``sip:%61lice@h`` and ``sip:alice@h`` compare equal (§19.1.4)."""
    return pct_unquote(user) if "%" in user else user


def binding_addresses(binding: Binding) -> set[tuple[str, int]]:
    """The (host, port) pairs a binding's phone sends from: its REGISTER's source and its
    Contact's address (lower-case host, no IPv6 brackets). What a trusted request is identified
    by (``callcontrol.access.identify``)."""
    out: set[tuple[str, int]] = set()
    host, _, port = binding.source.rpartition(":")
    if host and port.isdigit():
        out.add((host.strip("[]").lower(), int(port)))
    try:
        uri = parse_uri(binding.contact)
    except SipParseError:
        return out
    if isinstance(uri, SipUri):
        chost, cport = uri.address()
        out.add((chost.strip("[]").lower(), cport))
    return out


def binding_peer(binding: Binding) -> Peer:
    """Where requests for a binding go: its REGISTER's source when the registrar found the phone
    reachable only there (``reach_source``: NAT, an RFC 5626 flow, a stream), else its Contact."""
    if not binding.reach_source:
        uri = parse_uri(binding.contact)
        if isinstance(uri, SipUri):
            host, port = uri.address()
            return Peer((uri.transport or ("tls" if uri.scheme == "sips" else "udp")).upper(), host, port)
    host, _, port = binding.source.rpartition(":")
    return Peer(binding.transport.upper(), host.strip("[]"), int(port))


def _split_hostport(text: str) -> tuple[str, int | None]:
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or (host.count(":") and not host.endswith("]")):
        return text.strip("[]").lower(), None  # no port, or a bare IPv6 address
    return host.strip("[]").lower(), int(port)


def reach_source(contact: NameAddr, facts: RegisterFacts) -> bool:
    """Whether requests for ``contact`` must go where its REGISTER came from, not to the Contact.

    The phone is taken to be behind NAT, or to keep a flow, when (as Kamailio's nathelper
    ``nat_uac_test`` and FreeSWITCH decide):

    - it registered over a stream (TCP/TLS): the connection it opened is the way back;
    - the Contact names an RFC 5626 flow: ``reg-id`` (with ``+sip.instance``) or ``ob``;
    - the Contact's host is not the packet's source host (a private address behind a NAT,
      a name);
    - the top Via's sent-by is not the source (a NAT rewrote the address or the port).

    Otherwise the phone is reachable at its Contact, which may be another port of the same
    host (a SIPp register scenario beside its UAS; a phone with a separate listener).
    """
    if facts.transport != "udp":
        return True
    if "reg-id" in contact.params:
        return True
    uri = parse_uri(contact.uri)
    if not isinstance(uri, SipUri) or "ob" in uri.params:
        return True
    source_host, source_port = _split_hostport(facts.source)
    if uri.address()[0].lower() != source_host:
        return True
    if facts.sent_by:
        via_host, via_port = _split_hostport(facts.sent_by)
        if via_host != source_host or (via_port or 5060) != source_port:
            return True
    return False


# --------------------------------------------------------------------------- the core


@dataclass(frozen=True, slots=True)
class StoreOp:
    """One write the adapter must make to the store, in order."""

    kind: Literal["save", "delete", "delete_all", "purge"]
    aor: str = ""
    contact: str = ""
    binding: Binding | None = None
    now: float = 0.0


@dataclass(frozen=True, slots=True)
class RegisterFacts:
    """What the core needs of one authorised REGISTER."""

    aor: str
    call_id: str
    cseq: int
    contacts: tuple[NameAddr, ...]
    star: bool
    expires_header: int | None
    source: str  # "host:port" the REGISTER came from (responses go there too)
    transport: str  # "udp", "tcp", "tls"
    sent_by: str = ""  # "host:port" of its top Via as the phone wrote it


@dataclass(slots=True)
class RegisterOutcome:
    status: int
    reason: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    ops: list[StoreOp] = field(default_factory=list)
    changed: bool = False


def _param_expires(na: NameAddr) -> int | None:
    raw = na.params.get("expires")
    if raw is None:
        return None
    value = unquote(raw).strip()
    if not (value.isascii() and value.isdigit()):  # isdigit alone takes "²"
        raise SipParseError.bad("Malformed Contact expires")
    # delta-seconds beyond 2**32-1 are taken as that maximum (§20.19); we clamp further anyway.
    return 2**32 - 1 if len(value) > 10 else min(int(value), 2**32 - 1)


def _param_q(na: NameAddr) -> float:
    raw = na.params.get("q")
    if raw is None:
        return 1.0
    try:
        q = float(raw)
    except ValueError:
        raise SipParseError.bad("Malformed Contact q") from None
    if not 0.0 <= q <= 1.0:
        raise SipParseError.bad("Contact q out of range")
    return q


def _format_q(q: float) -> str:
    return f"{q:.3f}".rstrip("0").rstrip(".") if q != 1.0 else "1"


class BindingTable:
    """Every account's bindings, keyed by ``contact_key``; time is passed in, never read."""

    __slots__ = ("_aors", "default_expires", "max_contacts", "max_expires", "min_expires")

    def __init__(self, *, min_expires: int = 60, max_expires: int = 3600, default_expires: int = 3600,
                 max_contacts: int = 10) -> None:
        if not 0 < min_expires <= default_expires <= max_expires:
            raise ValueError("need 0 < min_expires <= default_expires <= max_expires")
        if max_contacts < 1:
            raise ValueError("max_contacts must be positive")
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self.max_contacts = max_contacts
        self._aors: dict[str, dict[str, Binding]] = {}

    def load(self, bindings: list[Binding], now: float) -> int:
        """Take bindings read from the store (expired and unparsable ones are skipped)."""
        loaded = 0
        for b in bindings:
            if b.expires_at <= now:
                continue
            try:
                key = contact_key(b.contact)
            except SipParseError:
                logger.warning("stored binding of %r has an unparsable contact; skipped", b.aor)
                continue
            self._aors.setdefault(b.aor, {})[key] = b
            loaded += 1
        return loaded

    def current(self, aor: str, now: float) -> list[Binding]:
        """Unexpired bindings, highest q first, then the most recently refreshed."""
        table = self._aors.get(aor)
        if not table:
            return []
        live = [b for b in table.values() if b.expires_at > now]
        live.sort(key=lambda b: (-b.q, -b.expires_at))
        return live

    def aors(self) -> list[str]:
        return list(self._aors)

    def __len__(self) -> int:
        return sum(len(t) for t in self._aors.values())

    def purge(self, now: float) -> list[str]:
        """Drop expired bindings; returns the AORs that lost any."""
        return list(dict.fromkeys(b.aor for b in self.purge_bindings(now)))

    def purge_bindings(self, now: float) -> list[Binding]:
        """Drop expired bindings; returns them, AOR by AOR."""
        dropped: list[Binding] = []
        for aor in list(self._aors):
            table = self._aors[aor]
            dead = [k for k, b in table.items() if b.expires_at <= now]
            if not dead:
                continue
            for k in dead:
                dropped.append(table.pop(k))
            if not table:
                del self._aors[aor]
        return dropped

    def remove_aor(self, aor: str) -> int:
        return len(self._aors.pop(aor, {}))

    def register(self, facts: RegisterFacts, now: float) -> RegisterOutcome:
        """Apply one REGISTER atomically (§10.3 steps 6-8): all of it, or nothing and an error."""
        table = self._aors.get(facts.aor, {})
        if facts.star:
            return self._remove_all(facts, table, now)
        # Validate everything and work out each contact's fate before touching anything.
        plan: list[tuple[str, str, int, float, str | None, bool]] = []
        for na in facts.contacts:
            try:
                key = contact_key(na.uri)
                expires = _param_expires(na)
                q = _param_q(na)
            except SipParseError as exc:
                return RegisterOutcome(400, exc.reason)
            if expires is None:
                expires = facts.expires_header if facts.expires_header is not None else self.default_expires
            if 0 < expires < self.min_expires:
                return RegisterOutcome(423, None, [("Min-Expires", str(self.min_expires))])
            expires = min(expires, self.max_expires)
            old = table.get(key)
            if old is not None and old.call_id == facts.call_id and facts.cseq <= old.cseq:
                return self._out_of_order(facts, old)
            instance = na.params.get("+sip.instance")
            plan.append((key, na.uri, expires, q, unquote(instance) if instance else None,
                         reach_source(na, facts)))
        new_table = dict(table)
        ops: list[StoreOp] = []
        for key, uri, expires, q, instance, by_source in plan:
            old = new_table.get(key)
            if expires == 0:
                if old is not None:
                    del new_table[key]
                    ops.append(StoreOp("delete", facts.aor, old.contact))
                continue
            if old is not None and old.contact != uri:
                # Same binding, spelt differently: the store's key is the spelling.
                ops.append(StoreOp("delete", facts.aor, old.contact))
            b = Binding(facts.aor, uri, now + expires, facts.call_id, facts.cseq, q, facts.source,
                        facts.transport, instance, by_source)
            new_table[key] = b
            ops.append(StoreOp("save", facts.aor, uri, b))
        live = sum(1 for b in new_table.values() if b.expires_at > now)
        if live > self.max_contacts:
            return RegisterOutcome(403, "Too Many Contacts")
        if new_table:
            self._aors[facts.aor] = new_table
        else:
            self._aors.pop(facts.aor, None)
        return self._ok(facts.aor, now, ops)

    def _remove_all(self, facts: RegisterFacts, table: dict[str, Binding], now: float) -> RegisterOutcome:
        if facts.expires_header != 0 or facts.contacts:
            return RegisterOutcome(400, "Contact * Needs Expires: 0")
        for old in table.values():
            if old.call_id == facts.call_id and facts.cseq <= old.cseq:
                return self._out_of_order(facts, old)
        self._aors.pop(facts.aor, None)
        ops = [StoreOp("delete_all", facts.aor)] if table else []
        return self._ok(facts.aor, now, ops)

    @staticmethod
    def _out_of_order(facts: RegisterFacts, old: Binding) -> RegisterOutcome:
        # §10.3 step 7: the update "MUST be aborted and the request fails"; 500
        # with Retry-After is what other registrars answer.
        logger.info("REGISTER for %r out of order: CSeq %d <= %d (Call-ID %s)",
                    facts.aor, facts.cseq, old.cseq, facts.call_id)
        return RegisterOutcome(500, "Out Of Order CSeq", [("Retry-After", "1")])

    def _ok(self, aor: str, now: float, ops: list[StoreOp]) -> RegisterOutcome:
        headers: list[tuple[str, str]] = []
        for b in self.current(aor, now):
            params = f";expires={max(0, round(b.expires_at - now))}"
            if b.q != 1.0:
                params += f";q={_format_q(b.q)}"
            headers.append(("Contact", f"<{b.contact}>{params}"))
        headers.append(("Date", formatdate(now, usegmt=True)))
        return RegisterOutcome(200, None, headers, ops, changed=bool(ops))


# --------------------------------------------------------------------------- the adapter


class Registrar:
    """REGISTER handling for the UA core, with bindings in memory and in the store.

    ``handle_register`` is synchronous (it never waits on the store): call
    it from the UA's ``on_request`` for REGISTER. ``contacts(account_id)`` is
    what routing reads.
    """

    def __init__(
        self,
        directory: Directory,
        authenticator: RequestAuthenticator,
        *,
        min_expires: int = 60,
        max_expires: int = 3600,
        default_expires: int = 3600,
        max_contacts: int = 10,
        purge_interval: float = 30.0,
        clock: Callable[[], float] = time.time,
        on_change: OnChange | None = None,
    ) -> None:
        self.directory = directory
        self.authenticator = authenticator
        self.table = BindingTable(min_expires=min_expires, max_expires=max_expires,
                                  default_expires=default_expires, max_contacts=max_contacts)
        self.purge_interval = purge_interval
        self.on_change = on_change
        self._clock = clock
        self._writes: asyncio.Queue[StoreOp] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._purger: asyncio.Task[None] | None = None
        # REGISTERs by outcome (REGISTER_OUTCOMES) and bindings dropped by expiry: the metrics.
        self.outcomes: dict[str, int] = {}
        self.expired = 0
        # (host, port) -> the accounts registered from or at that address, the latest last
        # (account_at); kept in step with the table wherever an account's bindings change (_changed).
        self._by_address: dict[tuple[str, int], list[str]] = {}
        self._addresses_of: dict[str, set[tuple[str, int]]] = {}

    @property
    def store(self) -> Store:
        return self.directory.store

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Load the persisted bindings (expired ones are purged), start the writer and the purge."""
        now = self._clock()
        purged = await self.store.purge_expired_bindings(now)
        loaded = self.table.load(await self.store.load_bindings(), now)
        for aor in self.table.aors():
            self._index(aor, self.table.current(aor, now))
        logger.info("registrar: %d bindings restored, %d expired ones purged", loaded, purged)
        self._writer = asyncio.create_task(self._write_loop(), name="registrar-writer")
        self._purger = asyncio.create_task(self._purge_loop(), name="registrar-purge")

    async def flush(self) -> None:
        """Wait until every store write queued so far is done."""
        await self._writes.join()

    async def close(self) -> None:
        """Stop the purge, write what is queued, stop the writer (the store stays open)."""
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger
            self._purger = None
        if self._writer is not None:
            if not self._writer.done():
                await self._writes.join()
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None

    # -- queries --------------------------------------------------------------------------------
    def contacts(self, account_id: str) -> list[Binding]:
        """The account's current (unexpired) bindings, highest q first. ``binding_peer`` gives the source."""
        return self.table.current(account_id, self._clock())

    def account_at(self, host: str, port: int) -> str | None:
        """The account with a live binding registered from, or contacting at, ``host:port``."""
        address = (host.strip("[]").lower(), port)
        for aor in reversed(self._by_address.get(address, ())):
            # The latest to register there, unless that binding expired (and is not purged yet).
            if any(address in binding_addresses(b) for b in self.contacts(aor)):
                return aor
        return None

    # -- REGISTER -------------------------------------------------------------------------------
    def handle_register(self, incoming: IncomingRequest) -> None:
        """Authenticate, apply and answer one REGISTER (always sends a final response)."""
        outcome = self._register(incoming)
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def _register(self, incoming: IncomingRequest) -> str:
        """``handle_register``'s work; returns the outcome counted (one of REGISTER_OUTCOMES)."""
        request = incoming.request
        refusal = self._precheck(request)
        if refusal is not None:
            incoming.respond(refusal.status, refusal.reason, headers=refusal.headers)
            return "invalid"
        who = self.authenticator.check(incoming, proxy=False)
        if who is None:
            # The authenticator answered: a challenge, or a refusal it logged with its reason.
            sent = incoming.tx.last_response
            return "challenged" if sent is not None and sent.status == 401 else "forbidden"
        aor = request_user(request.to.uri)
        if who == "trusted":
            if aor is None or self.directory.account_by_id(aor) is None:
                incoming.respond(404, "Not Found")
                return "not_found"
        elif aor != who.id:
            logger.info("REGISTER: %r may not register %r", who.id, aor)
            incoming.respond(403, "Forbidden")
            return "forbidden"
        assert aor is not None
        peer = incoming.peer
        host = f"[{peer.host}]" if ":" in peer.host else peer.host
        try:
            facts = RegisterFacts(
                aor=aor, call_id=request.call_id, cseq=request.cseq, contacts=tuple(request.contacts),
                star=request.star_contact, expires_header=request.expires, source=f"{host}:{peer.port}",
                transport=peer.transport.lower(), sent_by=_sent_by(request),
            )
        except SipParseError as exc:
            incoming.respond(400, exc.reason)
            return "invalid"
        now = self._clock()
        before = {b.contact: b for b in self.table.current(aor, now)}
        outcome = self.table.register(facts, now)
        incoming.respond(outcome.status, outcome.reason, headers=outcome.headers)
        if outcome.status != 200:
            return {423: "too_brief", 403: "forbidden", 400: "invalid"}.get(outcome.status, "failed")
        for op in outcome.ops:
            self._writes.put_nowait(op)
        after = {b.contact: b for b in self.table.current(aor, now)}
        added = [c for c in after if c not in before]
        removed = [c for c in before if c not in after]
        if logger.isEnabledFor(logging.INFO):
            for contact in added:
                expires = round(after[contact].expires_at - now)
                logger.info("registration %s: registered %s from %s %s, expires %d s", aor, contact,
                            facts.transport, facts.source, expires,
                            extra={"event": "registered", "aor": aor, "contact": contact,
                                   "source": f"{facts.transport}:{facts.source}", "expires_s": expires})
            for contact in removed:
                logger.info("registration %s: unregistered %s from %s %s", aor, contact, facts.transport,
                            facts.source, extra={"event": "unregistered", "aor": aor, "contact": contact,
                                                 "source": f"{facts.transport}:{facts.source}"})
        if outcome.changed:
            self._changed(aor, now)
        if added:
            return "registered"
        if removed or facts.star:
            return "unregistered"
        return "refreshed" if facts.contacts else "queried"

    @staticmethod
    def _precheck(request: Request) -> RegisterOutcome | None:
        """§10.3 steps 1-2, before any authentication: what no credentials can fix."""
        try:
            ruri = request.ruri
        except SipParseError:
            return RegisterOutcome(400, "Bad Request-URI")
        if not isinstance(ruri, SipUri):
            return RegisterOutcome(416)
        try:
            aor_uri = request.to.parsed_uri()
        except SipParseError:
            return RegisterOutcome(400, "Malformed To")
        if not isinstance(aor_uri, SipUri):
            # The address-of-record "MUST be a SIP URI or SIPS URI" (§10.2; RFC 4475 §3.3.4: 400).
            return RegisterOutcome(400, "To Is Not A SIP URI")
        required = request.headers.get_all("require")
        if required:
            # We support no extension a REGISTER may require (path, outbound, gruu).
            return RegisterOutcome(420, None, [("Unsupported", ", ".join(required))])
        return None

    # -- expiry ---------------------------------------------------------------------------------
    def purge(self, now: float | None = None) -> int:
        """Drop expired bindings from memory and (queued) from the store; returns AORs touched."""
        if now is None:
            now = self._clock()
        dropped = self.table.purge_bindings(now)
        self.expired += len(dropped)
        touched = list(dict.fromkeys(b.aor for b in dropped))
        if logger.isEnabledFor(logging.INFO):
            for b in dropped:
                logger.info("registration %s: expired %s", b.aor, b.contact,
                            extra={"event": "expired", "aor": b.aor, "contact": b.contact})
        self._writes.put_nowait(StoreOp("purge", now=now))
        for aor in touched:
            self._changed(aor, now)
        return len(touched)

    def forget_account(self, account_id: str) -> None:
        """Drop an account's bindings (the account was removed; the store already deleted its rows)."""
        if self.table.remove_aor(account_id):
            self._changed(account_id, self._clock())

    def _index(self, aor: str, bindings: list[Binding]) -> None:
        """Point the address index at ``aor``'s current bindings (the latest to register an address
        comes first for it; one that leaves gives it back to the others there)."""
        index = self._by_address
        for address in self._addresses_of.pop(aor, ()):
            aors = index.get(address)
            if aors is not None and aor in aors:
                aors.remove(aor)
                if not aors:
                    del index[address]
        addresses: set[tuple[str, int]] = set()
        for binding in bindings:
            addresses |= binding_addresses(binding)
        if addresses:
            self._addresses_of[aor] = addresses
            for address in addresses:
                index.setdefault(address, []).append(aor)

    def _changed(self, aor: str, now: float) -> None:
        current = self.table.current(aor, now)
        self._index(aor, current)
        hook = self.on_change
        if hook is None:
            return
        try:
            hook(aor, current)
        except Exception:
            logger.exception("registrar on_change hook failed for %r", aor)

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(self.purge_interval)  # a periodic timer, not a synchronisation
            self.purge()

    async def _write_loop(self) -> None:
        while True:
            op = await self._writes.get()
            try:
                await self._apply(op)
            except Exception:
                # The binding stays in memory; the phone's next refresh writes it again.
                logger.exception("registrar: store write %s for %r failed", op.kind, op.aor)
            finally:
                self._writes.task_done()

    async def _apply(self, op: StoreOp) -> None:
        store = self.store
        if op.kind == "save":
            assert op.binding is not None
            await store.save_binding(op.binding)
        elif op.kind == "delete":
            await store.delete_binding(op.aor, op.contact)
        elif op.kind == "delete_all":
            await store.delete_bindings(op.aor)
        else:
            await store.purge_expired_bindings(op.now)

"""Where a call goes (SPEC "Routing", docs/pbx.md): an account's contacts, a ring group, a hunt
list, a forwarding, a time rule, an IVR menu or access number, a queue, a system target,
the trunk, or nowhere.

Pure decision: the number dialled, the directory, its dialplan (``callcontrol.pbx.model``),
the registrar's bindings, the trunk URI and the time in; a :class:`Route` out. No I/O.

- a directory account: its registered contacts (forked in parallel when several),
  else its static contact; neither: 480 (not reachable now). Its forwarding applies:
  ``always`` routes to the forwarding's target at once, ``busy`` / ``noanswer`` (after N s)
  / ``unreachable`` are the route's failover;
- a ring group: one stage, every member at once; a hunt list: one stage per member;
  each member rings for its ring time; the group's failover follows the stages;
- a time rule: its match or nomatch target, by the customer's local time (the route is
  the target's: a time rule is not a party of the call);
- an IVR menu, a call queue, ``sys:echo``: answered by the server (``MENU``, ``QUEUE``,
  ``ECHO``); ``sys:busy`` is 486, ``sys:hangup`` 603;
- an IVR access number (``7000`` in the demo): answered by the server for the IVR
  application;
- anything else: the configured trunk, or 404 when there is none.

Every route remembers the numbers it went through (``path``) and the accounts that
forwarded it (``forwarders``); a number met twice on one path ends routing with 482
"routing loop via 600 -> 610 -> 600" (so does a path longer than :data:`MAX_HOPS`).
When a ringing route fails, :func:`next_hop` says where it goes for that outcome and
the caller routes that target with the returned :class:`Via`.
"""
from __future__ import annotations

import enum
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from callcontrol.pbx.model import (
    EMPTY_DIALPLAN,
    TARGET_HEADERS,
    CallQueue,
    Dialplan,
    Failover,
    HuntList,
    Menu,
    RingGroup,
    TimeRule,
    split_target,
)

from sip.errors import SipParseError
from sip.locate import Destination, destination_of, is_ip
from sip.peer import Peer
from sip.uri import SipUri, TelUri, parse_uri

logger = logging.getLogger(__name__)


class RouteKind(enum.Enum):
    ACCOUNT = "account"  # an account's contacts (its forwarding's failover, if any)
    IVR = "ivr"  # an IVR access number: the IVR application drives the call
    TRUNK = "trunk"
    REJECT = "reject"
    RING = "ring"  # a ring group or hunt list: stages of members
    MENU = "menu"  # an IVR menu the server plays itself
    QUEUE = "queue"  # a call queue (the queue engine's)
    ECHO = "echo"  # sys:echo: the server answers and sends the caller's audio back


# Kinds that ring phones: their ``stages`` (or ``targets``) are INVITEd.
RINGING_KINDS = frozenset({RouteKind.ACCOUNT, RouteKind.TRUNK, RouteKind.RING})
# Kinds the server answers itself.
ANSWERED_KINDS = frozenset({RouteKind.IVR, RouteKind.MENU, RouteKind.QUEUE, RouteKind.ECHO})

MAX_HOPS = 16  # numbers on one routing path (dialled, forwarded, failed over) before 482
LOOP_STATUS = 482
BUSY_STATUSES = frozenset({486, 600, 603})


class Outcome(enum.Enum):
    """Why a ringing route ended unanswered: what its failover is chosen by."""

    BUSY = "busy"  # 486, 600, 603
    NOANSWER = "noanswer"  # rang its ring time (we CANCELled it)
    UNREACHABLE = "unreachable"  # no contact, no response, any other error


@dataclass(slots=True, frozen=True)
class Target:
    """One destination of leg B: the Request-URI to send and the next hop.

    A host given by name has ``locate`` set: the hops are looked up (RFC 3263) when the
    INVITE is sent, and ``peer`` only names the host until then."""

    uri: str
    peer: Peer
    locate: Destination | None = None


@dataclass(slots=True, frozen=True)
class Endpoint:
    """One party a ringing route calls: an account (every contact of it) or a trunk number."""

    number: str  # the account id or outside number
    targets: tuple[Target, ...]
    account: Any = None  # the directory Account, None for the trunk
    ring_time: int | None = None  # seconds it rings before it counts as no answer (None: no limit)
    forwarders: tuple[str, ...] = ()  # accounts that forwarded the call to it, in order
    huntgroup_id: str | None = None  # the group it rings on behalf of


Stage = tuple[Endpoint, ...]  # rung together; the next stage when every one failed


@dataclass(slots=True, frozen=True)
class Hop:
    """A failover: the target, and the account whose forwarding it is (None: a group's)."""

    target: str
    forwarder: str | None = None


@dataclass(slots=True, frozen=True)
class Failovers:
    busy: Hop | None = None
    noanswer: Hop | None = None
    unreachable: Hop | None = None

    def get(self, outcome: Outcome) -> Hop | None:
        if outcome is Outcome.BUSY:
            return self.busy
        if outcome is Outcome.NOANSWER:
            return self.noanswer
        return self.unreachable


NO_FAILOVERS = Failovers()


@dataclass(slots=True, frozen=True)
class Via:
    """How routing got to a number: the numbers before it, the accounts that forwarded."""

    path: tuple[str, ...] = ()
    forwarders: tuple[str, ...] = ()


@dataclass(slots=True, frozen=True)
class Route:
    kind: RouteKind
    number: str
    targets: tuple[Target, ...] = ()  # ringing kinds: every contact of the first stage
    account: Any = None  # the callee's directory Account (ACCOUNT)
    ivr_an: Any = None  # the IvrAccessNumber (IVR)
    status: int = 0  # REJECT: the SIP status to answer
    reason: str = ""
    stages: tuple[Stage, ...] = ()  # ringing kinds (empty: one stage of ``targets``)
    failover: Failovers = NO_FAILOVERS
    path: tuple[str, ...] = ()  # numbers routed through, dialled first
    forwarders: tuple[str, ...] = ()  # accounts that forwarded the call here, in order
    huntgroup_id: str | None = None  # RING: the group's number
    i_customer: int | None = None  # RING, MENU, QUEUE: the customer owning the number
    pbx: Any = None  # MENU: the Menu; QUEUE: the CallQueue; RING: the RingGroup or HuntList

    def ring_stages(self) -> tuple[Stage, ...]:
        """What to ring, stage by stage (a route made with ``targets`` only is one stage)."""
        if self.stages:
            return self.stages
        return ((Endpoint(self.number, self.targets, self.account, forwarders=self.forwarders),),)

    @property
    def via(self) -> Via:
        return Via(self.path, self.forwarders)


def dialled_number(request_uri: str) -> str | None:
    """The user part of a sip:/sips: Request-URI or a tel: number (None when there is none),
    %-escapes decoded (§19.1.4) and user parameters (``;phone-context=``) dropped."""
    try:
        uri = parse_uri(request_uri)
    except SipParseError:
        return None
    if isinstance(uri, SipUri):
        user = uri.user
    elif isinstance(uri, TelUri):
        user = uri.number
    else:
        return None
    if not user:
        return None
    user = user.split(";", 1)[0]
    if "%" in user:
        user = unquote(user)
    return user or None


def target_for_uri(uri_text: str, *, user: str | None = None) -> Target | None:
    """A target from a URI (a static contact, a trunk, a registered contact); ``user``
    replaces the URI's user part (the trunk gets the dialled number). A host by name is
    marked for RFC 3263 lookup (``Target.locate``); IPs and localhost need none."""
    try:
        uri = parse_uri(uri_text)
    except SipParseError:
        return None
    if not isinstance(uri, SipUri):
        return None
    host, port = uri.address()
    if host == "localhost":
        host = "127.0.0.1"
    transport = (uri.transport or ("tls" if uri.scheme == "sips" else "udp")).upper()
    if transport not in ("UDP", "TCP", "TLS"):
        return None
    if user is not None:
        uri.user = user
    if not is_ip(host):
        return Target(str(uri), Peer(transport, host, port), locate=destination_of(uri))
    return Target(str(uri), Peer(transport, host, port))


def target_for_binding(binding: Any) -> Target | None:
    """A registered contact: the Request-URI is the contact; the next hop is where its
    REGISTER came from when the registrar recorded it and found the phone reachable only
    there (``reach_source``: NAT, an RFC 5626 flow, a stream; docs/sip.md), else the
    contact's own address."""
    contact = getattr(binding, "contact", None) or getattr(binding, "contact_uri", None)
    if not contact:
        return None
    target = target_for_uri(str(contact))
    if target is None:
        return None
    if not getattr(binding, "reach_source", True):
        return target
    host = getattr(binding, "source_host", None)
    port = getattr(binding, "source_port", None)
    source = getattr(binding, "source", None)
    if (host is None or port is None) and isinstance(source, str) and ":" in source:
        h, _, p = source.rpartition(":")
        if p.isdigit():
            host, port = h.strip("[]"), int(p)
    if host and port:
        transport = str(getattr(binding, "source_transport", None) or getattr(binding, "transport", None)
                        or target.peer.transport).upper()
        return Target(target.uri, Peer(transport, str(host), int(port)))
    return target


ContactsOf = Callable[[str], Sequence[Any]]


def route(number: str | None, *, directory: Any, contacts: ContactsOf | None, trunk_uri: str | None,
          dialplan: Dialplan | None = None, via: Via | None = None, now: float | None = None,
          rng: random.Random | None = None) -> Route:
    """Decide where a call to ``number`` goes (see the module doc).

    ``number`` is a dialled number or a target as a time rule, a menu or a failover names
    it (``grp:600``, ``sys:busy``); ``via`` says how routing got there (a failover: see
    :func:`next_hop`); ``now`` (epoch seconds, default the clock) is what time rules see;
    ``rng`` shuffles random hunt lists."""
    resolver = _Resolver(directory, contacts, trunk_uri, dialplan if dialplan is not None else EMPTY_DIALPLAN,
                         time.time() if now is None else now, rng)
    return resolver.resolve(number, via or Via())


def next_hop(route: Route, outcome: Outcome) -> tuple[str, Via] | None:
    """Where a ringing ``route`` goes when it ended with ``outcome``: the target to route and the
    :class:`Via` to route it with (an account's own forwarding joins the forwarders); None when
    it has no failover for that outcome."""
    hop = route.failover.get(outcome)
    if hop is None:
        return None
    forwarders = route.forwarders + ((hop.forwarder,) if hop.forwarder else ())
    return hop.target, Via(route.path, forwarders)


def outcome_of(status: int, *, gave_up: bool) -> Outcome:
    """What one endpoint's final response means: ``gave_up`` when its 487 answers our CANCEL
    after its ring time."""
    if gave_up:
        return Outcome.NOANSWER
    if status in BUSY_STATUSES:
        return Outcome.BUSY
    return Outcome.UNREACHABLE


def combined_outcome(outcomes: Iterable[Outcome]) -> Outcome:
    """A group's outcome from its endpoints': no answer if any rang unanswered, else busy if any
    was busy, else unreachable."""
    seen = set(outcomes)
    if Outcome.NOANSWER in seen:
        return Outcome.NOANSWER
    if Outcome.BUSY in seen:
        return Outcome.BUSY
    return Outcome.UNREACHABLE


def _reject(number: str, status: int, reason: str, via: Via, account: Any = None) -> Route:
    return Route(RouteKind.REJECT, number, account=account, status=status, reason=reason, path=via.path,
                 forwarders=via.forwarders)


_SYSTEM = {"busy": (486, "Busy Here"), "hangup": (603, "Decline")}


class _Resolver:
    """One routing decision's inputs; :meth:`resolve` recurses through nested targets."""

    __slots__ = ("contacts", "dialplan", "directory", "now", "rng", "trunk_uri")

    def __init__(self, directory: Any, contacts: ContactsOf | None, trunk_uri: str | None, dialplan: Dialplan,
                 now: float, rng: random.Random | None) -> None:
        self.directory = directory
        self.contacts = contacts
        self.trunk_uri = trunk_uri
        self.dialplan = dialplan
        self.now = now
        self.rng = rng

    def resolve(self, ref: str | None, via: Via) -> Route:
        if not ref:
            return _reject("", 404, "Not Found", via)
        header, number = split_target(ref)
        if header == "sys":
            return self._system(number, via)
        if not number:
            return _reject("", 404, "Not Found", via)
        if number in via.path:
            return _reject(number, LOOP_STATUS, "routing loop via " + " -> ".join((*via.path, number)), via)
        if len(via.path) >= MAX_HOPS:
            return _reject(number, LOOP_STATUS, f"routing too deep: more than {MAX_HOPS} numbers via "
                           + " -> ".join(via.path), via)
        here = Via((*via.path, number), via.forwarders)
        wants = TARGET_HEADERS.get(header) if header is not None else None
        account = self.directory.account_by_id(number)
        if account is not None:
            if wants is not None and "account" not in wants:
                return _reject(number, 404, f"{number} is an account, not {header}:", via)
            return self._account(number, account, here)
        entry = self.dialplan.number(number)
        if entry is not None:
            if wants is not None and entry.KIND not in wants:
                return _reject(number, 404, f"{number} is a {entry.KIND}, not {header}:", via)
            return self._pbx(entry, here)
        ivr_an = self.directory.ivr_an_by_number(number)
        if ivr_an is not None:
            if wants is not None and "ivr" not in wants:
                return _reject(number, 404, f"{number} is an IVR access number, not {header}:", via)
            return Route(RouteKind.IVR, number, ivr_an=ivr_an, path=here.path, forwarders=via.forwarders)
        if header is not None:
            return _reject(number, 404, f"no {header}: {number}", via)
        if self.trunk_uri:
            target = target_for_uri(self.trunk_uri, user=number)
            if target is None:
                logger.error("trunk URI %r is not a usable sip: URI", self.trunk_uri)
                return _reject(number, 503, "Service Unavailable", via)
            endpoint = Endpoint(number, (target,), forwarders=via.forwarders)
            return Route(RouteKind.TRUNK, number, (target,), stages=((endpoint,),), path=here.path,
                         forwarders=via.forwarders)
        return _reject(number, 404, "Not Found", via)

    def _system(self, name: str, via: Via) -> Route:
        name = name.lower()
        if name == "echo":
            return Route(RouteKind.ECHO, "sys:echo", path=via.path, forwarders=via.forwarders)
        status = _SYSTEM.get(name)
        if status is None:
            return _reject(f"sys:{name}", 404, f"no system target sys:{name}", via)
        return _reject(f"sys:{name}", status[0], status[1], via)

    def _targets_of(self, account: Any) -> tuple[Target, ...]:
        targets: list[Target] = []
        seen: set[str] = set()
        for binding in self.contacts(account.id) if self.contacts is not None else ():
            target = target_for_binding(binding)
            if target is not None and target.uri not in seen:
                seen.add(target.uri)
                targets.append(target)
        if not targets and account.static_contact:
            target = target_for_uri(account.static_contact)
            if target is not None:
                targets.append(target)
        return tuple(targets)

    def _account(self, number: str, account: Any, via: Via) -> Route:
        forwarding = self.dialplan.forwarding(account.id)
        if forwarding is not None and forwarding.always:
            return self.resolve(forwarding.always, Via(via.path, (*via.forwarders, account.id)))
        failover = NO_FAILOVERS
        ring_time = None
        if forwarding is not None:
            failover = Failovers(
                busy=Hop(forwarding.busy, account.id) if forwarding.busy else None,
                noanswer=Hop(forwarding.noanswer, account.id) if forwarding.noanswer else None,
                unreachable=Hop(forwarding.unreachable, account.id) if forwarding.unreachable else None)
            if forwarding.noanswer:
                ring_time = forwarding.noanswer_after
        targets = self._targets_of(account)
        if not targets:
            if forwarding is not None and forwarding.unreachable:
                return self.resolve(forwarding.unreachable, Via(via.path, (*via.forwarders, account.id)))
            return _reject(number, 480, "Temporarily Unavailable", via, account)
        endpoint = Endpoint(number, targets, account, ring_time, via.forwarders)
        return Route(RouteKind.ACCOUNT, number, targets, account=account, stages=((endpoint,),), failover=failover,
                     path=via.path, forwarders=via.forwarders)

    def _pbx(self, entry: Any, via: Via) -> Route:
        if isinstance(entry, TimeRule):
            local = datetime.fromtimestamp(self.now, self.dialplan.zone(entry.i_customer))
            target = entry.match if entry.period.matches(local) else entry.nomatch
            return self.resolve(target, via)
        if isinstance(entry, RingGroup | HuntList):
            return self._group(entry, via)
        kind = RouteKind.MENU if isinstance(entry, Menu) else RouteKind.QUEUE
        assert isinstance(entry, Menu | CallQueue)
        failover = _group_failovers(entry.failover) if isinstance(entry, CallQueue) else NO_FAILOVERS
        return Route(kind, entry.number, pbx=entry, i_customer=entry.i_customer, failover=failover, path=via.path,
                     forwarders=via.forwarders)

    def _group(self, group: RingGroup | HuntList, via: Via) -> Route:
        per_member: list[Stage] = []  # each member's endpoints (a nested ring group has several)
        seen: set[str] = set()
        for member in group.members:
            found = self._member(group, member.number, member.ring_time or group.ring_time, via)
            if isinstance(found, Route):
                return found  # a loop through a member: the whole group is refused
            fresh = tuple(e for e in found if e.number not in seen)
            seen.update(e.number for e in fresh)
            if fresh:
                per_member.append(fresh)
        if isinstance(group, HuntList):
            if group.order == "random":
                (self.rng or random).shuffle(per_member)
            stages: tuple[Stage, ...] = tuple(per_member)
        else:
            stages = (tuple(e for endpoints in per_member for e in endpoints),) if per_member else ()
        failover = _group_failovers(group.failover)
        if not stages:
            if failover.unreachable is not None:
                return self.resolve(failover.unreachable.target, via)
            return Route(RouteKind.REJECT, group.number, status=480, reason="Temporarily Unavailable",
                         path=via.path, forwarders=via.forwarders, huntgroup_id=group.number,
                         i_customer=group.i_customer)
        return Route(RouteKind.RING, group.number, tuple(t for e in stages[0] for t in e.targets), stages=stages,
                     failover=failover, path=via.path, forwarders=via.forwarders, huntgroup_id=group.number,
                     i_customer=group.i_customer, pbx=group)

    def _member(self, group: RingGroup | HuntList, ref: str, ring_time: int, via: Via) -> list[Endpoint] | Route:
        """The endpoints one member rings (an account after its ``always`` forwarding, every
        member of a nested ring group); a loop is returned as its REJECT route."""
        _header, number = split_target(ref)
        if self.directory.account_by_id(number) is None and self.dialplan.number(number) is None:
            # Removed since the group was made: not the trunk's (members are never outside numbers).
            logger.warning("%s %s: member %s is not in the directory; left out", group.KIND, group.number, number)
            return []
        found = self.resolve(ref, via)
        if found.kind is RouteKind.REJECT:
            if found.status == LOOP_STATUS:
                return found
            return []  # a member not reachable now is left out
        if found.kind not in RINGING_KINDS:
            logger.warning("%s %s: member %s is a %s, which cannot ring in a group; left out",
                           group.KIND, group.number, ref, found.kind.value)
            return []
        # The group's ring time replaces the member's own (an account's noanswer forwarding);
        # the member's failover does not apply in a group; a nested group's members ring on
        # behalf of the outer group (each level sets its own number, the outermost last).
        return [replace(e, ring_time=ring_time, huntgroup_id=group.number)
                for stage in found.ring_stages() for e in stage]


def _group_failovers(failover: Failover) -> Failovers:
    return Failovers(busy=Hop(failover.busy) if failover.busy else None,
                     noanswer=Hop(failover.noanswer) if failover.noanswer else None,
                     unreachable=Hop(failover.unreachable) if failover.unreachable else None)

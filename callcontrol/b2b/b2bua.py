"""The back-to-back user agent: an INVITE becomes a ``Call`` with leg A (we answer) and leg B
(we call), each its own dialog with its own Call-ID and tags.

This module is the intake and the lifecycle (``B2bua``: authorise, route, create
the call, RTP inactivity check, shutdown); one call's signalling is
``callcontrol.b2b.call.B2bCall`` and the modules around it (``outgoing``, ``relay``,
``reinvite``, ``session_timers``). Flow of one call:

- leg A's INVITE is authorised (digest account or trusted address), routed
  (``callcontrol.b2b.routing``: accounts, ring groups, hunt lists, forwarding, time
  rules, ..., docs/pbx.md) and, unless media anchoring is off, given a
  :class:`~callcontrol.b2b.anchor.MediaAnchor`;
- leg B is one INVITE per contact of every endpoint of the route's stage (a ring
  group's members and several registered contacts fork in parallel; a hunt list rings
  stage after stage, ``callcontrol.b2b.hunt``); 1xx are relayed to A (``ringing``, or
  ``early`` with SDP), the first 2xx answers A and CANCELs the other forks; when every
  fork failed the route's failover is routed, or A gets the best failure;
- a route the server answers itself (an IVR access number, sys:echo, an IVR menu) is answered here;
  a queue is handed to the queue engine (``B2bua.queues``);
- we ACK B's 2xx ourselves (late offer: once A's ACK brings the answer), and match A's
  ACK through the dialog registered with the UA core;
- CANCEL from A cancels B; BYE from either side BYEs the other; re-INVITE, UPDATE
  and other in-dialog requests pass through with their SDP rewritten;
- every leg state change is one CallInfo (``callcontrol.model.calls``); when the last leg
  ends the call's CDRs go to ``cdr_sink``.

Hold seen in pass-through re-offers (sendonly/inactive or c=0.0.0.0) moves the
offering leg to ``holding`` and the other to ``held``; a plain re-offer moves both
back to ``connected``. RTP inactivity on an answered, anchored call ends it with BYE
both ways (reason ``RTP timeout``).
"""
from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import time
from collections.abc import Callable
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from callcontrol.b2b import call_report, menu, outgoing, session_timers
from callcontrol.b2b.anchor import MediaAnchor
from callcontrol.b2b.call import (
    REASON_NO_IVR_APP,
    REASON_RTP_TIMEOUT,
    REASON_SHUTDOWN,
    TRUSTED,
    B2bCall,
)
from callcontrol.b2b.call_machine import CallEvent
from callcontrol.b2b.cdrs import call_cdrs
from callcontrol.b2b.context import CallContext, Teardowns
from callcontrol.b2b.leg_media import LegMedia
from callcontrol.b2b.relay import Inbound
from callcontrol.b2b.side_machine import SideEvent
from callcontrol.b2b.routing import RINGING_KINDS, Endpoint, Route, RouteKind, dialled_number
from callcontrol.b2b.sides import ALLOW, Side, UasSide, local_contact
from callcontrol.model.callinfo import CallInfo, CallState, Party, RoutingKey, routing_keys
from callcontrol.model.calls import Call, CallRegistry
from callcontrol.ops.histogram import LOOP_LAG_BUCKETS, POST_DIAL_DELAY_BUCKETS, SETUP_BUCKETS, Histogram
from callcontrol.store.sqlite import Cdr
from ivr.echo import Echo
from ivr.ports import PortPairAllocator, PortsExhausted
from ivr.prompts import PromptError
from sip.dialog import Dialog, new_tag
from sip.errors import SipParseError
from sip.message import SDP, Request, has_sdp
from sip.peer import Peer
from sip.sdp import SdpParseError
from sip.session_timer import RejectWith, SessionTimer, SessionTimerHeaderError
from sip.ua import IncomingRequest, UserAgent
from sip.uri import SipUri, parse_uri

logger = logging.getLogger(__name__)

__all__ = ["TRUSTED", "Authorizer", "B2bCall", "B2bua", "B2buaSettings", "B2buaStats"]


class Authorizer(Protocol):
    """``callcontrol.access.sip_auth.RequestAuthenticator``: an Account, "trusted", or None after it
    answered the request itself (401/407/403). May return an awaitable of the same."""

    def check(self, incoming: IncomingRequest, *, proxy: bool) -> Any: ...


# ``router(number)`` for a dialled number; ``router(target, via)`` for a failover target (how the
# call got there: the path for loop detection, the forwarders).
Router = Callable[..., Route]
CdrSink = Callable[[Cdr], None]


@dataclass(slots=True)
class B2buaSettings:
    media_anchor: bool = True
    media_host: str = "127.0.0.1"
    rtp_timeout: float = 60.0  # seconds without RTP/RTCP from a leg that should send: BYE both
    ring_timeout: float = 180.0  # seconds leg B may ring unanswered: CANCEL it, 480 to A
    shutdown_grace: float = 3.0  # seconds to wait for BYE/CANCEL answers on shutdown
    session_timers: bool = True  # RFC 4028 on every leg (Session-Expires, refreshes, BYE on expiry)
    session_interval: int = 1800  # seconds we ask for
    min_se: int = 90  # the shortest interval we accept (RFC 4028 floor; lower only for tests)
    # Overload: when the event loop runs this many seconds late, new INVITEs get 503 for
    # ``overload_hold`` s, so the calls already up keep their timing (0: never shed).
    overload_lag: float = 1.0
    overload_hold: float = 2.0
    ivr_fallback_url: str | None = None  # prompt for IVR callers when no application listens
    ivr_fallback_seconds: float = 3.0  # otherwise: this long of the bundled music, then BYE


class QueueEngine(Protocol):
    """The seam for call queues (docs/pbx.md, "Queues"): a dialled call whose route (or
    failover) reached a queue number is handed over with leg A unanswered and the call's
    media open; ``route.pbx`` is the
    :class:`~callcontrol.pbx.model.CallQueue`, ``route.failover`` its failover, ``route.via``
    how the call got there."""

    def take(self, call: B2bCall, route: Route) -> None: ...


class Intake(enum.Enum):
    """Whether the B2BUA takes new calls: the server's drain and stop are moves of this."""

    OPEN = "open"  # new INVITEs and originates are taken
    DRAINING = "draining"  # new ones get 503 + Retry-After; the calls up go on to their end
    CLOSED = "closed"  # shutting down: every call is being ended, the watch timers are stopped


# Intake moves only forward (a drain cannot be undone, a shutdown is final).
_INTAKE_MOVES = {Intake.OPEN: {Intake.DRAINING, Intake.CLOSED}, Intake.DRAINING: {Intake.CLOSED},
                 Intake.CLOSED: set()}

# Retry-After of the 503 a draining server answers new INVITEs with: long enough that a
# phone or proxy tries another node rather than this one again (RFC 3261 §21.5.4).
DRAIN_RETRY_AFTER = 60


@dataclass(slots=True)
class B2buaStats:
    invites: int = 0
    calls: int = 0
    answered: int = 0
    failed: int = 0
    cancelled: int = 0
    rtp_timeouts: int = 0
    shed: int = 0  # INVITEs refused with 503 while overloaded
    loop_lag_max: float = 0.0  # the latest the lag watch ever fired (s): the worst event-loop stall
    rtp_received: int = 0  # RTP packets from phones, counted when a call's media closes
    rtp_sent: int = 0  # RTP packets to phones (relayed, prompts, music)
    # Read at scrape time by callcontrol.ops.metrics (docs/operations.md, "Metrics").
    outcomes: dict[str, int] = field(default_factory=dict)  # ended calls by call_report.OUTCOMES
    post_dial_delay: Histogram = field(default_factory=lambda: Histogram(POST_DIAL_DELAY_BUCKETS))
    setup_time: Histogram = field(default_factory=lambda: Histogram(SETUP_BUCKETS))
    loop_lag: Histogram = field(default_factory=lambda: Histogram(LOOP_LAG_BUCKETS))
    # The lag watch's latest lateness values (/health judges the loop by the worst of them).
    loop_lag_recent: deque[float] = field(default_factory=lambda: deque(maxlen=LAG_WINDOW))
    dtmf: dict[str, int] = field(default_factory=dict)  # digits reported, by method (rfc2833/info/inband)


LAG_WINDOW = 20  # lag-watch samples kept for /health: 5 s at one every 0.25 s


class B2bua:
    """Owns the calls; the server hands it every out-of-dialog INVITE."""

    def __init__(self, ua: UserAgent, *, directory: Any, registry: CallRegistry, router: Router,
                 authorizer: Authorizer, settings: B2buaSettings | None = None,
                 allocator: PortPairAllocator | None = None, cdr_sink: CdrSink | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.ua = ua
        self.directory = directory
        self.registry = registry
        self.router = router
        self.authorizer = authorizer
        self.settings = settings or B2buaSettings()
        self.allocator = allocator
        self.cdr_sink = cdr_sink
        self.wall = wall
        self.stats = B2buaStats()
        self.intake = Intake.OPEN
        self._no_calls = asyncio.Event()
        self._no_calls.set()
        self.calls: dict[str, B2bCall] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.teardowns = Teardowns()  # BYE/CANCEL sent and not yet answered (shutdown waits for them)
        # What every call gets from here (nothing that points back at the B2BUA or the calls).
        self.ctx = CallContext(ua=ua, settings=self.settings, stats=self.stats, teardowns=self.teardowns,
                               wall=wall)
        self._idle_timer: asyncio.TimerHandle | None = None
        self._lag_timer: asyncio.TimerHandle | None = None
        self._lag_due = 0.0
        self.shed_until = 0.0  # loop time until which new INVITEs are refused (overload)
        self.fetcher: Any = None  # ivr.prompts.PromptFetcher (the server sets it)
        # Whether any API client listens for a routing key (the hub's router); None: assume yes.
        self.app_watching: Callable[[RoutingKey], bool] | None = None
        # The account a request from a trusted source speaks for (callcontrol.access.identify;
        # the server sets it); None: trusted requests belong to no account.
        self.identify: Callable[[Request, Peer], Any] | None = None
        # What calls need of routing: a failover target routed, its parties, answering one here.
        self.ctx.route = lambda target, via: self.router(target, via)
        self.ctx.party = self.party_for
        self.ctx.answer_here = self._answer_failover
        # The call-queue engine (the queue step of issue 13); without one a queue's number is 480.
        self.queues: QueueEngine | None = None
        registry.on_call_ended = self._call_ended
        if self.settings.media_anchor and allocator is None:
            raise ValueError("media anchoring needs a port allocator")

    @property
    def accepting(self) -> bool:
        """Whether new calls are taken (neither draining nor shutting down)."""
        return self.intake is Intake.OPEN

    def _move_intake(self, to: Intake) -> bool:
        if to not in _INTAKE_MOVES[self.intake]:
            return False
        self.intake = to
        return True

    def drain(self) -> bool:
        """Take no new calls; the calls up go on. False when already draining or closed."""
        return self._move_intake(Intake.DRAINING)

    def add_call(self, bcall: B2bCall) -> None:
        """A new call is up (until the registry says it ended)."""
        self.calls[bcall.call.id] = bcall
        self._no_calls.clear()

    async def wait_no_calls(self) -> None:
        """Return once no call is up (at once when none is)."""
        await self._no_calls.wait()

    def loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the RTP inactivity check (again, with the current settings, when called twice)."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self.settings.media_anchor:
            self._arm_idle_check()
        if self._lag_timer is not None:
            self._lag_timer.cancel()
            self._lag_timer = None
        if self.settings.overload_lag > 0:
            self._arm_lag_watch()

    _LAG_INTERVAL = 0.25

    def _arm_lag_watch(self) -> None:
        loop = asyncio.get_running_loop()
        self._lag_due = loop.time() + self._LAG_INTERVAL
        self._lag_timer = loop.call_at(self._lag_due, self._lag_watch)

    def _lag_watch(self) -> None:
        """How late this timer fires is how far the loop is behind its work."""
        now = self.loop_time()
        late = now - self._lag_due
        settings = self.settings
        stats = self.stats
        if late > stats.loop_lag_max:
            stats.loop_lag_max = late
        stats.loop_lag.observe(late)
        stats.loop_lag_recent.append(late)
        if late > settings.overload_lag:
            if now >= self.shed_until:
                logger.warning("event loop %.1f s behind: refusing new calls for %.0f s", late,
                               settings.overload_hold)
            self.shed_until = now + settings.overload_hold
        if self.intake is not Intake.CLOSED:
            self._arm_lag_watch()

    def _arm_idle_check(self) -> None:
        interval = max(0.05, min(5.0, self.settings.rtp_timeout / 4))
        self._idle_timer = asyncio.get_running_loop().call_later(interval, self._idle_check)

    def _idle_check(self) -> None:
        now = self.loop_time()
        limit = self.settings.rtp_timeout
        for bcall in list(self.calls.values()):
            media = bcall.media
            if media is None or bcall.ending or not any(s.leg.answered for s in bcall.live_sides()):
                continue
            if media.idle_for(now) > limit:
                logger.info("call %s: no RTP for %.0f s, ending it", bcall.call.id, limit)
                self.stats.rtp_timeouts += 1
                bcall.hangup(REASON_RTP_TIMEOUT)
        if self.intake is not Intake.CLOSED:
            self._arm_idle_check()

    async def shutdown(self) -> None:
        """Refuse new calls, end every call (BYE/CANCEL), wait a little for the answers."""
        self._move_intake(Intake.CLOSED)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        if self._lag_timer is not None:
            self._lag_timer.cancel()
        for bcall in list(self.calls.values()):
            bcall.hangup(REASON_SHUTDOWN, 503)
        for task in list(self._tasks):
            task.cancel()
        if self.teardowns.pending:
            try:
                await asyncio.wait_for(self.teardowns.wait(), self.settings.shutdown_grace)
            except TimeoutError:
                logger.warning("shutdown: %d BYE/CANCEL still unanswered", self.teardowns.pending)

    def _call_ended(self, call: Call) -> None:
        bcall = self.calls.pop(call.id, None)
        sink = self.cdr_sink
        cdrs: list[Cdr] = []
        if sink is not None:
            try:
                cdrs = call_cdrs(call, bcall)  # before cleanup: it reads the sides
            except Exception:
                logger.exception("CDRs of call %s: engine fields not added", call.id)
                cdrs = call.cdrs()
        call_report.ended(self.stats, call, bcall.report_route if bcall is not None else "-")
        if bcall is not None:
            bcall.cleanup()
        if sink is not None:
            for cdr in cdrs:
                try:
                    sink(cdr)
                except Exception:
                    logger.exception("CDR of call %s not stored", call.id)
        if not self.calls:
            self._no_calls.set()

    # -- new calls ----------------------------------------------------------------------------
    def handle_invite(self, incoming: IncomingRequest) -> None:
        self.stats.invites += 1
        if self.intake is not Intake.OPEN:
            if self.intake is Intake.DRAINING:
                incoming.respond(503, "Draining", headers=[("Retry-After", str(DRAIN_RETRY_AFTER))])
            else:
                incoming.respond(503, headers=[("Retry-After", "5")])
            return
        if self.shed_until and self.loop_time() < self.shed_until:
            self.stats.shed += 1
            incoming.respond(503, "Overloaded", headers=[("Retry-After", str(round(self.settings.overload_hold)))])
            return
        # Require (420), the Request-URI scheme (416) and the body type (415) were checked by the
        # UA core (sip/uas_checks.py) before the INVITE got here.
        result = self.authorizer.check(incoming, proxy=True)
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(self._authorized_later(incoming, result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self._authorized(incoming, result)

    async def _authorized_later(self, incoming: IncomingRequest, pending: Any) -> None:
        self._authorized(incoming, await pending)

    def _authorized(self, incoming: IncomingRequest, who: Any) -> None:
        if who is None or incoming.final_sent:
            return  # the authenticator answered (401/407/403)
        request = incoming.request
        if request.call_id in self.calls:
            incoming.respond(482)  # a second INVITE of a call we already handle (merged request)
            return
        number = dialled_number(request.uri)
        route = self.router(number)
        if route.kind is RouteKind.REJECT:
            incoming.respond(route.status, route.reason)
            return
        if route.kind is RouteKind.IVR and self.allocator is None:
            incoming.respond(480, "IVR Not Available")  # the IVR needs the media plane
            return
        if route.kind not in RINGING_KINDS and route.kind is not RouteKind.IVR and self.allocator is None:
            incoming.respond(480, "Not Available")  # echo, menus and queues need the media plane
            return
        caller = self._caller_party(incoming, who)
        callee = self.party_for(route)
        if route.kind is RouteKind.IVR:
            caller.access_number = route.number  # SipCallerInfo.access_number: entered through this IVR
        mf = request.max_forwards
        if mf is not None and mf <= 0:
            incoming.respond(483)
            return
        timer = None
        settings = self.settings
        if settings.session_timers:
            try:
                timer = SessionTimer.from_request(request, settings.min_se, interval=settings.session_interval)
            except SessionTimerHeaderError as exc:
                incoming.respond(exc.status, exc.reason)
                return
            if isinstance(timer, RejectWith):
                incoming.respond(timer.status, timer.reason, headers=timer.headers())
                return
        transport = incoming.peer.transport
        host, port = self.ua.local_address(transport)
        tag = new_tag()
        call = self.registry.new_call(request.call_id)
        bcall = B2bCall(self.ctx, call)
        bcall.route = route.kind.value
        leg = call.add_leg(tag=tag, sip_call_id=request.call_id, type="outgoing", caller=caller,
                           callee=callee, transport_id=f"{host}:{port}", now=self.wall())
        contact_user = route.number if ":" not in route.number else "b2bua"  # not "sys:echo"
        a = UasSide(bcall, leg, call, incoming, local_contact(self.ua, transport, contact_user), tag)
        a.session_timer = timer  # starts with our 2xx
        bcall.a = a
        bcall.seat(a)
        try:
            a.dialog = Dialog.from_uas(request, tag, a.contact, now=self.loop_time())
        except SipParseError:
            bcall.reject(400, "Missing Contact header", reason="bad request")
            return
        call.dialog_tag(leg, a.dialog.remote_tag)  # the phone's From tag names the leg too
        self.add_call(bcall)
        self.stats.calls += 1
        call_report.started(bcall, f"{route.kind.value} {route.number}" if route.number else route.kind.value)
        self.ua.register_dialog(request.call_id, tag, Inbound(a))
        incoming.on_cancel = bcall.a_cancelled
        if route.kind not in RINGING_KINDS:
            self._spawn(self._answer_here(bcall, route))
        elif self.settings.media_anchor:
            self._spawn(self._start_with_media(bcall, route))
        else:
            outgoing.ring_route(bcall, route)

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def open_media(self) -> MediaAnchor:
        if self.allocator is None:
            raise PortsExhausted("media anchoring is off")
        return await MediaAnchor.open(self.allocator, self.settings.media_host)

    async def _media_for(self, bcall: B2bCall) -> MediaAnchor | None:
        """Open the call's media anchor; None when there are no ports (the caller got 503) or
        the call ended while the ports were being bound."""
        try:
            media = await self.open_media()
        except (PortsExhausted, OSError) as exc:
            logger.warning("call %s: no media ports: %s", bcall.call.id, exc)
            if not bcall.ending:
                bcall.reject(503, "Service Unavailable", reason="no media ports")
            return None
        if bcall.ending:
            media.close()
            return None
        bcall.media = media
        return media

    async def _start_with_media(self, bcall: B2bCall, route: Route) -> None:
        if await self._media_for(bcall) is not None:
            outgoing.ring_route(bcall, route)

    def _caller_party(self, incoming: IncomingRequest, who: Any) -> Party:
        """Leg A's caller: the account the INVITE authenticated as, or (from a trusted source)
        the account it is identified as (``identify``: its registered address or its From user,
        docs/portasip-compat.md, "Who a call belongs to"), else the From user with no account.
        ``display_id`` is the number the From presents, whoever the caller turned out to be."""
        request = incoming.request
        from_na = request.from_
        try:
            uri = parse_uri(from_na.uri)
            user = uri.user if isinstance(uri, SipUri) and uri.user else from_na.uri
        except SipParseError:
            user = "anonymous"
        if who == TRUSTED and self.identify is not None:
            who = self.identify(request, incoming.peer) or TRUSTED
        if who != TRUSTED and getattr(who, "i_account", None) is not None:
            keys = routing_keys(self.directory, i_account=who.i_account)
            return Party(id=who.id, account_id=who.id, display_id=user,
                         display_name=who.display_name or None,
                         extension_id=who.extension or None, **keys)
        return Party(id=user, display_id=user, display_name=from_na.display_name or None)

    def party_for(self, route: Route, endpoint: Endpoint | None = None) -> Party:
        """The party a route reaches (leg A's callee): a directory account, a ring group or hunt
        list (``huntgroup_id``), an IVR access number, a number a customer owns, or a number;
        with ``endpoint``, the party one fork calls (an account or a number, ringing on behalf
        of ``huntgroup_id``). Both list the accounts that forwarded the call (``forwarder_list``)."""
        if endpoint is not None:
            return self._party(endpoint.number, endpoint.account, endpoint.huntgroup_id, endpoint.forwarders)
        ivr_an = route.ivr_an
        if ivr_an is not None:
            keys = routing_keys(self.directory, i_ivr_an=ivr_an.i_ivr_an)
            return Party(id=route.number, access_number=route.number, forwarder_list=route.forwarders, **keys)
        party = self._party(route.number, route.account, route.huntgroup_id, route.forwarders)
        if route.account is None and route.i_customer is not None and self.directory is not None:
            keys = routing_keys(self.directory, i_customer=route.i_customer)
            party.i_customer, party.i_main_office = keys["i_customer"], keys["i_main_office"]
        return party

    def _party(self, number: str, account: Any, huntgroup_id: str | None,
               forwarders: tuple[str, ...]) -> Party:
        if account is not None:
            keys = routing_keys(self.directory, i_account=account.i_account)
            return Party(id=account.id, account_id=account.id, display_name=account.display_name or None,
                         extension_id=account.extension or None, huntgroup_id=huntgroup_id,
                         forwarder_list=forwarders, **keys)
        return Party(id=number, huntgroup_id=huntgroup_id, forwarder_list=forwarders)

    # -- calls the server answers itself: the IVR, sys:echo, menus, queues --------------------
    def _answer_failover(self, bcall: B2bCall, route: Route) -> None:
        """A failover led a ringing call to a target the server answers (the forks are over)."""
        self._spawn(self._answer_here(bcall, route))

    async def _answer_here(self, bcall: B2bCall, route: Route) -> None:
        if route.kind is RouteKind.QUEUE:
            queues = self.queues
            if queues is None:
                bcall.reject(480, "Temporarily Unavailable", reason=f"queue {route.number}: no queue engine")
                return
            if bcall.media is None and await self._media_for(bcall) is None:
                return
            queues.take(bcall, route)
            return
        if not await self._answer(bcall, route):
            return
        a = bcall.a
        assert a is not None
        if route.kind is RouteKind.MENU:
            listener = menu.Listener(self.registry.published)
            control = self.leg_media(a, publish=listener)
            await menu.serve(bcall, a, route, control, listener, route_target=lambda target, via: self.router(
                target, via), party_of=self.party_for)
            return
        if route.kind is RouteKind.ECHO:
            assert bcall.media is not None
            Echo(bcall.media.endpoint(a.index))  # held by the endpoint until the media closes
            return
        watching = self.app_watching
        if watching is not None and not watching(("i_ivr_an", route.ivr_an.i_ivr_an)):
            await self._ivr_fallback(bcall, a)

    async def _answer(self, bcall: B2bCall, route: Route) -> bool:
        """Answer leg A with the server's own SDP (the call's media, opened now if need be)."""
        media = bcall.media if bcall.media is not None else await self._media_for(bcall)
        if media is None or bcall.ending:
            return False
        if route.kind is RouteKind.IVR:
            bcall.ivr_an = route.ivr_an
        a = bcall.a
        assert a is not None and a.dialog is not None
        request = a.incoming.request
        try:
            body = media.own_answer(0, request.body) if has_sdp(request) else media.own_offer(0)
        except SdpParseError as exc:
            bcall.reject(488, "Not Acceptable Here", reason=f"bad SDP: {exc}")
            return False
        headers = [("Contact", a.contact), ("Allow", ALLOW), ("Content-Type", SDP)]
        if a.session_timer is not None:
            headers.extend(a.session_timer.response_headers())
        response = a.incoming.respond(200, to_tag=a.tag, headers=headers, body=body)
        a.dialog.response_sent(request, response)
        session_timers.start(bcall, a, a.session_timer)
        bcall.side_step(a, SideEvent.ANSWER)
        call_report.answered(bcall)
        bcall.fire(CallEvent.ANSWERED_HERE)
        return True

    async def _ivr_fallback(self, bcall: B2bCall, side: Side) -> None:
        """Nobody drives this IVR: the caller hears the fallback, then the call ends."""
        logger.info("call %s: no application for IVR %s, playing the fallback", bcall.call.id, bcall.ivr_an.number)
        control = self.leg_media(side)
        settings = self.settings
        seconds = settings.ivr_fallback_seconds
        try:
            prompt = await control.play_prompt(settings.ivr_fallback_url) if settings.ivr_fallback_url else None
        except PromptError as exc:
            logger.warning("call %s: IVR fallback prompt: %s", bcall.call.id, exc)
            prompt = None
        if prompt is not None:
            seconds = prompt.duration
        else:
            control.start_moh()
        await asyncio.sleep(seconds)  # the fallback's own length: the caller hears it, then BYE
        if not bcall.ending and not side.ended:
            bcall.hangup(REASON_NO_IVR_APP)

    # -- call-control support ------------------------------------------------------------------
    def leg_media(self, side: Side, publish: Callable[[CallInfo], None] | None = None) -> LegMedia:
        """The prompt/DTMF/music control of a side's media endpoint (made on first use; what it
        publishes goes to ``publish``, default the registry's: an IVR menu listens in)."""
        control = side.media_control
        if control is None:
            media = side.call.media
            if media is None:
                raise PortsExhausted("this call's media is not anchored")
            control = side.media_control = LegMedia(media.endpoint(side.index), side.leg,
                                                     publish or self.registry.published, self.fetcher,
                                                     dtmf_counts=self.stats.dtmf)
        return control

    def side_by_dialog(self, call_id: str, to_tag: str, from_tag: str) -> Side | None:
        """The live side whose dialog a Replaces header names (RFC 3891: to-tag is ours)."""
        for bcall in self.calls.values():
            for side in bcall.live_sides():
                dialog = side.dialog
                if dialog is None or dialog.call_id != call_id:
                    continue
                if {dialog.local_tag, dialog.remote_tag} == {to_tag, from_tag}:
                    return side
        return None

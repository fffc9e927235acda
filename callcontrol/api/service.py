"""The call-control API as one object: what every connection shares.

:class:`CallControlApi` holds the session service, the subscription index
(:class:`~callcontrol.api.events.EventRouter`), the one live-leg index
(:class:`~callcontrol.model.calls.CallRegistry`) and the
:class:`~callcontrol.actions.engine.CallEngine` the handlers drive. It knows no
transport: a WebSocket hub (``callcontrol.ws.hub``) opens one
:class:`~callcontrol.api.client_context.ClientContext` per connection, passes
each frame to the :class:`~callcontrol.api.dispatcher.Dispatcher` and sends what
comes back; notifications reach the connection through its feed.

:meth:`CallControlApi.publish` is the registry's publish hook: it finds the feeds
subscribed to a leg's routing keys and, only when there are any, encodes the leg
once. Nothing on that path awaits.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Protocol

from callcontrol.access.throttle import LoginThrottle
from callcontrol.api.client_context import ClientContext, Transport
from callcontrol.api.events import EventRouter, notification_tail
from callcontrol.api.ordering import current_command
from callcontrol.api.sessions import DEFAULT_IDLE_TIMEOUT, Session, SessionService
from callcontrol.directory.model import DirectoryView
from callcontrol.model.callinfo import CallInfo, CallState
from callcontrol.model.calls import CallRegistry

if TYPE_CHECKING:
    from callcontrol.actions.engine import CallEngine
    from callcontrol.store.sqlite import Cdr, CdrQuery


class CdrSource(Protocol):
    """Where ``get_cdr_list`` reads: the store (``callcontrol.store.sqlite.Store``)."""

    async def query_cdrs(self, call_id: str | None = None, *, query: CdrQuery | None = None) -> list[Cdr]: ...

logger = logging.getLogger(__name__)


class CallControlApi:
    """Sessions, subscriptions, the live legs and the engine; see the module docstring.

    ``engine`` may be attached later (``api.engine = ...``); until then commands are
    answered ``sip.call_control_disabled``; so is ``get_cdr_list`` until ``cdrs`` (the
    store's CDR query) is attached. ``disabled_methods``: CallControl methods
    switched off. ``time_offset``: seconds added to UTC in notification times.
    """

    def __init__(self, *, directory: DirectoryView, registry: CallRegistry, engine: CallEngine | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 session_idle_timeout: float = DEFAULT_IDLE_TIMEOUT, replay_buffer: int = 2048,
                 disabled_methods: Collection[str] = (), allowed_realms: Collection[str] | None = None,
                 throttle: LoginThrottle | None = None, time_offset: int = 0) -> None:
        self.registry = registry
        self.engine = engine
        self.cdrs: CdrSource | None = None
        self.clock = clock
        self.replay_buffer = replay_buffer
        self.disabled_methods = frozenset(disabled_methods)
        self.time_offset = time_offset
        self.router = EventRouter()
        self.sessions = SessionService(directory, clock=clock, idle_timeout=session_idle_timeout,
                                       throttle=throttle, allowed_realms=allowed_realms,
                                       on_end=self._session_ended)
        self.counters: Counter[str] = Counter()
        # Requests by (Service.method, outcome: "ok" or the error code): the server's metrics.
        self.requests_by_method: dict[tuple[str, str], int] = {}

    def open(self, transport: Transport, remote_ip: str | None) -> ClientContext:
        """The API state of a new connection whose frames go out through ``transport``."""
        return ClientContext(transport, remote_ip, sessions=self.sessions, replay_buffer=self.replay_buffer,
                             clock=self.clock, counters=self.counters)

    def publish(self, info: CallInfo) -> int:
        """Fan out one leg snapshot; returns the number of feeds it went to. Call on the loop thread."""
        self.counters["published"] += 1
        base_id = info.call.base_id
        cmd = current_command.get()
        if cmd is not None:
            cmd.relate(base_id)
        feeds = self.router.targets(info.audience())
        if not feeds:
            # Nobody subscribed to this leg (a trunk call, a load test): no JSON work at all.
            # The snapshot is encoded lazily if a get_sip_calls_list asks for it.
            return 0
        fresh = self._first_news(info)
        tail = notification_tail(info.encoded(self.time_offset))
        for feed in feeds:
            feed.deliver(tail, base_id, fresh)
        return len(feeds)

    def _first_news(self, info: CallInfo) -> bool:
        """Whether ``info`` is a call's first snapshot (its first leg, trying): such news may be
        the outcome of an originate still in flight (see ``callcontrol.api.ordering``)."""
        if info.state is not CallState.TRYING:
            return False
        call = self.registry.call(info.call.base_id)
        return call is not None and len(call.legs) == 1

    def sweep(self) -> int:
        """Expire idle sessions now (the hub runs this periodically); returns how many ended."""
        return self.sessions.expire()

    def stats(self) -> dict[str, int]:
        return {"sessions": len(self.sessions), "subscribed_keys": self.router.key_count,
                "live_legs": sum(1 for _ in self.registry.live_legs()), **self.counters}

    def _session_ended(self, session: Session) -> None:
        for feed in session.feeds:
            self.router.drop_session(feed, session.id)
        session.feeds.clear()

"""What a call needs from the B2BUA around it, passed down instead of the B2BUA itself.

A :class:`~callcontrol.b2b.call.B2bCall` gets one :class:`CallContext` (shared by every
call): the UA to send with, the settings, the counters, the clocks, where a REFER
goes, and how a failover target is routed, who its parties are and who answers it.
Nothing in it points back at the calls, so a finished call is referenced by nobody
(docs/architecture.md, "Timers and references").
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from callcontrol.b2b.routing import Endpoint, Route, RouteKind, Via
from callcontrol.model.callinfo import Party
from sip.locate import Destination
from sip.peer import Peer
from sip.ua import IncomingRequest, UserAgent

if TYPE_CHECKING:
    from callcontrol.b2b.sides import Side


class Teardowns:
    """BYEs and CANCELs in flight (shutdown waits for their answers)."""

    __slots__ = ("_count", "_idle")

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def pending(self) -> int:
        return self._count

    def started(self) -> Callable[[], None]:
        """Count one in flight; call the returned function (once or more) when it is answered."""
        self._count += 1
        self._idle.clear()
        finished = False

        def done() -> None:
            nonlocal finished
            if finished:
                return
            finished = True
            self._count -= 1
            if self._count == 0:
                self._idle.set()

        return done

    async def wait(self) -> None:
        await self._idle.wait()


def _no_refer(side: Side, incoming: IncomingRequest) -> None:
    incoming.respond(501)


def _no_route(target: str | None, via: Via) -> Route:
    return Route(RouteKind.REJECT, target or "", status=404, reason="Not Found", path=via.path)


def _bare_party(route: Route, endpoint: Endpoint | None) -> Party:
    return Party(id=endpoint.number if endpoint is not None else route.number)


def _nobody_answers(call: Any, route: Route) -> None:
    call.reject(480, "Temporarily Unavailable", reason=f"{route.kind.value} not available")


@dataclass(slots=True, eq=False)
class CallContext:
    ua: UserAgent
    settings: Any  # callcontrol.b2b.b2bua.B2buaSettings
    stats: Any  # callcontrol.b2b.b2bua.B2buaStats
    teardowns: Teardowns
    wall: Callable[[], float]  # epoch seconds (CallInfo times)
    # A REFER from a phone (callcontrol.actions.transfer.refer, wired by the engine).
    refer: Callable[[Side, IncomingRequest], None] = _no_refer
    # RFC 3263: the hops of a host given by name (sip.resolver.Resolver.locate over the UA's
    # transports, wired by the server); None: names cannot be reached.
    locate: Callable[[Destination], Awaitable[list[Peer]]] | None = None
    # Lookups in flight (a task is only weakly held by the loop).
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    # A failover target routed (the B2BUA's router, with how the call got there), the party
    # of a route (leg A's callee) or of one endpoint (a fork's callee), and a target the
    # server answers itself reached by a failover (sys:echo, an IVR; set by the B2BUA). The
    # call is untyped here so that the context stays below the call module.
    route: Callable[[str | None, Via], Route] = _no_route
    party: Callable[[Route, Endpoint | None], Party] = _bare_party
    answer_here: Callable[[Any, Route], None] = _nobody_answers

    @staticmethod
    def loop_time() -> float:
        return asyncio.get_running_loop().time()

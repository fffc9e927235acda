"""What a call needs from the B2BUA around it, passed down instead of the B2BUA itself.

A :class:`~callcontrol.b2b.call.B2bCall` gets one :class:`CallContext` (shared by every
call): the UA to send with, the settings, the counters, the clocks and where a REFER
goes. Nothing in it points back at the calls, so a finished call is referenced by
nobody (docs/architecture.md, "Timers and references").
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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

    @staticmethod
    def loop_time() -> float:
        return asyncio.get_running_loop().time()

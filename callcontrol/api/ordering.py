"""Response-before-notifications: the per-connection command barrier.

SPEC: the response to a command is always sent before the first notification
the command causes. A command's effects can reach ``CallControlApi.publish`` three ways:

1. synchronously inside the engine call, or from tasks/callbacks the engine
   starts while serving it (they inherit the request task's context);
2. later, from SIP-side events (a 180/200/BYE from the network), in the SIP
   transport's context, possibly while the engine call is still awaiting;
3. after the response (the common case) — nothing to do.

Case 2 for a call that did not exist when the command started (originate's
new call, first published from the network side before originate returned)
cannot be matched by id; commands that create calls are therefore marked,
and while one is in flight on C, the first notification of any *new* call
for C relates that call to every such command.

Mechanism: while a command runs on connection C, C's :class:`CommandBarrier`
*blocks* the calls it is about, by base call id (``"X~10"`` counts as ``X``):
the ids named in its params (``call``, ``to_call``), plus the id of every leg
published from inside the command's context (``current_command`` context
variable; this is how originate's brand-new call gets blocked before anyone
knows its id). A notification for C about a blocked call is *parked* on C
instead of being numbered and sent. When the command's response is decided,
the command finishes: its ids are unblocked and the parked notifications that
are now free are numbered and returned by the dispatcher behind the response
(``Reply.after``), in their original order; the transport sends both without
awaiting in between. Notifications for other calls, and for other
connections, are never held back.

Parked notifications keep per-call order: an entry is only passed over while
its call is blocked, and then every later entry for that call is too.
"""
from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Command(Generic[T]):
    """One in-flight command on one connection."""

    __slots__ = ("barrier", "creates_calls", "done", "related")

    def __init__(self, barrier: CommandBarrier[T], creates_calls: bool = False) -> None:
        self.barrier = barrier
        self.related: set[str] = set()
        self.done = False
        self.creates_calls = creates_calls

    def relate(self, base_id: str) -> None:
        """Block ``base_id`` on this command's connection until the command finishes."""
        if self.done or base_id in self.related:
            return
        self.related.add(base_id)
        blocked = self.barrier.blocked
        blocked[base_id] = blocked.get(base_id, 0) + 1


# The command whose handler is running in this context (None elsewhere).
current_command: ContextVar[Command | None] = ContextVar("current_command", default=None)


class CommandBarrier(Generic[T]):
    """Per-connection state: blocked call ids and the notifications parked behind them."""

    __slots__ = ("blocked", "creators", "parked")

    def __init__(self) -> None:
        self.blocked: dict[str, int] = {}
        self.parked: deque[tuple[str, T]] = deque()
        self.creators: set[Command[T]] = set()  # in-flight commands that create calls

    def begin(self, base_ids: Iterable[str], creates_calls: bool = False) -> Command[T]:
        cmd: Command[T] = Command(self, creates_calls)
        for base_id in base_ids:
            cmd.relate(base_id)
        if creates_calls:
            self.creators.add(cmd)
        return cmd

    def holds(self, base_id: str, fresh: bool = False) -> bool:
        """Whether a notification about ``base_id`` must wait (``fresh``: the call is new)."""
        blocked = self.blocked
        if blocked and base_id in blocked:
            return True
        if fresh and self.creators:
            for cmd in self.creators:
                cmd.relate(base_id)
            return True
        return False

    def park(self, base_id: str, item: T) -> None:
        self.parked.append((base_id, item))

    def finish(self, cmd: Command[T]) -> list[T]:
        """Unblock ``cmd``'s calls; return the parked items now free, oldest first."""
        if cmd.done:
            return []
        cmd.done = True
        self.creators.discard(cmd)
        blocked = self.blocked
        for base_id in cmd.related:
            n = blocked.get(base_id, 0) - 1
            if n > 0:
                blocked[base_id] = n
            else:
                blocked.pop(base_id, None)
        if not self.parked:
            return []
        released: list[T] = []
        kept: deque[tuple[str, T]] = deque()
        for base_id, item in self.parked:
            if base_id in blocked:
                kept.append((base_id, item))
            else:
                released.append(item)
        self.parked = kept
        return released

    def drain(self) -> list[T]:
        """Everything parked (the connection is going away)."""
        items = [item for _, item in self.parked]
        self.parked.clear()
        return items

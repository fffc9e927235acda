"""The one owner of a call's timers: the watchdog, each placed leg's ring timeout, each
side's session timer, a re-INVITE waiting to retry.

Every timer of a call is armed here under a key and cancelled here: re-arming a key
replaces its timer, a timer that fires leaves the table before its callback runs, and
:meth:`CallTimers.cancel_all` (when the call finishes) leaves nothing behind that
could fire into a finished call or keep it alive.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable

WATCHDOG = "watchdog"  # leg B's ring_timeout, then leg A's ACK (one at a time)
RING = "ring"  # a placed leg's ring_timeout (per side)
SESSION = "session"  # RFC 4028 refresh or expiry (per side)
REINVITE_RETRY = "reinvite retry"  # a re-INVITE that met the phone's own (per side)

TimerKey = tuple[str, str]  # (kind, side tag or "")


class CallTimers:
    __slots__ = ("_handles",)

    def __init__(self) -> None:
        self._handles: dict[TimerKey, tuple[asyncio.TimerHandle, Callable[[], None]]] = {}

    def arm(self, key: TimerKey, delay: float, fire: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        self.arm_at(key, loop.time() + max(0.0, delay), fire)

    def arm_at(self, key: TimerKey, when: float, fire: Callable[[], None]) -> None:
        self.cancel(key)
        handle = asyncio.get_running_loop().call_at(when, self._fire, key, fire)
        self._handles[key] = (handle, fire)

    def _fire(self, key: TimerKey, fire: Callable[[], None]) -> None:
        self._handles.pop(key, None)
        fire()

    def move_side(self, tag: str, to: CallTimers) -> None:
        """A side moves to another call (attended transfer): its timers go with it, same deadlines."""
        for key in [k for k in self._handles if k[1] == tag]:
            handle, fire = self._handles.pop(key)
            handle.cancel()
            to.arm_at(key, handle.when(), fire)

    def armed(self, key: TimerKey) -> bool:
        return key in self._handles

    def cancel(self, key: TimerKey) -> None:
        entry = self._handles.pop(key, None)
        if entry is not None:
            entry[0].cancel()

    def cancel_side(self, tag: str) -> None:
        """Every timer of one side (it ended, or moved to another call)."""
        for key in [k for k in self._handles if k[1] == tag]:
            self.cancel(key)

    def cancel_all(self) -> None:
        entries = list(self._handles.values())
        self._handles.clear()
        for handle, _fire in entries:
            handle.cancel()

    def __len__(self) -> int:
        return len(self._handles)

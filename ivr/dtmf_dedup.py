"""Report a key press once when it arrives by several methods at once.

A phone may signal one press as RFC 4733 events *and* SIP INFO (or leave the tone in
the audio as well).  The methods report at different moments: RFC 4733 and in-band
detection know the duration only when the key is released, INFO arrives when it is
pressed.  Each report is therefore turned into the time interval the press occupied,
and a report of the same digit by a *different* method whose interval overlaps (or comes
within ``tolerance`` seconds of) an earlier report's is the same press.  Each earlier
report absorbs at most one report per other method, so pressing the same key twice
quickly still gives two digits.  Sans-I/O: time is passed in.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

#: methods whose report comes when the key is released (their interval ends at ``now``)
REPORTED_AT_END = frozenset({"rfc2833", "inband"})


@dataclass(slots=True)
class _Press:
    digit: str
    start: float
    end: float
    methods: set[str] = field(default_factory=set)


class DtmfDeduplicator:
    __slots__ = ("_recent", "duplicates", "memory", "tolerance")

    def __init__(self, tolerance: float = 0.2, memory: float = 5.0) -> None:
        self.tolerance = tolerance
        self.memory = memory
        self._recent: deque[_Press] = deque()
        self.duplicates = 0

    def accept(self, digit: str, method: str, now: float, duration_ms: int = 0) -> bool:
        """True when this report is a new press (report it); False when it repeats a press
        already reported by another method."""
        duration = max(duration_ms, 0) / 1000.0
        if method in REPORTED_AT_END:
            start, end = now - duration, now
        else:
            start, end = now, now + duration
        recent = self._recent
        horizon = now - self.memory
        while recent and recent[0].end < horizon:
            recent.popleft()
        tolerance = self.tolerance
        for press in recent:
            if (
                press.digit == digit
                and method not in press.methods
                and start <= press.end + tolerance
                and press.start <= end + tolerance
            ):
                press.methods.add(method)
                self.duplicates += 1
                logger.debug("DTMF %s by %s duplicates an earlier report", digit, method)
                return False
        recent.append(_Press(digit, start, end, {method}))
        return True

    def clear(self) -> None:
        self._recent.clear()

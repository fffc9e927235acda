"""One INFO line per SIP request the server refused, with the response it got (docs/operations.md, "Logs").

The UA calls :meth:`RefusalLog.__call__` after each final error response of the TU (3xx-6xx,
``sip.ua.UserAgent.on_refused``). Challenges (401/407) are the normal first step of digest
authentication and a 487 answers the caller's own CANCEL, so neither is logged. Where a part
knows more than the status line (the authenticator's "wrong password for '1001'", the
registrar's "may not register"), it logs its own line as well.

A flood of refused requests (a scanner, an overload answered 503) must not turn into a flood
of log lines that adds to the load: at most ``per_second`` lines a second, and one line
saying how many were left out.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from sip.message import Response
from sip.ua import IncomingRequest

logger = logging.getLogger(__name__)

NOT_REFUSALS = frozenset({401, 407, 487})


class RefusalLog:
    __slots__ = ("_clock", "_logged", "_skipped", "_window", "per_second")

    def __init__(self, clock: Callable[[], float], per_second: int = 50) -> None:
        self._clock = clock
        self.per_second = per_second
        self._window = 0.0  # start of the current one-second window
        self._logged = 0
        self._skipped = 0

    def __call__(self, incoming: IncomingRequest, response: Response) -> None:
        status = response.status
        if status in NOT_REFUSALS or not logger.isEnabledFor(logging.INFO):
            return
        now = self._clock()
        if now - self._window >= 1.0:
            if self._skipped:
                logger.info("%d more refused requests not logged in the last second", self._skipped,
                            extra={"event": "refusals_skipped", "skipped": self._skipped})
            self._window, self._logged, self._skipped = now, 0, 0
        if self._logged >= self.per_second:
            self._skipped += 1
            return
        self._logged += 1
        request = incoming.request
        source = str(incoming.source)
        logger.info("refused %s from %s: %d %s (Call-ID %s, From %s, To %s)", request.method, source, status,
                    response.reason, request.call_id, request.from_.uri, request.to.uri,
                    extra={"event": "refused", "method": request.method, "source": source, "code": status,
                           "reason": response.reason, "call_id": request.call_id,
                           "from_uri": request.from_.uri, "to_uri": request.to.uri})

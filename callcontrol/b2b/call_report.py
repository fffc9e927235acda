"""What an operator sees of each call: one INFO line at setup, answer and end, and the
numbers behind the call metrics (post-dial delay and setup histograms, calls by outcome).

The B2BUA calls these at the three moments; they record into ``B2buaStats`` (plain
counters and :class:`~callcontrol.ops.histogram.Histogram` arrays, read at scrape time by
``callcontrol.ops.metrics``). A log line's arguments are only worked out when INFO is on,
so with the level at WARNING (the benchmarks) a call costs three ``isEnabledFor`` tests.
Every line carries its facts as record fields too (``extra``), which the JSON log format
writes as keys (docs/operations.md, "Logs").

Times are the call model's (wall clock, like the CDRs): a leg's ``start_time`` is when its
INVITE came in (or went out, for a call the server placed).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from callcontrol.model.calls import Call

if TYPE_CHECKING:
    from callcontrol.b2b.call import B2bCall

logger = logging.getLogger(__name__)

# Calls by outcome: answered when any leg was connected, else by leg A's final code.
OUTCOMES = ("answered", "busy", "no_answer", "cancelled", "not_found", "refused", "unavailable", "failed")
_BY_CODE = {486: "busy", 600: "busy", 487: "cancelled", 408: "no_answer", 480: "no_answer",
            404: "not_found", 484: "not_found", 604: "not_found", 401: "refused", 403: "refused",
            407: "refused", 603: "refused", 503: "unavailable"}


def outcome_of(call: Call) -> str:
    """One of :data:`OUTCOMES` for an ended call."""
    if any(leg.connect_time is not None for leg in call.legs):
        return "answered"
    first = call.first_leg
    code = first.reason_code if first is not None else None
    return _BY_CODE.get(code, "failed") if code is not None else "failed"


def _parties(call: Call) -> tuple[str, str]:
    first = call.first_leg
    if first is None:
        return "", ""
    return first.caller.id, first.callee.id


def started(bcall: B2bCall, route: str) -> None:
    """The call exists (leg A accepted for routing, or a call the server places)."""
    bcall.report_route = route
    if logger.isEnabledFor(logging.INFO):
        caller, callee = _parties(bcall.call)
        logger.info("call %s setup: from %s to %s, route %s", bcall.call.id, caller, callee, route,
                    extra={"event": "call_setup", "call_id": bcall.call.id, "caller": caller,
                           "callee": callee, "route": route})


def rang(bcall: B2bCall) -> None:
    """A provisional response on one of the call's INVITEs: the first one is the post-dial delay."""
    if bcall.rang:
        return
    bcall.rang = True
    first = bcall.call.first_leg
    if first is not None:
        ctx = bcall.ctx
        ctx.stats.post_dial_delay.observe(max(0.0, ctx.wall() - first.start_time))


def answered(bcall: B2bCall) -> None:
    """The call is answered (bridged, placed and connected, or answered by the IVR)."""
    ctx = bcall.ctx
    stats: Any = ctx.stats
    stats.answered += 1
    first = bcall.call.first_leg
    setup = max(0.0, ctx.wall() - first.start_time) if first is not None else 0.0
    stats.setup_time.observe(setup)
    if logger.isEnabledFor(logging.INFO):
        caller, callee = _parties(bcall.call)
        logger.info("call %s answered: from %s to %s, route %s, setup %.3f s", bcall.call.id, caller, callee,
                    bcall.report_route, setup,
                    extra={"event": "call_answered", "call_id": bcall.call.id, "caller": caller,
                           "callee": callee, "route": bcall.report_route, "setup_s": round(setup, 3)})


def ended(stats: Any, call: Call, route: str) -> None:
    """The call model ended (every leg terminated)."""
    outcome = outcome_of(call)
    stats.outcomes[outcome] = stats.outcomes.get(outcome, 0) + 1
    if logger.isEnabledFor(logging.INFO):
        caller, callee = _parties(call)
        first = call.first_leg
        connects = [leg.connect_time for leg in call.legs if leg.connect_time is not None]
        end = max((leg.end_time or leg.start_time) for leg in call.legs) if call.legs else 0.0
        duration = max(0.0, end - min(connects)) if connects else 0.0
        reason = first.reason or "" if first is not None else ""
        code = first.reason_code if first is not None else None
        logger.info("call %s ended: from %s to %s, route %s, outcome %s, duration %.1f s, reason %s%s",
                    call.id, caller, callee, route, outcome, duration, reason or "-",
                    f" ({code})" if code is not None else "",
                    extra={"event": "call_end", "call_id": call.id, "caller": caller, "callee": callee,
                           "route": route, "outcome": outcome, "duration_s": round(duration, 3),
                           "reason": reason, "code": code})

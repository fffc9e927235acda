"""RFC 4028 session timers for the sides of a B2BUA call (the sans-I/O rules are in
``sip.session_timer``).

Every side gets a timer once its session starts (our 2xx went out, or theirs came
in). Where we refresh, a bodyless UPDATE goes out when the phone allows UPDATE,
else a re-INVITE with the SDP it already has; where the phone refreshes and does
not, the call ends ``min(32, interval/3)`` s before the session would expire. Any
2xx to a re-INVITE or UPDATE on a side, ours or relayed, counts as a refresh.

Functions of the call and the side; each side's deadline is one ``SESSION`` timer of
its call's :class:`~callcontrol.b2b.timers.CallTimers`.
"""
from __future__ import annotations

import logging

from callcontrol.b2b import dialog_out
from callcontrol.b2b.call import B2bCall
from callcontrol.b2b.sides import ALLOW, Side, UacSide
from callcontrol.b2b.timers import SESSION
from sip.dialog import DialogError, DialogState
from sip.message import Response
from sip.session_timer import (
    BYE,
    SessionTimer,
    SessionTimerHeaderError,
    refresh_failure_ends_session,
)

logger = logging.getLogger(__name__)

REASON_SESSION_EXPIRED = "session expired"


def start(call: B2bCall, side: Side, timer: SessionTimer | None) -> None:
    """The session on ``side``'s dialog starts now (its 2xx went out or came in)."""
    if timer is None:
        return
    side.session_timer = timer
    timer.refreshed(call.ctx.loop_time())
    _arm(call, side)


def start_uac(call: B2bCall, side: UacSide, resp: Response) -> None:
    """Our INVITE was answered: the session interval its 2xx settled on (ours if it said none)."""
    if side.st_offer is None:
        return
    interval, min_se = side.st_offer
    try:
        timer = SessionTimer.from_response(resp, interval=interval, min_se=min_se)
    except SessionTimerHeaderError as exc:
        logger.info("call %s: %s; refreshing every %d s ourselves", call.call.id, exc, interval)
        timer = SessionTimer(interval=interval, refresher="local", negotiated=False, min_se=min_se)
    start(call, side, timer)


def refreshed(call: B2bCall, side: Side) -> None:
    timer = side.session_timer
    if timer is not None and not side.ended:
        timer.refreshed(call.ctx.loop_time())
        _arm(call, side)


def _arm(call: B2bCall, side: Side) -> None:
    key = (SESSION, side.tag)
    call.timers.cancel(key)
    timer = side.session_timer
    if timer is None or not timer.started or side.ended or call.ending:
        return
    now = call.ctx.loop_time()
    deadline = timer.next_deadline(now)
    action = deadline.action
    call.timers.arm(key, deadline.when - now, lambda: _due(side, action))


def _due(side: Side, action: str) -> None:
    # side.call, not the call that armed it: an attended transfer may move the side meanwhile.
    call: B2bCall | None = side.call
    if call is None or side.ended or call.ending:
        return
    if action == BYE:
        logger.info("call %s: session on leg %s expired without a refresh", call.call.id, side.tag)
        call.hangup(REASON_SESSION_EXPIRED, 408)
        return
    _refresh(call, side)
    _arm(call, side)


def _refresh(call: B2bCall, side: Side) -> None:
    """Refresh the session on ``side`` ourselves: a bodyless UPDATE when the phone allows it,
    else a re-INVITE with the SDP it already has (nothing changes)."""
    timer = side.session_timer
    dialog = side.dialog
    if timer is None or side.st_pending or dialog is None or dialog.state is not DialogState.CONFIRMED:
        return
    ctx = call.ctx
    if timer.update_allowed:
        try:
            request = dialog.create_request("UPDATE", headers=[("Allow", ALLOW), *timer.refresh_headers()])
        except DialogError:
            return
        side.st_pending = True

        def on_response(resp: Response) -> None:
            if resp.status < 200 or not side.st_pending:
                return
            dialog.receive_response(request, resp, ctx.loop_time())
            side.st_pending = False
            _answered(side, resp, update=True)

        def on_failure(why: str) -> None:
            if side.st_pending:
                side.st_pending = False
                _answered(side, None, update=True)

        ctx.ua.send_request(request, side.peer, on_response, on_failure)
        return
    body = call.media.resend(side.index) if call.media is not None and side.call is call else None
    if body is None:
        timer.refreshed(ctx.loop_time())  # nothing to re-offer (media not anchored)
        return
    side.st_pending = True

    def reinvited(status: int, phrase: str, resp: Response | None) -> None:
        side.st_pending = False
        if resp is not None:
            call.reinvite_answered(side, resp)
        _answered(side, resp, update=False)

    dialog_out.send_reinvite(ctx, lambda: (side.call or call).timers, side, body, reinvited)


def _answered(side: Side, resp: Response | None, *, update: bool) -> None:
    call: B2bCall | None = side.call
    timer = side.session_timer
    if call is None or timer is None or side.ended:
        return
    status = resp.status if resp is not None else None
    if resp is not None and 200 <= resp.status < 300:
        try:
            new = SessionTimer.from_response(resp, interval=timer.interval, min_se=timer.min_se,
                                             previous=timer) or timer
        except SessionTimerHeaderError:
            new = timer
        side.session_timer = new
        refreshed(call, side)
    elif resp is not None and resp.status == 422:
        longer = SessionTimer.on_422(resp, timer.interval, timer.min_se)
        if longer is not None:
            timer.interval = timer.min_se = longer
    elif update and status in (405, 501):
        timer.update_allowed = False  # next time: re-INVITE
    elif refresh_failure_ends_session(status):
        call.hangup(REASON_SESSION_EXPIRED, 408)

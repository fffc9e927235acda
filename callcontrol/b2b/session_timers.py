"""RFC 4028 session timers for the sides of a B2BUA call (the sans-I/O rules are in
``sip.session_timer``).

Every side gets a timer once its session starts (our 2xx went out, or theirs came
in). Where we refresh, a bodyless UPDATE goes out when the phone allows UPDATE,
else a re-INVITE with the SDP it already has; where the phone refreshes and does
not, the call ends ``min(32, interval/3)`` s before the session would expire. Any
2xx to a re-INVITE or UPDATE on a side, ours or relayed, counts as a refresh.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from callcontrol.b2b.sides import ALLOW, Side, UacSide
from sip.dialog import DialogError, DialogState
from sip.message import Response
from sip.session_timer import (
    BYE,
    SessionTimer,
    SessionTimerHeaderError,
    refresh_failure_ends_session,
)

if TYPE_CHECKING:
    from callcontrol.b2b.call import B2bCall

logger = logging.getLogger(__name__)

REASON_SESSION_EXPIRED = "session expired"


class SessionTimers:
    """The session-timer part of :class:`~callcontrol.b2b.call.B2bCall`."""

    def start_session_timer(self: B2bCall, side: Side, timer: SessionTimer | None) -> None:
        """The session on ``side``'s dialog starts now (its 2xx went out or came in)."""
        if timer is None:
            return
        side.session_timer = timer
        timer.refreshed(self.b2b.loop_time())
        self._arm_session(side)

    def _start_uac_timer(self: B2bCall, side: UacSide, resp: Response) -> None:
        if side.st_offer is None:
            return
        interval, min_se = side.st_offer
        try:
            timer = SessionTimer.from_response(resp, interval=interval, min_se=min_se)
        except SessionTimerHeaderError as exc:
            logger.info("call %s: %s; refreshing every %d s ourselves", self.call.id, exc, interval)
            timer = SessionTimer(interval=interval, refresher="local", negotiated=False, min_se=min_se)
        self.start_session_timer(side, timer)

    def _session_refreshed(self: B2bCall, side: Side) -> None:
        timer = side.session_timer
        if timer is not None and not side.ended:
            timer.refreshed(self.b2b.loop_time())
            self._arm_session(side)

    def _arm_session(self: B2bCall, side: Side) -> None:
        if side.st_handle is not None:
            side.st_handle.cancel()
            side.st_handle = None
        timer = side.session_timer
        if timer is None or not timer.started or side.ended or self.ending:
            return
        now = self.b2b.loop_time()
        deadline = timer.next_deadline(now)
        action = deadline.action
        # side.call, not self: an attended transfer may move the side to another call meanwhile.
        side.st_handle = asyncio.get_running_loop().call_later(
            max(0.0, deadline.when - now), lambda: side.call._session_due(side, action))

    def _session_due(self: B2bCall, side: Side, action: str) -> None:
        side.st_handle = None
        if side.ended or self.ending:
            return
        if action == BYE:
            logger.info("call %s: session on leg %s expired without a refresh", self.call.id, side.tag)
            self.hangup(REASON_SESSION_EXPIRED, 408)
            return
        self._refresh(side)
        self._arm_session(side)

    def _refresh(self: B2bCall, side: Side) -> None:
        """Refresh the session on ``side`` ourselves: a bodyless UPDATE when the phone allows it,
        else a re-INVITE with the SDP it already has (nothing changes)."""
        timer = side.session_timer
        dialog = side.dialog
        if timer is None or side.st_pending or dialog is None or dialog.state is not DialogState.CONFIRMED:
            return
        if timer.update_allowed:
            try:
                request = dialog.create_request("UPDATE", headers=[("Allow", ALLOW), *timer.refresh_headers()])
            except DialogError:
                return
            side.st_pending = True

            def on_response(resp: Response) -> None:
                if resp.status < 200 or not side.st_pending:
                    return
                dialog.receive_response(request, resp, self.b2b.loop_time())
                side.st_pending = False
                side.call._refresh_answered(side, resp, update=True)

            def on_failure(why: str) -> None:
                if side.st_pending:
                    side.st_pending = False
                    side.call._refresh_answered(side, None, update=True)

            self.b2b.ua.send_request(request, side.peer, on_response, on_failure)
            return
        body = self.media.resend(side.index) if self.media is not None and side.call is self else None
        if body is None:
            timer.refreshed(self.b2b.loop_time())  # nothing to re-offer (media not anchored)
            return
        side.st_pending = True

        def answered(resp: Response | None) -> None:
            side.st_pending = False
            side.call._refresh_answered(side, resp, update=False)

        self.reinvite(side, body, on_final=answered)

    def _refresh_answered(self: B2bCall, side: Side, resp: Response | None, *, update: bool) -> None:
        timer = side.session_timer
        if timer is None or side.ended:
            return
        status = resp.status if resp is not None else None
        if resp is not None and 200 <= resp.status < 300:
            try:
                new = SessionTimer.from_response(resp, interval=timer.interval, min_se=timer.min_se,
                                                 previous=timer) or timer
            except SessionTimerHeaderError:
                new = timer
            side.session_timer = new
            self._session_refreshed(side)
        elif resp is not None and resp.status == 422:
            longer = SessionTimer.on_422(resp, timer.interval, timer.min_se)
            if longer is not None:
                timer.interval = timer.min_se = longer
        elif update and status in (405, 501):
            timer.update_allowed = False  # next time: re-INVITE
        elif refresh_failure_ends_session(status):
            self.hangup(REASON_SESSION_EXPIRED, 408)

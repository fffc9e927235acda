"""Requests the server itself sends in a side's dialog: BYE, CANCEL, ACK+BYE of an unwanted
2xx, NOTIFY, and its own re-INVITEs (one at a time per dialog, the rest waiting their turn).

Functions of (context, side): they know nothing of the call a side belongs to, so the
call coordinator (``callcontrol.b2b.call``) and the layers above can all use them.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from callcontrol.b2b.context import CallContext
from callcontrol.b2b.sides import ALLOW, ReinviteDone, Side, UacSide
from callcontrol.b2b.timers import REINVITE_RETRY, CallTimers
from sip.dialog import Dialog, DialogError, DialogState
from sip.message import Request, Response
from sip.peer import Peer

logger = logging.getLogger(__name__)

# What a re-INVITE of ours came to when no final response arrived.
NOT_SENT = (481, "Call/Transaction Does Not Exist")
TIMED_OUT = (408, "Request Timeout")
RETRY_AFTER_GLARE = 0.2  # s: our re-INVITE met the phone's own (§14.1)


def send_bye(ctx: CallContext, dialog: Dialog, peer: Peer, reason: tuple[int, str] | None = None) -> None:
    if dialog.state is DialogState.TERMINATED:
        return
    try:
        bye = dialog.create_bye(reason)
    except DialogError as exc:
        logger.debug("no BYE on %s: %s", dialog.id, exc)
        return
    done = ctx.teardowns.started()
    loop_time = ctx.loop_time

    def on_response(resp: Response) -> None:
        dialog.receive_response(bye, resp, loop_time())
        if resp.status >= 200:
            done()

    ctx.ua.send_request(bye, peer, on_response, lambda why: done())
    dialog.terminate()


def ack_and_bye(ctx: CallContext, dialog: Dialog, side: UacSide) -> None:
    """A 2xx to an INVITE we no longer want: ACK it, then BYE (§15.1.1)."""
    ctx.ua.send_ack(dialog.create_ack(side.invite.cseq), side.peer)
    send_bye(ctx, dialog, side.peer)


def send_cancel(ctx: CallContext, side: UacSide, *, counted: bool) -> bool:
    """CANCEL our pending INVITE; False when there is nothing to cancel (not sent, or final).
    ``counted``: shutdown waits for its answer."""
    if side.tx is None:
        return False
    if not counted:
        return ctx.ua.cancel(side.tx) is not None
    done = ctx.teardowns.started()
    if ctx.ua.cancel(side.tx, lambda resp: done() if resp.status >= 200 else None) is None:
        done()
        return False
    return True


def send_notify(ctx: CallContext, side: Side, event: str, done: Callable[[int], None]) -> None:
    """An in-dialog NOTIFY ``Event: <event>`` (BroadSoft-style remote control: talk, hold);
    ``done`` gets the final status (408 on timeout, 481 when there is no dialog)."""
    dialog = side.dialog
    if dialog is None or dialog.state is DialogState.TERMINATED:
        done(481)
        return
    try:
        request = dialog.create_notify(event)
    except DialogError:
        done(481)
        return
    finished = False

    def on_response(resp: Response) -> None:
        nonlocal finished
        if resp.status < 200 or finished:
            return
        finished = True
        done(resp.status)

    def on_failure(why: str) -> None:
        nonlocal finished
        if not finished:
            finished = True
            done(408)

    ctx.ua.send_request(request, side.peer, on_response, on_failure)


def send_reinvite(ctx: CallContext, timers: Callable[[], CallTimers], side: Side, body: bytes,
                  done: ReinviteDone) -> None:
    """A re-INVITE of ours with ``body``; ``done`` gets its final (status, phrase, response): 408
    and None when it timed out, 481 and None when it was never sent (no confirmed dialog, or the
    side ended while it waited). We ACK a 2xx. ``timers``: the owning call's timers, looked up
    when needed (an attended transfer moves a side to another call)."""
    own = side.reinvites
    if own.in_flight is not None:
        own.waiting.append((body, done))
        return
    dialog = side.dialog
    if dialog is None or dialog.state is not DialogState.CONFIRMED or side.ended:
        done(*NOT_SENT, None)
        return
    headers = [("Allow", ALLOW)]
    if side.session_timer is not None:
        headers.extend(side.session_timer.refresh_headers())  # every re-INVITE refreshes (§7.4)
    try:
        request = dialog.create_reinvite(body, headers=headers)
    except DialogError:
        # The phone's own re-INVITE is in progress (§14.1): try again shortly.
        timers().arm((REINVITE_RETRY, side.tag), RETRY_AFTER_GLARE,
                     lambda: send_reinvite(ctx, timers, side, body, done))
        return
    own.in_flight = request
    answered = False

    def finished(status: int, phrase: str, resp: Response | None) -> None:
        own.in_flight = None
        done(status, phrase, resp)
        if side.ended:
            for _body, next_done in own.clear():  # never sent: say so, nobody waits forever
                next_done(*NOT_SENT, None)
        elif own.waiting:
            next_body, next_done = own.waiting.pop(0)
            send_reinvite(ctx, timers, side, next_body, next_done)

    def on_response(resp: Response) -> None:
        nonlocal answered
        if resp.status < 200 or answered:
            return
        answered = True
        dialog.receive_response(request, resp, ctx.loop_time())
        if resp.status < 300:
            ctx.ua.send_ack(dialog.create_ack(request.cseq), side.peer, tx)
        finished(resp.status, resp.reason or str(resp.status), resp)

    def on_failure(why: str) -> None:
        nonlocal answered
        if not answered:
            answered = True
            finished(*TIMED_OUT, None)

    tx = ctx.ua.send_request(request, side.peer, on_response, on_failure)

"""What phones send in their dialogs with the server: ACKs, BYE, REFER, and the re-INVITEs,
UPDATEs and INFOs that pass through to the other side of the pair with their SDP rewritten.

:class:`Inbound` is what the UA core knows of a side (``UserAgent.register_dialog``);
it hands each request to the side's call *now* (an attended transfer moves a side).
Hold seen in a relayed offer (sendonly/inactive or c=0.0.0.0) makes the offering side
``holding`` and the other ``held``; a plain re-offer makes both ``connected`` again.
"""
from __future__ import annotations

import logging

from callcontrol.b2b import session_timers
from callcontrol.b2b.anchor import A
from callcontrol.b2b.call import REASON_CALLEE_BYE, REASON_CALLER_BYE, B2bCall
from callcontrol.b2b.call_machine import CallPhase
from callcontrol.b2b.side_machine import HoldRole, SideAction, SideEvent, SideState
from callcontrol.b2b.sides import Side
from callcontrol.b2b.timers import WATCHDOG
from sip.dialog import DialogError, DialogState
from sip.message import SDP, Request, Response, has_sdp
from sip.peer import Peer
from sip.sdp import SdpParseError, parse_sdp
from sip.ua import IncomingRequest

logger = logging.getLogger(__name__)


class Inbound:
    """The UA core's dialog user for one side (``sip.ua_core.DialogUser``)."""

    __slots__ = ("side",)

    def __init__(self, side: Side) -> None:
        self.side = side

    def on_request(self, incoming: IncomingRequest) -> None:
        side = self.side
        call: B2bCall | None = side.call
        if call is None:  # the call is finished; the UA core unregisters its dialogs
            incoming.respond(481)
            return
        in_dialog_request(call, side, incoming)

    def on_ack(self, request: Request, peer: Peer) -> None:
        side = self.side
        call: B2bCall | None = side.call
        if call is not None:
            ack_received(call, side, request)


def ack_received(call: B2bCall, side: Side, request: Request) -> None:
    ua = call.ctx.ua
    a = call.a
    if side is a and a is not None and request.cseq == a.incoming.request.cseq:
        ua.ack_received(a.incoming)
        call.side_step(a, SideEvent.ACK, other=lambda action: _a_acked(call, action))
        if call.phase is CallPhase.IVR and has_sdp(request) and call.media is not None:
            try:
                call.media.heard(A, request.body)  # late offer: the ACK answers our offer
            except SdpParseError as exc:
                logger.info("call %s: unreadable SDP in ACK: %s", call.call.id, exc)
            return
    elif side.answered_invite is not None and request.cseq == side.answered_invite.request.cseq:
        ua.ack_received(side.answered_invite)
        side.answered_invite = None
    else:
        return
    other = call.other(side)
    if other is None or other.deferred_ack is None:
        return
    dialog, cseq, tx = other.deferred_ack
    other.deferred_ack = None
    body = b""
    ctype = None
    if has_sdp(request):
        try:
            body = call.relay_body(side.index, request.body)
            ctype = SDP
        except SdpParseError as exc:
            logger.info("call %s: unreadable SDP in ACK: %s", call.call.id, exc)
    ua.send_ack(dialog.create_ack(cseq, body, ctype), other.peer, tx)
    if other.state is SideState.ANSWERED:
        call.side_step(other, SideEvent.ACK)


def _a_acked(call: B2bCall, action: SideAction) -> None:
    if action is SideAction.REPORT_ANSWER:
        call.timers.cancel((WATCHDOG, ""))  # the no-ACK watchdog


def in_dialog_request(call: B2bCall, side: Side, incoming: IncomingRequest) -> None:
    request = incoming.request
    dialog = side.dialog
    if dialog is None:
        incoming.respond(481)
        return
    status = dialog.receive_request(request)
    if status is not None:
        headers = [("Retry-After", str(dialog.retry_after))] if dialog.retry_after is not None else None
        incoming.respond(status, headers=headers)
        return
    method = request.method
    if method == "BYE":
        incoming.respond(200)
        reason = REASON_CALLER_BYE if side.caller_side else REASON_CALLEE_BYE
        if call.pair[side.index] is side:
            call.pair[side.index] = None
        call.side_step(side, SideEvent.BYE_IN, reason=reason)
        call.hangup(reason, by=side)
        return
    if method == "REFER":
        call.ctx.refer(side, incoming)
        return
    if method == "INFO":
        _dtmf_info(side, incoming)
    other = call.other(side)
    if other is None or other.dialog is None or other.dialog.state is not DialogState.CONFIRMED:
        if method in ("INVITE", "UPDATE") and other is None and call.media is not None and side.confirmed:
            _answer_locally(call, side, incoming)
            return
        if method == "INFO" and other is None:
            incoming.respond(200)  # nobody to relay to (IVR): reported above if detection is on
            return
        incoming.respond(491 if method in ("INVITE", "UPDATE") else 481)
        return
    _relay_request(call, side, other, incoming)


def _dtmf_info(side: Side, incoming: IncomingRequest) -> None:
    """A DTMF INFO while detection is on for the side is reported (and still relayed: the
    far phone may want the digit too)."""
    control = side.media_control
    if control is not None and control.dtmf_enabled:
        request = incoming.request
        control.sip_info(request.content_type or "", request.body)


def _answer_locally(call: B2bCall, side: Side, incoming: IncomingRequest) -> None:
    """A re-offer from a side that nobody is bridged with (IVR, a transfer still ringing):
    the server answers it itself, keeping the side's media going to its endpoint."""
    request = incoming.request
    assert call.media is not None and side.dialog is not None
    headers = [("Contact", side.contact)]
    body = b""
    try:
        if has_sdp(request):
            body = call.media.own_answer(side.index, request.body)
        elif request.method == "INVITE":
            body = call.media.redirect(side.index, "sendrecv")
    except SdpParseError:
        incoming.respond(488)
        return
    if body:
        headers.append(("Content-Type", SDP))
    response = incoming.respond(200, headers=headers, body=body)
    side.dialog.response_sent(request, response)
    if request.method == "INVITE":
        side.answered_invite = incoming


def _relay_request(call: B2bCall, side: Side, other: Side, incoming: IncomingRequest) -> None:
    request = incoming.request
    method = request.method
    assert other.dialog is not None and side.dialog is not None
    body = b""
    ctype = request.content_type
    offer = None
    if request.body:
        if has_sdp(request):
            try:
                offer = parse_sdp(request.body)
                body = call.relay_body(side.index, request.body)
                ctype = SDP
            except SdpParseError:
                incoming.respond(488)
                return
        else:
            body = request.body
    refresh = method in ("INVITE", "UPDATE")
    out_headers = other.session_timer.refresh_headers() if refresh and other.session_timer else []
    try:
        out = other.dialog.create_request(method, headers=out_headers, body=body,
                                          content_type=ctype if body else None)
    except DialogError:
        incoming.respond(491)
        return
    ctx = call.ctx
    ua = ctx.ua

    def on_response(resp: Response) -> None:
        if resp.status < 200 or incoming.final_sent:
            return
        other_dialog = other.dialog
        assert other_dialog is not None and side.dialog is not None
        other_dialog.receive_response(out, resp, ctx.loop_time())
        headers: list[tuple[str, str]] = []
        rbody = b""
        if method == "INVITE" and resp.status < 300:
            if out.body:
                ua.send_ack(other_dialog.create_ack(out.cseq), other.peer, tx)  # type: ignore[arg-type]
            else:
                other.deferred_ack = (other_dialog, out.cseq, tx)  # type: ignore[assignment]
        if 200 <= resp.status < 300 and refresh:
            headers.append(("Contact", side.contact))
            if side.session_timer is not None:
                headers.extend(side.session_timer.response_headers())
            for refreshed in (side, other):  # one pass-through refresh proves both phones alive
                session_timers.refreshed(call, refreshed)
        if has_sdp(resp):
            try:
                rbody = call.relay_body(other.index, resp.body)
                headers.append(("Content-Type", SDP))
            except SdpParseError:
                rbody = b""
        elif resp.body and resp.content_type:
            rbody = resp.body
            headers.append(("Content-Type", resp.content_type))
        response = incoming.respond(resp.status, resp.reason, headers=headers, body=rbody)
        side.dialog.response_sent(request, response)
        if method == "INVITE" and resp.status < 300:
            side.answered_invite = incoming
        if 200 <= resp.status < 300 and offer is not None:
            _hold_state(call, side, other, offer.is_hold)
        if other_dialog.state is DialogState.TERMINATED:
            call.hangup(f"{resp.status} {resp.reason}", resp.status, by=other)

    def on_failure(why: str) -> None:
        if not incoming.final_sent:
            incoming.respond(408)
        call.hangup(f"{method} {why}", 408)

    tx = ua.send_request(out, other.peer, on_response, on_failure)


def _hold_state(call: B2bCall, side: Side, other: Side, hold: bool) -> None:
    """A phone's own (un)hold, relayed and accepted: the hold roles of both sides."""
    if call.ending or side.ended or other.ended:
        return
    if hold:
        call.set_hold(side, HoldRole.HOLDING)
        call.set_hold(other, HoldRole.HELD)
    elif side.hold is not HoldRole.NONE or other.hold is not HoldRole.NONE:
        call.set_hold(side, HoldRole.NONE)
        call.set_hold(other, HoldRole.NONE)

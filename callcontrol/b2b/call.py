"""One B2BUA call: its sides, the pair being bridged, its phase and its timers.

A :class:`~callcontrol.b2b.sides.Side` is the server's dialog with one phone and that
phone's leg in the call model. A call bridges at most two sides at a time, by media
position (``pair[A]``, ``pair[B]``: the two endpoints of the call's
:class:`~callcontrol.b2b.anchor.MediaAnchor`); what one side says in its dialog goes to
the other side of the pair (``callcontrol.b2b.relay``).

:class:`B2bCall` is the coordinator: it carries out the two machines' actions, and is
the one place that seats sides, moves their legs and ends the call.

- the call machine (``callcontrol.b2b.call_machine``): :meth:`B2bCall.fire` takes one
  step and does its actions (watchdogs, the server's hold, ending every side);
- the side machine (``callcontrol.b2b.side_machine``): :meth:`B2bCall.side_step` takes
  one step of a side and does the actions every side has (publish the derived leg state,
  CANCEL, BYE, an error response, end the leg); the INVITE-specific ones go to the
  caller (``callcontrol.b2b.outgoing``: forks and placed calls);
- the one timer owner of the call (``callcontrol.b2b.timers``).

Other parts, one idea each: ``outgoing`` (our INVITEs: leg B forks, placed calls),
``relay`` (what phones send in their dialogs), ``reinvite`` (the server's own
re-INVITEs and NOTIFYs), ``session_timers`` (RFC 4028), ``dialog_out`` (BYE, CANCEL
and the re-INVITE queue, below the call).

A finished call breaks every reference between its objects (:meth:`B2bCall.cleanup`),
so reference counting frees it without the cyclic garbage collector.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from callcontrol.b2b import dialog_out
from callcontrol.b2b.anchor import MediaAnchor
from callcontrol.b2b.call_machine import LIVE, CallAction, CallEvent, CallPhase
from callcontrol.b2b.call_machine import step as call_step
from callcontrol.b2b.context import CallContext
from callcontrol.b2b.hunt import REASON_NO_ANSWER, Hunt, best_failure
from callcontrol.b2b.side_machine import HoldRole, SideAction, SideEvent, SideState, leg_state
from callcontrol.b2b.sides import Side, UacSide, UasSide
from callcontrol.b2b.timers import RING, SESSION, WATCHDOG, CallTimers
from callcontrol.model.callinfo import CallState, Party
from callcontrol.model.calls import Call
from sip.dialog import DialogState
from sip.message import Response, has_sdp
from sip.sdp import SdpParseError

logger = logging.getLogger(__name__)

TRUSTED = "trusted"
AUTO_ANSWER_HEADERS: tuple[tuple[str, str], ...] = (
    ("Alert-Info", "<sip:127.0.0.1>;info=AutoAnswer"),
    ("Call-Info", "<sip:127.0.0.1>;answer-after=0"),
)

# Reasons shown in terminated notifications and CDRs.
REASON_CALLER_BYE = "caller hung up"
REASON_CALLEE_BYE = "callee hung up"
REASON_CANCELLED = "cancelled"
REASON_ELSEWHERE = "answered elsewhere"
REASON_RTP_TIMEOUT = "RTP timeout"
REASON_SHUTDOWN = "server shutdown"
REASON_NO_ACK = "no ACK"
REASON_API = "terminated by API"
REASON_BLIND_TRANSFER = "blind transfer"
REASON_ATTENDED_TRANSFER = "attended transfer"
REASON_TRANSFER_FAILED = "transfer failed"
REASON_NO_IVR_APP = "no IVR application"
# The final error a caller's INVITE gets when the server ends it without a code of its own.
DEFAULT_REFUSAL = 480

OtherActions = Callable[[SideAction], None]
_WATCHDOG = (WATCHDOG, "")


class B2bCall:
    """One call: its sides, the pair being bridged, its media anchor, phase and timers."""

    __slots__ = ("a", "call", "ctx", "forks", "held", "hunt", "ivr_an", "media", "pair", "phase", "rang",
                 "report_route", "route", "sides", "timers", "__weakref__")

    def __init__(self, ctx: CallContext, call: Call) -> None:
        self.ctx = ctx
        self.call = call
        self.a: UasSide | None = None  # leg A of a dialled call (None when the server placed it)
        self.forks: list[UacSide] = []  # leg B's INVITEs of a dialled call
        self.pair: list[Side | None] = [None, None]
        self.sides: list[Side] = []  # every side this call owns: hangup ends them all
        self.media: MediaAnchor | None = None
        self.phase = CallPhase.ROUTING
        self.hunt: Hunt | None = None  # what leg B rings, stage by stage, and its failover (dialled calls)
        self.timers = CallTimers()
        self.ivr_an: Any = None  # the IVR access number while in phase IVR
        self.held: tuple[Side, Side] | None = None  # (holder, held) while in phase SERVER_HOLD
        self.route: str | None = None  # how a dialled call was routed (RouteKind value), for its CDRs
        self.report_route = "-"  # how it was routed, for the operator log ("trunk 5551234", "originate")
        self.rang = False  # a provisional came (the post-dial delay is recorded once)

    @property
    def ending(self) -> bool:
        """Ending or ended: no new action starts on this call."""
        return self.phase not in LIVE

    # -- the call machine -----------------------------------------------------------------------
    def fire(self, event: CallEvent, *, reason: str = "", code: int | None = None,
             by: Side | None = None) -> None:
        """One step of the call machine, its actions carried out here."""
        result = call_step(self.phase, event)
        logger.debug("call %s: %s --%s--> %s", self.call.id, self.phase.name, event.name, result.phase.name)
        self.phase = result.phase
        for action in result.actions:
            if action is CallAction.ARM_RING_WATCH:
                self.timers.arm(_WATCHDOG, self.ctx.settings.ring_timeout, self._ring_timeout)
            elif action is CallAction.ARM_ACK_WATCH:
                self.timers.cancel(_WATCHDOG)
                if self.a is not None and self.a.state is SideState.ANSWERED:
                    self.timers.arm(_WATCHDOG, 64 * self.ctx.ua.timers.t1, self._ack_timeout)
            elif action is CallAction.REJECT_A:
                self.reject(code if code is not None else 480, reason, reason=reason)
            elif action is CallAction.STOP_HOLD:
                self._stop_hold()
            elif action is CallAction.END_SIDES:
                for side in list(self.sides):
                    if side is not by:
                        self.drop(side, reason, code)
            elif action is CallAction.FINISH:
                self._finish()

    def _ring_timeout(self) -> None:
        self.ctx.stats.failed += 1
        self.fire(CallEvent.RING_TIMEOUT, reason=REASON_NO_ANSWER, code=480)
        self.fire(CallEvent.FINISHED)

    def _ack_timeout(self) -> None:
        # §13.3.1.4: a 2xx never ACKed ends the session with BYE.
        logger.info("call %s: leg A never ACKed our 2xx", self.call.id)
        self.fire(CallEvent.ACK_TIMEOUT, reason=REASON_NO_ACK, code=408)
        self.fire(CallEvent.FINISHED)

    def _stop_hold(self) -> None:
        """The server's hold ends: music off, relay to the held side on; the re-INVITEs that put
        the media back are the caller's business."""
        hold = self.held
        if hold is None:
            return
        self.held = None
        holder = hold[0]
        for side in hold:
            control = side.media_control
            if control is not None:
                control.stop_moh()
        media = self.media
        if media is not None and holder.call is self:
            media.relay.resume(media.endpoint(holder.index))

    def _finish(self) -> None:
        self.timers.cancel_all()
        media = self.media
        if media is not None and not media.closed:
            received, sent = media.packet_counts()
            stats = self.ctx.stats
            stats.rtp_received += received
            stats.rtp_sent += sent
            media.close()

    # -- ending -------------------------------------------------------------------------------
    def reject(self, status: int, phrase: str, *, reason: str) -> None:
        """Answer leg A with a final error and end everything."""
        a = self.a
        if a is not None and not a.incoming.final_sent:
            response = a.incoming.respond(status, phrase, to_tag=a.tag)
            if a.dialog is not None:
                a.dialog.response_sent(a.incoming.request, response)
        self.ctx.stats.failed += 1
        self.hangup(reason, status)

    def a_cancelled(self) -> None:
        """CANCEL from A (the UA core answers it 200 and the INVITE 487 after this)."""
        self.ctx.stats.cancelled += 1
        self.hangup(REASON_CANCELLED, 487)

    def hangup(self, reason: str, code: int | None = None, *, by: Side | None = None) -> None:
        """End every side this call owns: BYE the answered, CANCEL the ringing, answer A if pending."""
        self.fire(CallEvent.HANGUP, reason=reason, code=code, by=by)
        self.fire(CallEvent.FINISHED)

    def drop(self, side: Side, reason: str, code: int | None = None) -> None:
        """End one side: a final error to an INVITE we hold, BYE to a dialog, CANCEL to a pending
        INVITE of ours (the side machine's DROP); then its leg."""
        if side.ended:
            return
        if self.pair[side.index] is side:
            self.pair[side.index] = None
        if isinstance(side, UacSide) and side.invite_pending:
            code = 487  # a cancelled INVITE of ours ends "Request Terminated", whatever ends the call
        self.side_step(side, SideEvent.DROP, reason=reason, code=code)

    def cleanup(self) -> None:
        """The call model ended: drop dialog registrations, stop 2xx retransmissions to A; once
        nothing is live, finish and break every reference the call's objects hold to each other."""
        ua = self.ctx.ua
        a = self.a
        if a is not None and a.call is self:
            ua.unregister_dialog(a.incoming.request.call_id, a.tag)
            if a.leg.answered:
                ua.ack_received(a.incoming)  # no-op once acked; else the call ended before A's ACK
        for side in self.sides:
            if side.ended and side.call is self:
                ua.unregister_dialog(side.leg.sip_call_id, side.tag)
        if self.live_sides():
            return
        self.fire(CallEvent.FINISHED)
        for side in self.sides:
            if side.call is self:
                side.release()
        self.sides.clear()
        self.forks.clear()
        self.hunt = None
        self.pair = [None, None]
        self.a = None
        self.held = None

    # -- sides ----------------------------------------------------------------------------------
    def seat(self, side: Side) -> None:
        """``side`` joins this call at its media position (a side it owns from now on)."""
        self.own(side)
        self.pair[side.index] = side

    def own(self, side: Side) -> None:
        side.call = self
        if side not in self.sides:
            self.sides.append(side)

    def hand_over(self, side: Side, to: B2bCall, index: int) -> None:
        """``side`` leaves this call for ``to``, with its media endpoint, SDP state and timers, and
        sits at media position ``index`` there (attended transfer). A call left with nobody ends."""
        assert self.media is not None and to.media is not None
        if self.pair[side.index] is side:
            self.pair[side.index] = None
        self.sides.remove(side)
        self.timers.move_side(side.tag, to.timers)
        to.media.put(index, self.media.take(side.index))
        side.index = index
        to.seat(side)
        if not self.live_sides():
            self.fire(CallEvent.FINISHED)

    def other(self, side: Side) -> Side | None:
        """The side bridged with ``side`` (None when ``side`` is not in the pair or alone)."""
        if self.pair[side.index] is not side:
            return None
        return self.pair[1 - side.index]

    def live_sides(self) -> list[Side]:
        return [s for s in self.sides if not s.ended]

    def now(self) -> float:
        return self.ctx.wall()

    # -- the side machine -------------------------------------------------------------------------
    def side_step(self, side: Side, event: SideEvent, *, reason: str = "", code: int | None = None,
                  other: OtherActions | None = None) -> SideState:
        """One step of ``side``'s machine; the actions every side has are done here, in order,
        the others go to ``other``. Returns the side's state before the step."""
        before = side.state
        result = side.fire(event)
        for action in result.actions:
            if action is SideAction.PUBLISH:
                self.publish(side)
            elif action is SideAction.STOP_RING_TIMER:
                self.timers.cancel((RING, side.tag))
            elif action is SideAction.SEND_CANCEL:
                assert isinstance(side, UacSide)
                if event is SideEvent.RESTART:
                    if not dialog_out.send_cancel(self.ctx, side, counted=False) and other is not None:
                        other(SideAction.SEND_CANCEL)  # nothing to cancel: the caller sends it again now
                else:
                    dialog_out.send_cancel(self.ctx, side, counted=True)
            elif action is SideAction.SEND_ERROR:
                assert isinstance(side, UasSide)
                if not side.incoming.final_sent:
                    status = code if code is not None and code >= 400 else DEFAULT_REFUSAL
                    response = side.incoming.respond(status, to_tag=side.tag)
                    if side.dialog is not None:
                        side.dialog.response_sent(side.incoming.request, response)
            elif action is SideAction.SEND_BYE:
                dialog = side.dialog
                if dialog is not None and dialog.state is not DialogState.TERMINATED:
                    bye_reason = (code, reason) if side.caller_side and code and code >= 400 else None
                    dialog_out.send_bye(self.ctx, dialog, side.peer, bye_reason)
            elif action is SideAction.UNREGISTER:
                self.ctx.ua.unregister_dialog(side.leg.sip_call_id, side.tag)
            elif action is SideAction.END_LEG:
                self.end_leg(side, reason, code)
            elif other is not None:
                other(action)
            else:
                raise RuntimeError(f"side action {action.name} after {event.name} needs its caller")
        return before

    def publish(self, side: Side) -> None:
        """Move ``side``'s leg to the state its machine and hold role show (the one derivation,
        ``side_machine.leg_state``); ``Leg.move`` publishes it when it changed."""
        if side.ended:
            return
        dialog = side.dialog
        if dialog is not None and dialog.remote_tag:
            # The phone's tag, known once its dialog is (1xx/2xx; leg A's From tag at intake):
            # a console that knows the leg from the phone may name it by that too.
            side.model.dialog_tag(side.leg, dialog.remote_tag)
        state = leg_state(side.state, side.hold, side.leg.state)
        if state is not CallState.TERMINATED:
            side.model.move(side.leg, state, self.now())

    def set_hold(self, side: Side, role: HoldRole) -> None:
        side.hold = role
        self.publish(side)

    def meet(self, side: Side, party: Party) -> None:
        """``side``'s phone talks to ``party`` now, with its media back to sendrecv (the new leg of a
        blind transfer, the other remote party of a join): one snapshot tells it both, and tells the
        subscribers of the party that left too (``Leg.meet``)."""
        if side.ended:
            return
        side.hold = HoldRole.NONE
        state = leg_state(side.state, side.hold, side.leg.state)
        side.model.meet(side.leg, party, state, self.now())

    def end_leg(self, side: Side, reason: str, code: int | None = None) -> bool:
        self.timers.cancel((RING, side.tag))
        self.timers.cancel((SESSION, side.tag))
        control = side.media_control
        if control is not None:
            side.media_control = None
            control.close()
        return side.model.terminate(side.leg, self.now(), reason, code)

    def reinvite_answered(self, side: Side, resp: Response) -> None:
        """The final response to a re-INVITE of ours on ``side``: a 2xx's SDP answer goes to the
        side's media endpoint; an error that ended the dialog (§12.2.1.2) ends the call."""
        if 200 <= resp.status < 300:
            if has_sdp(resp) and self.media is not None and side.call is self:
                try:
                    self.media.heard(side.index, resp.body)
                except SdpParseError as exc:
                    logger.info("call %s: unreadable SDP in re-INVITE answer: %s", self.call.id, exc)
        elif side.dialog is not None and side.dialog.state is DialogState.TERMINATED:
            self.hangup(f"{resp.status} {resp.reason}", resp.status)

    def relay_body(self, source: int, body: bytes) -> bytes:
        """``body`` (SDP from the side at media position ``source``) as the other side must see it
        (SdpParseError on bad SDP)."""
        if self.media is None:
            return body
        return self.media.forward(source, body)

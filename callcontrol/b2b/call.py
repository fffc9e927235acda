"""One B2BUA call's signalling: the sides (one SIP dialog with one phone each) and how
they are paired.

A :class:`Side` is the server's dialog with one phone and that phone's leg in the
call model. A call bridges at most two sides at a time, by media position
(``pair[A]``, ``pair[B]``: the two endpoints of the call's
:class:`~callcontrol.b2b.anchor.MediaAnchor`); everything one side says in a dialog
(re-INVITE, UPDATE, INFO, BYE) goes to the other side of the pair.

Sides come from three places:

- :class:`UasSide`: the INVITE a phone sent us (leg A of a dialled call);
- :class:`UacSide` with purpose ``FORK``: leg B forks of a dialled call. 1xx are
  relayed to A (``ringing``, or ``early`` with SDP), the first 2xx answers A and
  CANCELs the other forks, failures are relayed when every fork failed;
- :class:`UacSide` with purpose ``PLACED``: a call the server places itself
  (originate's legs, a transfer target). Its outcome goes to the callbacks given
  to :meth:`B2bCall.place`.

Call control (``callcontrol.actions``, one module per action) rearranges pairs: a transfer seats a new
side where the transferor was, an attended transfer hands a side to another call.
Every leg change goes through the ``Call`` model (``callcontrol.model.calls``) that owns
the leg, which publishes one snapshot per change.

Watchdogs (one timer per call): leg B ringing longer than ``ring_timeout`` is
cancelled (480 to A); a 2xx that A never ACKs within 64*T1 ends the call (§13.3.1.4).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from callcontrol.b2b.anchor import A, B, MediaAnchor
from callcontrol.b2b.routing import Target
from callcontrol.b2b.session_timers import SessionTimers
from callcontrol.b2b.sides import ALLOW, OnAnswer, OnFail, Purpose, Side, UacSide, UasSide, local_contact
from callcontrol.model.callinfo import CallState, Party
from callcontrol.model.calls import Call
from sip.dialog import Dialog, DialogError, DialogState, new_call_id, new_tag
from sip.headers import quote
from sip.message import SDP, Request, Response, allow_events, has_sdp, make_request
from sip.peer import Peer
from sip.sdp import SdpParseError, parse_sdp
from sip.session_timer import (
    MAX_422_RETRIES,
    SessionTimer,
)
from sip.ua import IncomingRequest

if TYPE_CHECKING:
    from callcontrol.b2b.b2bua import B2bua

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
REASON_NO_ANSWER = "no answer"
REASON_NO_ACK = "no ACK"
REASON_API = "terminated by API"
REASON_BLIND_TRANSFER = "blind transfer"
REASON_ATTENDED_TRANSFER = "attended transfer"
REASON_TRANSFER_FAILED = "transfer failed"
REASON_NO_IVR_APP = "no IVR application"

# What a re-INVITE of ours came to when no final response arrived.
NOT_SENT = (481, "Call/Transaction Does Not Exist")
TIMED_OUT = (408, "Request Timeout")
ReinviteDone = Callable[[int, str], None]  # (final status, phrase)


class B2bCall(SessionTimers):
    """One call: its sides, the pair being bridged, its media anchor and watchdog."""

    def __init__(self, b2b: B2bua, call: Call, a: UasSide | None = None) -> None:
        self.b2b = b2b
        self.call = call
        self.a: UasSide | None = a
        self.forks: list[UacSide] = []
        self.winner: UacSide | None = None
        self.pair: list[Side | None] = [None, None]
        self.sides: list[Side] = []  # every side this call owns: hangup ends them all
        self.media: MediaAnchor | None = None
        self.ending = False
        self.failures: list[tuple[int, str]] = []
        # One watchdog at a time: "no answer" until B answers, then "no ACK" until A's ACK.
        self.timer: asyncio.TimerHandle | None = None
        self.acked = False
        self.ivr: Any = None  # the IVR access number when the server answered this call itself
        self.server_hold: tuple[Side, Side] | None = None  # (holder, held) while the server holds

    def seat(self, side: Side) -> None:
        """``side`` joins this call at its media position (a side it owns from now on)."""
        side.call = self
        if side not in self.sides:
            self.sides.append(side)
        self.pair[side.index] = side

    def hand_over(self, side: Side, to: B2bCall, index: int) -> None:
        """``side`` leaves this call for ``to``, with its media endpoint and SDP state, and sits at
        media position ``index`` there (attended transfer). A call left with nobody ends."""
        assert self.media is not None and to.media is not None
        if self.pair[side.index] is side:
            self.pair[side.index] = None
        self.sides.remove(side)
        to.media.put(index, self.media.take(side.index))
        side.index = index
        to.seat(side)
        if not self.live_sides():
            self.ending = True
            self._finish()

    def own(self, side: Side) -> None:
        side.call = self
        if side not in self.sides:
            self.sides.append(side)

    def _arm(self, delay: float, fire: Callable[[], None]) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(delay, fire)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def arm_ack_watch(self) -> None:
        """We answered leg A: end the call if its ACK never comes (64*T1)."""
        if not self.acked:
            self._arm(64 * self.b2b.ua.timers.t1, self._ack_timeout)

    def _ring_timeout(self) -> None:
        self.timer = None
        if self.winner is None and not self.ending:
            self.b2b.stats.failed += 1
            self.hangup(REASON_NO_ANSWER, 480)

    def _ack_timeout(self) -> None:
        self.timer = None
        if not self.acked and not self.ending:
            # §13.3.1.4: a 2xx never ACKed ends the session with BYE.
            logger.info("call %s: leg A never ACKed our 2xx", self.call.id)
            self.hangup(REASON_NO_ACK, 408)

    # -- helpers ------------------------------------------------------------------------------
    def now(self) -> float:
        return self.b2b.wall()

    def other(self, side: Side) -> Side | None:
        """The side bridged with ``side`` (None when ``side`` is not in the pair or alone)."""
        if self.pair[side.index] is not side:
            return None
        return self.pair[1 - side.index]

    def live_sides(self) -> list[Side]:
        return [s for s in self.sides if not s.ended]

    def end_leg(self, side: Side, reason: str, code: int | None = None) -> bool:
        if isinstance(side, UacSide) and side.ring_timer is not None:
            side.ring_timer.cancel()
            side.ring_timer = None
        if side.st_handle is not None:
            side.st_handle.cancel()
            side.st_handle = None
        control = side.media_control
        if control is not None:
            side.media_control = None
            control.close()
        return side.model.terminate(side.leg, self.now(), reason, code)

    def move(self, side: Side, state: CallState) -> None:
        if not side.ended:
            side.model.move(side.leg, state, self.now())

    def _relay_body(self, source: int, message: Request | Response) -> bytes:
        """The message's SDP as the other side must see it (SdpParseError on bad SDP)."""
        if self.media is None:
            return message.body
        return self.media.forward(source, message.body)

    # -- placing calls ------------------------------------------------------------------------
    def build_invite(self, target: Target, tag: str, sip_call_id: str, *, from_user: str,
                     from_display: str | None, body: bytes, max_forwards: int = 70,
                     extra: Iterable[tuple[str, str]] = ()) -> tuple[Request, str]:
        ua = self.b2b.ua
        transport = target.peer.transport
        host, _port = ua.local_address(transport)
        contact = local_contact(ua, transport, "b2bua")
        display = f"{quote(from_display)} " if from_display else ""
        headers = [
            ("From", f"{display}<sip:{from_user}@{host}>;tag={tag}"),
            ("To", f"<{target.uri}>"),
            ("Call-ID", sip_call_id),
            ("CSeq", "1 INVITE"),
            ("Contact", contact),
            ("Max-Forwards", str(max_forwards)),
            ("Allow", ALLOW),
            *extra,
        ]
        if body:
            headers.append(("Content-Type", SDP))
        return make_request("INVITE", target.uri, headers, body), contact

    def _new_uac(self, model: Call, index: int, target: Target, *, purpose: Purpose, caller: Party,
                 callee: Party, leg_id: str | None, from_user: str, from_display: str | None, body: bytes,
                 max_forwards: int = 70, extra: Iterable[tuple[str, str]] = (),
                 caller_side: bool = False, sip_call_id: str | None = None) -> UacSide:
        ua = self.b2b.ua
        transport = target.peer.transport
        host, port = ua.local_address(transport)
        tag = new_tag()
        sip_call_id = sip_call_id or new_call_id(host)
        settings = self.b2b.settings
        offer = (settings.session_interval, settings.min_se) if settings.session_timers else None
        if offer is not None:
            extra = (*SessionTimer.offer_headers(*offer), *extra)
        invite, contact = self.build_invite(target, tag, sip_call_id, from_user=from_user,
                                            from_display=from_display, body=body, max_forwards=max_forwards,
                                            extra=extra)
        leg = model.add_leg(tag=tag, sip_call_id=sip_call_id, type="incoming", caller=caller, callee=callee,
                            transport_id=f"{host}:{port}", now=self.now(), leg_id=leg_id)
        side = UacSide(self, index, leg, model, invite, target, contact, tag, purpose=purpose,
                       caller_side=caller_side)
        side.st_offer = offer
        self.own(side)
        ua.register_dialog(sip_call_id, tag, side)
        return side

    def _send_invite(self, side: UacSide) -> None:
        side.tx = self.b2b.ua.send_request(  # type: ignore[assignment]
            side.invite, side.peer,
            lambda resp, s=side: self.uac_response(s, resp),
            lambda why, s=side: self.uac_failed(s, why))

    def place(self, index: int, targets: tuple[Target, ...], *, caller: Party, callee: Party, body: bytes,
              from_user: str, from_display: str | None = None, leg_id: str | None = None,
              model: Call | None = None, extra: Iterable[tuple[str, str]] = (), on_answer: OnAnswer,
              on_fail: OnFail, caller_side: bool = False, sip_call_id: str | None = None) -> list[UacSide]:
        """Call ``targets`` (every contact of one party, in parallel) on the server's behalf; the
        first to answer sits at media ``index`` and goes to ``on_answer``, the others are
        cancelled; ``on_fail`` gets the best failure once all of them failed."""
        extra = tuple(extra)
        group: list[UacSide] = []
        for target in targets:
            side = self._new_uac(model or self.call, index, target, purpose=Purpose.PLACED, caller=caller,
                                 callee=callee, leg_id=leg_id, from_user=from_user, from_display=from_display,
                                 body=body, extra=extra, caller_side=caller_side, sip_call_id=sip_call_id)
            side.on_answer = on_answer
            side.on_fail = on_fail
            side.group = group
            group.append(side)
        loop = asyncio.get_running_loop()
        for side in group:
            self._send_invite(side)
            side.ring_timer = loop.call_later(self.b2b.settings.ring_timeout, self._ring_expired, side)
        return group

    def _ring_expired(self, side: UacSide) -> None:
        """A placed call rang ``ring_timeout``: CANCEL it (its 487 goes to ``on_fail``)."""
        side.ring_timer = None
        if not side.final and side.tx is not None:
            side.restart = None
            self.b2b.ua.cancel(side.tx)

    def start_forks(self, targets: tuple[Target, ...], callee: Party) -> None:
        a = self.a
        assert a is not None
        self._arm(self.b2b.settings.ring_timeout, self._ring_timeout)
        a_req = a.incoming.request
        body = b""
        if has_sdp(a_req):
            try:
                body = self._relay_body(A, a_req)
            except SdpParseError as exc:
                self.reject(488, "Not Acceptable Here", reason=f"bad SDP: {exc}")
                return
        mf = a_req.max_forwards
        for target in targets:
            fork = self._new_uac(self.call, B, target, purpose=Purpose.FORK, caller=a.leg.caller, callee=callee,
                                 leg_id=None, from_user=a.leg.caller.id, from_display=a_req.from_.display_name,
                                 body=body, max_forwards=(mf if mf is not None else 70) - 1)
            self.forks.append(fork)
            self._send_invite(fork)

    # -- responses to our INVITEs -------------------------------------------------------------
    def uac_response(self, side: UacSide, resp: Response) -> None:
        status = resp.status
        if status == 100:
            return
        now = self.b2b.loop_time()
        if status < 200:
            if side.final or side.answered:
                return
            if resp.to_tag is not None:
                if side.dialog is None:
                    side.dialog = Dialog.from_uac(side.invite, resp, now)
                elif side.dialog.remote_tag == resp.to_tag:
                    side.dialog.receive_response(side.invite, resp, now)
                side.allow_events = side.allow_events | allow_events(resp)
            if side.purpose is Purpose.PLACED:
                if not self.ending and not side.ended and side.restart is None:
                    self.move(side, CallState.EARLY if has_sdp(resp) else CallState.RINGING)
                return
            a = self.a
            if self.ending or self.winner is not None or a is None or a.incoming.final_sent:
                return
            self._relay_provisional(side, resp)
            return
        if status < 300:
            self._uac_answered(side, resp, now)
            return
        if side.final:
            return
        if status == 422 and self._retry_after_422(side, resp):
            return
        if side.restart is not None and not self.ending and not side.ended:
            headers = side.restart
            side.restart = None
            self._reissue(side, ("alert-info", "call-info"), headers)
            return
        side.final = True
        if side.dialog is not None:
            side.dialog.terminate()
        self.b2b.ua.unregister_dialog(side.leg.sip_call_id, side.tag)
        phrase = resp.reason or str(status)
        self.end_leg(side, phrase, status)
        self._uac_failed(side, status, phrase)

    def uac_failed(self, side: UacSide, why: str) -> None:
        if side.final or side.answered:
            return
        side.final = True
        status, reason = (408, "Request Timeout") if why == "timeout" else (503, "Service Unavailable")
        self.b2b.ua.unregister_dialog(side.leg.sip_call_id, side.tag)
        self.end_leg(side, reason, status)
        self._uac_failed(side, status, reason)

    def _uac_failed(self, side: UacSide, status: int, phrase: str) -> None:
        if side.purpose is Purpose.PLACED:
            side.failure = (status, phrase)
            group = side.group
            if any(o.answered or not o.final for o in group):
                return  # another contact answered, or may still
            if side.on_fail is not None and not self.ending:
                best = _best_failure([o.failure for o in group if o.failure is not None])
                side.on_fail(side, *best)
            return
        self.failures.append((status, phrase))
        self._maybe_fail_a()

    def _reissue(self, side: UacSide, drop: tuple[str, ...], add: Iterable[tuple[str, str]]) -> None:
        """Send our INVITE again, changed (same Call-ID and From tag, so the leg keeps its identity):
        answer_call "Invite" adds the auto-answer headers, a 422 asks for a longer session."""
        old = side.invite
        dropped = ("via", "cseq", "to", *drop)
        headers = [(name, value) for name, value in old.headers if name.lower() not in dropped]
        headers.append(("To", f"<{old.uri}>"))
        headers.append(("CSeq", f"{old.cseq + 1} INVITE"))
        headers.extend(add)
        side.invite = make_request("INVITE", old.uri, headers, old.body)
        side.dialog = None
        side.final = False
        self._send_invite(side)

    def _retry_after_422(self, side: UacSide, resp: Response) -> bool:
        """422 Session Interval Too Small (RFC 4028 §7.3): retry with the Min-SE it asks for."""
        if side.st_offer is None or side.st_422 >= MAX_422_RETRIES or self.ending or side.ended:
            return False
        new = SessionTimer.on_422(resp, *side.st_offer)
        if new is None:
            return False
        side.st_422 += 1
        side.st_offer = (new, new)
        self._reissue(side, ("supported", "session-expires", "min-se"), SessionTimer.offer_headers(new, new))
        return True

    def _relay_provisional(self, fork: UacSide, resp: Response) -> None:
        a = self.a
        assert a is not None
        headers = [("Contact", a.contact)]
        body = b""
        early = has_sdp(resp)
        if early:
            try:
                body = self._relay_body(B, resp)
                headers.append(("Content-Type", SDP))
            except SdpParseError as exc:
                logger.info("call %s: unreadable SDP in %d from leg B: %s", self.call.id, resp.status, exc)
                early = False
        a.incoming.respond(resp.status, resp.reason, to_tag=a.tag, headers=headers, body=body)
        state = CallState.EARLY if early else CallState.RINGING
        self.move(fork, state)
        self.move(a, state)

    def _uac_answered(self, side: UacSide, resp: Response, now: float) -> None:
        ua = self.b2b.ua
        if side.answered:
            if side.dialog is not None and resp.to_tag == side.dialog.remote_tag:
                return  # a retransmission: the UA core re-sends our ACK (or it is still deferred)
            # A second 2xx from a downstream fork: a dialog we do not want (§13.2.2.4).
            self._ack_and_bye(Dialog.from_uac(side.invite, resp, now), side)
            return
        if side.dialog is None or side.dialog.remote_tag != (resp.to_tag or ""):
            side.dialog = Dialog.from_uac(side.invite, resp, now)
        else:
            side.dialog.receive_response(side.invite, resp, now)
        side.answered = True
        side.final = True
        side.allow_events = side.allow_events | allow_events(resp)
        if side.purpose is Purpose.PLACED:
            self._placed_answered(side, resp)
            return
        a = self.a
        assert a is not None
        if self.ending or self.winner is not None or a.incoming.final_sent:
            self._ack_and_bye(side.dialog, side)
            self.end_leg(side, REASON_ELSEWHERE if self.winner else REASON_CANCELLED)
            return
        self.winner = side
        headers = [("Contact", a.contact)]
        if a.session_timer is not None:
            headers.extend(a.session_timer.response_headers())
        body = b""
        if has_sdp(resp):
            try:
                body = self._relay_body(B, resp)
                headers.append(("Content-Type", SDP))
            except SdpParseError as exc:
                logger.info("call %s: unreadable SDP in 2xx from leg B: %s", self.call.id, exc)
                self._ack_and_bye(side.dialog, side)
                self.end_leg(side, "bad SDP", 488)
                self.winner = None
                self.failures.append((488, "Not Acceptable Here"))
                self._maybe_fail_a()
                return
        if side.offer_sent:
            ua.send_ack(side.dialog.create_ack(side.invite.cseq), side.peer, side.tx)
        else:
            side.pending_ack = (side.dialog, side.invite.cseq, side.tx)  # A's ACK brings the answer
        for other in self.forks:
            if other is not side and not other.final:
                self._cancel(other, REASON_ELSEWHERE)
        response = a.incoming.respond(resp.status, resp.reason, to_tag=a.tag, headers=headers, body=body)
        assert a.dialog is not None
        a.dialog.response_sent(a.incoming.request, response)
        self.seat(a)
        self.seat(side)
        self.start_session_timer(a, a.session_timer)
        self._start_uac_timer(side, resp)
        self.move(side, CallState.CONNECTED)
        self.move(a, CallState.CONNECTED)
        self.b2b.stats.answered += 1
        self.arm_ack_watch()

    def _placed_answered(self, side: UacSide, resp: Response) -> None:
        assert side.dialog is not None
        if side.ring_timer is not None:
            side.ring_timer.cancel()
            side.ring_timer = None
        ua = self.b2b.ua
        ua.send_ack(side.dialog.create_ack(side.invite.cseq), side.peer, side.tx)
        if self.ending or side.ended or any(o.answered for o in side.group if o is not side):
            self._send_bye(side.dialog, side.peer)
            self.end_leg(side, REASON_ELSEWHERE)
            return
        for other in side.group:
            if other is not side and not other.final:
                self._cancel(other, REASON_ELSEWHERE)
        if has_sdp(resp) and self.media is not None:
            try:
                self.media.heard(side.index, resp.body)
            except SdpParseError as exc:
                logger.info("call %s: unreadable SDP in 2xx: %s", self.call.id, exc)
                self._send_bye(side.dialog, side.peer)
                self.end_leg(side, "bad SDP", 488)
                if side.on_fail is not None:
                    side.on_fail(side, 488, "Not Acceptable Here")
                return
        self._start_uac_timer(side, resp)
        self.move(side, CallState.CONNECTED)
        if side.on_answer is not None:
            side.on_answer(side)

    def _maybe_fail_a(self) -> None:
        if self.winner is not None or any(not f.final for f in self.forks):
            return
        a = self.a
        if a is None or a.incoming.final_sent:
            self._finish()
            return
        status, reason = _best_failure(self.failures)
        self.reject(status, reason, reason=reason)

    def _cancel(self, side: UacSide, reason: str) -> None:
        if side.tx is not None and not side.final:
            done = self.b2b.teardown_started()
            if self.b2b.ua.cancel(side.tx, lambda resp: done() if resp.status >= 200 else None) is None:
                done()
        self.end_leg(side, reason, 487)

    def cancel_for_restart(self, side: UacSide, headers: tuple[tuple[str, str], ...]) -> None:
        """CANCEL a ringing INVITE of ours, to be replaced by one with ``headers`` once it is
        answered 487 (answer_call "Invite"). The leg stays as it is meanwhile."""
        side.restart = headers
        if side.tx is None or self.b2b.ua.cancel(side.tx) is None:
            side.restart = None
            self._reissue(side, ("alert-info", "call-info"), headers)

    def _ack_and_bye(self, dialog: Dialog, side: UacSide) -> None:
        ua = self.b2b.ua
        ua.send_ack(dialog.create_ack(side.invite.cseq), side.peer)
        self._send_bye(dialog, side.peer)

    def _send_bye(self, dialog: Dialog, peer: Peer, reason: tuple[int, str] | None = None) -> None:
        if dialog.state is DialogState.TERMINATED:
            return
        try:
            bye = dialog.create_bye(reason)
        except DialogError as exc:
            logger.debug("no BYE on %s: %s", dialog.id, exc)
            return
        now = self.b2b.loop_time
        done = self.b2b.teardown_started()

        def on_response(resp: Response) -> None:
            dialog.receive_response(bye, resp, now())
            if resp.status >= 200:
                done()

        self.b2b.ua.send_request(bye, peer, on_response, lambda why: done())
        dialog.terminate()

    # -- ending -------------------------------------------------------------------------------
    def reject(self, status: int, phrase: str, *, reason: str) -> None:
        """Answer leg A with a final error and end everything."""
        a = self.a
        if a is not None and not a.incoming.final_sent:
            response = a.incoming.respond(status, phrase, to_tag=a.tag)
            if a.dialog is not None:
                a.dialog.response_sent(a.incoming.request, response)
        self.b2b.stats.failed += 1
        self.hangup(reason, status)

    def a_cancelled(self) -> None:
        """CANCEL from A (the UA core answers it 200 and the INVITE 487 after this)."""
        self.b2b.stats.cancelled += 1
        self.hangup(REASON_CANCELLED, 487)

    def drop(self, side: Side, reason: str, code: int | None = None) -> None:
        """End one side: a final error to an INVITE we hold, BYE to a dialog, CANCEL to a pending
        INVITE of ours; then its leg."""
        if side.ended:
            return
        if isinstance(side, UasSide) and not side.incoming.final_sent:
            status = code if code is not None and code >= 400 else 480
            response = side.incoming.respond(status, to_tag=side.tag)
            if side.dialog is not None:
                side.dialog.response_sent(side.incoming.request, response)
        elif isinstance(side, UacSide) and not side.final:
            side.restart = None
            self._cancel(side, reason)
        elif side.dialog is not None and side.dialog.state is not DialogState.TERMINATED:
            bye_reason = (code, reason) if side.caller_side and code and code >= 400 else None
            self._send_bye(side.dialog, side.peer, bye_reason)
        if self.pair[side.index] is side:
            self.pair[side.index] = None
        self.end_leg(side, reason, code)

    def hangup(self, reason: str, code: int | None = None, *, by: Side | None = None) -> None:
        """End every side this call owns: BYE the answered, CANCEL the ringing, answer A if pending."""
        self.ending = True
        for side in list(self.sides):
            if side is not by:
                self.drop(side, reason, code)
        self._finish()

    def _finish(self) -> None:
        self._disarm()
        media = self.media
        if media is not None and not media.closed:
            received, sent = media.packet_counts()
            stats = self.b2b.stats
            stats.rtp_received += received
            stats.rtp_sent += sent
            media.close()

    def cleanup(self) -> None:
        """The call model ended: drop dialog registrations, stop 2xx retransmissions to A."""
        ua = self.b2b.ua
        a = self.a
        if a is not None and a.call is self:
            ua.unregister_dialog(a.incoming.request.call_id, a.tag)
            if a.leg.answered:
                ua.ack_received(a.incoming)  # no-op once acked; else the call ended before A's ACK
        for side in self.sides:
            if side.ended and side.call is self:
                ua.unregister_dialog(side.leg.sip_call_id, side.tag)
        if not self.live_sides():
            self._finish()

    # -- in-dialog ----------------------------------------------------------------------------
    def ack_received(self, side: Side, request: Request) -> None:
        ua = self.b2b.ua
        a = self.a
        if side is a and a is not None and request.cseq == a.incoming.request.cseq:
            ua.ack_received(a.incoming)
            if not self.acked:
                self.acked = True
                self._disarm()
            if self.ivr is not None and has_sdp(request) and self.media is not None:
                try:
                    self.media.heard(A, request.body)  # late offer: the ACK answers our offer
                except SdpParseError as exc:
                    logger.info("call %s: unreadable SDP in ACK: %s", self.call.id, exc)
                return
        elif side.answered_invite is not None and request.cseq == side.answered_invite.request.cseq:
            ua.ack_received(side.answered_invite)
            side.answered_invite = None
        else:
            return
        other = self.other(side)
        if other is None or other.pending_ack is None:
            return
        dialog, cseq, tx = other.pending_ack
        other.pending_ack = None
        body = b""
        ctype = None
        if has_sdp(request):
            try:
                body = self._relay_body(side.index, request)
                ctype = SDP
            except SdpParseError as exc:
                logger.info("call %s: unreadable SDP in ACK: %s", self.call.id, exc)
        ua.send_ack(dialog.create_ack(cseq, body, ctype), other.peer, tx)

    def in_dialog_request(self, side: Side, incoming: IncomingRequest) -> None:
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
            self.b2b.ua.unregister_dialog(dialog.call_id, dialog.local_tag)
            reason = REASON_CALLER_BYE if side.caller_side else REASON_CALLEE_BYE
            self.end_leg(side, reason)
            if self.pair[side.index] is side:
                self.pair[side.index] = None
            self.hangup(reason, by=side)
            return
        if method == "REFER":
            self.b2b.refer(side, incoming)
            return
        if method == "INFO":
            self._dtmf_info(side, incoming)
        other = self.other(side)
        if other is None or other.dialog is None or other.dialog.state is not DialogState.CONFIRMED:
            if method in ("INVITE", "UPDATE") and other is None and self.media is not None and side.confirmed:
                self._answer_locally(side, incoming)
                return
            if method == "INFO" and other is None:
                incoming.respond(200)  # nobody to relay to (IVR): reported above if detection is on
                return
            incoming.respond(491 if method in ("INVITE", "UPDATE") else 481)
            return
        self._relay_request(side, other, incoming)

    @staticmethod
    def _dtmf_info(side: Side, incoming: IncomingRequest) -> None:
        """A DTMF INFO while detection is on for the side is reported (and still relayed: the
        far phone may want the digit too)."""
        control = side.media_control
        if control is not None and control.dtmf_enabled:
            request = incoming.request
            control.sip_info(request.content_type or "", request.body)

    def _answer_locally(self, side: Side, incoming: IncomingRequest) -> None:
        """A re-offer from a side that nobody is bridged with (IVR, a transfer still ringing):
        the server answers it itself, keeping the side's media going to its endpoint."""
        request = incoming.request
        assert self.media is not None and side.dialog is not None
        headers = [("Contact", side.contact)]
        body = b""
        try:
            if has_sdp(request):
                body = self.media.own_answer(side.index, request.body)
            elif request.method == "INVITE":
                body = self.media.redirect(side.index, "sendrecv")
        except SdpParseError:
            incoming.respond(488)
            return
        if body:
            headers.append(("Content-Type", SDP))
        response = incoming.respond(200, headers=headers, body=body)
        side.dialog.response_sent(request, response)
        if request.method == "INVITE":
            side.answered_invite = incoming

    def _relay_request(self, side: Side, other: Side, incoming: IncomingRequest) -> None:
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
                    body = self._relay_body(side.index, request)
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
        ua = self.b2b.ua

        def on_response(resp: Response) -> None:
            if resp.status < 200 or incoming.final_sent:
                return
            other_dialog = other.dialog
            assert other_dialog is not None and side.dialog is not None
            other_dialog.receive_response(out, resp, self.b2b.loop_time())
            headers: list[tuple[str, str]] = []
            rbody = b""
            if method == "INVITE" and resp.status < 300:
                if out.body:
                    ua.send_ack(other_dialog.create_ack(out.cseq), other.peer, tx)  # type: ignore[arg-type]
                else:
                    other.pending_ack = (other_dialog, out.cseq, tx)  # type: ignore[assignment]
            if 200 <= resp.status < 300 and refresh:
                headers.append(("Contact", side.contact))
                if side.session_timer is not None:
                    headers.extend(side.session_timer.response_headers())
                for refreshed in (side, other):  # one pass-through refresh proves both phones alive
                    self._session_refreshed(refreshed)
            if has_sdp(resp):
                try:
                    rbody = self._relay_body(other.index, resp)
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
                self._hold_state(side, other, offer.is_hold)
            if other_dialog.state is DialogState.TERMINATED:
                self.hangup(f"{resp.status} {resp.reason}", resp.status, by=other)

        def on_failure(why: str) -> None:
            if not incoming.final_sent:
                incoming.respond(408)
            self.hangup(f"{method} {why}", 408)

        tx = ua.send_request(out, other.peer, on_response, on_failure)

    def _hold_state(self, side: Side, other: Side, hold: bool) -> None:
        if self.ending or side.ended or other.ended:
            return
        if hold:
            self.move(side, CallState.HOLDING)
            self.move(other, CallState.HELD)
        elif side.leg.state is not CallState.CONNECTED or other.leg.state is not CallState.CONNECTED:
            self.move(side, CallState.CONNECTED)
            self.move(other, CallState.CONNECTED)

    # -- requests the server itself sends in a dialog -----------------------------------------
    def reinvite(self, side: Side, body: bytes, done: ReinviteDone | None = None, *,
                 on_final: Callable[[Response | None], None] | None = None) -> None:
        """A re-INVITE of ours with ``body`` (an offer pointing at our endpoint); the answer goes to
        the side's media state and ``done`` gets its final (status, phrase): 408 when it timed out,
        481 when it was never sent (no confirmed dialog, or the side ended while it waited). One at
        a time per dialog: later ones wait their turn."""
        if side.reinvite_busy:
            side.reinvite_queue.append((body, done, on_final))
            return
        dialog = side.dialog
        if dialog is None or dialog.state is not DialogState.CONFIRMED or side.ended:
            if done is not None:
                done(*NOT_SENT)
            return
        headers = [("Allow", ALLOW)]
        if side.session_timer is not None:
            headers.extend(side.session_timer.refresh_headers())  # every re-INVITE refreshes (§7.4)
        try:
            request = dialog.create_reinvite(body, headers=headers)
        except DialogError:
            # The phone's own re-INVITE is in progress (§14.1): try again shortly.
            asyncio.get_running_loop().call_later(0.2, lambda: self.reinvite(side, body, done, on_final=on_final))
            return
        side.reinvite_busy = True
        answered = False
        ua = self.b2b.ua

        def finished(status: int, phrase: str) -> None:
            side.reinvite_busy = False
            if done is not None:
                done(status, phrase)
            queue = side.reinvite_queue
            if queue and side.ended:
                waiting = list(queue)
                queue.clear()
                for _body, next_done, _final in waiting:  # never sent: say so, nobody waits forever
                    if next_done is not None:
                        next_done(*NOT_SENT)
            elif queue:
                next_body, next_done, next_final = queue.pop(0)
                self.reinvite(side, next_body, next_done, on_final=next_final)

        def on_response(resp: Response) -> None:
            nonlocal answered
            if resp.status < 200 or answered:
                return
            answered = True
            dialog.receive_response(request, resp, self.b2b.loop_time())
            ok = resp.status < 300
            if ok:
                ua.send_ack(dialog.create_ack(request.cseq), side.peer, tx)  # type: ignore[arg-type]
                if has_sdp(resp) and self.media is not None and side.call is self:
                    try:
                        self.media.heard(side.index, resp.body)
                    except SdpParseError as exc:
                        logger.info("call %s: unreadable SDP in re-INVITE answer: %s", self.call.id, exc)
                if on_final is None:
                    self._session_refreshed(side)
            elif dialog.state is DialogState.TERMINATED:
                self.hangup(f"{resp.status} {resp.reason}", resp.status)
            if on_final is not None:
                on_final(resp)
            finished(resp.status, resp.reason or str(resp.status))

        def on_failure(why: str) -> None:
            nonlocal answered
            if not answered:
                answered = True
                if on_final is not None:
                    on_final(None)
                finished(*TIMED_OUT)

        tx = ua.send_request(request, side.peer, on_response, on_failure)

    def notify(self, side: Side, event: str, done: Callable[[int], None]) -> None:
        """An in-dialog NOTIFY ``Event: <event>`` (BroadSoft-style remote control: talk, hold);
        ``done`` gets the final status (408 on timeout)."""
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

        self.b2b.ua.send_request(request, side.peer, on_response, on_failure)


def _best_failure(failures: list[tuple[int, str]]) -> tuple[int, str]:
    """The answer for A when every fork failed (§16.7 in spirit): a 6xx wins, then 4xx, 5xx."""
    if not failures:
        return 480, "Temporarily Unavailable"

    def rank(item: tuple[int, str]) -> tuple[int, int]:
        status = item[0]
        klass = status // 100
        order = {6: 0, 4: 1, 5: 2, 3: 3}.get(klass, 4)
        # 408/487 say less than a real refusal from another fork.
        return order, 1 if status in (408, 487) else 0

    return min(failures, key=rank)

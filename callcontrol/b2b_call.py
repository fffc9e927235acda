"""One B2BUA call's signalling: leg A (the dialog we answer) glued to its leg B forks.

``B2bCall`` reacts to everything SIP says about one call: leg B's responses
(relayed to A: 1xx as ``ringing``/``early``, the first 2xx answers A and cancels
the other forks, failures once every fork failed), A's CANCEL and ACK, BYE from
either side, and in-dialog requests passed through (re-INVITE/UPDATE with their
SDP rewritten by the call's :class:`~callcontrol.media.MediaAnchor`, hold seen in
re-offers as ``holding``/``held``). Every leg change goes through the ``Call``
model (``callcontrol.calls``), which publishes one snapshot per change.

Watchdogs (one timer per call): leg B ringing longer than ``ring_timeout`` is
cancelled (480 to A); a 2xx that A never ACKs within 64*T1 ends the call (§13.3.1.4).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from callcontrol.callinfo import Party
from callcontrol.calls import Call, Leg, LegState
from callcontrol.media import A, B, MediaAnchor
from callcontrol.routing import Target
from sip.dialog import Dialog, DialogError, DialogState, new_call_id, new_tag
from sip.headers import quote
from sip.message import Request, Response, make_request
from sip.sdp import SdpParseError, parse_sdp
from sip.transaction import ClientInviteTransaction
from sip.transport import Peer
from sip.ua import IncomingRequest, UserAgent

if TYPE_CHECKING:
    from callcontrol.b2bua import B2bua

logger = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY, UPDATE"
SDP = "application/sdp"
TRUSTED = "trusted"

# Reasons shown in terminated notifications and CDRs.
REASON_CALLER_BYE = "caller hung up"
REASON_CALLEE_BYE = "callee hung up"
REASON_CANCELLED = "cancelled"
REASON_ELSEWHERE = "answered elsewhere"
REASON_RTP_TIMEOUT = "RTP timeout"
REASON_SHUTDOWN = "server shutdown"
REASON_NO_ANSWER = "no answer"
REASON_NO_ACK = "no ACK"


def _has_sdp(message: Request | Response) -> bool:
    if not message.body:
        return False
    ctype = message.content_type
    return ctype is None or ctype.split(";", 1)[0].strip().lower() == SDP


def local_contact(ua: UserAgent, transport: str, user: str) -> str:
    host, port = ua.local_address(transport)
    suffix = ";transport=tcp" if transport == "TCP" else ""
    return f"<sip:{user}@{host}:{port}{suffix}>"


class Side:
    """What both legs share: the dialog, where to send, and a pending deferred ACK."""

    __slots__ = ("answered_invite", "call", "contact", "dialog", "index", "leg", "peer", "pending_ack", "tag")

    def __init__(self, call: B2bCall, index: int, leg: Leg, peer: Peer, contact: str, tag: str) -> None:
        self.call = call
        self.index = index
        self.leg = leg
        self.dialog: Dialog | None = None
        self.peer = peer  # sticky: in-dialog requests go where the dialog started (NAT-friendly)
        self.contact = contact
        self.tag = tag
        self.answered_invite: IncomingRequest | None = None  # a re-INVITE we 2xx'd, awaiting its ACK
        # A 2xx of ours to ACK once the other side's ACK brings the SDP answer (offerless INVITE):
        # (dialog, INVITE CSeq, the INVITE's client transaction).
        self.pending_ack: tuple[Dialog, int, ClientInviteTransaction | None] | None = None

    # DialogUser
    def on_request(self, incoming: IncomingRequest) -> None:
        self.call.in_dialog_request(self, incoming)

    def on_ack(self, request: Request, peer: Peer) -> None:
        self.call.ack_received(self, request)


class UasSide(Side):
    __slots__ = ("incoming",)

    def __init__(self, call: B2bCall, leg: Leg, incoming: IncomingRequest, contact: str, tag: str) -> None:
        super().__init__(call, A, leg, incoming.peer, contact, tag)
        self.incoming = incoming


class Fork(Side):
    """One leg B INVITE (one target)."""

    __slots__ = ("answered", "final", "invite", "offer_sent", "tx")

    def __init__(self, call: B2bCall, leg: Leg, invite: Request, target: Target, contact: str, tag: str) -> None:
        super().__init__(call, B, leg, target.peer, contact, tag)
        self.invite = invite
        self.tx: ClientInviteTransaction | None = None
        self.final = False
        self.answered = False
        self.offer_sent = bool(invite.body)


class B2bCall:
    """One call's signalling glue between leg A and its leg B forks."""

    def __init__(self, b2b: B2bua, call: Call, a: UasSide | None = None) -> None:
        self.b2b = b2b
        self.call = call
        self.a: UasSide = a  # type: ignore[assignment]  # set right after construction
        self.forks: list[Fork] = []
        self.winner: Fork | None = None
        self.media: MediaAnchor | None = None
        self.ending = False
        self.failures: list[tuple[int, str]] = []
        # One watchdog at a time: "no answer" until B answers, then "no ACK" until A's ACK.
        self.timer: asyncio.TimerHandle | None = None
        self.acked = False

    def _arm(self, delay: float, fire: Callable[[], None]) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(delay, fire)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

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
    def _now(self) -> float:
        return self.b2b.wall()

    def _other(self, side: Side) -> Side | None:
        return self.winner if side.index == A else self.a

    def _relay_body(self, source: int, message: Request | Response) -> bytes:
        """The message's SDP as the other side must see it (SdpParseError on bad SDP)."""
        if self.media is None:
            return message.body
        return self.media.forward(source, message.body)

    # -- leg B --------------------------------------------------------------------------------
    def start_forks(self, targets: tuple[Target, ...], callee: Party) -> None:
        ua = self.b2b.ua
        self._arm(self.b2b.settings.ring_timeout, self._ring_timeout)
        a_req = self.a.incoming.request
        body = b""
        if _has_sdp(a_req):
            try:
                body = self._relay_body(A, a_req)
            except SdpParseError as exc:
                self.reject(488, "Not Acceptable Here", reason=f"bad SDP: {exc}")
                return
        from_na = a_req.from_
        caller_user = self.a.leg.caller.id
        display = f"{quote(from_na.display_name)} " if from_na.display_name else ""
        mf = a_req.max_forwards
        max_forwards = str((mf if mf is not None else 70) - 1)
        for target in targets:
            transport = target.peer.transport
            host, port = ua.local_address(transport)
            tag = new_tag()
            sip_call_id = new_call_id(host)
            contact = local_contact(ua, transport, "b2bua")
            headers = [
                ("From", f"{display}<sip:{caller_user}@{host}>;tag={tag}"),
                ("To", f"<{target.uri}>"),
                ("Call-ID", sip_call_id),
                ("CSeq", "1 INVITE"),
                ("Contact", contact),
                ("Max-Forwards", max_forwards),
                ("Allow", ALLOW),
            ]
            if body:
                headers.append(("Content-Type", SDP))
            invite = make_request("INVITE", target.uri, headers, body)
            leg = self.call.add_leg(tag=tag, sip_call_id=sip_call_id, type="incoming",
                                    caller=self.a.leg.caller, callee=callee,
                                    transport_id=f"{host}:{port}", now=self._now())
            fork = Fork(self, leg, invite, target, contact, tag)
            self.forks.append(fork)
            ua.register_dialog(sip_call_id, tag, fork)
            fork.tx = ua.send_request(  # type: ignore[assignment]
                invite, target.peer,
                lambda resp, f=fork: self.fork_response(f, resp),
                lambda why, f=fork: self.fork_failed(f, why))

    def fork_response(self, fork: Fork, resp: Response) -> None:
        status = resp.status
        if status == 100:
            return
        now = self.b2b.loop_time()
        if status < 200:
            if fork.final or fork.answered:
                return
            if resp.to_tag is not None:
                if fork.dialog is None:
                    fork.dialog = Dialog.from_uac(fork.invite, resp, now)
                elif fork.dialog.remote_tag == resp.to_tag:
                    fork.dialog.receive_response(fork.invite, resp, now)
            if self.ending or self.winner is not None or self.a.incoming.final_sent:
                return
            self._relay_provisional(fork, resp)
            return
        if status < 300:
            self._fork_answered(fork, resp, now)
            return
        if fork.final:
            return
        fork.final = True
        if fork.dialog is not None:
            fork.dialog.terminate()
        self.b2b.ua.unregister_dialog(fork.leg.sip_call_id, fork.tag)
        self.call.terminate(fork.leg, self._now(), resp.reason or str(status), status)
        self.failures.append((status, resp.reason))
        self._maybe_fail_a()

    def fork_failed(self, fork: Fork, why: str) -> None:
        if fork.final or fork.answered:
            return
        fork.final = True
        status, reason = (408, "Request Timeout") if why == "timeout" else (503, "Service Unavailable")
        self.b2b.ua.unregister_dialog(fork.leg.sip_call_id, fork.tag)
        self.call.terminate(fork.leg, self._now(), reason, status)
        self.failures.append((status, reason))
        self._maybe_fail_a()

    def _relay_provisional(self, fork: Fork, resp: Response) -> None:
        a = self.a
        headers = [("Contact", a.contact)]
        body = b""
        early = _has_sdp(resp)
        if early:
            try:
                body = self._relay_body(B, resp)
                headers.append(("Content-Type", SDP))
            except SdpParseError as exc:
                logger.info("call %s: unreadable SDP in %d from leg B: %s", self.call.id, resp.status, exc)
                early = False
        a.incoming.respond(resp.status, resp.reason, to_tag=a.tag, headers=headers, body=body)
        state = LegState.EARLY if early else LegState.RINGING
        now = self._now()
        self.call.move(fork.leg, state, now)
        self.call.move(a.leg, state, now)

    def _fork_answered(self, fork: Fork, resp: Response, now: float) -> None:
        ua = self.b2b.ua
        if fork.answered:
            if fork.dialog is not None and resp.to_tag == fork.dialog.remote_tag:
                return  # a retransmission: the UA core re-sends our ACK (or it is still deferred)
            # A second 2xx from a downstream fork: a dialog we do not want (§13.2.2.4).
            self._ack_and_bye(Dialog.from_uac(fork.invite, resp, now), fork)
            return
        if fork.dialog is None or fork.dialog.remote_tag != (resp.to_tag or ""):
            fork.dialog = Dialog.from_uac(fork.invite, resp, now)
        else:
            fork.dialog.receive_response(fork.invite, resp, now)
        fork.answered = True
        fork.final = True
        a = self.a
        if self.ending or self.winner is not None or a.incoming.final_sent:
            self._ack_and_bye(fork.dialog, fork)
            self.call.terminate(fork.leg, self._now(), REASON_ELSEWHERE if self.winner else REASON_CANCELLED)
            return
        self.winner = fork
        headers = [("Contact", a.contact)]
        body = b""
        if _has_sdp(resp):
            try:
                body = self._relay_body(B, resp)
                headers.append(("Content-Type", SDP))
            except SdpParseError as exc:
                logger.info("call %s: unreadable SDP in 2xx from leg B: %s", self.call.id, exc)
                self._ack_and_bye(fork.dialog, fork)
                self.call.terminate(fork.leg, self._now(), "bad SDP", 488)
                self.winner = None
                self.failures.append((488, "Not Acceptable Here"))
                self._maybe_fail_a()
                return
        if fork.offer_sent:
            ua.send_ack(fork.dialog.create_ack(fork.invite.cseq), fork.peer, fork.tx)
        else:
            fork.pending_ack = (fork.dialog, fork.invite.cseq, fork.tx)  # A's ACK brings the answer
        for other in self.forks:
            if other is not fork and not other.final:
                self._cancel_fork(other, REASON_ELSEWHERE)
        response = a.incoming.respond(resp.status, resp.reason, to_tag=a.tag, headers=headers, body=body)
        assert a.dialog is not None
        a.dialog.response_sent(a.incoming.request, response)
        wall = self._now()
        self.call.move(fork.leg, LegState.CONNECTED, wall)
        self.call.move(a.leg, LegState.CONNECTED, wall)
        self.b2b.stats.answered += 1
        if not self.acked:
            self._arm(64 * ua.timers.t1, self._ack_timeout)

    def _maybe_fail_a(self) -> None:
        if self.winner is not None or any(not f.final for f in self.forks):
            return
        if self.a.incoming.final_sent:
            self._finish()
            return
        status, reason = _best_failure(self.failures)
        self.reject(status, reason, reason=reason)

    def _cancel_fork(self, fork: Fork, reason: str) -> None:
        if fork.tx is not None and not fork.final:
            done = self.b2b.teardown_started()
            if self.b2b.ua.cancel(fork.tx, lambda resp: done() if resp.status >= 200 else None) is None:
                done()
        self.call.terminate(fork.leg, self._now(), reason, 487)

    def _ack_and_bye(self, dialog: Dialog, side: Fork) -> None:
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

    # -- leg A --------------------------------------------------------------------------------
    def reject(self, status: int, phrase: str, *, reason: str) -> None:
        """Answer leg A with a final error and end everything."""
        a = self.a
        if not a.incoming.final_sent:
            response = a.incoming.respond(status, phrase, to_tag=a.tag)
            if a.dialog is not None:
                a.dialog.response_sent(a.incoming.request, response)
        self.b2b.stats.failed += 1
        self.hangup(reason, status)

    def a_cancelled(self) -> None:
        """CANCEL from A (the UA core answers it 200 and the INVITE 487 after this)."""
        self.b2b.stats.cancelled += 1
        self.hangup(REASON_CANCELLED, 487)

    def hangup(self, reason: str, code: int | None = None, *, by: Side | None = None) -> None:
        """End every leg: BYE the answered ones, CANCEL the ringing forks, answer A if pending."""
        self.ending = True
        now = self._now()
        a = self.a
        if by is not a:
            if not a.incoming.final_sent:
                status = code if code is not None and code >= 400 else 480
                a.incoming.respond(status, to_tag=a.tag)
            elif a.dialog is not None and a.dialog.state is DialogState.CONFIRMED:
                self._send_bye(a.dialog, a.peer, (code, reason) if code and code >= 400 else None)
        self.call.terminate(a.leg, now, reason, code)
        for fork in self.forks:
            if fork is by:
                continue
            if fork.answered and fork.dialog is not None:
                self._send_bye(fork.dialog, fork.peer)
            elif not fork.final:
                self._cancel_fork(fork, reason)
            self.call.terminate(fork.leg, now, reason, code)
        self._finish()

    def _finish(self) -> None:
        self._disarm()
        if self.media is not None:
            self.media.close()

    def cleanup(self) -> None:
        """The call model ended: drop dialog registrations, stop 2xx retransmissions to A."""
        ua = self.b2b.ua
        a = self.a
        ua.unregister_dialog(a.incoming.request.call_id, a.tag)
        if a.leg.answered:
            ua.ack_received(a.incoming)  # no-op once acked; else the call ended before A's ACK
        for fork in self.forks:
            ua.unregister_dialog(fork.leg.sip_call_id, fork.tag)
        self._finish()

    # -- in-dialog ----------------------------------------------------------------------------
    def ack_received(self, side: Side, request: Request) -> None:
        ua = self.b2b.ua
        if side is self.a and request.cseq == self.a.incoming.request.cseq:
            ua.ack_received(self.a.incoming)
            if not self.acked:
                self.acked = True
                self._disarm()
        elif side.answered_invite is not None and request.cseq == side.answered_invite.request.cseq:
            ua.ack_received(side.answered_invite)
            side.answered_invite = None
        else:
            return
        other = self._other(side)
        if other is None or other.pending_ack is None:
            return
        dialog, cseq, tx = other.pending_ack
        other.pending_ack = None
        body = b""
        ctype = None
        if _has_sdp(request):
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
            self.call.terminate(side.leg, self._now(), REASON_CALLER_BYE if side.index == A else REASON_CALLEE_BYE)
            self.hangup(REASON_CALLER_BYE if side.index == A else REASON_CALLEE_BYE, by=side)
            return
        if method == "REFER":
            incoming.respond(501)  # transfers come with the call-control methods
            return
        other = self._other(side)
        if other is None or other.dialog is None or other.dialog.state is not DialogState.CONFIRMED:
            incoming.respond(491 if method in ("INVITE", "UPDATE") else 481)
            return
        self._relay_request(side, other, incoming)

    def _relay_request(self, side: Side, other: Side, incoming: IncomingRequest) -> None:
        request = incoming.request
        method = request.method
        assert other.dialog is not None and side.dialog is not None
        body = b""
        ctype = request.content_type
        offer = None
        if request.body:
            if _has_sdp(request):
                try:
                    offer = parse_sdp(request.body)
                    body = self._relay_body(side.index, request)
                    ctype = SDP
                except SdpParseError:
                    incoming.respond(488)
                    return
            else:
                body = request.body
        try:
            out = other.dialog.create_request(method, body=body, content_type=ctype if body else None)
        except DialogError:
            incoming.respond(491)
            return
        ua = self.b2b.ua

        def on_response(resp: Response) -> None:
            if resp.status < 200:
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
            if 200 <= resp.status < 300 and method in ("INVITE", "UPDATE"):
                headers.append(("Contact", side.contact))
            if _has_sdp(resp):
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
        now = self._now()
        if self.ending or side.leg.terminated or other.leg.terminated:
            return
        if hold:
            self.call.move(side.leg, LegState.HOLDING, now)
            self.call.move(other.leg, LegState.HELD, now)
        elif side.leg.state is not LegState.CONNECTED or other.leg.state is not LegState.CONNECTED:
            self.call.move(side.leg, LegState.CONNECTED, now)
            self.call.move(other.leg, LegState.CONNECTED, now)


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



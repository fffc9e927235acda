"""The server's own INVITEs: leg B forks of a dialled call, and calls it places itself.

- forks (``Purpose.FORK``): leg A's route is rung stage by stage (``callcontrol.b2b.hunt``:
  one stage for an account, a ring group; one per member of a hunt list): one INVITE per
  contact of every endpoint of the stage, each endpoint for its ring time (then CANCEL:
  *no answer*). 1xx are relayed to A (``ringing``, or ``early`` with SDP), the first 2xx
  answers A and CANCELs the other forks; when no fork of a stage is left, the hunt rings
  the next stage, follows the route's failover (routed through the call's context), or
  A gets the best failure;
- placed calls (``Purpose.PLACED``: originate's legs, a transfer target): every contact
  of the target rings at once; the first to answer goes to ``on_answer``, the others are
  cancelled; ``on_fail`` gets the best failure once all failed. Each rings at most
  ``ring_timeout`` (then CANCEL).

Each response is one event of the side machine (``callcontrol.b2b.side_machine``);
:meth:`~callcontrol.b2b.call.B2bCall.side_step` does the common actions and hands the
INVITE-specific ones (ACK, reissue, what an answer or a failure means) back here.
"""
from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Iterable

from callcontrol.b2b import call_report, dialog_out, session_timers
from callcontrol.b2b.anchor import A, B
from callcontrol.b2b.call import REASON_CANCELLED, REASON_ELSEWHERE, REASON_NO_ANSWER, B2bCall, best_failure
from callcontrol.b2b.call_machine import CallEvent, CallPhase
from callcontrol.b2b.context import CallContext
from callcontrol.b2b.hunt import Hunt, Next, Step
from callcontrol.b2b.relay import Inbound
from callcontrol.b2b.routing import RINGING_KINDS, Route, RouteKind, Stage, Target
from callcontrol.b2b.side_machine import SideAction, SideEvent, SideState
from callcontrol.b2b.sides import ALLOW, OnAnswer, OnFail, Purpose, UacSide, UasSide, local_contact
from callcontrol.b2b.timers import RING
from callcontrol.model.callinfo import Party
from callcontrol.model.calls import Call
from sip.dialog import Dialog, new_call_id, new_tag
from sip.headers import quote
from sip.message import SDP, Request, Response, allow_events, has_sdp, make_request
from sip.peer import Peer
from sip.sdp import SdpParseError
from sip.session_timer import MAX_422_RETRIES, SessionTimer

logger = logging.getLogger(__name__)


def build_invite(call: B2bCall, target: Target, tag: str, sip_call_id: str, *, from_user: str,
                 from_display: str | None, body: bytes, max_forwards: int = 70,
                 extra: Iterable[tuple[str, str]] = ()) -> tuple[Request, str]:
    ua = call.ctx.ua
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


def _new_uac(call: B2bCall, model: Call, index: int, target: Target, *, purpose: Purpose, caller: Party,
             callee: Party, leg_id: str | None, from_user: str, from_display: str | None, body: bytes,
             max_forwards: int = 70, extra: Iterable[tuple[str, str]] = (),
             caller_side: bool = False, sip_call_id: str | None = None) -> UacSide:
    ctx = call.ctx
    ua = ctx.ua
    transport = target.peer.transport
    host, port = ua.local_address(transport)
    tag = new_tag()
    sip_call_id = sip_call_id or new_call_id(host)
    settings = ctx.settings
    offer = (settings.session_interval, settings.min_se) if settings.session_timers else None
    if offer is not None:
        extra = (*SessionTimer.offer_headers(*offer), *extra)
    invite, contact = build_invite(call, target, tag, sip_call_id, from_user=from_user, from_display=from_display,
                                   body=body, max_forwards=max_forwards, extra=extra)
    leg = model.add_leg(tag=tag, sip_call_id=sip_call_id, type="incoming", caller=caller, callee=callee,
                        transport_id=f"{host}:{port}", now=call.now(), leg_id=leg_id)
    side = UacSide(call, index, leg, model, invite, target, contact, tag, purpose=purpose, caller_side=caller_side)
    side.st_offer = offer
    call.own(side)
    ua.register_dialog(sip_call_id, tag, Inbound(side))
    return side


def _send_invite(call: B2bCall, side: UacSide) -> None:
    """Send ``side.invite``. Its transaction outlives the call by up to 64*T1 (absorbing 2xx
    retransmissions), so its callbacks hold the side only weakly: a finished call is freed at
    once, and a late 2xx for it is ACKed and BYEd from what the callback itself keeps.

    A target host given by name is looked up first (RFC 3263, off the call's path: a task);
    the INVITE goes out when its hops are known."""
    if side.locate is not None or side.locating:
        _locate_then_send(call, side)
        return
    ctx = call.ctx
    invite = side.invite
    peer = side.peer
    ref = weakref.ref(side)
    answered: set[str | None] = set()  # to-tags of the 2xx already handled (retransmissions: no BYE)

    def on_response(resp: Response) -> None:
        live = ref()
        owner: B2bCall | None = live.call if live is not None else None
        if live is not None and owner is not None:
            uac_response(owner, live, resp)
        elif 200 <= resp.status < 300 and resp.to_tag not in answered:
            _late_2xx(ctx, invite, peer, resp)
        if 200 <= resp.status < 300:
            answered.add(resp.to_tag)

    def on_failure(why: str) -> None:
        live = ref()
        owner: B2bCall | None = live.call if live is not None else None
        if live is not None and owner is not None:
            uac_failed(owner, live, why)

    side.tx = ctx.ua.send_request(invite, peer, on_response, on_failure)  # type: ignore[assignment]


def _locate_then_send(call: B2bCall, side: UacSide) -> None:
    dest = side.locate
    side.locate = None
    if dest is None:
        return  # a lookup is running already; it sends the INVITE as it is then
    ctx = call.ctx
    if ctx.locate is None:
        logger.warning("call %s: %s needs DNS and no resolver is configured", call.call.id, dest.host)
        uac_failed(call, side, "transport error")
        return
    side.locating = True
    task = asyncio.ensure_future(_located(ctx, ctx.locate(dest), weakref.ref(side), dest.host))
    ctx.tasks.add(task)
    task.add_done_callback(ctx.tasks.discard)


async def _located(ctx: CallContext, lookup: Awaitable[list[Peer]], ref: weakref.ref[UacSide], host: str) -> None:
    try:
        hops = await lookup
    except Exception:
        logger.exception("RFC 3263 lookup of %s failed", host)
        hops = []
    side = ref()
    if side is None:
        return
    side.locating = False
    call: B2bCall | None = side.call
    if call is None or not side.invite_pending:
        return
    if not hops:
        logger.info("call %s: no SIP server found for %s (NAPTR/SRV/A)", call.call.id, host)
        uac_failed(call, side, "transport error")
        return
    if side.state is not SideState.CALLING:
        uac_failed(call, side, "transport error")  # dropped while looking up: nothing was sent, end it
        return
    logger.debug("call %s: %s is %s", call.call.id, host, ", ".join(map(str, hops)))
    _go_to(call, side, hops[0])
    side.hops = hops[1:]
    _send_invite(call, side)


def _go_to(call: B2bCall, side: UacSide, peer: Peer) -> None:
    """Address ``side.invite`` to ``peer`` (a new transport changes our Contact with it)."""
    if peer.transport != side.peer.transport:
        contact = local_contact(call.ctx.ua, peer.transport, "b2bua")
        old = side.invite
        headers = [(n, contact if n.lower() in ("contact", "m") else v) for n, v in old.headers]
        side.invite = make_request("INVITE", old.uri, headers, old.body)
        side.contact = contact
    side.peer = peer


def _fail_over(call: B2bCall, side: UacSide) -> bool:
    """RFC 3263 §4.3: our INVITE got 503, timed out or could not be sent, and DNS gave more
    hops: send it to the next one (the same request, a new branch: a new transaction; an early
    dialog with the failed server is forgotten). Only while the INVITE is wanted and rings
    (not cancelled or being replaced); False when there is nowhere else to go."""
    if not side.hops or side.state not in _MAY_FAIL_OVER or call.ending or side.ended:
        return False
    failed = side.peer
    old = side.invite
    side.invite = make_request("INVITE", old.uri, [(n, v) for n, v in old.headers if n.lower() not in ("via", "v")],
                               old.body)
    side.dialog = None
    _go_to(call, side, side.hops.pop(0))
    logger.info("call %s: %s failed, trying %s", call.call.id, failed, side.peer)
    _send_invite(call, side)
    return True


_MAY_FAIL_OVER = frozenset({SideState.CALLING, SideState.RINGING, SideState.EARLY})


def _late_2xx(ctx: CallContext, invite: Request, peer: Peer, resp: Response) -> None:
    """A 2xx to an INVITE of a call that has finished (it crossed our CANCEL): ACK and BYE it
    (§15.1.1); a retransmission of one we ACKed is ACKed again by the UA core already."""
    dialog = Dialog.from_uac(invite, resp, ctx.loop_time())
    ctx.ua.send_ack(dialog.create_ack(invite.cseq), peer)
    dialog_out.send_bye(ctx, dialog, peer)


def place(call: B2bCall, index: int, targets: tuple[Target, ...], *, caller: Party, callee: Party, body: bytes,
          from_user: str, from_display: str | None = None, leg_id: str | None = None,
          model: Call | None = None, extra: Iterable[tuple[str, str]] = (), on_answer: OnAnswer,
          on_fail: OnFail, caller_side: bool = False, sip_call_id: str | None = None) -> list[UacSide]:
    """Call ``targets`` (every contact of one party, in parallel) on the server's behalf; the
    first to answer sits at media ``index`` and goes to ``on_answer``, the others are
    cancelled; ``on_fail`` gets the best failure once all of them failed."""
    extra = tuple(extra)
    group: list[UacSide] = []
    for target in targets:
        side = _new_uac(call, model or call.call, index, target, purpose=Purpose.PLACED, caller=caller,
                        callee=callee, leg_id=leg_id, from_user=from_user, from_display=from_display,
                        body=body, extra=extra, caller_side=caller_side, sip_call_id=sip_call_id)
        side.on_answer = on_answer
        side.on_fail = on_fail
        side.group = group
        group.append(side)
    ring_timeout = call.ctx.settings.ring_timeout
    for side in group:
        _send_invite(call, side)
        call.timers.arm((RING, side.tag), ring_timeout, lambda side=side: _ring_expired(side))
    return group


def _ring_expired(side: UacSide) -> None:
    """A placed call rang ``ring_timeout``: CANCEL it (its 487 goes to ``on_fail``)."""
    call: B2bCall | None = side.call  # the call that owns it now (the timer moves with the side)
    if call is not None:
        call.side_step(side, SideEvent.GIVE_UP)


def ring_route(call: B2bCall, route: Route) -> None:
    """Ring leg A's route (a ringing kind): its first stage now, the rest as the hunt says."""
    a = call.a
    assert a is not None
    a_req = a.incoming.request
    body = b""
    if has_sdp(a_req):
        try:
            body = call.relay_body(A, a_req.body)
        except SdpParseError as exc:
            call.reject(488, "Not Acceptable Here", reason=f"bad SDP: {exc}")
            return
    call.hunt = Hunt(route, body)
    _proceed(call, call.hunt.start())


def _proceed(call: B2bCall, step: Next) -> None:
    """Carry out the hunt's next step."""
    if step.step is Step.RING:
        _ring_stage(call, step.stage)
    elif step.step is Step.FOLLOW:
        assert step.via is not None
        _take_route(call, call.ctx.route(step.target, step.via))
    else:
        call.fire(CallEvent.ALL_FORKS_FAILED, reason=step.phrase, code=step.status)


def _take_route(call: B2bCall, route: Route) -> None:
    """A failover's route: leg A now calls its party; ring it, answer it here, or refuse."""
    a = call.a
    assert a is not None and call.hunt is not None
    if route.kind is not RouteKind.REJECT:
        a.leg.callee = call.ctx.party(route, None)  # A's next snapshots say whom it calls now
    if route.kind in RINGING_KINDS:
        _proceed(call, call.hunt.follow(route))
    elif route.kind is RouteKind.REJECT:
        call.fire(CallEvent.ALL_FORKS_FAILED, reason=route.reason, code=route.status)
    else:
        call.ctx.answer_here(call, route)


def _ring_stage(call: B2bCall, stage: Stage) -> None:
    """INVITE every contact of every endpoint of ``stage``; arm each endpoint's ring time."""
    a = call.a
    hunt = call.hunt
    assert a is not None and hunt is not None
    a_req = a.incoming.request
    mf = a_req.max_forwards
    route = hunt.route
    shared = a.leg.callee  # the route's own party: the callee of an endpoint that adds nothing to it
    forks: list[UacSide] = []
    for endpoint in stage:
        if (endpoint.number == route.number and endpoint.huntgroup_id is None
                and endpoint.forwarders == route.forwarders):
            callee = shared
        else:
            callee = call.ctx.party(route, endpoint)
        for target in endpoint.targets:
            fork = _new_uac(call, call.call, B, target, purpose=Purpose.FORK, caller=a.leg.caller,
                            callee=callee, leg_id=None, from_user=a.leg.caller.id,
                            from_display=a_req.from_.display_name, body=hunt.offer,
                            max_forwards=(mf if mf is not None else 70) - 1)
            call.forks.append(fork)
            forks.append(fork)
            if endpoint.ring_time is not None:
                call.timers.arm((RING, fork.tag), endpoint.ring_time, lambda fork=fork: _fork_rang_out(fork))
    for fork in forks:
        _send_invite(call, fork)
    call.fire(CallEvent.FORKS_SENT)


def _fork_rang_out(side: UacSide) -> None:
    """A fork rang its endpoint's ring time: CANCEL it; its 487 counts as *no answer*."""
    call: B2bCall | None = side.call
    if call is None or call.hunt is None or not side.invite_pending:
        return
    call.hunt.gave_up(side.tag)
    call.side_step(side, SideEvent.GIVE_UP)


def cancel_for_restart(call: B2bCall, side: UacSide, headers: tuple[tuple[str, str], ...]) -> None:
    """CANCEL a ringing INVITE of ours, to be replaced by one with ``headers`` once it is
    answered 487 (answer_call "Invite"). The leg stays as it is meanwhile."""
    side.restart_headers = headers

    def actions(action: SideAction) -> None:
        if action is SideAction.SEND_CANCEL:  # nothing to cancel: send the new INVITE now
            call.side_step(side, SideEvent.REFUSED, other=actions)
        elif action is SideAction.REISSUE:
            _reissue(call, side, ("alert-info", "call-info"), side.restart_headers)

    call.side_step(side, SideEvent.RESTART, other=actions)


# -- responses to our INVITEs -------------------------------------------------------------------
def uac_response(call: B2bCall, side: UacSide, resp: Response) -> None:
    status = resp.status
    if status == 100:
        return
    if status < 200:
        _provisional(call, side, resp)
    elif status < 300:
        _answered(call, side, resp)
    else:
        _refused(call, side, resp)


def uac_failed(call: B2bCall, side: UacSide, why: str) -> None:
    """Our INVITE got no final response (timer B) or could not be sent."""
    if _fail_over(call, side):
        return
    status, phrase = (408, "Request Timeout") if why == "timeout" else (503, "Service Unavailable")
    call.side_step(side, SideEvent.TIMEOUT, reason=phrase, code=status,
                   other=lambda action: _failed(call, side, action, status, phrase))


def _provisional(call: B2bCall, side: UacSide, resp: Response) -> None:
    if not side.invite_pending:
        return  # a 1xx after the final response
    call_report.rang(call)
    now = call.ctx.loop_time()
    if resp.to_tag is not None:
        if side.dialog is None:
            side.dialog = Dialog.from_uac(side.invite, resp, now)
        elif side.dialog.remote_tag == resp.to_tag:
            side.dialog.receive_response(side.invite, resp, now)
        side.allow_events = side.allow_events | allow_events(resp)
    if side.purpose is Purpose.PLACED:
        if not call.ending:
            call.side_step(side, SideEvent.EARLY_MEDIA if has_sdp(resp) else SideEvent.RINGING)
        return
    a = call.a
    if call.phase is not CallPhase.RINGING or a is None or a.incoming.final_sent or not side.invite_pending:
        return
    if side.state is SideState.CANCELLING:
        return
    _relay_provisional(call, side, a, resp)


def _relay_provisional(call: B2bCall, fork: UacSide, a: UasSide, resp: Response) -> None:
    headers = [("Contact", a.contact)]
    body = b""
    early = has_sdp(resp)
    if early:
        try:
            body = call.relay_body(B, resp.body)
            headers.append(("Content-Type", SDP))
        except SdpParseError as exc:
            logger.info("call %s: unreadable SDP in %d from leg B: %s", call.call.id, resp.status, exc)
            early = False
    a.incoming.respond(resp.status, resp.reason, to_tag=a.tag, headers=headers, body=body)
    event = SideEvent.EARLY_MEDIA if early else SideEvent.RINGING
    call.side_step(fork, event)
    call.side_step(a, event)


def _refused(call: B2bCall, side: UacSide, resp: Response) -> None:
    status = resp.status
    if not side.invite_pending:
        return  # a final error after the final response (a fork's, retransmitted)
    if status == 422 and _retry_after_422(call, side, resp):
        return
    if status == 503 and _fail_over(call, side):
        return
    if side.state is not SideState.RESTARTING and side.dialog is not None:
        side.dialog.terminate()
    phrase = resp.reason or str(status)
    if side.purpose is Purpose.FORK and call.hunt is not None and call.hunt.gave_up_on(side.tag):
        phrase = REASON_NO_ANSWER  # the 487 to our CANCEL after the endpoint's ring time

    def actions(action: SideAction) -> None:
        if action is SideAction.REISSUE:
            _reissue(call, side, ("alert-info", "call-info"), side.restart_headers)
        else:
            _failed(call, side, action, status, phrase)

    call.side_step(side, SideEvent.REFUSED, reason=phrase, code=status, other=actions)


def _failed(call: B2bCall, side: UacSide, action: SideAction, status: int, phrase: str) -> None:
    assert action is SideAction.REPORT_FAILURE, action
    if side.purpose is Purpose.PLACED:
        side.failure = (status, phrase)
        group = side.group
        if any(o.leg.answered or o.invite_pending for o in group):
            return  # another contact answered, or may still
        if side.on_fail is not None and not call.ending:
            side.on_fail(side, *best_failure([o.failure for o in group if o.failure is not None]))
        return
    if call.hunt is not None:
        call.hunt.fork_failed(side.tag, status, phrase)
    _stage_over(call)


def _stage_over(call: B2bCall) -> None:
    """When no fork is pending any more, the hunt says what comes next."""
    if call.phase is not CallPhase.RINGING or any(f.invite_pending for f in call.forks):
        return
    if call.hunt is None:
        call.fire(CallEvent.ALL_FORKS_FAILED, reason="Temporarily Unavailable", code=480)
        return
    _proceed(call, call.hunt.stage_done())


def _reissue(call: B2bCall, side: UacSide, drop: tuple[str, ...], add: Iterable[tuple[str, str]]) -> None:
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
    _send_invite(call, side)


def _retry_after_422(call: B2bCall, side: UacSide, resp: Response) -> bool:
    """422 Session Interval Too Small (RFC 4028 §7.3): retry with the Min-SE it asks for."""
    if side.st_offer is None or side.st_422 >= MAX_422_RETRIES or call.ending or side.ended:
        return False
    new = SessionTimer.on_422(resp, *side.st_offer)
    if new is None:
        return False
    side.st_422 += 1
    side.st_offer = (new, new)
    call.side_step(side, SideEvent.RETRY, other=lambda action: _reissue(
        call, side, ("supported", "session-expires", "min-se"), SessionTimer.offer_headers(new, new)))
    return True


def _answered(call: B2bCall, side: UacSide, resp: Response) -> None:
    ctx = call.ctx
    now = ctx.loop_time()
    if not side.invite_pending:
        # A 2xx again: the UA core re-sends our ACK for a retransmission (or it is still
        # deferred); another fork downstream answered too: a dialog we do not want (§13.2.2.4).
        if side.dialog is None or resp.to_tag != side.dialog.remote_tag:
            dialog_out.ack_and_bye(ctx, Dialog.from_uac(side.invite, resp, now), side)
        return
    if side.dialog is None or side.dialog.remote_tag != (resp.to_tag or ""):
        side.dialog = Dialog.from_uac(side.invite, resp, now)
    else:
        side.dialog.receive_response(side.invite, resp, now)
    side.allow_events = side.allow_events | allow_events(resp)
    if side.state is SideState.CANCELLING:
        call.side_step(side, SideEvent.ANSWER, other=lambda action: _unwanted(call, side, action))
        return
    if side.purpose is Purpose.PLACED:
        _placed_answered(call, side, resp)
    else:
        _fork_answered(call, side, resp)


def _unwanted(call: B2bCall, side: UacSide, action: SideAction) -> None:
    assert action is SideAction.ACK_AND_BYE, action
    assert side.dialog is not None
    dialog_out.ack_and_bye(call.ctx, side.dialog, side)


def _cancel_rivals(call: B2bCall, winner: UacSide, rivals: list[UacSide]) -> None:
    """``winner`` answered: CANCEL the other INVITEs of its group (forks, or a placed call's contacts)."""
    for other in rivals:
        if other is not winner:
            call.drop(other, REASON_ELSEWHERE, 487)


def _send_ack(call: B2bCall, side: UacSide) -> None:
    assert side.dialog is not None
    call.ctx.ua.send_ack(side.dialog.create_ack(side.invite.cseq), side.peer, side.tx)


def _fork_answered(call: B2bCall, side: UacSide, resp: Response) -> None:
    a = call.a
    assert a is not None and side.dialog is not None
    if call.phase is not CallPhase.RINGING or a.incoming.final_sent:
        reason = REASON_ELSEWHERE if call.phase is CallPhase.BRIDGED else REASON_CANCELLED
        call.side_step(side, SideEvent.UNWANTED_2XX, reason=reason,
                       other=lambda action: _unwanted(call, side, action))
        return
    headers = [("Contact", a.contact)]
    if a.session_timer is not None:
        headers.extend(a.session_timer.response_headers())
    body = b""
    if has_sdp(resp):
        try:
            body = call.relay_body(B, resp.body)
            headers.append(("Content-Type", SDP))
        except SdpParseError as exc:
            logger.info("call %s: unreadable SDP in 2xx from leg B: %s", call.call.id, exc)
            call.side_step(side, SideEvent.UNWANTED_2XX, reason="bad SDP", code=488,
                           other=lambda action: _unwanted(call, side, action))
            if call.hunt is not None:
                call.hunt.fork_failed(side.tag, 488, "Not Acceptable Here")
            _stage_over(call)
            return
    event = SideEvent.ANSWER
    if not side.offer_sent:
        side.deferred_ack = (side.dialog, side.invite.cseq, side.tx)  # A's ACK brings the answer
        event = SideEvent.ANSWER_LATE_ACK

    def actions(action: SideAction) -> None:
        if action is SideAction.SEND_ACK:
            _send_ack(call, side)
        elif action is SideAction.REPORT_ANSWER:
            _cancel_rivals(call, side, call.forks)
            response = a.incoming.respond(resp.status, resp.reason, to_tag=a.tag, headers=headers, body=body)
            assert a.dialog is not None
            a.dialog.response_sent(a.incoming.request, response)
            call.seat(a)
            call.seat(side)
            session_timers.start(call, a, a.session_timer)
            session_timers.start_uac(call, side, resp)
        else:
            raise AssertionError(action)

    call.side_step(side, event, other=actions)
    call.side_step(a, SideEvent.ANSWER)
    call_report.answered(call)
    call.fire(CallEvent.FORK_ANSWERED)


def _placed_answered(call: B2bCall, side: UacSide, resp: Response) -> None:
    assert side.dialog is not None
    if call.ending or side.ended or any(o.leg.answered for o in side.group if o is not side):
        call.side_step(side, SideEvent.UNWANTED_2XX, reason=REASON_ELSEWHERE,
                       other=lambda action: _unwanted(call, side, action))
        return
    if has_sdp(resp) and call.media is not None:
        try:
            call.media.heard(side.index, resp.body)
        except SdpParseError as exc:
            logger.info("call %s: unreadable SDP in 2xx: %s", call.call.id, exc)
            call.side_step(side, SideEvent.UNWANTED_2XX, reason="bad SDP", code=488,
                           other=lambda action: _unwanted(call, side, action))
            if side.on_fail is not None:
                side.on_fail(side, 488, "Not Acceptable Here")
            return

    def actions(action: SideAction) -> None:
        if action is SideAction.SEND_ACK:
            _send_ack(call, side)
        elif action is SideAction.REPORT_ANSWER:
            _cancel_rivals(call, side, side.group)
            session_timers.start_uac(call, side, resp)
        else:
            raise AssertionError(action)

    call.side_step(side, SideEvent.ANSWER, other=actions)
    if side.on_answer is not None:
        side.on_answer(side)

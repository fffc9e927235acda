"""Call control: what the Voice API methods and a phone's REFER do to live calls.

One method per action, each on top of the signalling primitives of
:class:`~callcontrol.b2b.call.B2bCall` (place a call, drop a side, re-INVITE,
NOTIFY) and the media anchor's SDP moves (``callcontrol.b2b.anchor``). The API side
(``callcontrol.api.b2bua_backend``) has already found the leg and checked the scope;
here each action checks that the leg is in a state where it makes sense and
raises :class:`~callcontrol.api.models.WrongParameters` naming the field otherwise.

- originate: leg A to ``caller_id`` with the server's own offer (auto-answer headers
  on request); when A answers, leg B (``id~10``) to ``callee_id`` offered A's media.
- answer: ``NOTIFY Event: talk`` in the early dialog, or CANCEL and a new INVITE
  with the auto-answer headers (the leg keeps its tag).
- hold/unhold: ``NOTIFY Event: hold``/``talk`` when the phone allows it; otherwise (or
  when it refuses) the server re-INVITEs the holder ``inactive`` and the held party
  ``sendonly`` and plays music on hold to the held party.
- transfer: the transferor is BYE'd; a new leg to the target takes its media
  position; when it answers the transferee is re-INVITEd with the new media.
- join: the transferor's two legs are BYE'd; the remote parties are re-INVITEd
  with each other's media and bridged (one call hands its side to the other).
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from callcontrol.api.models import Disabled, WrongParameters
from callcontrol.b2b.anchor import A, B, MediaAnchor
from callcontrol.b2b.call import (
    AUTO_ANSWER_HEADERS,
    REASON_API,
    REASON_ATTENDED_TRANSFER,
    REASON_BLIND_TRANSFER,
    REASON_TRANSFER_FAILED,
    B2bCall,
)
from callcontrol.b2b.routing import Route, RouteKind, dialled_number
from callcontrol.b2b.sides import Side, UacSide, UasSide
from callcontrol.model.callinfo import CallState, Party, routing_keys
from callcontrol.model.calls import Leg
from ivr.moh import MohUnavailable
from sip.dialog import DialogError, new_call_id
from sip.errors import SipParseError
from sip.headers import parse_name_addr
from sip.sdp import Direction
from sip.ua import IncomingRequest

if TYPE_CHECKING:
    from callcontrol.b2b.b2bua import B2bua

logger = logging.getLogger(__name__)

_TALKING = frozenset({CallState.CONNECTED, CallState.HELD, CallState.HOLDING})
_RINGING = frozenset({CallState.RINGING, CallState.EARLY})


def phone_party(leg: Leg) -> Party:
    """The party on the phone end of ``leg`` (the caller of a dialog the phone started)."""
    return leg.caller if leg.type == "outgoing" else leg.callee


class CallActions:
    def __init__(self, b2b: B2bua) -> None:
        self.b2b = b2b

    # -- helpers ------------------------------------------------------------------------------
    def _route(self, number: str, field: str) -> Route:
        route = self.b2b.router(number)
        if route.kind is RouteKind.REJECT:
            raise WrongParameters.field(field, f"{number}: {route.status} {route.reason}")
        if route.kind is RouteKind.IVR:
            raise WrongParameters.field(field, f"{number} is an IVR access number")
        return route

    @staticmethod
    def _talking(side: Side, field: str = "params.call") -> Side:
        if side.ended or side.leg.state not in _TALKING:
            raise WrongParameters.field(field, f"leg is {side.leg.state}, not connected")
        return side

    @staticmethod
    def _partner(side: Side, field: str = "params.call") -> Side:
        other = side.call.other(side)
        if other is None or other.ended:
            raise WrongParameters.field(field, "leg is not connected to another party")
        return other

    @staticmethod
    def _remote_control(side: Side, event: str, fallback: Callable[[], None]) -> None:
        """Ask the phone to do it (``NOTIFY Event: talk/hold``, BroadSoft style) when it lists
        the event in Allow-Events; otherwise, or when it answers anything but 2xx, ``fallback``."""
        if event not in side.allow_events or side.dialog is None:
            fallback()
            return
        bcall = side.call

        def done(status: int) -> None:
            if status >= 300 and not side.ended and not bcall.ending:
                logger.info("call %s: NOTIFY %s answered %d, the server does it itself",
                            side.leg.call.id, event, status)
                fallback()

        bcall.notify(side, event, done)

    @staticmethod
    def _media(bcall: B2bCall) -> MediaAnchor:
        if bcall.media is None:
            raise Disabled({"reason": "needs media anchoring (media_anchor = true)"})
        return bcall.media

    # -- originate ----------------------------------------------------------------------------
    async def originate(self, *, caller_id: str, callee_id: str, auto_answer: bool, bill_to: Any = None) -> str:
        """Call ``caller_id`` (leg A); when it answers call ``callee_id`` (leg B) and bridge them.

        ``bill_to`` (the ``bill_id`` account): a party that is no directory account (a number
        on the trunk) carries its keys, so the call is billed to it and its customer's
        consoles see both legs."""
        b2b = self.b2b
        if not b2b.accepting:
            raise Disabled({"reason": "server is shutting down"})
        caller_route = self._route(caller_id, "params.caller_id")
        self._route(callee_id, "params.callee_id")  # fail early: the number must be reachable
        caller = b2b.party_for(caller_route)
        callee = b2b.party_for(b2b.router(callee_id))
        if bill_to is not None:
            keys = routing_keys(b2b.directory, i_account=bill_to.i_account)
            caller, callee = (_billed(party, keys) for party in (caller, callee))
        media = await b2b.open_media() if b2b.settings.media_anchor else None
        host, _port = b2b.ua.local_address(caller_route.targets[0].peer.transport)
        call_id = new_call_id(host)
        call = b2b.registry.new_call(call_id)
        bcall = B2bCall(b2b, call)
        bcall.media = media
        b2b.calls[call_id] = bcall
        body = media.own_offer(A) if media is not None else b""

        def a_answered(a: UacSide) -> None:
            bcall.seat(a)
            route = b2b.router(callee_id)
            if route.kind is RouteKind.REJECT or not route.targets:
                bcall.hangup(route.reason or "Not Found", route.status or 404)
                return
            offer = bcall.media.relay_offer(A, B) if bcall.media is not None else b""
            bcall.place(B, route.targets, caller=caller, callee=callee, body=offer, from_user=caller_id,
                        from_display=caller.display_name, leg_id=f"{call_id}~10", on_answer=b_answered,
                        on_fail=b_failed)

        def b_answered(b: UacSide) -> None:
            bcall.seat(b)
            b2b.stats.answered += 1

        def failed(side: UacSide, status: int, phrase: str) -> None:
            bcall.hangup(phrase, status)

        b_failed = failed
        bcall.place(A, caller_route.targets, caller=callee, callee=caller, body=body, from_user=callee_id,
                    from_display=callee.display_name, extra=AUTO_ANSWER_HEADERS if auto_answer else (),
                    sip_call_id=call_id, on_answer=a_answered, on_fail=failed, caller_side=True)
        b2b.stats.calls += 1
        return call_id

    # -- answer -------------------------------------------------------------------------------
    def answer(self, side: Side, mode: str | None) -> None:
        if not isinstance(side, UacSide) or side.final or side.leg.state not in _RINGING:
            raise WrongParameters.field("params.call", "leg is not ringing at a phone the server calls")
        talk = "talk" in side.allow_events and side.dialog is not None
        chosen = (mode or ("Notify" if talk else "Invite")).lower()
        if chosen == "notify" and not talk:
            raise WrongParameters.field("params.callee_answer_mode",
                                        "the phone did not advertise Allow-Events: talk")

        def reinvite() -> None:
            if not side.final:
                side.call.cancel_for_restart(side, AUTO_ANSWER_HEADERS)

        if chosen == "notify":
            self._remote_control(side, "talk", reinvite)
        else:
            reinvite()

    # -- terminate ----------------------------------------------------------------------------
    def terminate(self, side: Side) -> None:
        bcall = side.call
        if isinstance(side, UasSide) and not side.incoming.final_sent:
            bcall.drop(side, REASON_API, 603)
        else:
            bcall.drop(side, REASON_API)
        bcall.hangup(REASON_API)

    # -- hold ---------------------------------------------------------------------------------
    def hold(self, side: Side) -> None:
        self._talking(side)
        partner = self._partner(side)
        bcall = side.call
        if side.leg.state is CallState.HOLDING or bcall.server_hold is not None:
            raise WrongParameters.field("params.call", "call is already on hold")
        self._remote_control(side, "hold", lambda: None if partner.ended else self._server_hold(side, partner))

    def _server_hold(self, holder: Side, held: Side) -> None:
        bcall = holder.call
        media = self._media(bcall)
        bcall.server_hold = (holder, held)
        # The states move when each phone has answered its re-INVITE: a console acting on
        # "holding" must not race the re-INVITE still in flight.
        bcall.reinvite(holder, media.redirect(holder.index, Direction.INACTIVE),
                       lambda ok: bcall.move(holder, CallState.HOLDING))
        bcall.reinvite(held, media.redirect(held.index, Direction.SENDONLY),
                       lambda ok: bcall.move(held, CallState.HELD))
        media.relay.pause(media.endpoint(holder.index))
        try:
            self.b2b.leg_media(held).start_moh()
        except MohUnavailable as exc:  # e.g. a G.729-only leg: held in silence
            logger.info("call %s: no music on hold: %s", bcall.call.id, exc)

    def unhold(self, side: Side) -> None:
        self._talking(side)
        bcall = side.call
        hold = bcall.server_hold
        if hold is not None and side in hold:
            self._server_unhold(bcall)
            return
        if side.leg.state is not CallState.HOLDING:
            raise WrongParameters.field("params.call", f"leg is {side.leg.state}, not holding")
        partner = self._partner(side)
        self._remote_control(side, "talk",
                             lambda: None if partner.ended else self._resume_both(bcall, side, partner))

    def _server_unhold(self, bcall: B2bCall) -> None:
        assert bcall.server_hold is not None
        holder, held = bcall.server_hold
        self._clear_hold(bcall)
        self._resume_both(bcall, holder, held)

    def _resume_both(self, bcall: B2bCall, one: Side, two: Side) -> None:
        media = self._media(bcall)
        for side in (one, two):
            if not side.ended and side.call is bcall:
                bcall.reinvite(side, media.redirect(side.index, Direction.SENDRECV),
                               lambda ok, side=side: side.call.move(side, CallState.CONNECTED))

    @staticmethod
    def _clear_hold(bcall: B2bCall) -> None:
        """The server's hold ends (unhold, transfer, join): music off, relay on; the re-INVITEs
        that put the media back are the caller's business."""
        hold = bcall.server_hold
        if hold is None:
            return
        bcall.server_hold = None
        holder = hold[0]
        for side in hold:
            control = side.media_control
            if control is not None:
                control.stop_moh()
        media = bcall.media
        if media is not None and holder.call is bcall:
            media.relay.resume(media.endpoint(holder.index))

    # -- blind transfer -----------------------------------------------------------------------
    def transfer(self, side: Side, cld: str) -> None:
        """``side`` is the transferor: its partner goes to ``cld``. On a call the server answered
        itself (IVR), ``side`` is the caller and goes to ``cld``."""
        bcall = side.call
        self._talking(side)
        media = self._media(bcall)
        route = self._route(cld, "params.cld")
        callee = self.b2b.party_for(route)
        if bcall.ivr is not None and bcall.other(side) is None:
            transferee = side
            index = 1 - side.index
            bcall.ivr = None
            control = side.media_control
            if control is not None:
                for order in (2, 3):
                    control.stop_prompt(order)
        else:
            transferee = self._partner(side)
            index = side.index
            bcall.drop(side, REASON_BLIND_TRANSFER)
            media.reset(index)
        self._clear_hold(bcall)
        self._place_for(bcall, transferee, index, route, callee)

    def _place_for(self, bcall: B2bCall, transferee: Side, index: int, route: Route, callee: Party) -> None:
        media = self._media(bcall)
        party = phone_party(transferee.leg)

        def answered(new: UacSide) -> None:
            bcall.seat(new)
            if not transferee.ended:
                bcall.reinvite(transferee, media.relay_offer(new.index, transferee.index),
                               lambda ok: transferee.call.move(transferee, CallState.CONNECTED))

        def failed(new: UacSide, status: int, phrase: str) -> None:
            logger.info("call %s: transfer to %s failed: %d %s", bcall.call.id, route.number, status, phrase)
            bcall.hangup(REASON_TRANSFER_FAILED)

        bcall.place(index, route.targets, caller=party, callee=callee,
                    body=media.relay_offer(transferee.index, index), from_user=party.id,
                    from_display=party.display_name, leg_id=transferee.leg.call.id, model=transferee.model,
                    on_answer=answered, on_fail=failed)

    # -- attended transfer --------------------------------------------------------------------
    def join(self, first: Side, second: Side) -> None:
        self._talking(first, "params.call")
        self._talking(second, "params.to_call")
        if first is second or first.call is second.call:
            raise WrongParameters.field("params.to_call", "must be a leg of another call")
        if phone_party(first.leg).id != phone_party(second.leg).id:
            raise WrongParameters.field("params.to_call",
                                        "not a leg of the same transferor as params.call")
        p1 = self._partner(first, "params.call")
        p2 = self._partner(second, "params.to_call")
        call1, call2 = first.call, second.call
        media1, media2 = self._media(call1), self._media(call2)
        self._clear_hold(call1)
        self._clear_hold(call2)
        index = first.index
        call1.drop(first, REASON_ATTENDED_TRANSFER)
        call2.drop(second, REASON_ATTENDED_TRANSFER)
        # p2 (endpoint and SDP state) moves to call 1, where the transferor was.
        call2.pair[p2.index] = None
        call2.sides.remove(p2)
        media1.put(index, media2.take(p2.index))
        p2.index = index
        call1.seat(p2)
        if not call2.live_sides():
            call2.ending = True
            call2._finish()
        for side, other in ((p1, p2), (p2, p1)):
            call1.reinvite(side, media1.relay_offer(other.index, side.index),
                           lambda ok, side=side: side.call.move(side, CallState.CONNECTED))

    # -- REFER from a phone -------------------------------------------------------------------
    def refer(self, side: Side, incoming: IncomingRequest) -> None:
        """A handset's transfer: ``Refer-To`` with ``Replaces`` joins, without it transfers blind."""
        request = incoming.request
        refer_to = request.headers.get("refer-to")
        if not refer_to:
            incoming.respond(400, "Missing Refer-To")
            return
        try:
            uri_text = parse_name_addr(refer_to).uri
        except SipParseError:
            incoming.respond(400, "Bad Refer-To")
            return
        uri, _, query = uri_text.partition("?")
        replaces = _replaces_of(query)
        try:
            if replaces is not None:
                other = self.b2b.side_by_dialog(*replaces)
                if other is None:
                    # Not 481: that would end the dialog the REFER came in (§12.2.1.2).
                    incoming.respond(403, "Replaced Dialog Not Found")
                    return
                incoming.respond(202)
                self._refer_notify(side, 200, "OK")
                self.join(side, other)
                return
            number = dialled_number(uri)
            if number is None:
                incoming.respond(400, "Bad Refer-To")
                return
            self._route(number, "Refer-To")
            incoming.respond(202)
            self._refer_notify(side, 100, "Trying")
            self._refer_notify(side, 200, "OK")
            self.transfer(side, number)
        except (WrongParameters, Disabled) as exc:
            logger.info("REFER on call %s refused: %s", side.leg.call.id, exc)
            if not incoming.final_sent:
                incoming.respond(403, "Transfer Refused")

    def _refer_notify(self, side: Side, status: int, phrase: str) -> None:
        dialog = side.dialog
        if dialog is None:
            return
        try:
            notify = dialog.create_refer_notify(status, phrase)
        except DialogError as exc:  # a dialog already ending: the transfer goes on without it
            logger.debug("no REFER NOTIFY on %s: %s", dialog.id, exc)
            return
        self.b2b.ua.send_request(notify, side.peer)


def _billed(party: Party, keys: dict[str, int | None]) -> Party:
    if party.i_account is not None:
        return party
    return dataclasses.replace(party, i_account=keys["i_account"], i_customer=keys["i_customer"],
                               i_main_office=keys["i_main_office"])


def _replaces_of(query: str) -> tuple[str, str, str] | None:
    """(call-id, to-tag, from-tag) from a Refer-To URI's ``?Replaces=...`` header (RFC 3891)."""
    for item in query.split("&"):
        name, _, value = item.partition("=")
        if name.strip().lower() != "replaces":
            continue
        parts = unquote(value).split(";")
        call_id = parts[0].strip()
        params: dict[str, Any] = {}
        for part in parts[1:]:
            key, _, val = part.partition("=")
            params[key.strip().lower()] = val.strip()
        to_tag, from_tag = params.get("to-tag"), params.get("from-tag")
        if call_id and to_tag and from_tag:
            return call_id, to_tag, from_tag
    return None

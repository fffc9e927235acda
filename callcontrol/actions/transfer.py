"""transfer_call (blind) and a handset's REFER.

Blind transfer: the transferor is BYE'd; a new leg to the target takes its media position;
when it answers the transferee is re-INVITEd with the new media. On a call the server answered
itself (IVR) the caller is the one transferred. A REFER with ``Replaces`` in its Refer-To is an
attended transfer (``callcontrol.actions.join``); refusals become SIP responses here (403
"Transfer Refused"), the one place that maps :class:`ActionError` to SIP.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from callcontrol.actions.checks import media_of, partner, phone_party, route_to, talking
from callcontrol.actions.errors import ActionError
from callcontrol.actions.join import connected, join
from callcontrol.b2b.call import REASON_BLIND_TRANSFER, REASON_TRANSFER_FAILED, B2bCall
from callcontrol.b2b.call_machine import CallEvent, CallPhase
from callcontrol.b2b.outgoing import place
from callcontrol.b2b.reinvite import reinvite
from callcontrol.b2b.routing import Route, dialled_number
from callcontrol.b2b.sides import Side, UacSide
from callcontrol.model.callinfo import Party
from sip.dialog import DialogError
from sip.errors import SipParseError
from sip.headers import parse_name_addr
from sip.ua import IncomingRequest

if TYPE_CHECKING:
    from callcontrol.b2b.b2bua import B2bua

logger = logging.getLogger(__name__)


def transfer(b2b: B2bua, side: Side, cld: str) -> None:
    """``side`` is the transferor: its partner goes to ``cld``. On a call the server answered
    itself (IVR), ``side`` is the caller and goes to ``cld``."""
    bcall = side.call
    talking(side)
    media = media_of(bcall)
    route = route_to(b2b, cld, "cld")
    callee = b2b.party_for(route)
    if bcall.phase is CallPhase.IVR and bcall.other(side) is None:
        transferee = side
        index = 1 - side.index
        bcall.ivr_an = None
        control = side.media_control
        if control is not None:
            for order in (2, 3):
                control.stop_prompt(order)
    else:
        transferee = partner(side)
        index = side.index
        bcall.drop(side, REASON_BLIND_TRANSFER)
        media.reset(index)
    bcall.fire(CallEvent.TRANSFER)  # ends a server hold
    _place_for(bcall, transferee, index, route, callee)


def _place_for(bcall: B2bCall, transferee: Side, index: int, route: Route, callee: Party) -> None:
    media = media_of(bcall)
    party = phone_party(transferee.leg)

    def answered(new: UacSide) -> None:
        bcall.seat(new)
        if bcall.phase is CallPhase.TRANSFERRING:
            bcall.fire(CallEvent.CONNECTED)
        if not transferee.ended:
            reinvite(bcall, transferee, media.relay_offer(new.index, transferee.index),
                     lambda status, phrase: connected(transferee, new))

    def failed(new: UacSide, status: int, phrase: str) -> None:
        logger.info("call %s: transfer to %s failed: %d %s", bcall.call.id, route.number, status, phrase)
        bcall.hangup(REASON_TRANSFER_FAILED)

    place(bcall, index, route.targets, caller=party, callee=callee,
          body=media.relay_offer(transferee.index, index), from_user=party.id,
          from_display=party.display_name, leg_id=transferee.leg.call.id, model=transferee.model,
          on_answer=answered, on_fail=failed)


def refer(b2b: B2bua, side: Side, incoming: IncomingRequest) -> None:
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
            other = b2b.side_by_dialog(*replaces)
            if other is None:
                # Not 481: that would end the dialog the REFER came in (§12.2.1.2).
                incoming.respond(403, "Replaced Dialog Not Found")
                return
            incoming.respond(202)
            _refer_notify(b2b, side, 200, "OK")
            join(side, other)
            return
        number = dialled_number(uri)
        if number is None:
            incoming.respond(400, "Bad Refer-To")
            return
        route_to(b2b, number, "Refer-To")
        incoming.respond(202)
        _refer_notify(b2b, side, 100, "Trying")
        _refer_notify(b2b, side, 200, "OK")
        transfer(b2b, side, number)
    except ActionError as exc:
        logger.info("REFER on call %s refused: %s", side.leg.call.id, exc)
        if not incoming.final_sent:
            incoming.respond(403, "Transfer Refused")


def _refer_notify(b2b: B2bua, side: Side, status: int, phrase: str) -> None:
    dialog = side.dialog
    if dialog is None:
        return
    try:
        notify = dialog.create_refer_notify(status, phrase)
    except DialogError as exc:  # a dialog already ending: the transfer goes on without it
        logger.debug("no REFER NOTIFY on %s: %s", dialog.id, exc)
        return
    b2b.ua.send_request(notify, side.peer)


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

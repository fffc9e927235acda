"""hold_call / unhold_call.

The phone is asked first (``NOTIFY Event: hold``/``talk``) when it lists the event in
Allow-Events; it then re-INVITEs by itself and the pass-through relay moves the states. When
it is not asked, or refuses, the server holds the call itself: it re-INVITEs the holder
``inactive`` and the held party ``sendonly``, stops relaying to the held party and plays it
music on hold.

Both coroutines return with the outcome (the NOTIFY's final response, or both re-INVITEs'),
and the states move only then: ``holding``/``held`` are published once *both* re-INVITEs got
a 2xx. A hold refused by either phone (an error response, a timeout, or a re-INVITE that could
not be sent) raises :class:`~callcontrol.actions.errors.Refused` after putting the call back
as it was: the side that accepted is re-INVITEd ``sendrecv``, the music stops, the relay
resumes, the states stay ``connected``. Unhold follows the same rule: ``connected`` once both
re-INVITEs got a 2xx, :class:`Refused` otherwise (the states then stay as they were).
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from callcontrol.actions.checks import (
    ask_phone,
    media_of,
    partner,
    phone_party,
    reinvite,
    still_up,
    talking,
)
from callcontrol.actions.errors import Refused, WrongState
from callcontrol.b2b.call import B2bCall
from callcontrol.b2b.call_machine import CallEvent, CallPhase
from callcontrol.b2b.reinvite import reinvite as send_reinvite
from callcontrol.b2b.side_machine import HoldRole
from callcontrol.b2b.sides import Side
from callcontrol.model.callinfo import CallState
from ivr.moh import MohUnavailable
from sip.sdp import Direction

if TYPE_CHECKING:
    from callcontrol.b2b.b2bua import B2bua

logger = logging.getLogger(__name__)


async def hold(b2b: B2bua, side: Side) -> None:
    talking(side)
    held = partner(side)
    bcall = side.call
    if side.leg.state is CallState.HOLDING or bcall.phase is CallPhase.SERVER_HOLD:
        raise WrongState("call", "call is already on hold")
    asked = ask_phone(side, "hold")
    if asked is not None and await asked:
        return  # the phone holds by itself: its re-INVITE, relayed, moves the states
    still_up(side)
    still_up(held)
    await _server_hold(b2b, side, held)


async def _server_hold(b2b: B2bua, holder: Side, held: Side) -> None:
    bcall = holder.call
    media = media_of(bcall)
    hold = (holder, held)
    bcall.fire(CallEvent.HOLD)
    bcall.held = hold
    before = {side: media.sent_offer(side.index) for side in hold}
    answers = asyncio.gather(reinvite(holder, media.redirect(holder.index, Direction.INACTIVE)),
                             reinvite(held, media.redirect(held.index, Direction.SENDONLY)))
    media.relay.pause(media.endpoint(holder.index))
    try:
        b2b.leg_media(held).start_moh()
    except MohUnavailable as exc:  # e.g. a G.729-only leg: held in silence
        logger.info("call %s: no music on hold: %s", bcall.call.id, exc)
    outcomes = dict(zip(hold, await answers, strict=True))
    if bcall.held is not hold:
        still_up(holder)  # a hangup meanwhile: the leg has ended
        return  # undone meanwhile (unhold, transfer, join): theirs to publish
    refusals = [(side, status, phrase) for side, (status, phrase) in outcomes.items() if status >= 300]
    if not refusals:
        bcall.set_hold(holder, HoldRole.HOLDING)
        bcall.set_hold(held, HoldRole.HELD)
        return
    # Refused: put the call back as it was before the hold.
    clear_hold(bcall)
    for side, (status, _phrase) in outcomes.items():
        if side.ended or side.call is not bcall:
            continue
        if status < 300:
            send_reinvite(bcall, side, media.redirect(side.index, Direction.SENDRECV))
        else:
            media.restore_offer(side.index, before[side])  # the phone still has the old offer
    who, status, phrase = refusals[0]
    logger.info("call %s: hold refused by leg %s: %d %s", bcall.call.id, who.leg.tag, status, phrase)
    raise Refused(f"{phone_party(who.leg).id} refused the hold: {status} {phrase}", status)


async def unhold(b2b: B2bua, side: Side) -> None:
    talking(side)
    bcall = side.call
    hold = bcall.held
    if hold is not None and side in hold:
        clear_hold(bcall)
        await _resume_both(bcall, *hold)
        return
    if side.leg.state is not CallState.HOLDING:
        raise WrongState("call", f"leg is {side.leg.state}, not holding")
    other = partner(side)
    asked = ask_phone(side, "talk")
    if asked is not None and await asked:
        return
    still_up(side)
    still_up(other)
    await _resume_both(bcall, side, other)


async def _resume_both(bcall: B2bCall, one: Side, two: Side) -> None:
    media = media_of(bcall)
    sides = [side for side in (one, two) if not side.ended and side.call is bcall]
    outcomes = await asyncio.gather(*(reinvite(side, media.redirect(side.index, Direction.SENDRECV))
                                      for side in sides))
    refusals = [(side, status, phrase) for side, (status, phrase) in zip(sides, outcomes, strict=True)
                if status >= 300]
    if refusals:
        who, status, phrase = refusals[0]
        raise Refused(f"{phone_party(who.leg).id} refused the unhold: {status} {phrase}", status)
    for side in sides:
        if side.call is not None:
            side.call.set_hold(side, HoldRole.NONE)


def clear_hold(bcall: B2bCall) -> None:
    """The server's hold ends (unhold, a refused hold, the other call of a join): music off, relay
    on (the call machine's STOP_HOLD); the re-INVITEs that put the media back are the caller's."""
    if bcall.phase is CallPhase.SERVER_HOLD:
        bcall.fire(CallEvent.UNHOLD)

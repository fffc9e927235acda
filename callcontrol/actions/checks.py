"""What several call actions check and wait for: the leg's state, its partner, a route, the
call's media, and the phone's answer to a NOTIFY or a re-INVITE of ours (as awaitables).

Every refusal is an :class:`~callcontrol.actions.errors.ActionError` naming the API
parameter (``argument``) it is about.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from callcontrol.actions.errors import InvalidArgument, LegNotFound, Unavailable, WrongState
from callcontrol.b2b import reinvite as own_requests
from callcontrol.b2b.anchor import MediaAnchor
from callcontrol.b2b.routing import RINGING_KINDS, Route, RouteKind
from callcontrol.b2b.sides import Side
from callcontrol.model.callinfo import CallState, Party
from callcontrol.model.calls import Leg

if TYPE_CHECKING:
    from callcontrol.b2b.b2bua import B2bua
    from callcontrol.b2b.call import B2bCall

logger = logging.getLogger(__name__)

TALKING = frozenset({CallState.CONNECTED, CallState.HELD, CallState.HOLDING})
RINGING = frozenset({CallState.RINGING, CallState.EARLY})


def phone_party(leg: Leg) -> Party:
    """The party on the phone end of ``leg`` (the caller of a dialog the phone started)."""
    return leg.caller if leg.type == "outgoing" else leg.callee


def route_to(b2b: B2bua, number: str, argument: str) -> Route:
    """The route to a party ``number`` (an API argument): refused when it is unknown or an IVR."""
    route = b2b.router(number)
    if route.kind is RouteKind.REJECT:
        raise InvalidArgument(argument, f"{number}: {route.status} {route.reason}")
    if route.kind is RouteKind.IVR:
        raise InvalidArgument(argument, f"{number} is an IVR access number")
    if route.kind not in RINGING_KINDS:
        # A menu, a queue, sys:echo: the server answers those itself, for dialled calls only.
        raise InvalidArgument(argument,
                              f"{number} routes to a {route.kind.value}, which only a dialled call reaches")
    return route


def talking(side: Side, argument: str = "call") -> Side:
    if side.ended or side.leg.state not in TALKING:
        raise WrongState(argument, f"leg is {side.leg.state}, not connected")
    return side


def partner(side: Side, argument: str = "call") -> Side:
    other = side.call.other(side)
    if other is None or other.ended:
        raise WrongState(argument, "leg is not connected to another party")
    return other


def media_of(bcall: B2bCall) -> MediaAnchor:
    if bcall.media is None:
        raise Unavailable("needs media anchoring (media_anchor = true)")
    return bcall.media


def still_up(side: Side) -> None:
    """After waiting for a phone: the leg (and its call) must still be there."""
    if side.ended or side.call is None or side.call.ending:
        raise LegNotFound("the leg has ended")


def ask_phone(side: Side, event: str) -> asyncio.Future[bool] | None:
    """Ask the phone to do it itself (``NOTIFY Event: talk/hold``, BroadSoft style) when it lists
    the event in Allow-Events (None when it does not). The NOTIFY is sent now; the future says
    whether the phone accepted (2xx) or the server must do it itself (anything else, 408 included)."""
    if event not in side.allow_events or side.dialog is None:
        return None
    accepted: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def done(status: int) -> None:
        if status >= 300:
            logger.info("call %s: NOTIFY %s answered %d, the server does it itself",
                        side.leg.call.id, event, status)
        if not accepted.done():
            accepted.set_result(status < 300)

    own_requests.notify(side.call, side, event, done)
    return accepted


async def reinvite(side: Side, body: bytes) -> tuple[int, str]:
    """A re-INVITE of ours on ``side`` with ``body``; its final (status, phrase): 408 when it timed
    out, 481 when it could not be sent (no confirmed dialog)."""
    answered: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()

    def done(status: int, phrase: str) -> None:
        if not answered.done():
            answered.set_result((status, phrase))

    own_requests.reinvite(side.call, side, body, done)
    return await answered

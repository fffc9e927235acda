"""answer_call on a leg ringing at a phone the server calls: ``NOTIFY Event: talk`` in the early
dialog, or (mode "Invite", or when the phone refuses the NOTIFY) CANCEL and a new INVITE with
the auto-answer headers (the leg keeps its tag)."""
from __future__ import annotations

import asyncio

from callcontrol.actions.checks import RINGING, ask_phone
from callcontrol.actions.errors import InvalidArgument, WrongState
from callcontrol.b2b.call import AUTO_ANSWER_HEADERS
from callcontrol.b2b.outgoing import cancel_for_restart
from callcontrol.b2b.side_machine import SideState
from callcontrol.b2b.sides import Side, UacSide

_RINGING_SIDE = (SideState.RINGING, SideState.EARLY)


def answer(side: Side, mode: str | None) -> None:
    if not isinstance(side, UacSide) or side.state not in _RINGING_SIDE or side.leg.state not in RINGING:
        raise WrongState("call", "leg is not ringing at a phone the server calls")
    talk = "talk" in side.allow_events and side.dialog is not None
    chosen = (mode or ("Notify" if talk else "Invite")).lower()
    if chosen == "notify" and not talk:
        raise InvalidArgument("callee_answer_mode", "the phone did not advertise Allow-Events: talk")
    asked = ask_phone(side, "talk") if chosen == "notify" else None
    if asked is None:
        _reinvite(side)
        return

    def answered(accepted: asyncio.Future[bool]) -> None:
        if not accepted.result() and not side.ended and side.call is not None and not side.call.ending:
            _reinvite(side)

    asked.add_done_callback(answered)


def _reinvite(side: UacSide) -> None:
    if side.state in _RINGING_SIDE and side.call is not None:
        cancel_for_restart(side.call, side, AUTO_ANSWER_HEADERS)

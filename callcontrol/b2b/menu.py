"""IVR menus the server plays itself (``setIVR`` semantics; docs/pbx.md, "IVR menus").

Leg A is answered by the server (the call is in phase IVR). The menu's prompt plays; a DTMF
digit (RFC 4733, SIP INFO or in-band, as ``LegMedia`` detects them) stops it and picks a
choice; no digit within ``timeout`` seconds after the prompt ended takes the default target
(none: the call ends, ``no menu choice``); a digit without a choice plays the invalid-choice
prompt and the menu again, :data:`MAX_TRIES` times in all, then the default. The chosen
target is routed with the menu's path (a loop back to the menu is 482) and then:

- rings (an account, a ring group, a hunt list, the trunk): a new leg to its first stage,
  placed like a blind transfer's (the caller's media offered; when it answers the caller is
  re-INVITEd and the call is bridged; if it fails the call ends with its status);
- another menu: played on the same call; ``sys:echo``: the caller's audio is sent back;
- a refusal (``sys:busy``, 404, 482): the call ends with that status as its reason;
- an IVR access number or a queue: not reachable from a menu yet (the call ends).

The digits and prompt completions are published as always (a console sees them); the menu
reads them from the same stream, in order: a digit pressed before a prompt starts answers it
(type-ahead), one pressed during the invalid-choice prompt answers the menu played after it.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from callcontrol.b2b.anchor import A, B
from callcontrol.b2b.call import B2bCall
from callcontrol.b2b.call_machine import CallEvent, CallPhase
from callcontrol.b2b.leg_media import LegMedia
from callcontrol.b2b.outgoing import place
from callcontrol.b2b.reinvite import reinvite
from callcontrol.b2b.routing import RINGING_KINDS, Route, RouteKind, Via
from callcontrol.b2b.sides import Side, UacSide
from callcontrol.model.callinfo import CallInfo, Party
from callcontrol.pbx.model import Menu
from ivr.echo import Echo
from ivr.prompts import PromptError

logger = logging.getLogger(__name__)

MAX_TRIES = 3
REASON_NO_CHOICE = "no menu choice"
PROMPT_ORDER = 2

RouteTarget = Callable[[str, Via], Route]
PartyOf = Callable[[Route], Party]


class Listener:
    """The publish hook of a menu's ``LegMedia``: publishes as usual and, while a menu runs,
    hands the digits and prompt completions to it."""

    __slots__ = ("events", "publish")

    def __init__(self, publish: Callable[[CallInfo], None]) -> None:
        self.publish = publish
        self.events: asyncio.Queue[CallInfo] | None = asyncio.Queue()

    def __call__(self, info: CallInfo) -> None:
        self.publish(info)
        events = self.events
        if events is not None and info.event is not None:
            events.put_nowait(info)


async def serve(call: B2bCall, side: Side, route: Route, control: LegMedia, listener: Listener, *,
                route_target: RouteTarget, party_of: PartyOf) -> None:
    """Run the menu of ``route`` on ``side`` (leg A, answered) until the caller chose."""
    try:
        while True:
            menu: Menu = route.pbx
            target = await _choose(call, side, menu, control, listener)
            if target is None:
                if not call.ending:
                    call.hangup(REASON_NO_CHOICE)
                return
            chosen = route_target(target, route.via)
            logger.info("call %s: menu %s: %s -> %s", call.call.id, menu.number, target, chosen.kind.value)
            if chosen.kind is RouteKind.MENU:
                route = chosen
                continue
            control.stop_prompt(PROMPT_ORDER)
            control.stop_dtmf()
            if chosen.kind in RINGING_KINDS:
                _connect(call, side, chosen, party_of(chosen))
            elif chosen.kind is RouteKind.ECHO:
                assert call.media is not None
                Echo(call.media.endpoint(side.index))
            elif chosen.kind is RouteKind.REJECT:
                call.hangup(chosen.reason, chosen.status)
            else:
                call.hangup(f"{chosen.kind.value} {chosen.number} is not reachable from a menu", 480)
            return
    finally:
        listener.events = None


async def _choose(call: B2bCall, side: Side, menu: Menu, control: LegMedia, listener: Listener) -> str | None:
    """The target the caller picked (the default after a timeout or too many invalid digits)."""
    control.start_dtmf()
    for _attempt in range(MAX_TRIES):
        digit = await _ask(control, listener, menu.prompt, menu.timeout)
        if call.ending or side.ended:
            return None
        if digit is None:
            return menu.default
        target = menu.choice(digit)
        if target is not None:
            return target
        logger.info("call %s: menu %s: no choice %s", call.call.id, menu.number, digit)
        if menu.invalid_prompt:
            await _ask(control, listener, menu.invalid_prompt, 0, digits=False)
    return menu.default


async def _ask(control: LegMedia, listener: Listener, url: str, timeout: float, *, digits: bool = True) -> str | None:
    """Play ``url``; the first digit (stopping the prompt), or None once ``timeout`` s passed
    after the prompt ended (``digits=False``: play it to its end; digits pressed meanwhile are
    kept for the next question). A digit pressed before the prompt started answers it at once
    (type-ahead)."""
    events = listener.events
    assert events is not None
    held: list[CallInfo] = []
    try:
        return await _wait(control, events, url, timeout, held if not digits else None)
    finally:
        for info in held:
            events.put_nowait(info)


async def _wait(control: LegMedia, events: asyncio.Queue[CallInfo], url: str, timeout: float,
                held: list[CallInfo] | None) -> str | None:
    digits = held is None
    loop = asyncio.get_running_loop()
    try:
        prompt = await control.play_prompt(url, PROMPT_ORDER)
    except PromptError as exc:
        logger.warning("menu prompt %s: %s", url, exc)
        prompt = None
    playing = prompt is not None
    # The completion event ends the wait for the prompt; its length (and a margin) bounds it.
    deadline = loop.time() + (prompt.duration + 1.0 if prompt is not None else 0.0) + (timeout if not playing else 0)
    while True:
        try:
            info = await asyncio.wait_for(events.get(), max(0.0, deadline - loop.time()))
        except TimeoutError:
            if playing:  # the completion never came: count the timeout from now
                playing = False
                deadline = loop.time() + timeout
                if not digits:
                    return None
                continue
            return None
        if info.event == "dtmf_digit_detected" and info.digit:
            if held is not None:
                held.append(info)
                continue
            control.stop_prompt(PROMPT_ORDER)
            return info.digit
        if info.event == "play_prompt_completed" and info.order == PROMPT_ORDER and playing:
            playing = False
            if not digits:
                return None
            deadline = loop.time() + timeout


def _connect(call: B2bCall, side: Side, route: Route, callee: Party) -> None:
    """Place a leg to ``route``'s first stage for the caller on ``side`` and bridge them when it
    answers (what a blind transfer of an IVR caller does)."""
    media = call.media
    assert media is not None
    caller = side.leg.caller
    index = B if side.index == A else A

    def answered(new: UacSide) -> None:
        call.seat(new)
        if call.phase is CallPhase.TRANSFERRING:
            call.fire(CallEvent.CONNECTED)
        if not side.ended:
            # Once the caller's media is with the target, its leg names it (docs/portasip-compat.md,
            # "Parties left behind"): the target is the phone end of the placed leg, its callee.
            reinvite(call, side, media.relay_offer(new.index, side.index),
                     lambda status, phrase: call.meet(side, new.leg.callee) if side.call is not None else None)

    def failed(new: UacSide, status: int, phrase: str) -> None:
        logger.info("call %s: menu target %s failed: %d %s", call.call.id, route.number, status, phrase)
        call.hangup(phrase, status)

    call.fire(CallEvent.TRANSFER)
    place(call, index, route.targets, caller=caller, callee=callee, body=media.relay_offer(side.index, index),
          from_user=caller.id, from_display=caller.display_name, leg_id=side.leg.call.id, model=side.model,
          on_answer=answered, on_fail=failed)

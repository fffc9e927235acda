"""The call engine as the API layer sees it: one method per call action on a live leg.

The API (``callcontrol.api``) has already decoded the request, found the leg in the
one live-leg index (:class:`~callcontrol.model.calls.CallRegistry`) and checked the
session's scope; it hands the :class:`~callcontrol.model.calls.Leg` here. A method
returns once the action has *started* (INVITE, re-INVITE or NOTIFY sent); outcomes
arrive as leg snapshots through ``Leg.move``. The exceptions are ``hold``/``unhold``, which
return with the outcome (``callcontrol.actions.hold``). Refusals are
:class:`~callcontrol.actions.errors.ActionError`s, never API errors.

Each action is one module of this package (originate, answer, terminate, hold, transfer,
join, prompt, dtmf); :class:`B2buaEngine` only finds the side of a leg and calls it.

:class:`CallEngine` is the seam; :class:`B2buaEngine` is the real one over the B2BUA.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from callcontrol.actions import answer, dtmf, hold, join, originate, prompt, terminate, transfer
from callcontrol.actions.errors import InvalidArgument, LegNotFound, Unavailable
from callcontrol.model.calls import Leg
from ivr.ports import PortsExhausted

if TYPE_CHECKING:
    from callcontrol.b2b.b2bua import B2bua
    from callcontrol.b2b.leg_media import LegMedia
    from callcontrol.b2b.sides import Side


@runtime_checkable
class CallEngine(Protocol):
    async def originate(self, *, caller: str, callee: str, auto_answer: bool, bill_to: int) -> str:
        """Call ``caller`` first, then ``callee`` once it answers, billed to account ``bill_to``;
        returns the new call's id."""
        ...

    def answer(self, leg: Leg, mode: str | None) -> None: ...

    def terminate(self, leg: Leg) -> None: ...

    async def hold(self, leg: Leg) -> None:
        """Returns with the hold's outcome (``holding``/``held`` published); a phone that refuses it
        raises :class:`~callcontrol.actions.errors.Refused` and the call stays as it was."""
        ...

    async def unhold(self, leg: Leg) -> None: ...

    def transfer(self, leg: Leg, number: str) -> None: ...

    def join(self, leg: Leg, other: Leg) -> None: ...

    async def play_prompt(self, leg: Leg, url: str, order: int, repeat: int) -> None: ...

    def stop_play_prompt(self, leg: Leg, order: int) -> None: ...

    def start_dtmf_detect(self, leg: Leg) -> None: ...

    def stop_dtmf_detect(self, leg: Leg) -> None: ...


class B2buaEngine:
    """:class:`CallEngine` over the B2BUA's live calls."""

    def __init__(self, b2b: B2bua) -> None:
        self._b2b = b2b
        # A phone's REFER is a transfer too: the calls hand it here (no import of the actions below).
        b2b.ctx.refer = lambda side, incoming: transfer.refer(b2b, side, incoming)

    def _side(self, leg: Leg) -> Side:
        side = leg.side
        if side is None or leg.terminated:
            raise LegNotFound("the leg has ended")
        return side  # type: ignore[no-any-return]

    def _media(self, leg: Leg) -> LegMedia:
        try:
            return self._b2b.leg_media(self._side(leg))
        except PortsExhausted as exc:
            raise Unavailable(f"media is not anchored on this call: {exc}") from exc

    async def originate(self, *, caller: str, callee: str, auto_answer: bool, bill_to: int) -> str:
        account = self._b2b.directory.account_by_id(bill_to)
        if account is None:
            raise InvalidArgument("bill_id", "no such account")
        try:
            return await originate.originate(self._b2b, caller_id=caller, callee_id=callee,
                                             auto_answer=auto_answer, bill_to=account)
        except PortsExhausted as exc:
            raise Unavailable(f"no media ports: {exc}") from exc

    def answer(self, leg: Leg, mode: str | None) -> None:
        answer.answer(self._side(leg), mode)

    def terminate(self, leg: Leg) -> None:
        terminate.terminate(self._side(leg))

    async def hold(self, leg: Leg) -> None:
        await hold.hold(self._b2b, self._side(leg))

    async def unhold(self, leg: Leg) -> None:
        await hold.unhold(self._b2b, self._side(leg))

    def transfer(self, leg: Leg, number: str) -> None:
        transfer.transfer(self._b2b, self._side(leg), number)

    def join(self, leg: Leg, other: Leg) -> None:
        join.join(self._side(leg), self._side(other))

    async def play_prompt(self, leg: Leg, url: str, order: int, repeat: int) -> None:
        await prompt.play_prompt(self._media(leg), url, order, repeat)

    def stop_play_prompt(self, leg: Leg, order: int) -> None:
        prompt.stop_play_prompt(self._media(leg), order)

    def start_dtmf_detect(self, leg: Leg) -> None:
        dtmf.start_dtmf_detect(self._media(leg))

    def stop_dtmf_detect(self, leg: Leg) -> None:
        dtmf.stop_dtmf_detect(self._media(leg))

"""The call engine as the API layer sees it: one method per call action on a live leg.

The API (``callcontrol.api``) has already decoded the request, found the leg in the
one live-leg index (:class:`~callcontrol.model.calls.CallRegistry`) and checked the
session's scope; it hands the :class:`~callcontrol.model.calls.Leg` here. A method
returns once the action has *started* (INVITE, re-INVITE or NOTIFY sent); outcomes
arrive as leg snapshots through ``Leg.move``. Refusals are
:class:`~callcontrol.actions.errors.ActionError`s, never API errors.

:class:`CallEngine` is the seam; :class:`B2buaEngine` is the real one over the B2BUA.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from callcontrol.actions.errors import InvalidArgument, LegNotFound, Unavailable
from callcontrol.model.calls import Leg
from ivr.ports import PortsExhausted
from ivr.prompts import (
    PromptCodecError,
    PromptError,
    PromptFormatError,
    PromptHttpError,
    PromptNotFound,
    PromptTimeout,
)

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

    def hold(self, leg: Leg) -> None: ...

    def unhold(self, leg: Leg) -> None: ...

    def transfer(self, leg: Leg, number: str) -> None: ...

    def join(self, leg: Leg, other: Leg) -> None: ...

    async def play_prompt(self, leg: Leg, url: str, order: int, repeat: int) -> None: ...

    def stop_play_prompt(self, leg: Leg, order: int) -> None: ...

    def start_dtmf_detect(self, leg: Leg) -> None: ...

    def stop_dtmf_detect(self, leg: Leg) -> None: ...


def prompt_problem(exc: PromptError) -> str:
    """What went wrong with a prompt URL, in words a console can show."""
    if isinstance(exc, PromptNotFound):
        what = "not found (404)"
    elif isinstance(exc, PromptTimeout):
        what = "timed out"
    elif isinstance(exc, PromptFormatError):
        what = "not a playable .au or .g729 file"
    elif isinstance(exc, PromptCodecError):
        what = "no format the leg can play"
    elif isinstance(exc, PromptHttpError):
        what = f"HTTP error{f' {exc.status}' if exc.status else ''}"
    else:
        what = "cannot be fetched"
    return f"{what}: {exc}"


class B2buaEngine:
    """:class:`CallEngine` over the B2BUA's live calls."""

    def __init__(self, b2b: B2bua) -> None:
        self._b2b = b2b

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
            return await self._b2b.actions.originate(caller_id=caller, callee_id=callee,
                                                     auto_answer=auto_answer, bill_to=account)
        except PortsExhausted as exc:
            raise Unavailable(f"no media ports: {exc}") from exc

    def answer(self, leg: Leg, mode: str | None) -> None:
        self._b2b.actions.answer(self._side(leg), mode)

    def terminate(self, leg: Leg) -> None:
        self._b2b.actions.terminate(self._side(leg))

    def hold(self, leg: Leg) -> None:
        self._b2b.actions.hold(self._side(leg))

    def unhold(self, leg: Leg) -> None:
        self._b2b.actions.unhold(self._side(leg))

    def transfer(self, leg: Leg, number: str) -> None:
        self._b2b.actions.transfer(self._side(leg), number)

    def join(self, leg: Leg, other: Leg) -> None:
        self._b2b.actions.join(self._side(leg), self._side(other))

    async def play_prompt(self, leg: Leg, url: str, order: int, repeat: int) -> None:
        control = self._media(leg)
        try:
            await control.play_prompt(url, order, repeat)
        except PromptError as exc:
            raise InvalidArgument("url", prompt_problem(exc)) from exc
        except ValueError as exc:  # an order or repeat the player does not take
            raise InvalidArgument("order" if "order" in str(exc) else "repeat", str(exc)) from exc

    def stop_play_prompt(self, leg: Leg, order: int) -> None:
        self._media(leg).stop_prompt(order)

    def start_dtmf_detect(self, leg: Leg) -> None:
        self._media(leg).start_dtmf()

    def stop_dtmf_detect(self, leg: Leg) -> None:
        self._media(leg).stop_dtmf()

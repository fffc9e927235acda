"""The CallBackend the hub calls, over the B2BUA's live calls.

``get_sip_calls_list`` is answered from the :class:`~callcontrol.model.calls.CallRegistry`
(the latest snapshot of every live leg). Every other method finds its leg (an
out-of-scope leg is "not found", as SPEC wants), then hands it to
:class:`~callcontrol.actions.call_actions.CallActions` (signalling) or to the leg's
:class:`~callcontrol.b2b.leg_media.LegMedia` (prompts, DTMF). One handler per method.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from callcontrol.api.models import (
    AnswerCallParams,
    CallNotFound,
    CallRef,
    Disabled,
    GetSipCallsListParams,
    HoldCallParams,
    JoinCallsParams,
    OriginateAdvancedCallParams,
    PlayPromptParams,
    StartDtmfDetectParams,
    StopDtmfDetectParams,
    StopPlayPromptParams,
    TerminateCallParams,
    TransferCallParams,
    UnholdCallParams,
    WrongParameters,
)
from callcontrol.model.callinfo import CallId, CallInfo
from callcontrol.model.calls import CallRegistry, Leg
from callcontrol.model.scope import Scope
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
    from callcontrol.b2b.sides import Side

logger = logging.getLogger(__name__)


def prompt_problem(exc: PromptError) -> str:
    """What went wrong with a prompt URL, for the ``details`` of sip.wrong_parameters."""
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


class B2buaBackend:
    def __init__(self, registry: CallRegistry, transport_ids: Iterable[str] = ()) -> None:
        self.registry = registry
        self.transport_ids = set(transport_ids)
        self.b2b: B2bua | None = None

    def attach(self, b2b: B2bua) -> None:
        self.b2b = b2b

    # -- lookups ------------------------------------------------------------------------------
    def _find(self, ref: CallRef, transport_id: str | None, scope: Scope) -> list[Leg]:
        if transport_id is not None and self.transport_ids and transport_id not in self.transport_ids:
            raise CallNotFound({"call": ref.model_dump(exclude_none=True)})
        if ref.tag is not None:
            leg = self.registry.leg(ref.id, ref.tag)
            found = [leg] if leg is not None else []
        else:
            found = self.registry.legs_of(ref.id)
        found = [leg for leg in found if leg.info is not None and scope.covers_call(leg.info)]
        if not found:
            raise CallNotFound({"call": ref.model_dump(exclude_none=True)})
        return found

    def _side(self, ref: CallRef, transport_id: str | None, scope: Scope, field: str = "params.call") -> Side:
        """The one leg ``ref`` names, as the B2BUA's signalling side."""
        self._actions()
        legs = self._find(ref, transport_id, scope)
        if len(legs) > 1:
            raise WrongParameters.field(f"{field}.tag", "this call has several legs: name one by its tag")
        side = legs[0].side
        if side is None or self.b2b is None:
            raise CallNotFound({"call": ref.model_dump(exclude_none=True)})
        return side  # type: ignore[no-any-return]

    def _actions(self):  # type: ignore[no-untyped-def]
        if self.b2b is None:
            raise Disabled({"reason": "no B2BUA attached"})
        return self.b2b.actions

    def _media(self, side: Side):  # type: ignore[no-untyped-def]
        assert self.b2b is not None
        try:
            return self.b2b.leg_media(side)
        except PortsExhausted as exc:
            raise Disabled({"reason": f"media is not anchored on this call: {exc}"}) from exc

    # -- methods ------------------------------------------------------------------------------
    async def list_calls(self, params: GetSipCallsListParams, scope: Scope) -> Iterable[CallInfo]:
        return self.registry.snapshots(params.routing_keys())

    async def originate(self, params: OriginateAdvancedCallParams, scope: Scope) -> CallId:
        actions = self._actions()
        assert self.b2b is not None
        bill_to = self.b2b.directory.account_by_id(params.bill_id)
        if bill_to is None:
            raise WrongParameters.field("params.bill_id", "no such account")
        try:
            call_id = await actions.originate(caller_id=params.caller_id, callee_id=params.callee_id,
                                              auto_answer=params.callee_auto_pickup == "Y", bill_to=bill_to)
        except PortsExhausted as exc:
            raise Disabled({"reason": f"no media ports: {exc}"}) from exc
        return CallId(call_id)

    async def answer(self, params: AnswerCallParams, scope: Scope) -> None:
        side = self._side(params.call, params.transport_id, scope)
        self._actions().answer(side, params.callee_answer_mode)

    async def terminate(self, params: TerminateCallParams, scope: Scope) -> None:
        actions = self._actions()
        legs = self._find(params.call, params.transport_id, scope)
        if params.call.tag is not None:
            actions.terminate(self._side(params.call, params.transport_id, scope))
            return
        for leg in legs:  # a whole call: end it through its first live leg
            if leg.side is not None and not leg.terminated:
                actions.terminate(leg.side)
                return
        raise CallNotFound({"call": params.call.model_dump(exclude_none=True)})

    async def hold(self, params: HoldCallParams, scope: Scope) -> None:
        self._actions().hold(self._side(params.call, params.transport_id, scope))

    async def unhold(self, params: UnholdCallParams, scope: Scope) -> None:
        self._actions().unhold(self._side(params.call, params.transport_id, scope))

    async def transfer(self, params: TransferCallParams, scope: Scope) -> None:
        side = self._side(params.call, params.transport_id, scope)
        self._actions().transfer(side, params.cld)

    async def join(self, params: JoinCallsParams, scope: Scope) -> None:
        first = self._side(params.call, params.transport_id, scope, "params.call")
        second = self._side(params.to_call, params.transport_id, scope, "params.to_call")
        self._actions().join(first, second)

    async def play_prompt(self, params: PlayPromptParams, scope: Scope) -> None:
        side = self._side(params.call, params.transport_id, scope)
        control = self._media(side)
        try:
            await control.play_prompt(params.url, params.order, params.repeat)
        except PromptError as exc:
            raise WrongParameters.field("params.url", prompt_problem(exc)) from exc
        except ValueError as exc:
            raise WrongParameters.field("params", str(exc)) from exc

    async def stop_play_prompt(self, params: StopPlayPromptParams, scope: Scope) -> None:
        side = self._side(params.call, params.transport_id, scope)
        self._media(side).stop_prompt(params.order)

    async def start_dtmf_detect(self, params: StartDtmfDetectParams, scope: Scope) -> None:
        side = self._side(params.call, params.transport_id, scope)
        self._media(side).start_dtmf()

    async def stop_dtmf_detect(self, params: StopDtmfDetectParams, scope: Scope) -> None:
        side = self._side(params.call, params.transport_id, scope)
        self._media(side).stop_dtmf()

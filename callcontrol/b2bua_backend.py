"""The CallBackend the hub calls, over the B2BUA's live calls.

``get_sip_calls_list`` is answered from the :class:`~callcontrol.calls.CallRegistry`
(the latest snapshot of every live leg). The call-control commands (originate,
answer, terminate, hold, transfer, join, prompts, DTMF) are not wired to the B2BUA
yet: they answer ``sip.call_control_disabled`` with a detail saying so, after the
usual leg lookup, so a client can tell "unknown leg" from "not available".
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

from callcontrol.api import (
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
)
from callcontrol.callinfo import CallId, CallInfo
from callcontrol.calls import CallRegistry, Leg
from callcontrol.scope import Scope

logger = logging.getLogger(__name__)

NOT_YET = "not implemented by this server yet"


class B2buaBackend:
    def __init__(self, registry: CallRegistry, transport_ids: Iterable[str] = ()) -> None:
        self.registry = registry
        self.transport_ids = set(transport_ids)

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

    def _not_yet(self, method: str) -> Disabled:
        return Disabled({"method": method, "reason": NOT_YET})

    async def list_calls(self, params: GetSipCallsListParams, scope: Scope) -> Iterable[CallInfo]:
        return self.registry.snapshots(params.routing_keys())

    async def originate(self, params: OriginateAdvancedCallParams, scope: Scope) -> CallId:
        raise self._not_yet("originate_advanced_call")

    async def answer(self, params: AnswerCallParams, scope: Scope) -> None:
        self._find(params.call, params.transport_id, scope)
        raise self._not_yet("answer_call")

    async def terminate(self, params: TerminateCallParams, scope: Scope) -> None:
        self._find(params.call, params.transport_id, scope)
        raise self._not_yet("terminate_call")

    async def hold(self, params: HoldCallParams, scope: Scope) -> None:
        self._find(params.call, params.transport_id, scope)
        raise self._not_yet("hold_call")

    async def unhold(self, params: UnholdCallParams, scope: Scope) -> None:
        self._find(params.call, params.transport_id, scope)
        raise self._not_yet("unhold_call")

    async def transfer(self, params: TransferCallParams, scope: Scope) -> None:
        self._find(params.call, params.transport_id, scope)
        raise self._not_yet("transfer_call")

    async def join(self, params: JoinCallsParams, scope: Scope) -> None:
        self._find(params.call, params.transport_id, scope)
        self._find(params.to_call, params.transport_id, scope)
        raise self._not_yet("join_calls")

    async def play_prompt(self, params: PlayPromptParams, scope: Scope) -> None:
        self._find(params.call, params.transport_id, scope)
        raise self._not_yet("play_prompt")

    async def stop_play_prompt(self, params: StopPlayPromptParams, scope: Scope) -> None:
        self._find(params.call, params.transport_id, scope)
        raise self._not_yet("stop_play_prompt")

    async def start_dtmf_detect(self, params: StartDtmfDetectParams, scope: Scope) -> None:
        self._find(params.call, params.transport_id, scope)
        raise self._not_yet("start_dtmf_detect")

    async def stop_dtmf_detect(self, params: StopDtmfDetectParams, scope: Scope) -> None:
        self._find(params.call, params.transport_id, scope)
        raise self._not_yet("stop_dtmf_detect")

"""The CallBackend the hub calls, over the B2BUA's live calls.

``get_sip_calls_list`` is answered from the :class:`~callcontrol.model.calls.CallRegistry`
(the latest snapshot of every live leg). Every other method finds its leg (an
out-of-scope leg is "not found", as SPEC wants), then hands it to
:class:`~callcontrol.actions.engine.B2buaEngine`; the engine's
:class:`~callcontrol.actions.errors.ActionError`s become API errors here (``_api_errors``).
One handler per method.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from callcontrol.actions.engine import B2buaEngine
from callcontrol.actions.errors import ActionError, InvalidArgument, LegNotFound, Refused, Unavailable
from callcontrol.api.models import (
    AnswerCallParams,
    CallNotFound,
    CallRef,
    Disabled,
    GetSipCallsListParams,
    HoldCallParams,
    InternalServerError,
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
from callcontrol.b2b.b2bua import B2bua
from callcontrol.model.callinfo import CallId, CallInfo
from callcontrol.model.calls import CallRegistry, Leg
from callcontrol.model.scope import Scope

logger = logging.getLogger(__name__)


@contextmanager
def _api_errors(ref: CallRef | None = None) -> Iterator[None]:
    """The engine's refusals as the API's errors."""
    try:
        yield
    except InvalidArgument as exc:
        raise WrongParameters.field(f"params.{exc.argument}", exc.message) from exc
    except LegNotFound as exc:
        raise CallNotFound({"call": ref.model_dump(exclude_none=True) if ref is not None else None}) from exc
    except Unavailable as exc:
        raise Disabled({"reason": exc.message}) from exc
    except Refused as exc:
        raise InternalServerError({"reason": exc.message, "sip_code": exc.sip_code}) from exc
    except ActionError as exc:
        raise InternalServerError({"reason": exc.message}) from exc


class B2buaBackend:
    def __init__(self, registry: CallRegistry, transport_ids: Iterable[str] = ()) -> None:
        self.registry = registry
        self.transport_ids = set(transport_ids)
        self.engine: B2buaEngine | None = None

    def attach(self, b2b: B2bua) -> None:
        self.engine = B2buaEngine(b2b)

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

    def _engine(self) -> B2buaEngine:
        if self.engine is None:
            raise Disabled({"reason": "no B2BUA attached"})
        return self.engine

    def _leg(self, ref: CallRef, transport_id: str | None, scope: Scope, field: str = "params.call") -> Leg:
        """The one live leg ``ref`` names."""
        self._engine()
        legs = self._find(ref, transport_id, scope)
        if len(legs) > 1:
            raise WrongParameters.field(f"{field}.tag", "this call has several legs: name one by its tag")
        if legs[0].side is None:
            raise CallNotFound({"call": ref.model_dump(exclude_none=True)})
        return legs[0]

    # -- methods ------------------------------------------------------------------------------
    async def list_calls(self, params: GetSipCallsListParams, scope: Scope) -> Iterable[CallInfo]:
        return self.registry.snapshots(params.routing_keys())

    async def originate(self, params: OriginateAdvancedCallParams, scope: Scope) -> CallId:
        engine = self._engine()
        with _api_errors():
            call_id = await engine.originate(caller=params.caller_id, callee=params.callee_id,
                                             auto_answer=params.callee_auto_pickup == "Y", bill_to=params.bill_id)
        return CallId(call_id)

    async def answer(self, params: AnswerCallParams, scope: Scope) -> None:
        leg = self._leg(params.call, params.transport_id, scope)
        with _api_errors(params.call):
            self._engine().answer(leg, params.callee_answer_mode)

    async def terminate(self, params: TerminateCallParams, scope: Scope) -> None:
        engine = self._engine()
        legs = self._find(params.call, params.transport_id, scope)
        if params.call.tag is not None:
            legs = [self._leg(params.call, params.transport_id, scope)]
        for leg in legs:  # a whole call: end it through its first live leg
            if leg.side is not None and not leg.terminated:
                with _api_errors(params.call):
                    engine.terminate(leg)
                return
        raise CallNotFound({"call": params.call.model_dump(exclude_none=True)})

    async def hold(self, params: HoldCallParams, scope: Scope) -> None:
        leg = self._leg(params.call, params.transport_id, scope)
        with _api_errors(params.call):
            await self._engine().hold(leg)

    async def unhold(self, params: UnholdCallParams, scope: Scope) -> None:
        leg = self._leg(params.call, params.transport_id, scope)
        with _api_errors(params.call):
            await self._engine().unhold(leg)

    async def transfer(self, params: TransferCallParams, scope: Scope) -> None:
        leg = self._leg(params.call, params.transport_id, scope)
        with _api_errors(params.call):
            self._engine().transfer(leg, params.cld)

    async def join(self, params: JoinCallsParams, scope: Scope) -> None:
        first = self._leg(params.call, params.transport_id, scope, "params.call")
        second = self._leg(params.to_call, params.transport_id, scope, "params.to_call")
        with _api_errors(params.call):
            self._engine().join(first, second)

    async def play_prompt(self, params: PlayPromptParams, scope: Scope) -> None:
        leg = self._leg(params.call, params.transport_id, scope)
        with _api_errors(params.call):
            await self._engine().play_prompt(leg, params.url, params.order, params.repeat)

    async def stop_play_prompt(self, params: StopPlayPromptParams, scope: Scope) -> None:
        leg = self._leg(params.call, params.transport_id, scope)
        with _api_errors(params.call):
            self._engine().stop_play_prompt(leg, params.order)

    async def start_dtmf_detect(self, params: StartDtmfDetectParams, scope: Scope) -> None:
        leg = self._leg(params.call, params.transport_id, scope)
        with _api_errors(params.call):
            self._engine().start_dtmf_detect(leg)

    async def stop_dtmf_detect(self, params: StopDtmfDetectParams, scope: Scope) -> None:
        leg = self._leg(params.call, params.transport_id, scope)
        with _api_errors(params.call):
            self._engine().stop_dtmf_detect(leg)

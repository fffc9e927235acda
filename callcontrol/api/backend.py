"""The CallBackend protocol: what the hub needs from the B2BUA.

Every method gets the validated request (a model from ``callcontrol.api.models``)
and the caller's :class:`~callcontrol.model.scope.Scope`, and raises typed errors:

- :class:`CallNotFound` — no such leg, a leg the scope does not cover
  (``scope.covers_call(info)`` is False), or a ``transport_id`` that is not
  ours. Out-of-scope must be indistinguishable from nonexistent.
- :class:`WrongParameters` — params valid in form but not in fact (use
  ``WrongParameters.field("params.cld", "unknown number")``).
- :class:`Disabled` — the method is switched off for this leg/principal.

Any other exception becomes ``sip.internal_server_error`` (logged with a
correlation id). A method returns once the action has been *started*
(INVITE sent, NOTIFY sent, ...); outcomes arrive as ``Hub.publish`` calls.
Publishing from inside a method is fine: the hub holds those notifications
until the response is queued (see ``callcontrol.api.ordering``).

The hub itself already rejects legs it has seen published and that the scope
does not cover, and checks ``bill_id`` against the scope; the backend checks
again because it is the one that knows every leg.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from callcontrol.api.models import (
    AnswerCallParams,
    CallControlDisabled,
    CallNotFound,
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
from callcontrol.model.scope import Scope

__all__ = [
    "CallBackend",
    "CallControlDisabled",
    "CallNotFound",
    "Disabled",
    "WrongParameters",
]


@runtime_checkable
class CallBackend(Protocol):
    async def list_calls(self, params: GetSipCallsListParams, scope: Scope) -> Iterable[CallInfo]:
        """Legs in progress carrying any of ``params.routing_keys()``.

        The hub filters the answer again by key and scope, so returning a
        superset is safe (but costs encoding time).
        """
        ...

    async def originate(self, params: OriginateAdvancedCallParams, scope: Scope) -> CallId:
        """Start leg A to ``caller_id``; returns the new call's id (no tag)."""
        ...

    async def answer(self, params: AnswerCallParams, scope: Scope) -> None: ...

    async def terminate(self, params: TerminateCallParams, scope: Scope) -> None: ...

    async def hold(self, params: HoldCallParams, scope: Scope) -> None: ...

    async def unhold(self, params: UnholdCallParams, scope: Scope) -> None: ...

    async def transfer(self, params: TransferCallParams, scope: Scope) -> None: ...

    async def join(self, params: JoinCallsParams, scope: Scope) -> None: ...

    async def play_prompt(self, params: PlayPromptParams, scope: Scope) -> None: ...

    async def stop_play_prompt(self, params: StopPlayPromptParams, scope: Scope) -> None: ...

    async def start_dtmf_detect(self, params: StartDtmfDetectParams, scope: Scope) -> None: ...

    async def stop_dtmf_detect(self, params: StopDtmfDetectParams, scope: Scope) -> None: ...

"""An in-memory CallBackend over CallInfo snapshots (no SIP, no media).

It exists for the hub's tests and for ``scripts/bench_ws.py``: it behaves
like the B2BUA as far as the API can tell (state changes are published as
CallInfo snapshots, scope and transport are enforced) without placing real
calls. ``network_echo=True`` makes it publish the outcome of a command from
a foreign context while the command is still running, the way a SIP answer
arriving from the network would; the hub must still answer first.
"""
from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

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
from callcontrol.model.callinfo import CallId, CallInfo, CallState, Party
from callcontrol.model.scope import Scope, key_matches

logger = logging.getLogger(__name__)


class MemoryBackend:
    def __init__(self, publish: Callable[[CallInfo], None] | None = None, *,
                 transport_id: str = "127.0.0.1:5060", clock: Callable[[], float] = time.time,
                 party_for: Callable[[str], Party] | None = None) -> None:
        self.publish = publish
        self.transport_id = transport_id
        self.clock = clock
        self.party_for = party_for if party_for is not None else (lambda number: Party(id=number))
        self.legs: dict[tuple[str, str], CallInfo] = {}
        self.actions: list[tuple[str, Any]] = []  # (method, params) of every accepted command
        self.disabled: set[str] = set()
        self.failing: set[str] = set()
        self.network_echo = False
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ state

    def add(self, info: CallInfo) -> CallInfo:
        """Create or replace a leg and publish it."""
        assert info.call.tag is not None
        if info.state is CallState.TERMINATED:
            self.legs.pop((info.call.id, info.call.tag), None)
        else:
            self.legs[(info.call.id, info.call.tag)] = info
        if self.publish is not None:
            self.publish(info)
        return info

    def _set_state(self, info: CallInfo, state: CallState, **changes: Any) -> CallInfo:
        now = self.clock()
        if state in (CallState.CONNECTED, CallState.HELD, CallState.HOLDING) and info.connect_time is None:
            changes.setdefault("connect_time", now)
        if state is CallState.TERMINATED:
            connected = info.connect_time
            changes.setdefault("duration", int(now - connected) if connected is not None else 0)
            changes.setdefault("reason", "terminated by API")
        return replace(info, state=state, _encoded=None, _keys=None, **changes)

    def _find(self, ref: CallRef, transport_id: str | None, scope: Scope) -> list[CallInfo]:
        if transport_id is not None and transport_id != self.transport_id:
            raise CallNotFound({"call": ref.model_dump(exclude_none=True)})
        if ref.tag is not None:
            leg = self.legs.get((ref.id, ref.tag))
            found = [leg] if leg is not None else []
        else:
            found = [leg for (cid, _), leg in self.legs.items() if cid == ref.id]
        found = [leg for leg in found if scope.covers_call(leg)]
        if not found:
            raise CallNotFound({"call": ref.model_dump(exclude_none=True)})
        return found

    def _siblings(self, info: CallInfo) -> list[CallInfo]:
        base = info.call.base_id
        return [leg for leg in self.legs.values() if leg.call.base_id == base and leg is not info]

    async def _act(self, method: str, params: Any, changes: Callable[[], Iterable[CallInfo]]) -> None:
        if method in self.disabled:
            raise Disabled({"method": method})
        if method in self.failing:
            raise RuntimeError(f"simulated failure in {method}")
        self.actions.append((method, params))
        new = list(changes())
        if not new:
            return
        if not self.network_echo:
            for info in new:
                self.add(info)
            return
        # Publish from a foreign (empty) context while this command is still running.
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def from_network() -> None:
            for info in new:
                self.add(info)
            done.set_result(None)

        loop.call_soon(from_network, context=contextvars.Context())
        await done

    # ------------------------------------------------------------------ CallBackend

    async def list_calls(self, params: GetSipCallsListParams, scope: Scope) -> Iterable[CallInfo]:
        if "get_sip_calls_list" in self.failing:
            raise RuntimeError("simulated failure in get_sip_calls_list")
        keys = params.routing_keys()
        return [leg for leg in self.legs.values() if key_matches(leg, keys)]

    async def originate(self, params: OriginateAdvancedCallParams, scope: Scope) -> CallId:
        call_id = f"mem-{next(self._ids)}@{self.transport_id}"

        def legs() -> list[CallInfo]:
            # Leg A rings the caller_id phone; it shows callee_id as the caller (SPEC).
            return [CallInfo(call=CallId(call_id, "a1"), state=CallState.TRYING,
                             transport_id=self.transport_id, type="incoming",
                             caller=self.party_for(params.callee_id), callee=self.party_for(params.caller_id),
                             start_time=self.clock())]

        await self._act("originate_advanced_call", params, legs)
        return CallId(call_id)

    async def answer(self, params: AnswerCallParams, scope: Scope) -> None:
        found = self._find(params.call, params.transport_id, scope)
        await self._act("answer_call", params,
                        lambda: [self._set_state(leg, CallState.CONNECTED) for leg in found])

    async def terminate(self, params: TerminateCallParams, scope: Scope) -> None:
        found = self._find(params.call, params.transport_id, scope)
        await self._act("terminate_call", params,
                        lambda: [self._set_state(leg, CallState.TERMINATED) for leg in found])

    async def hold(self, params: HoldCallParams, scope: Scope) -> None:
        leg = self._find(params.call, params.transport_id, scope)[0]
        await self._act("hold_call", params, lambda: [self._set_state(leg, CallState.HOLDING)] + [
            self._set_state(other, CallState.HELD) for other in self._siblings(leg)])

    async def unhold(self, params: UnholdCallParams, scope: Scope) -> None:
        leg = self._find(params.call, params.transport_id, scope)[0]
        await self._act("unhold_call", params, lambda: [
            self._set_state(x, CallState.CONNECTED) for x in [leg, *self._siblings(leg)]])

    async def transfer(self, params: TransferCallParams, scope: Scope) -> None:
        leg = self._find(params.call, params.transport_id, scope)[0]
        others = self._siblings(leg)
        if not others:
            raise WrongParameters.field("params.call", "the leg has no other party to transfer")

        def legs() -> list[CallInfo]:
            out = [self._set_state(leg, CallState.TERMINATED, reason="blind transfer", reason_code=None)]
            transferee = others[0]
            out.append(CallInfo(call=CallId(transferee.call.id, f"t{next(self._ids)}"),
                                state=CallState.TRYING, transport_id=self.transport_id, type="incoming",
                                caller=transferee.callee if transferee.type == "incoming" else transferee.caller,
                                callee=self.party_for(params.cld), start_time=self.clock()))
            return out

        await self._act("transfer_call", params, legs)

    async def join(self, params: JoinCallsParams, scope: Scope) -> None:
        one = self._find(params.call, params.transport_id, scope)[0]
        two = self._find(params.to_call, params.transport_id, scope)[0]
        await self._act("join_calls", params, lambda: [
            self._set_state(one, CallState.TERMINATED, reason="attended transfer"),
            self._set_state(two, CallState.TERMINATED, reason="attended transfer")])

    async def play_prompt(self, params: PlayPromptParams, scope: Scope) -> None:
        self._find(params.call, params.transport_id, scope)
        await self._act("play_prompt", params, list)

    async def stop_play_prompt(self, params: StopPlayPromptParams, scope: Scope) -> None:
        self._find(params.call, params.transport_id, scope)
        await self._act("stop_play_prompt", params, list)

    async def start_dtmf_detect(self, params: StartDtmfDetectParams, scope: Scope) -> None:
        self._find(params.call, params.transport_id, scope)
        await self._act("start_dtmf_detect", params, list)

    async def stop_dtmf_detect(self, params: StopDtmfDetectParams, scope: Scope) -> None:
        self._find(params.call, params.transport_id, scope)
        await self._act("stop_dtmf_detect", params, list)

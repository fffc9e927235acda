"""An in-memory :class:`~callcontrol.actions.engine.CallEngine` (no SIP, no media).

It exists for the hub's tests and for ``scripts/bench_ws.py``: it behaves like
the B2BUA as far as the API can tell, without placing real calls. Its legs live
in a :class:`~callcontrol.model.calls.CallRegistry` (the same index the API finds
legs in) and change state through ``Call.move``, so every change is published as
a snapshot through the registry's publish hook. A move the leg table does not
allow (holding a ringing leg) is accepted and changes nothing, as a phone that
ignores the request would.

``network_echo=True`` makes it publish the outcome of a command from a foreign
context while the command is still running, the way a SIP answer arriving from
the network would; the API must still answer first.

:attr:`MemoryEngine.actions` records every accepted action as ``(API method,
arguments)``, the arguments named as in the request, so that tests can compare
what was asked with what reached the engine.
"""
from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from callcontrol.actions.errors import InvalidArgument, Unavailable
from callcontrol.model.callinfo import CallInfo, CallState, Party
from callcontrol.model.calls import TRANSITIONS, Call, CallRegistry, Leg

logger = logging.getLogger(__name__)

Effect = Callable[[], None]


class MemoryEngine:
    def __init__(self, registry: CallRegistry, *, transport_id: str = "127.0.0.1:5060",
                 clock: Callable[[], float] = time.time,
                 party_for: Callable[[str], Party] | None = None) -> None:
        self.registry = registry
        self.transport_id = transport_id
        self.clock = clock
        self.party_for = party_for if party_for is not None else (lambda number: Party(id=number))
        self.actions: list[tuple[str, Any]] = []
        self.disabled: set[str] = set()  # API methods this engine refuses (Unavailable)
        self.failing: set[str] = set()  # API methods that fail with an unexpected error
        self.network_echo = False
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ legs

    @property
    def legs(self) -> dict[tuple[str, str], Leg]:
        """The live legs by ``(id, tag)``."""
        return {(leg.call.id, leg.tag): leg for leg in self.registry.live_legs()}

    def add(self, info: CallInfo) -> CallInfo:
        """Put the leg ``info`` names in ``info``'s state (a new leg is created as ``info`` shows it)
        and publish it; returns the published snapshot."""
        if info.state is CallState.TERMINATED and not self.registry.legs_of(info.call.id):
            self.registry.published(info)  # news of a leg we never had: nothing to keep
            return info
        call = self._call_of(info)
        for leg in call.legs:
            if leg.call == info.call and not leg.terminated:
                self.move(leg, info.state, reason=info.reason, reason_code=info.reason_code)
                assert leg.info is not None
                return leg.info
        now = self.clock()
        leg = Leg(call=info.call, sip_call_id=info.call.id, type=info.type, caller=info.caller,
                  callee=info.callee, transport_id=info.transport_id,
                  start_time=info.start_time if info.start_time is not None else now, state=info.state,
                  connect_time=info.connect_time, info=info)
        call.legs.append(leg)
        call.publish(info)
        return info

    def move(self, leg: Leg, state: CallState, **changes: Any) -> bool:
        """Move ``leg`` through its call (published); False when the table does not allow it."""
        if state is not leg.state and state not in TRANSITIONS.get(leg.state, ()):
            logger.debug("memory engine: %s -> %s not simulated", leg.state, state)
            return False
        call = self.registry.call(leg.call.base_id)
        assert call is not None
        return call.move(leg, state, self.clock(), **changes)

    def _call_of(self, info: CallInfo) -> Call:
        base_id = info.call.base_id
        return self.registry.call(base_id) or self.registry.new_call(base_id)

    def _siblings(self, leg: Leg) -> list[Leg]:
        call = self.registry.call(leg.call.base_id)
        return [x for x in call.legs if x is not leg and not x.terminated] if call is not None else []

    def _moves(self, *moves: tuple[Leg, CallState]) -> Effect:
        def effect() -> None:
            for leg, state in moves:
                self.move(leg, state)
        return effect

    def _ends(self, reason: str, *legs: Leg) -> Effect:
        def effect() -> None:
            for leg in legs:
                self.move(leg, CallState.TERMINATED, reason=reason)
        return effect

    async def _act(self, method: str, args: dict[str, Any], effect: Effect | None = None) -> None:
        if method in self.disabled:
            raise Unavailable(f"{method} is switched off")
        if method in self.failing:
            raise RuntimeError(f"simulated failure in {method}")
        self.actions.append((method, SimpleNamespace(**args)))
        if effect is None:
            return
        if not self.network_echo:
            effect()
            return
        # Publish from a foreign (empty) context while this command is still running.
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def from_network() -> None:
            effect()
            done.set_result(None)

        loop.call_soon(from_network, context=contextvars.Context())
        await done

    # ------------------------------------------------------------------ CallEngine

    async def originate(self, *, caller: str, callee: str, auto_answer: bool, bill_to: str) -> str:
        call_id = f"mem-{next(self._ids)}@{self.transport_id}"

        def leg_a() -> None:
            # Leg A rings the caller phone; it shows the callee as the caller (SPEC).
            self.registry.new_call(call_id).add_leg(
                tag="a1", sip_call_id=call_id, type="incoming", caller=self.party_for(callee),
                callee=self.party_for(caller), transport_id=self.transport_id, now=self.clock())

        await self._act("originate_advanced_call", {"bill_id": bill_to, "caller_id": caller, "callee_id": callee,
                                                    "callee_auto_pickup": "Y" if auto_answer else "N"}, leg_a)
        return call_id

    async def answer(self, leg: Leg, mode: str | None) -> None:
        await self._act("answer_call", {"call": leg.call, "callee_answer_mode": mode},
                        self._moves((leg, CallState.CONNECTED)))

    async def terminate(self, leg: Leg) -> None:
        await self._act("terminate_call", {"call": leg.call}, self._ends("terminated by API", leg))

    async def hold(self, leg: Leg) -> None:
        await self._act("hold_call", {"call": leg.call}, self._moves(
            (leg, CallState.HOLDING), *((other, CallState.HELD) for other in self._siblings(leg))))

    async def unhold(self, leg: Leg) -> None:
        await self._act("unhold_call", {"call": leg.call}, self._moves(
            *((x, CallState.CONNECTED) for x in [leg, *self._siblings(leg)])))

    async def transfer(self, leg: Leg, number: str) -> None:
        others = self._siblings(leg)
        if not others:
            raise InvalidArgument("call", "the leg has no other party to transfer")
        transferee = others[0]

        def transferred() -> None:
            # The transferor's leg ends; a new leg to ``number`` keeps the transferee's call id.
            self.move(leg, CallState.TERMINATED, reason="blind transfer", reason_code=None)
            call = self.registry.call(leg.call.base_id)
            assert call is not None
            call.add_leg(tag=f"t{next(self._ids)}", sip_call_id=f"t-{transferee.call.id}", type="incoming",
                         caller=transferee.callee if transferee.type == "incoming" else transferee.caller,
                         callee=self.party_for(number), transport_id=self.transport_id, now=self.clock(),
                         leg_id=transferee.call.id)

        await self._act("transfer_call", {"call": leg.call, "cld": number}, transferred)

    async def join(self, leg: Leg, other: Leg) -> None:
        await self._act("join_calls", {"call": leg.call, "to_call": other.call},
                        self._ends("attended transfer", leg, other))

    async def play_prompt(self, leg: Leg, url: str, order: int, repeat: int) -> None:
        await self._act("play_prompt", {"call": leg.call, "url": url, "order": order, "repeat": repeat})

    async def stop_play_prompt(self, leg: Leg, order: int) -> None:
        await self._act("stop_play_prompt", {"call": leg.call, "order": order})

    async def start_dtmf_detect(self, leg: Leg) -> None:
        await self._act("start_dtmf_detect", {"call": leg.call})

    async def stop_dtmf_detect(self, leg: Leg) -> None:
        await self._act("stop_dtmf_detect", {"call": leg.call})

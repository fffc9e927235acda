"""Call queues in the B2BUA: the adapter of :class:`callcontrol.pbx.queue.QueueMachine`
(docs/pbx.md, "Queues"). ``B2bua.queues`` is a :class:`Queues`.

A dialled call whose route reached a queue joins that queue's machine. Refused (full,
empty) it goes to the queue's failover still unanswered. Taken, its leg A goes ``queued``
(``queue_info``: the queue, its position, the logged-in agents) and is answered by the
server (the media anchored): it hears the bundled music on hold, and every
``announce_every`` s its position (an HTTP prompt, ``{position}`` in the URL replaced, or
the bundled beeps: one per place in the line). Each new position is published.

The machine's ``Ring`` places a leg to the agent (every contact of the account, the
placed-call path, ``outgoing.place``) offering the caller's media; the first to answer is
``Connect``: the caller goes ``dequeued``, the music stops, the agent is seated opposite
it and the caller is re-INVITEd onto the agent's media (what a blind transfer of an IVR
caller does), then ``connected``. ``StopRing`` CANCELs an agent's leg. ``Failover`` (max
wait, leave when empty) routes the queue's failover target for the reason (full -> busy,
timeout -> noanswer, empty -> unreachable) and carries it out; none: the call ends.

A housekeeping tick (every :data:`TICK` s while a queue has callers or busy agents) tells
the machines what they cannot see: an agent logged in (the router finds a contact) and in
use (a live leg of another call), a caller gone, an agent's queue call over; then the
machines' timers (ring time, wrap-up, max wait, announcements).
"""
from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from callcontrol.b2b.anchor import A, B
from callcontrol.b2b.call import B2bCall
from callcontrol.b2b.call_machine import CallEvent, CallPhase
from callcontrol.b2b.leg_media import LegMedia
from callcontrol.b2b.outgoing import place, ring_route
from callcontrol.b2b.reinvite import reinvite
from callcontrol.b2b.routing import RINGING_KINDS, Outcome, Route, RouteKind, Via, next_hop
from callcontrol.b2b.side_machine import HoldRole, SideState
from callcontrol.b2b.sides import Side, UacSide
from callcontrol.model.callinfo import CallState, Party, QueueInfo, RoutingKey
from callcontrol.pbx.queue import (
    Action,
    Announce,
    Connect,
    Failover,
    Position,
    QueueMachine,
    QueueSettings,
    QueueSettingsError,
    Ring,
    StopRing,
    Why,
)
from ivr.echo import Echo
from ivr.g711 import alaw_encode, ulaw_encode
from ivr.moh import MohUnavailable
from ivr.payload import PCMA
from ivr.ports import PortsExhausted
from ivr.prompts import PromptError

logger = logging.getLogger(__name__)

TICK = 0.5  # s between housekeeping ticks while a queue is in use
PROMPT_ORDER = 2
REASON_ANSWERED_ELSEWHERE = "answered elsewhere"
REASON_NO_ANSWER = "no answer"
_OUTCOME = {Why.FULL: Outcome.BUSY, Why.TIMEOUT: Outcome.NOANSWER, Why.EMPTY: Outcome.UNREACHABLE}

RouteTarget = Callable[[str, Via], Route]
PartyOf = Callable[[Route], Party]
Answer = Callable[[B2bCall, Route], Awaitable[bool]]
LegMediaOf = Callable[[Side], LegMedia]
LiveLegs = Callable[[RoutingKey], int]  # how many live legs carry a routing key


def i_c_queue(number: str) -> int:
    """queue_info.i_c_queue: the queue's number (our queues have no other numeric id)."""
    return int(number) if number.isdigit() else 0


@dataclass(slots=True, eq=False)
class Waiting:
    """One caller in a queue: its call, the route that brought it, the agents rung for it."""

    call: B2bCall
    route: Route
    rings: dict[str, list[UacSide]] = field(default_factory=dict)
    answered: bool = False


@dataclass(slots=True, eq=False)
class QueueState:
    route: Route
    machine: QueueMachine
    waiting: dict[str, Waiting] = field(default_factory=dict)
    talking: dict[str, Side] = field(default_factory=dict)  # agent -> its answered leg
    # dequeued callers seated with their agent, waiting for their own leg's ACK to be re-INVITEd
    bridging: dict[str, tuple[B2bCall, Side]] = field(default_factory=dict)
    agent_accounts: dict[str, int | None] = field(default_factory=dict)


class Queues:
    """Every call queue's machine and callers (``B2bua.queues``)."""

    def __init__(self, *, route_target: RouteTarget, party_of: PartyOf, answer: Answer, leg_media: LegMediaOf,
                 live_legs: LiveLegs, wall: Callable[[], float]) -> None:
        self.route_target = route_target
        self.party_of = party_of
        self.answer = answer
        self.leg_media = leg_media
        self.live_legs = live_legs
        self.wall = wall
        self.queues: dict[str, QueueState] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- intake ----------------------------------------------------------------------------
    def take(self, call: B2bCall, route: Route) -> None:
        queue = route.pbx
        try:
            state = self._state(route)
        except QueueSettingsError as exc:
            call.reject(480, "Temporarily Unavailable", reason=f"queue {queue.number}: {exc}")
            return
        key = call.call.id
        # A queue's failover can be another queue: that caller is answered already (and hears
        # the music), it is only moved to the new queue.
        answered = call.a is not None and call.a.incoming.final_sent
        state.waiting[key] = Waiting(call, route, answered=answered)
        self._presence(state)
        self._carry(state, state.machine.join(key, self.wall()))
        self._arm()

    def _state(self, route: Route) -> QueueState:
        queue = route.pbx
        state = self.queues.get(queue.number)
        if state is None or state.route.pbx != queue:
            settings = QueueSettings.from_spec(queue.settings)
            if state is not None and (state.waiting or state.talking):
                state.route = route  # settings changed under live callers: keep the machine
            else:
                state = self.queues[queue.number] = QueueState(route, QueueMachine(settings, self.wall()))
        return state

    # -- carrying the machine's actions out ---------------------------------------------------
    def _carry(self, state: QueueState, actions: list[Action]) -> None:
        for action in actions:
            try:
                self._do(state, action)
            except Exception:
                logger.exception("queue %s: %s failed", state.route.number, action)

    def _do(self, state: QueueState, action: Action) -> None:
        number = state.route.number
        if isinstance(action, Position):
            w = state.waiting.get(action.caller)
            if w is None or w.call.a is None:
                return
            a = w.call.a
            a.model.move(a.leg, CallState.QUEUED, self.wall(),
                         queue_info=QueueInfo(i_c_queue(number), action.position, action.operators))
            if not w.answered:
                w.answered = True
                self._spawn(self._answer(state, w))
        elif isinstance(action, Ring):
            self._ring(state, action.agent, action.caller)
        elif isinstance(action, StopRing):
            w = state.waiting.get(action.caller)
            sides = w.rings.pop(action.agent, []) if w is not None else []
            for side in sides:
                if side.call is not None and not side.ended:
                    side.call.drop(side, REASON_NO_ANSWER)
        elif isinstance(action, Connect):
            self._connect(state, action.agent, action.caller)
        elif isinstance(action, Failover):
            w = state.waiting.pop(action.caller, None)
            if w is not None:
                self._failover(w, action.why)
        elif isinstance(action, Announce):
            w = state.waiting.get(action.caller)
            if w is not None and w.call.a is not None and not w.call.ending:
                self._spawn(self._announce(state, w.call.a, action.position))

    async def _answer(self, state: QueueState, w: Waiting) -> None:
        call = w.call
        if not await self.answer(call, w.route):
            return
        a = call.a
        if a is None or a.ended:
            return
        try:
            self.leg_media(a).start_moh()
        except MohUnavailable as exc:
            logger.info("call %s: queue %s: no music on hold: %s", call.call.id, state.route.number, exc)

    def _ring(self, state: QueueState, agent: str, caller: str) -> None:
        w = state.waiting.get(caller)
        call = w.call if w is not None else None
        if w is None or call is None or call.ending or call.a is None or call.media is None:
            self._carry(state, state.machine.agent_failed(agent, caller, self.wall()))
            return
        a = call.a
        route = self.route_target(agent, Via(w.route.path, w.route.forwarders))
        if route.kind not in RINGING_KINDS or not route.targets:
            self._carry(state, state.machine.agent_failed(agent, caller, self.wall()))
            return
        if call.phase is CallPhase.IVR:
            call.fire(CallEvent.TRANSFER)  # legs are placed for the caller (a transferee's path)
        media = call.media
        machine = state.machine

        def answered(new: UacSide) -> None:
            actions = machine.answered(agent, caller, self.wall())
            if any(isinstance(x, Connect) for x in actions):
                state.talking[agent] = new
                w.rings.pop(agent, None)
            else:
                if new.call is not None:
                    new.call.drop(new, REASON_ANSWERED_ELSEWHERE)
            self._carry(state, actions)

        def failed(new: UacSide, status: int, phrase: str) -> None:
            if w.rings.get(agent) is not group:
                return  # a ring we stopped ourselves
            w.rings.pop(agent, None)
            logger.info("call %s: queue %s: agent %s: %d %s", call.call.id, state.route.number, agent, status, phrase)
            self._carry(state, machine.agent_failed(agent, caller, self.wall()))

        group = place(call, B, route.targets, caller=a.leg.caller, callee=self.party_of(route),
                      body=media.relay_offer(A, B), from_user=a.leg.caller.id,
                      from_display=a.leg.caller.display_name, leg_id=a.leg.call.id, model=a.model,
                      on_answer=answered, on_fail=failed)
        w.rings[agent] = group

    def _connect(self, state: QueueState, agent: str, caller: str) -> None:
        w = state.waiting.pop(caller, None)
        new = state.talking.get(agent)
        if w is None or new is None:
            return
        call = w.call
        a = call.a
        assert a is not None and call.media is not None
        shown = a.leg.queue_info
        a.model.move(a.leg, CallState.DEQUEUED, self.wall(), queue_info=QueueInfo(
            i_c_queue(state.route.number), 0, shown.operators if shown is not None else state.machine.operators))
        control = a.media_control
        if control is not None:
            control.stop_moh()
            control.stop_prompt(PROMPT_ORDER)
        call.seat(new)
        if call.phase is CallPhase.TRANSFERRING:
            call.fire(CallEvent.CONNECTED)
        state.bridging[caller] = (call, new)
        self._bridge(state, caller)

    def _bridge(self, state: QueueState, caller: str) -> None:
        """Re-INVITE the dequeued caller onto its agent's media once its leg is confirmed: an
        agent may answer before the caller's ACK of our 200 is in (or before that 200 went
        out), and no re-INVITE may start on the dialog until then (RFC 3261 §14.1; RFC 5407
        §3.1.5); the tick tries again."""
        call, new = state.bridging[caller]
        a = call.a
        if call.ending or a is None or a.ended or new.ended or call.media is None:
            del state.bridging[caller]
            return
        if a.state is not SideState.CONFIRMED:
            return
        del state.bridging[caller]

        def bridged(status: int, phrase: str) -> None:
            if a.call is None or a.ended:
                return
            if status >= 300:
                logger.info("call %s: queue %s: re-INVITE onto agent failed: %d %s", call.call.id,
                            state.route.number, status, phrase)
                call.hangup(f"queue {state.route.number}: bridge to the agent failed: {status} {phrase}")
                return
            a.model.move(a.leg, CallState.CONNECTED, self.wall())
            call.set_hold(a, HoldRole.NONE)

        reinvite(call, a, call.media.relay_offer(new.index, a.index), bridged)

    def _failover(self, w: Waiting, why: Why) -> None:
        call = w.call
        if call.ending:
            return
        for sides in w.rings.values():
            for side in sides:
                if side.call is not None and not side.ended:
                    side.call.drop(side, REASON_ANSWERED_ELSEWHERE)
        w.rings.clear()
        number = w.route.number
        hop = next_hop(w.route, _OUTCOME[why])
        logger.info("call %s: queue %s: %s, failover %s", call.call.id, number, why.value,
                    hop[0] if hop is not None else "none")
        if hop is None:
            call.hangup(f"queue {number}: {why.value}", 480 if why is not Why.FULL else 486)
            return
        route = self.route_target(*hop)
        a = call.a
        if not w.answered:
            # Still unanswered (refused at the door): the failover is routed as a dialled call's.
            if route.kind in RINGING_KINDS:
                ring_route(call, route)
            elif route.kind is RouteKind.QUEUE:
                self.take(call, route)
            elif route.kind is RouteKind.REJECT:
                call.reject(route.status, route.reason, reason=route.reason)
            else:
                call.ctx.answer_here(call, route)
            return
        assert a is not None
        control = a.media_control
        if route.kind is RouteKind.QUEUE:
            self.take(call, route)
        elif route.kind in RINGING_KINDS:
            self._transfer(call, a, route)
        elif route.kind is RouteKind.ECHO and call.media is not None:
            if control is not None:
                control.stop_moh()
            Echo(call.media.endpoint(a.index))
        elif route.kind is RouteKind.REJECT:
            call.hangup(route.reason, route.status)
        else:
            call.hangup(f"{route.kind.value} {route.number} is not reachable from a queue", 480)

    def _transfer(self, call: B2bCall, a: Side, route: Route) -> None:
        """Ring the failover's first stage for the (answered) caller; bridge it when it answers."""
        media = call.media
        assert media is not None

        def answered(new: UacSide) -> None:
            control = a.media_control
            if control is not None:
                control.stop_moh()
            call.seat(new)
            if call.phase is CallPhase.TRANSFERRING:
                call.fire(CallEvent.CONNECTED)

            def bridged(status: int, phrase: str) -> None:
                if a.call is not None and not a.ended:
                    if a.leg.state in (CallState.QUEUED, CallState.DEQUEUED):
                        if a.leg.state is CallState.QUEUED:
                            a.model.move(a.leg, CallState.DEQUEUED, self.wall(), queue_info=a.leg.queue_info)
                        a.model.move(a.leg, CallState.CONNECTED, self.wall())
                    call.set_hold(a, HoldRole.NONE)

            reinvite(call, a, media.relay_offer(new.index, a.index), bridged)

        def failed(new: UacSide, status: int, phrase: str) -> None:
            call.hangup(phrase, status)

        if call.phase is CallPhase.IVR:
            call.fire(CallEvent.TRANSFER)
        caller = a.leg.caller
        place(call, B, route.targets, caller=caller, callee=self.party_of(route), body=media.relay_offer(A, B),
              from_user=caller.id, from_display=caller.display_name, leg_id=a.leg.call.id, model=a.model,
              on_answer=answered, on_fail=failed)

    async def _announce(self, state: QueueState, a: Side, position: int) -> None:
        try:
            control = self.leg_media(a)
        except PortsExhausted:  # the call's media closed (it ended meanwhile)
            return
        url = state.machine.settings.announce_url
        try:
            if url:
                await control.play_prompt(url.replace("{position}", str(position)), PROMPT_ORDER, quiet=True)
            else:
                codec = control.endpoint.facts.g711_codecs()
                if codec:
                    control.play_audio(beeps(position, codec[0]), codec[0], PROMPT_ORDER)
        except (PromptError, ValueError) as exc:
            logger.warning("queue %s: announcement: %s", state.route.number, exc)

    # -- housekeeping ----------------------------------------------------------------------------
    def _arm(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(TICK, self._tick)

    def _tick(self) -> None:
        self._timer = None
        now = self.wall()
        busy = False
        for state in list(self.queues.values()):
            machine = state.machine
            for key, w in list(state.waiting.items()):
                a = w.call.a
                if w.call.ending or a is None or a.ended:
                    state.waiting.pop(key, None)
                    self._carry(state, machine.leave(key, now))
            for key in list(state.bridging):
                self._bridge(state, key)
            for agent, side in list(state.talking.items()):
                if side.ended:
                    del state.talking[agent]
                    self._carry(state, machine.agent_done(agent, now))
            self._presence(state)
            self._carry(state, machine.tick(now))
            busy = busy or bool(state.waiting or state.talking or state.bridging or machine.next_deadline(now) is not None)
        if busy:
            self._arm()

    def _presence(self, state: QueueState) -> None:
        """Logged in: the router finds the agent a contact. In use: a live leg of the agent's
        that is not the queue's own call with it."""
        now = self.wall()
        machine = state.machine
        for agent in machine.settings.agents:
            route = self.route_target(agent, Via(state.route.path, ()))
            logged_in = route.kind in RINGING_KINDS and bool(route.targets)
            i_account = route.account.i_account if route.account is not None else None
            own = 0
            if agent in state.talking:
                own = 1
            for w in state.waiting.values():
                own += len(w.rings.get(agent, ()))
            in_use = i_account is not None and self.live_legs(("i_account", i_account)) > own
            self._carry(state, machine.presence(agent, logged_in=logged_in, in_use=in_use, now=now))

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in list(self._tasks):
            task.cancel()


def beeps(count: int, codec: str, rate: int = 8000) -> bytes:
    """The bundled position announcement: ``count`` short 1 kHz beeps (0.15 s, 0.15 s apart),
    at most 10, in G.711 ``codec`` (no speech engine is bundled)."""
    samples: list[int] = []
    tone = int(rate * 0.15)
    for _ in range(max(1, min(count, 10))):
        samples.extend(int(8000 * math.sin(2 * math.pi * 1000 * i / rate)) for i in range(tone))
        samples.extend(0 for _ in range(tone))
    return alaw_encode(samples) if codec == PCMA else ulaw_encode(samples)

"""A call queue as a sans-I/O machine (``setQueue`` semantics; docs/pbx.md, "Queues").

Callers wait in order of arrival; agents (accounts) are offered to them by the queue's
ring strategy. Nothing here sends SIP, plays audio or reads a clock: every input carries
``now`` and returns the actions the adapter (``callcontrol.b2b.queue``) carries out, and
:meth:`QueueMachine.next_deadline` says when :meth:`QueueMachine.tick` is due.

Agent states: ``idle`` (may be rung, unless resting after a failed ring for ``retry`` s),
``ringing`` (for one caller, at most ``agent_ring_time`` s), ``busy`` (talking to a queue
caller), ``wrapup`` (``wrapup`` s after that call). Besides its state an agent is
*logged in* (reachable: it has a registered contact) or not, and *in use* (on a call that
is not the queue's) or not; only a logged-in agent not in use is rung.

Empty queues: the *members* are the logged-in agents; a member in use is *unavailable*.
``join_when_empty``: ``yes`` callers always join; ``no`` not without members; ``strict``
not without an available member. ``leave_when_empty`` the same for callers already
waiting (``no``: they stay). A caller refused or sent away goes to failover with a
:class:`Why`: ``full`` (``max_callers`` waiting), ``timeout`` (``max_wait`` s), ``empty``.
"""
from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Action", "Agent", "AgentState", "Announce", "Caller", "Connect", "Empty", "Failover", "Position",
           "QueueMachine", "QueueSettings", "QueueSettingsError", "Ring", "StopRing", "Strategy", "Why"]


class Strategy(enum.StrEnum):
    RINGALL = "ringall"  # every free agent rings for the first waiting caller
    ROUNDROBIN = "roundrobin"  # one agent per caller, the next in list order after the last rung
    LONGESTIDLE = "longestidle"  # one agent per caller, the one idle the longest


class Empty(enum.StrEnum):
    YES = "yes"
    NO = "no"
    STRICT = "strict"


class AgentState(enum.StrEnum):
    IDLE = "idle"
    RINGING = "ringing"
    BUSY = "busy"
    WRAPUP = "wrapup"


class Why(enum.StrEnum):
    """Why a caller went to failover (the queue's failover keys: busy, noanswer, unreachable)."""

    FULL = "full"
    TIMEOUT = "timeout"
    EMPTY = "empty"


class QueueSettingsError(ValueError):
    """A queue setting out of range, naming the key."""


def _seconds(spec: Mapping[str, Any], key: str, default: float | None, low: float = 0) -> float | None:
    value = spec.get(key, default)
    if value is None or value in ("none", "unlimited"):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise QueueSettingsError(f"queue setting {key}: {value!r} is not a number of seconds") from None
    if number < low:
        raise QueueSettingsError(f"queue setting {key}: {value!r} is below {low:g}")
    return number


def _choice(spec: Mapping[str, Any], key: str, kind: type[enum.StrEnum], default: enum.StrEnum) -> Any:
    value = spec.get(key, default)
    if isinstance(value, bool):
        value = "yes" if value else "no"
    try:
        return kind(str(value).lower())
    except ValueError:
        raise QueueSettingsError(f"queue setting {key}: {value!r} is not one of "
                                 f"{', '.join(m.value for m in kind)}") from None  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class QueueSettings:
    agents: tuple[str, ...]
    strategy: Strategy = Strategy.RINGALL
    agent_ring_time: float = 15.0
    wrapup: float = 0.0
    retry: float = 5.0  # an agent that did not answer is not rung again for this long
    max_wait: float | None = None
    max_callers: int | None = None
    join_when_empty: Empty = Empty.YES
    leave_when_empty: Empty = Empty.NO
    announce_every: float | None = None  # seconds between position announcements (None: none)
    announce_url: str | None = None  # an HTTP prompt ({position} replaced); None: the bundled beeps

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> QueueSettings:
        """The settings as stored (``pbx_numbers.spec``): ``agents`` ("1001,1002" or a list)
        and the optional keys of this class; a bad value raises naming its key."""
        agents = spec.get("agents", ())
        if isinstance(agents, str):
            agents = [a.strip() for a in agents.split(",")]
        agents = tuple(dict.fromkeys(str(a) for a in agents if str(a)))
        if not agents:
            raise QueueSettingsError("queue setting agents: at least one agent account")
        max_callers = spec.get("max_callers")
        if max_callers in ("unlimited", "none"):
            max_callers = None
        if max_callers is not None:
            if isinstance(max_callers, bool) or not str(max_callers).isdigit() or int(max_callers) < 1:
                raise QueueSettingsError(f"queue setting max_callers: {max_callers!r} is not a whole number >= 1")
            max_callers = int(max_callers)
        ring = _seconds(spec, "agent_ring_time", 15.0, low=1)
        url = spec.get("announce_url")
        return cls(agents=agents, strategy=_choice(spec, "strategy", Strategy, Strategy.RINGALL),
                   agent_ring_time=ring if ring is not None else 15.0,
                   wrapup=_seconds(spec, "wrapup", 0.0) or 0.0,
                   retry=_seconds(spec, "retry", 5.0) or 0.0,
                   max_wait=_seconds(spec, "max_wait", None, low=1), max_callers=max_callers,
                   join_when_empty=_choice(spec, "join_when_empty", Empty, Empty.YES),
                   leave_when_empty=_choice(spec, "leave_when_empty", Empty, Empty.NO),
                   announce_every=_seconds(spec, "announce_every", None, low=1),
                   announce_url=str(url) if url else None)


# -- actions ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Position:
    """The caller waits at ``position`` (1 = next) with ``operators`` logged-in agents: publish
    it (``queued`` with queue_info); sent on joining and whenever either number changes."""

    caller: str
    position: int
    operators: int


@dataclass(frozen=True, slots=True)
class Ring:
    agent: str
    caller: str


@dataclass(frozen=True, slots=True)
class StopRing:
    """CANCEL the agent's ring for the caller (timed out, answered elsewhere, the caller left)."""

    agent: str
    caller: str


@dataclass(frozen=True, slots=True)
class Connect:
    """The agent answered: the caller leaves the queue (``dequeued``) and is bridged to it."""

    agent: str
    caller: str


@dataclass(frozen=True, slots=True)
class Failover:
    caller: str
    why: Why


@dataclass(frozen=True, slots=True)
class Announce:
    caller: str
    position: int


Action = Position | Ring | StopRing | Connect | Failover | Announce


@dataclass(slots=True)
class Agent:
    id: str
    state: AgentState = AgentState.IDLE
    logged_in: bool = True
    in_use: bool = False
    idle_since: float = 0.0
    rest_until: float = 0.0  # wrap-up end (WRAPUP) or the retry pause (IDLE)
    ringing_for: str | None = None
    ring_deadline: float = 0.0

    def free(self, now: float) -> bool:
        return (self.state is AgentState.IDLE and self.logged_in and not self.in_use
                and now >= self.rest_until)


@dataclass(slots=True)
class Caller:
    id: str
    joined: float
    deadline: float | None
    next_announce: float | None
    ringing: list[str] = field(default_factory=list)
    shown: tuple[int, int] | None = None  # (position, operators) last published


class QueueMachine:
    """One queue's callers and agents."""

    __slots__ = ("_last", "agents", "callers", "settings")

    def __init__(self, settings: QueueSettings, now: float) -> None:
        self.settings = settings
        self.agents: dict[str, Agent] = {a: Agent(a, idle_since=now) for a in settings.agents}
        self.callers: list[Caller] = []
        self._last = -1  # round robin: index in settings.agents of the agent rung last

    # -- queries ---------------------------------------------------------------------------
    def position(self, caller: str) -> int | None:
        for i, c in enumerate(self.callers):
            if c.id == caller:
                return i + 1
        return None

    @property
    def operators(self) -> int:
        return sum(1 for a in self.agents.values() if a.logged_in)

    def _empty(self, rule: Empty) -> bool:
        if rule is Empty.NO or rule is Empty.YES:
            return self.operators == 0
        return not any(a.logged_in and not a.in_use for a in self.agents.values())

    def next_deadline(self, now: float) -> float | None:
        """When :meth:`tick` is next due (None: nothing is timed)."""
        times: list[float] = []
        for a in self.agents.values():
            if a.state is AgentState.RINGING:
                times.append(a.ring_deadline)
            elif a.state is AgentState.WRAPUP or (a.state is AgentState.IDLE and a.rest_until > now):
                times.append(a.rest_until)
        for c in self.callers:
            if c.deadline is not None:
                times.append(c.deadline)
            if c.next_announce is not None:
                times.append(c.next_announce)
        return min(times) if times else None

    # -- inputs ----------------------------------------------------------------------------
    def join(self, caller: str, now: float) -> list[Action]:
        s = self.settings
        if s.max_callers is not None and len(self.callers) >= s.max_callers:
            return [Failover(caller, Why.FULL)]
        if s.join_when_empty is not Empty.YES and self._empty(s.join_when_empty):
            return [Failover(caller, Why.EMPTY)]
        every = s.announce_every
        self.callers.append(Caller(caller, now, now + s.max_wait if s.max_wait is not None else None,
                                   now + every if every is not None else None))
        return self._settle(now)

    def leave(self, caller: str, now: float) -> list[Action]:
        """The caller hung up (or the adapter took it out)."""
        found = self._take(caller)
        if found is None:
            return []
        return self._release(found) + self._settle(now)

    def answered(self, agent: str, caller: str, now: float) -> list[Action]:
        a = self.agents.get(agent)
        found = next((c for c in self.callers if c.id == caller), None)
        if a is None or found is None or a.ringing_for != caller:
            return [StopRing(agent, caller)]  # too late (the caller left or was taken): the adapter hangs it up
        self.callers.remove(found)
        found.ringing.remove(agent)
        a.state, a.ringing_for = AgentState.BUSY, None
        out: list[Action] = [Connect(agent, caller)]
        return out + self._release(found) + self._settle(now)

    def agent_failed(self, agent: str, caller: str, now: float) -> list[Action]:
        """The agent's phone refused, or could not be reached: rest it for ``retry`` s."""
        a = self.agents.get(agent)
        if a is None or a.ringing_for != caller:
            return []
        self._unring(a, now, rest=True)
        return self._settle(now)

    def agent_done(self, agent: str, now: float) -> list[Action]:
        """The agent's queue call ended: wrap-up, then idle."""
        a = self.agents.get(agent)
        if a is None or a.state is not AgentState.BUSY:
            return []
        if self.settings.wrapup > 0:
            a.state, a.rest_until = AgentState.WRAPUP, now + self.settings.wrapup
        else:
            a.state, a.idle_since, a.rest_until = AgentState.IDLE, now, now
        return self._settle(now)

    def presence(self, agent: str, *, logged_in: bool, in_use: bool, now: float) -> list[Action]:
        """What the registrar and the other calls say of the agent."""
        a = self.agents.get(agent)
        if a is None or (a.logged_in, a.in_use) == (logged_in, in_use):
            return []
        a.logged_in, a.in_use = logged_in, in_use
        return self._settle(now)

    def tick(self, now: float) -> list[Action]:
        out: list[Action] = []
        for a in self.agents.values():
            if a.state is AgentState.RINGING and a.ring_deadline <= now:
                out.append(StopRing(a.id, a.ringing_for or ""))
                self._unring(a, now, rest=True)
            elif a.state is AgentState.WRAPUP and a.rest_until <= now:
                a.state, a.idle_since = AgentState.IDLE, a.rest_until
        for c in list(self.callers):
            if c.deadline is not None and c.deadline <= now:
                self.callers.remove(c)
                out += self._release(c)
                out.append(Failover(c.id, Why.TIMEOUT))
        leave = self.settings.leave_when_empty
        if leave is not Empty.NO and self.callers and self._empty(leave):
            for c in self.callers:
                out += self._release(c)
                out.append(Failover(c.id, Why.EMPTY))
            self.callers.clear()
        every = self.settings.announce_every
        for i, c in enumerate(self.callers):
            if c.next_announce is not None and every is not None and c.next_announce <= now:
                out.append(Announce(c.id, i + 1))
                while c.next_announce <= now:
                    c.next_announce += every
        return out + self._settle(now)

    # -- internals -------------------------------------------------------------------------
    def _take(self, caller: str) -> Caller | None:
        for c in self.callers:
            if c.id == caller:
                self.callers.remove(c)
                return c
        return None

    def _unring(self, a: Agent, now: float, *, rest: bool) -> None:
        caller = a.ringing_for
        if caller is not None:
            for c in self.callers:
                if c.id == caller and a.id in c.ringing:
                    c.ringing.remove(a.id)
        a.state, a.ringing_for = AgentState.IDLE, None
        if rest:
            a.rest_until = now + self.settings.retry

    def _release(self, c: Caller) -> list[Action]:
        """Stop every ring still out for a caller that left the queue (the agents are idle again)."""
        out: list[Action] = []
        for agent in list(c.ringing):
            a = self.agents[agent]
            out.append(StopRing(agent, c.id))
            a.state, a.ringing_for = AgentState.IDLE, None
        c.ringing.clear()
        return out

    def _settle(self, now: float) -> list[Action]:
        return self._dispatch(now) + self._positions()

    def _dispatch(self, now: float) -> list[Action]:
        out: list[Action] = []
        strategy = self.settings.strategy
        for c in self.callers:
            if strategy is Strategy.RINGALL:
                free = [a for a in self.agents.values() if a.free(now)]
            elif c.ringing:
                continue
            else:
                pick = self._round_robin(now) if strategy is Strategy.ROUNDROBIN else self._longest_idle(now)
                free = [pick] if pick is not None else []
            if not free:
                break  # nobody left to ring
            for a in free:
                a.state, a.ringing_for = AgentState.RINGING, c.id
                a.ring_deadline = now + self.settings.agent_ring_time
                c.ringing.append(a.id)
                out.append(Ring(a.id, c.id))
        return out

    def _round_robin(self, now: float) -> Agent | None:
        order = self.settings.agents
        for step in range(1, len(order) + 1):
            i = (self._last + step) % len(order)
            a = self.agents[order[i]]
            if a.free(now):
                self._last = i
                return a
        return None

    def _longest_idle(self, now: float) -> Agent | None:
        free = [a for a in self.agents.values() if a.free(now)]
        return min(free, key=lambda a: a.idle_since) if free else None

    def _positions(self) -> list[Action]:
        out: list[Action] = []
        operators = self.operators
        for i, c in enumerate(self.callers):
            shown = (i + 1, operators)
            if c.shown != shown:
                c.shown = shown
                out.append(Position(c.id, i + 1, operators))
        return out

"""Hunting: what a dialled call's leg B rings next (docs/pbx.md).

Sans-I/O, like the machines: a :class:`Hunt` holds one call's ringing route (its stages of
endpoints, its failover) and what its forks did; it answers with a :class:`Next` step and
``callcontrol.b2b.outgoing`` carries it out (INVITEs, the per-endpoint ring timers, routing
a failover target through the call's context).

- :meth:`Hunt.start` rings the route's first stage;
- every fork's final failure is :meth:`Hunt.fork_failed` (a fork whose ring time ran out
  and that we CANCELled was :meth:`Hunt.gave_up` first: its 487 is *no answer*);
- once no fork of the stage is pending, :meth:`Hunt.stage_done` says: ring the next
  stage, follow the failover for the route's outcome (``next_hop``), or fail leg A with
  the best final response;
- a failover's new ringing route is :meth:`Hunt.follow` (the path and forwarders travel
  with the route itself).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from callcontrol.b2b.routing import Outcome, Route, Stage, Via, combined_outcome, next_hop, outcome_of

REASON_NO_ANSWER = "no answer"


class Step(enum.Enum):
    RING = "ring"  # INVITE every endpoint of ``stage``
    FOLLOW = "follow"  # route ``target`` with ``via``: the failover of the route's outcome
    FAIL = "fail"  # leg A gets ``status`` ``phrase``


@dataclass(slots=True, frozen=True)
class Next:
    step: Step
    stage: Stage = ()
    target: str = ""
    via: Via | None = None
    status: int = 0
    phrase: str = ""


def best_failure(failures: list[tuple[int, str]]) -> tuple[int, str]:
    """The answer for A when every fork failed (§16.7 in spirit): a 6xx wins, then 4xx, 5xx."""
    if not failures:
        return 480, "Temporarily Unavailable"

    def rank(item: tuple[int, str]) -> tuple[int, int]:
        status = item[0]
        klass = status // 100
        order = {6: 0, 4: 1, 5: 2, 3: 3}.get(klass, 4)
        # 408/487 say less than a real refusal from another fork.
        return order, 1 if status in (408, 487) else 0

    return min(failures, key=rank)


class Hunt:
    """One call's progress through its ringing route."""

    __slots__ = ("_gave_up", "failures", "offer", "outcomes", "refusals", "route", "stage")

    def __init__(self, route: Route, offer: bytes = b"") -> None:
        self.route = route
        self.offer = offer  # leg A's SDP as every fork is offered it
        self.stage = -1  # index of the stage ringing now
        self.outcomes: list[Outcome] = []  # of every fork of this route that failed
        self.failures: list[tuple[int, str]] = []  # their final responses (not our own CANCELs)
        self._gave_up: set[str] = set()  # fork tags we CANCELled after their ring time
        # Every phone's final error, on every route the call took (the CDRs' callee refusals).
        self.refusals: list[tuple[int, str]] = []

    def start(self) -> Next:
        return self._advance()

    def follow(self, route: Route) -> Next:
        """A failover led to another ringing route: hunt through it from its first stage."""
        self.route = route
        self.stage = -1
        self.outcomes = []
        self.failures = []
        return self._advance()

    def gave_up(self, tag: str) -> None:
        """The fork ``tag`` rang its ring time: we CANCEL it, its failure is *no answer*."""
        self._gave_up.add(tag)

    def gave_up_on(self, tag: str) -> bool:
        return tag in self._gave_up

    def fork_failed(self, tag: str, status: int, phrase: str) -> None:
        gave_up = tag in self._gave_up
        self.outcomes.append(outcome_of(status, gave_up=gave_up))
        if not gave_up:
            self.failures.append((status, phrase))
            self.refusals.append((status, phrase))

    def stage_done(self) -> Next:
        """No fork of the current stage is pending any more (none answered)."""
        return self._advance()

    def _advance(self) -> Next:
        stages = self.route.ring_stages()
        self.stage += 1
        if self.stage < len(stages):
            return Next(Step.RING, stage=stages[self.stage])
        outcome = combined_outcome(self.outcomes) if self.outcomes else Outcome.UNREACHABLE
        hop = next_hop(self.route, outcome)
        if hop is not None:
            return Next(Step.FOLLOW, target=hop[0], via=hop[1])
        if outcome is Outcome.NOANSWER:
            return Next(Step.FAIL, status=480, phrase=REASON_NO_ANSWER)
        status, phrase = best_failure(self.failures)
        return Next(Step.FAIL, status=status, phrase=phrase)

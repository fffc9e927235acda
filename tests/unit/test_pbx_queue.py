"""The call-queue machine (callcontrol/pbx/queue.py) against a fake clock: no sockets, no loop."""
from __future__ import annotations

import pytest

from callcontrol.pbx.queue import (
    AgentState,
    Announce,
    Connect,
    Empty,
    Failover,
    Position,
    QueueMachine,
    QueueSettings,
    QueueSettingsError,
    Ring,
    StopRing,
    Strategy,
    Why,
)


def machine(**kw: object) -> QueueMachine:
    spec = {"agents": "1001,1002", **kw}
    return QueueMachine(QueueSettings.from_spec(spec), 0.0)


def test_settings_from_spec_and_defaults() -> None:
    s = QueueSettings.from_spec({"agents": "1001, 1002,1001", "max_wait": 300, "max_callers": "10",
                                 "join_when_empty": "No", "announce_every": 30, "strategy": "roundrobin"})
    assert s.agents == ("1001", "1002") and s.max_wait == 300 and s.max_callers == 10
    assert s.join_when_empty is Empty.NO and s.leave_when_empty is Empty.NO and s.announce_every == 30
    assert s.strategy is Strategy.ROUNDROBIN and s.agent_ring_time == 15 and s.wrapup == 0
    assert QueueSettings.from_spec({"agents": ["1001"], "max_wait": "unlimited"}).max_wait is None


@pytest.mark.parametrize(("spec", "message"), [
    ({"agents": ""}, "queue setting agents: at least one agent account"),
    ({"agents": "1", "max_wait": "soon"}, "queue setting max_wait: 'soon' is not a number of seconds"),
    ({"agents": "1", "max_callers": 0}, "queue setting max_callers: 0 is not a whole number >= 1"),
    ({"agents": "1", "strategy": "random"}, "queue setting strategy: 'random' is not one of ringall, roundrobin, "
                                            "longestidle"),
    ({"agents": "1", "join_when_empty": "maybe"}, "queue setting join_when_empty: 'maybe' is not one of yes, no, "
                                                  "strict"),
    ({"agents": "1", "agent_ring_time": 0}, "queue setting agent_ring_time: 0 is below 1"),
])
def test_bad_settings_name_their_key(spec: dict, message: str) -> None:
    with pytest.raises(QueueSettingsError) as info:
        QueueSettings.from_spec(spec)
    assert str(info.value) == message


def test_callers_wait_in_order_with_positions_and_the_first_is_connected_when_an_agent_frees() -> None:
    q = machine()
    for agent in ("1001", "1002"):
        assert q.presence(agent, logged_in=True, in_use=True, now=0) == []
    assert q.join("c1", 1) == [Position("c1", 1, 2)]
    assert q.join("c2", 2) == [Position("c2", 2, 2)]
    # 1002 hangs up its other call: it rings for the first caller only (ring-all)
    assert q.presence("1002", logged_in=True, in_use=False, now=3) == [Ring("1002", "c1")]
    assert q.answered("1002", "c1", 4) == [Connect("1002", "c1"), Position("c2", 1, 2)]
    assert q.agents["1002"].state is AgentState.BUSY
    assert q.agent_done("1002", 10) == [Ring("1002", "c2")]


def test_ring_all_rings_every_free_agent_and_cancels_the_others_on_answer() -> None:
    q = machine()
    assert q.join("c1", 0) == [Ring("1001", "c1"), Ring("1002", "c1"), Position("c1", 1, 2)]
    assert q.join("c2", 0) == [Position("c2", 2, 2)]
    assert q.answered("1001", "c1", 1) == [Connect("1001", "c1"), StopRing("1002", "c1"), Ring("1002", "c2"),
                                           Position("c2", 1, 2)]


def test_round_robin_and_longest_idle_ring_one_agent_per_caller() -> None:
    q = machine(strategy="roundrobin")
    assert q.join("c1", 0) == [Ring("1001", "c1"), Position("c1", 1, 2)]
    assert q.join("c2", 0) == [Ring("1002", "c2"), Position("c2", 2, 2)]
    q.answered("1001", "c1", 1)
    q.answered("1002", "c2", 1)
    q.agent_done("1002", 2)
    q.agent_done("1001", 3)
    assert q.join("c3", 4) == [Ring("1001", "c3"), Position("c3", 1, 2)]  # the next after 1002
    q = machine(strategy="longestidle")
    q.join("c1", 0)
    q.answered("1001", "c1", 1)
    q.join("c2", 1)
    q.answered("1002", "c2", 1)
    q.agent_done("1002", 2)
    q.agent_done("1001", 3)
    assert q.join("c3", 4)[0] == Ring("1002", "c3")  # idle since 2, 1001 only since 3


def test_agent_ring_timeout_rests_the_agent_then_rings_again() -> None:
    q = machine(agents="1001", agent_ring_time=10, retry=5)
    q.join("c1", 0)
    assert q.next_deadline(0) == 10
    assert q.tick(10) == [StopRing("1001", "c1")]
    assert q.agents["1001"].state is AgentState.IDLE and q.next_deadline(10) == 15
    assert q.tick(15) == [Ring("1001", "c1")]


def test_a_refusing_agent_rests_while_another_rings() -> None:
    q = machine(strategy="roundrobin", retry=5)
    q.join("c1", 0)
    assert q.agent_failed("1001", "c1", 1) == [Ring("1002", "c1")]
    assert q.agent_failed("1002", "c1", 2) == []
    assert q.tick(6) == [Ring("1001", "c1")]


def test_wrap_up_keeps_the_agent_from_the_next_caller() -> None:
    q = machine(agents="1001", wrapup=20)
    q.join("c1", 0)
    q.answered("1001", "c1", 1)
    assert q.join("c2", 2) == [Position("c2", 1, 1)]
    assert q.agent_done("1001", 30) == []
    assert q.agents["1001"].state is AgentState.WRAPUP and q.next_deadline(30) == 50
    assert q.tick(49) == []
    assert q.tick(50) == [Ring("1001", "c2")]


def test_max_wait_max_callers_and_empty_queues_fail_over() -> None:
    q = machine(max_wait=60, max_callers=2)
    for agent in ("1001", "1002"):
        q.presence(agent, logged_in=True, in_use=True, now=0)
    q.join("c1", 0)
    q.join("c2", 30)
    assert q.join("c3", 31) == [Failover("c3", Why.FULL)]
    assert q.next_deadline(31) == 60
    assert q.tick(60) == [Failover("c1", Why.TIMEOUT), Position("c2", 1, 2)]
    q = machine(join_when_empty="no")
    q.presence("1001", logged_in=False, in_use=False, now=0)
    q.presence("1002", logged_in=False, in_use=False, now=0)
    assert q.join("c1", 1) == [Failover("c1", Why.EMPTY)]
    q = machine(join_when_empty="strict")
    q.presence("1001", logged_in=True, in_use=True, now=0)
    q.presence("1002", logged_in=False, in_use=False, now=0)
    assert q.join("c1", 1) == [Failover("c1", Why.EMPTY)]


def test_leave_when_empty_sends_the_waiting_callers_to_failover() -> None:
    q = machine(agents="1001", leave_when_empty="yes")
    q.presence("1001", logged_in=True, in_use=True, now=0)
    q.join("c1", 0)
    q.join("c2", 0)
    # the operators count is part of queue_info: both positions are published again
    assert q.presence("1001", logged_in=False, in_use=False, now=5) == [Position("c1", 1, 0), Position("c2", 2, 0)]
    assert q.tick(5) == [Failover("c1", Why.EMPTY), Failover("c2", Why.EMPTY)]
    assert q.callers == []


def test_a_caller_leaving_stops_its_rings_and_moves_the_others_up() -> None:
    q = machine(agents="1001")
    q.join("c1", 0)
    q.join("c2", 0)
    assert q.leave("c1", 1) == [StopRing("1001", "c1"), Ring("1001", "c2"), Position("c2", 1, 1)]
    assert q.leave("nobody", 1) == []
    # an answer after the caller left is refused to the adapter
    assert q.answered("1001", "c1", 2) == [StopRing("1001", "c1")]


def test_announcements_every_n_seconds_with_the_position() -> None:
    q = machine(announce_every=30)
    for agent in ("1001", "1002"):
        q.presence(agent, logged_in=True, in_use=True, now=0)
    q.join("c1", 0)
    q.join("c2", 10)
    assert q.next_deadline(10) == 30
    assert q.tick(30) == [Announce("c1", 1)]
    assert q.tick(40) == [Announce("c2", 2)]
    assert q.tick(95) == [Announce("c1", 1), Announce("c2", 2)]
    assert q.next_deadline(95) == 100

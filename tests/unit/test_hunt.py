"""The hunt (b2b/hunt.py): which stage rings next, which failover a route's outcome takes, what
leg A gets at the end. Pure: routes built by hand."""
from __future__ import annotations

from callcontrol.b2b.hunt import Hunt, Step
from callcontrol.b2b.routing import Endpoint, Failovers, Hop, Route, RouteKind, Target
from sip.peer import Peer


def endpoint(number: str) -> Endpoint:
    return Endpoint(number, (Target(f"sip:{number}@h", Peer("UDP", "127.0.0.1", 5060)),), ring_time=15)


def hunt_route(*numbers: str, **failover: Hop) -> Route:
    return Route(RouteKind.RING, "610", stages=tuple((endpoint(n),) for n in numbers), failover=Failovers(**failover),
                 path=("610",), forwarders=("1009",), huntgroup_id="610")


def test_stages_ring_in_order_then_the_outcome_picks_the_failover() -> None:
    hunt = Hunt(hunt_route("1001", "1002", noanswer=Hop("600"), busy=Hop("sys:busy")))
    first = hunt.start()
    assert first.step is Step.RING and [e.number for e in first.stage] == ["1001"]
    hunt.gave_up("t1")
    hunt.fork_failed("t1", 487, "Request Terminated")
    second = hunt.stage_done()
    assert second.step is Step.RING and [e.number for e in second.stage] == ["1002"]
    hunt.fork_failed("t2", 486, "Busy Here")
    after = hunt.stage_done()
    # One rang unanswered, one was busy: no answer wins.
    assert (after.step, after.target) == (Step.FOLLOW, "600")
    assert after.via is not None and after.via.path == ("610",) and after.via.forwarders == ("1009",)


def test_all_busy_takes_the_busy_failover() -> None:
    hunt = Hunt(hunt_route("1001", busy=Hop("1003", forwarder="1001")))
    hunt.start()
    hunt.fork_failed("t1", 600, "Busy Everywhere")
    after = hunt.stage_done()
    assert (after.step, after.target) == (Step.FOLLOW, "1003")
    assert after.via is not None and after.via.forwarders == ("1009", "1001")  # an account's forwarding


def test_without_a_failover_leg_a_gets_480_no_answer_or_the_best_failure() -> None:
    hunt = Hunt(hunt_route("1001"))
    hunt.start()
    hunt.gave_up("t1")
    hunt.fork_failed("t1", 487, "Request Terminated")
    end = hunt.stage_done()
    assert (end.step, end.status, end.phrase) == (Step.FAIL, 480, "no answer")
    hunt = Hunt(hunt_route("1001", "1002"))
    hunt.start()
    hunt.fork_failed("a", 503, "Service Unavailable")
    hunt.stage_done()
    hunt.fork_failed("b", 486, "Busy Here")
    end = hunt.stage_done()
    assert (end.step, end.status, end.phrase) == (Step.FAIL, 486, "Busy Here")


def test_follow_restarts_with_the_new_route() -> None:
    hunt = Hunt(hunt_route("1001", unreachable=Hop("611")))
    hunt.start()
    hunt.fork_failed("t1", 408, "Request Timeout")
    assert hunt.stage_done().target == "611"
    nxt = hunt.follow(hunt_route("1002", "1003"))
    assert nxt.step is Step.RING and [e.number for e in nxt.stage] == ["1002"] and hunt.failures == []


def test_a_route_made_of_targets_only_is_one_stage() -> None:
    target = Target("sip:x@h", Peer("UDP", "127.0.0.1", 5060))
    hunt = Hunt(Route(RouteKind.TRUNK, "5551234", (target,)))
    first = hunt.start()
    assert first.step is Step.RING and first.stage[0].targets == (target,) and first.stage[0].ring_time is None
    hunt.fork_failed("t", 404, "Not Found")
    assert (hunt.stage_done().status, hunt.route.number) == (404, "5551234")

"""The routing engine over the PBX (docs/pbx.md): every target kind, nesting, forwarding,
failover, time rules against a fixed clock, loops. Pure: no sockets, no store."""
from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from callcontrol.b2b.routing import (
    MAX_HOPS,
    Outcome,
    Route,
    RouteKind,
    Via,
    combined_outcome,
    next_hop,
    outcome_of,
    route,
)
from callcontrol.directory.model import Account, IvrAccessNumber
from callcontrol.pbx.model import AccountForwarding, Dialplan, PbxNumber, build
from callcontrol.store.sqlite import Binding

TRUNK = "sip:127.0.0.1:5090"
ACCOUNTS = {a.id: a for a in (Account(i, f"100{i}", 1, f"10{i}", f"Phone {i}", None) for i in range(1, 6))}
OFFLINE = "1005"  # registered nowhere, no static contact
IVR = {"7000": IvrAccessNumber(1, "7000", 1, None)}
# A Monday at 10:00 and at 20:00 in New York (customer 1's zone in these tests).
NY = ZoneInfo("America/New_York")
OPEN = datetime(2024, 6, 3, 10, 0, tzinfo=NY).timestamp()
CLOSED = datetime(2024, 6, 3, 20, 0, tzinfo=NY).timestamp()


class FakeDirectory:
    def account_by_id(self, number: str) -> Account | None:
        return ACCOUNTS.get(number)

    def ivr_an_by_number(self, number: str) -> IvrAccessNumber | None:
        return IVR.get(number)


def contacts(aor: str) -> list[Binding]:
    if aor == OFFLINE:
        return []
    port = 5060 + int(aor[-1])
    return [Binding(aor=aor, contact=f"sip:{aor}@10.0.0.{aor[-1]}:{port}", expires_at=9e9, call_id="r",
                    cseq=1, source=f"192.0.2.{aor[-1]}:{port}")]


def pbx(kind: str, number: str, **spec: object) -> PbxNumber:
    return build(kind, number, 1, f"{kind} {number}", spec)


def plan(*entries: PbxNumber, forwardings: dict[str, AccountForwarding] | None = None) -> Dialplan:
    return Dialplan({e.number: e for e in entries}, forwardings or {}, {1: NY})


def go(number: str, dialplan: Dialplan, *, now: float = OPEN, via: Via | None = None,
       rng: random.Random | None = None, trunk: str | None = TRUNK) -> Route:
    return route(number, directory=FakeDirectory(), contacts=contacts, trunk_uri=trunk, dialplan=dialplan,
                 via=via, now=now, rng=rng)


def stage_numbers(r: Route) -> list[list[str]]:
    return [[e.number for e in stage] for stage in r.ring_stages()]


def follow(r: Route, outcome: Outcome, dialplan: Dialplan, **kw: object) -> Route:
    hop = next_hop(r, outcome)
    assert hop is not None, f"{r.number} has no {outcome.value} failover"
    target, via = hop
    return go(target, dialplan, via=via, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the plain cases


def test_an_account_without_pbx_settings_routes_as_before() -> None:
    r = go("1001", plan())
    assert r.kind is RouteKind.ACCOUNT and r.account is ACCOUNTS["1001"]
    assert [t.uri for t in r.targets] == ["sip:1001@10.0.0.1:5061"]
    assert stage_numbers(r) == [["1001"]] and r.ring_stages()[0][0].ring_time is None
    assert next_hop(r, Outcome.BUSY) is None and r.path == ("1001",) and r.forwarders == ()


def test_trunk_ivr_and_unknown_numbers_are_unchanged() -> None:
    assert go("5551234", plan()).kind is RouteKind.TRUNK
    assert go("7000", plan()).kind is RouteKind.IVR
    r = go("5551234", plan(), trunk=None)
    assert (r.kind, r.status) == (RouteKind.REJECT, 404)


# --------------------------------------------------------------------------- ring groups and hunt lists


def test_ring_group_rings_every_member_at_once_on_behalf_of_the_group() -> None:
    dp = plan(pbx("ringgroup", "600", members="1001,1002/30", ring_time=20))
    r = go("600", dp)
    assert r.kind is RouteKind.RING and r.huntgroup_id == "600" and r.i_customer == 1
    assert stage_numbers(r) == [["1001", "1002"]]
    assert [e.ring_time for e in r.ring_stages()[0]] == [20, 30]  # the group's, then the member's own
    assert {e.huntgroup_id for e in r.ring_stages()[0]} == {"600"}
    assert [t.uri for t in r.targets] == ["sip:1001@10.0.0.1:5061", "sip:1002@10.0.0.2:5062"]


def test_members_not_reachable_now_are_left_out() -> None:
    r = go("600", plan(pbx("ringgroup", "600", members=f"{OFFLINE},1002")))
    assert stage_numbers(r) == [["1002"]]


def test_a_group_with_nobody_reachable_is_480_or_its_unreachable_failover() -> None:
    r = go("600", plan(pbx("ringgroup", "600", members=OFFLINE)))
    assert (r.kind, r.status, r.huntgroup_id) == (RouteKind.REJECT, 480, "600")
    r = go("600", plan(pbx("ringgroup", "600", members=OFFLINE, failover={"unreachable": "1003"})))
    assert r.kind is RouteKind.ACCOUNT and r.number == "1003" and r.path == ("600", "1003")


def test_hunt_list_follow_rings_one_member_per_stage_in_order() -> None:
    r = go("610", plan(pbx("hunt", "610", members="1001,1002,1003/5", order="follow", ring_time=15)))
    assert r.kind is RouteKind.RING and r.huntgroup_id == "610"
    assert stage_numbers(r) == [["1001"], ["1002"], ["1003"]]
    assert [s[0].ring_time for s in r.ring_stages()] == [15, 15, 5]
    assert [t.uri for t in r.targets] == ["sip:1001@10.0.0.1:5061"]  # the first stage's contacts


def test_hunt_list_random_order_comes_from_the_injected_rng() -> None:
    dp = plan(pbx("hunt", "610", members="1001,1002,1003,1004", order="random"))
    orders = {tuple(n[0] for n in stage_numbers(go("610", dp, rng=random.Random(seed)))) for seed in range(20)}
    assert len(orders) > 1 and all(sorted(o) == ["1001", "1002", "1003", "1004"] for o in orders)
    assert stage_numbers(go("610", dp, rng=random.Random(7))) == stage_numbers(go("610", dp, rng=random.Random(7)))


def test_a_ring_group_inside_a_group_rings_on_behalf_of_the_outer_group() -> None:
    dp = plan(pbx("ringgroup", "601", members="1002,1003"),
              pbx("ringgroup", "600", members="1001,601", ring_time=25),
              pbx("hunt", "610", members="601,1004"))
    r = go("600", dp)
    assert stage_numbers(r) == [["1001", "1002", "1003"]]
    assert {(e.huntgroup_id, e.ring_time) for e in r.ring_stages()[0]} == {("600", 25)}
    h = go("610", dp)
    assert stage_numbers(h) == [["1002", "1003"], ["1004"]]
    assert {e.huntgroup_id for s in h.ring_stages() for e in s} == {"610"}


def test_a_member_listed_twice_through_nesting_rings_once() -> None:
    dp = plan(pbx("ringgroup", "601", members="1001,1002"), pbx("ringgroup", "600", members="1002,601"))
    assert stage_numbers(go("600", dp)) == [["1002", "1001"]]


# --------------------------------------------------------------------------- forwarding


def test_forwarding_always_routes_to_the_target_with_the_forwarder_listed() -> None:
    dp = plan(forwardings={"1003": AccountForwarding(always="1001")})
    r = go("1003", dp)
    assert r.kind is RouteKind.ACCOUNT and r.account is ACCOUNTS["1001"]
    assert r.forwarders == ("1003",) and r.ring_stages()[0][0].forwarders == ("1003",)
    assert r.path == ("1003", "1001")


def test_forwarding_chains_list_every_forwarder_in_order() -> None:
    dp = plan(forwardings={"1003": AccountForwarding(always="1002"), "1002": AccountForwarding(always="1001")})
    assert go("1003", dp).forwarders == ("1003", "1002")


def test_forwarding_to_an_outside_number_goes_to_the_trunk() -> None:
    r = go("1003", plan(forwardings={"1003": AccountForwarding(always="+15551234")}))
    assert r.kind is RouteKind.TRUNK and r.targets[0].uri == "sip:+15551234@127.0.0.1:5090"
    assert r.ring_stages()[0][0].forwarders == ("1003",)


def test_busy_noanswer_and_unreachable_forwarding_are_the_accounts_failover() -> None:
    dp = plan(forwardings={"1003": AccountForwarding(busy="1001", noanswer="1002", noanswer_after=12,
                                                     unreachable="1004")})
    r = go("1003", dp)
    assert r.kind is RouteKind.ACCOUNT and r.ring_stages()[0][0].ring_time == 12  # rings 12 s, then noanswer
    for outcome, number in ((Outcome.BUSY, "1001"), (Outcome.NOANSWER, "1002"), (Outcome.UNREACHABLE, "1004")):
        onward = follow(r, outcome, dp)
        assert onward.account is ACCOUNTS[number] and onward.forwarders == ("1003",)
        assert onward.path == ("1003", number)


def test_unreachable_forwarding_applies_at_once_when_the_account_has_no_contact() -> None:
    r = go(OFFLINE, plan(forwardings={OFFLINE: AccountForwarding(unreachable="1001")}))
    assert r.account is ACCOUNTS["1001"] and r.forwarders == (OFFLINE,)


def test_a_members_always_forwarding_is_followed_inside_a_group() -> None:
    dp = plan(pbx("ringgroup", "600", members="1002,1003"),
              forwardings={"1003": AccountForwarding(always="1001", busy="1004")})
    stage = go("600", dp).ring_stages()[0]
    assert [(e.number, e.forwarders, e.huntgroup_id) for e in stage] == [
        ("1002", (), "600"), ("1001", ("1003",), "600")]


# --------------------------------------------------------------------------- failover of groups


def test_group_failover_by_outcome_and_nested_failover_targets() -> None:
    dp = plan(pbx("ringgroup", "600", members="1001,1002", failover={"busy": "sys:busy", "noanswer": "610",
                                                                     "unreachable": "7000"}),
              pbx("hunt", "610", members="1003", failover={"noanswer": "1004"}))
    r = go("600", dp)
    assert follow(r, Outcome.BUSY, dp).status == 486
    hunt = follow(r, Outcome.NOANSWER, dp)
    assert hunt.huntgroup_id == "610" and hunt.path == ("600", "610")
    assert follow(hunt, Outcome.NOANSWER, dp).path == ("600", "610", "1004")
    assert follow(r, Outcome.UNREACHABLE, dp).kind is RouteKind.IVR
    assert next_hop(hunt, Outcome.BUSY) is None


def test_group_failover_keeps_the_forwarders_of_the_way_in() -> None:
    dp = plan(pbx("ringgroup", "600", members="1001", failover={"noanswer": "1002"}),
              forwardings={"1003": AccountForwarding(always="600")})
    r = go("1003", dp)
    assert r.huntgroup_id == "600" and r.forwarders == ("1003",)
    assert follow(r, Outcome.NOANSWER, dp).forwarders == ("1003",)  # a group is no forwarder


def test_outcomes_of_endpoints_and_groups() -> None:
    assert outcome_of(486, gave_up=False) is Outcome.BUSY
    assert outcome_of(600, gave_up=False) is Outcome.BUSY and outcome_of(603, gave_up=False) is Outcome.BUSY
    assert outcome_of(487, gave_up=True) is Outcome.NOANSWER
    for status in (404, 408, 480, 500, 503):
        assert outcome_of(status, gave_up=False) is Outcome.UNREACHABLE
    assert combined_outcome([Outcome.BUSY, Outcome.NOANSWER, Outcome.UNREACHABLE]) is Outcome.NOANSWER
    assert combined_outcome([Outcome.UNREACHABLE, Outcome.BUSY]) is Outcome.BUSY
    assert combined_outcome([Outcome.UNREACHABLE]) is Outcome.UNREACHABLE


# --------------------------------------------------------------------------- time rules


def test_time_rule_routes_to_match_or_nomatch_by_the_customers_local_time() -> None:
    dp = plan(pbx("timerule", "650", period="wd {mon-fri} hr {9am-5pm}", match="600", nomatch="1004"),
              pbx("ringgroup", "600", members="1001,1002"))
    day = go("650", dp, now=OPEN)
    assert day.kind is RouteKind.RING and day.huntgroup_id == "600" and day.path == ("650", "600")
    night = go("650", dp, now=CLOSED)
    assert night.account is ACCOUNTS["1004"] and night.path == ("650", "1004")


def test_time_rule_uses_the_customers_zone_not_utc() -> None:
    # 10:00 in New York is 14:00 UTC: "hr {13-15}" matches there only in UTC.
    rule = pbx("timerule", "650", period="hr {13-15}", match="1001", nomatch="1002")
    in_ny = Dialplan({"650": rule}, {}, {1: NY})
    in_utc = Dialplan({"650": rule}, {}, {})
    assert go("650", in_ny, now=OPEN).number == "1002"
    assert go("650", in_utc, now=OPEN).number == "1001"


def test_time_rule_to_a_system_target_and_to_a_menu() -> None:
    dp = plan(pbx("timerule", "650", period="hr {9-16}", match="ivr:660", nomatch="sys:hangup"),
              pbx("menu", "660", prompt="http://127.0.0.1/p.wav", choices="1=1002;2=queue:800"))
    menu = go("650", dp, now=OPEN)
    assert menu.kind is RouteKind.MENU and menu.pbx.choice("2") == "queue:800" and menu.i_customer == 1
    assert (go("650", dp, now=CLOSED).status, go("650", dp, now=CLOSED).reason) == (603, "Decline")


# --------------------------------------------------------------------------- system targets, menus, queues


def test_system_targets() -> None:
    assert (go("sys:busy", plan()).kind, go("sys:busy", plan()).status) == (RouteKind.REJECT, 486)
    assert go("sys:hangup", plan()).status == 603
    assert go("sys:echo", plan()).kind is RouteKind.ECHO
    assert go("sys:nonsense", plan()).status == 404


def test_queue_numbers_route_to_the_queue_seam_with_their_failover() -> None:
    dp = plan(pbx("queue", "800", agents="1001,1002", max_wait=300, failover={"noanswer": "1003"}))
    r = go("queue:800", dp)
    assert r.kind is RouteKind.QUEUE and r.pbx.settings["agents"] == "1001,1002" and r.i_customer == 1
    assert follow(r, Outcome.NOANSWER, dp).account is ACCOUNTS["1003"]


def test_menu_choices_route_like_any_target() -> None:
    dp = plan(pbx("menu", "660", prompt="p", choices="1=account:1002;2=grp:600;3=610", default="sys:busy"),
              pbx("ringgroup", "600", members="1001"))
    menu = go("660", dp)
    for digit, kind in (("1", RouteKind.ACCOUNT), ("2", RouteKind.RING), ("3", RouteKind.TRUNK)):
        assert go(menu.pbx.choice(digit), dp, via=menu.via).kind is kind
    assert menu.pbx.choice("9") is None and menu.pbx.default == "sys:busy"


def test_a_routing_header_must_name_the_right_kind() -> None:
    dp = plan(pbx("ringgroup", "600", members="1001"))
    assert go("grp:600", dp).kind is RouteKind.RING
    assert go("account:1001", dp).kind is RouteKind.ACCOUNT
    for wrong in ("account:600", "queue:600", "grp:1001", "ivr:1001", "tc:7000", "grp:5551234"):
        r = go(wrong, dp)
        assert (r.kind, r.status) == (RouteKind.REJECT, 404), wrong
    assert go("ivr:7000", dp).kind is RouteKind.IVR


# --------------------------------------------------------------------------- loops


def test_forwarding_loop_ends_with_482_naming_the_path() -> None:
    dp = plan(forwardings={"1003": AccountForwarding(always="1001"), "1001": AccountForwarding(always="1003")})
    r = go("1003", dp)
    assert (r.kind, r.status, r.reason) == (RouteKind.REJECT, 482, "routing loop via 1003 -> 1001 -> 1003")


def test_group_containing_itself_is_a_loop_not_a_hang() -> None:
    dp = plan(pbx("ringgroup", "600", members="1001,601"), pbx("ringgroup", "601", members="1002,600"))
    r = go("600", dp)
    assert (r.status, r.reason) == (482, "routing loop via 600 -> 601 -> 600")


def test_failover_back_to_a_number_on_the_path_is_a_loop() -> None:
    dp = plan(pbx("ringgroup", "600", members="1001", failover={"noanswer": "610"}),
              pbx("hunt", "610", members="1002", failover={"noanswer": "600"}))
    hunt = follow(go("600", dp), Outcome.NOANSWER, dp)
    back = follow(hunt, Outcome.NOANSWER, dp)
    assert (back.status, back.reason) == (482, "routing loop via 600 -> 610 -> 600")


def test_time_rules_pointing_at_each_other_are_a_loop() -> None:
    dp = plan(pbx("timerule", "650", period="hr {0-23}", match="651", nomatch="651"),
              pbx("timerule", "651", period="hr {0-23}", match="650", nomatch="650"))
    assert go("650", dp).reason == "routing loop via 650 -> 651 -> 650"


def test_a_path_longer_than_max_hops_is_refused() -> None:
    # 1001 -> 1002 -> ... forwarding chain over numbers that are all distinct (outside the directory)
    chain = {f"9{i:03d}": pbx("timerule", f"9{i:03d}", period="hr {0-23}", match=f"9{i + 1:03d}",
                              nomatch=f"9{i + 1:03d}") for i in range(MAX_HOPS + 2)}
    r = go("9000", Dialplan(chain, {}, {}))
    assert r.status == 482 and r.reason.startswith(f"routing too deep: more than {MAX_HOPS} numbers via 9000 ->")

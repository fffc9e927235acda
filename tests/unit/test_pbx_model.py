"""PBX values (docs/pbx.md): members, choices, targets, stored settings; every bad value is one
line naming the field."""
from __future__ import annotations

import pytest

from callcontrol.pbx.model import (
    CallQueue,
    Forwarding,
    ForwardWhen,
    HuntList,
    Member,
    Menu,
    PbxError,
    RingGroup,
    TimeRule,
    build,
    check_target,
    check_zone,
    forwarding_of,
    from_stored,
    parse_choices,
    parse_members,
    to_json,
)


def test_members_with_their_own_ring_times() -> None:
    assert parse_members("1001, 1002/25 ;account:1003") == (Member("1001"), Member("1002", 25), Member("1003"))
    assert str(Member("1002", 25)) == "1002/25"


@pytest.mark.parametrize(("text", "reason"), [
    ("", "at least one member"),
    ("1001,1001", "member 1001 is listed twice"),
    ("1001/x", "NUMBER/SECONDS"),
    ("1001/0", "ring time of member 1001 0: 1-600 seconds"),
    ("queue:800", "an account id or a ring group number"),
    ("10 01", "invalid member"),
])
def test_bad_members(text: str, reason: str) -> None:
    with pytest.raises(PbxError, match=reason):
        parse_members(text)


def test_choices() -> None:
    assert parse_choices("1=1002;2=queue:800, *=sys:Busy") == (("1", "1002"), ("2", "queue:800"), ("*", "sys:busy"))
    for text, reason in (("1", "DIGIT=TARGET"), ("12=1002", "DIGIT=TARGET"), ("1=a;1=b", "choice 1 is given twice"),
                         ("", "at least one choice"), ("1=sys:nap", "sys: is one of busy, hangup, echo")):
        with pytest.raises(PbxError, match=reason):
            parse_choices(text)


def test_targets() -> None:
    assert check_target(" GRP:600 ", "x") == "grp:600"
    assert check_target("+15551234", "x") == "+15551234"
    for bad, reason in (("vm:101", "routing headers are account, grp, queue, ivr, tc, sys"), ("", "a number"),
                        ("a b", "a number"), ("grp:", "a number")):
        with pytest.raises(PbxError, match=reason):
            check_target(bad, "target")


def test_time_zones() -> None:
    assert check_zone("Europe/Prague") == "Europe/Prague"
    with pytest.raises(PbxError, match="unknown time zone 'Mars/Olympus'"):
        check_zone("Mars/Olympus")


def test_every_kind_round_trips_through_its_stored_settings() -> None:
    entries = [
        build("ringgroup", "600", 1, "Sales", {"members": "1001,1002/25", "ring_time": 20,
                                               "failover": {"noanswer": "610"}}),
        build("hunt", "610", 1, "Night", {"members": ["1001", "1002"], "order": "random"}),
        build("timerule", "650", 1, "Hours", {"period": "wd {mon-fri} hr {9am-5pm}", "match": "600",
                                              "nomatch": "800"}),
        build("menu", "660", 1, "Main", {"prompt": "http://h/p.wav", "choices": "1=1002;2=800", "default": "600"}),
        build("queue", "800", 1, "Support", {"agents": "1001,1002", "max_wait": 300}),
    ]
    assert [type(e) for e in entries] == [RingGroup, HuntList, TimeRule, Menu, CallQueue]
    for entry in entries:
        assert from_stored(entry.KIND, entry.number, 1, entry.name, to_json(entry)) == entry
    hunt = entries[1]
    assert isinstance(hunt, HuntList) and hunt.ring_time == 15 and hunt.order == "random"  # the hunt default
    assert isinstance(entries[0], RingGroup) and entries[0].members[1].ring_time == 25


def test_a_bad_stored_row_names_the_number() -> None:
    with pytest.raises(PbxError, match="stored timerule 650: invalid period"):
        from_stored("timerule", "650", 1, "x", '{"period": "wd {x}", "match": "1", "nomatch": "2"}')
    with pytest.raises(PbxError, match="stored hunt 610: invalid order 'sideways'"):
        from_stored("hunt", "610", 1, "x", '{"members": ["1001"], "order": "sideways"}')
    with pytest.raises(PbxError, match="stored ringgroup 600"):
        from_stored("ringgroup", "600", 1, "x", "not json")


def test_forwarding_rules_of_an_account() -> None:
    rules = [Forwarding(1, "1003", ForwardWhen.BUSY, "1001"), Forwarding(2, "1003", ForwardWhen.NOANSWER, "1002", 9)]
    fwd = forwarding_of(rules)
    assert (fwd.always, fwd.busy, fwd.noanswer, fwd.noanswer_after, fwd.unreachable) == (None, "1001", "1002", 9, None)
    assert forwarding_of([Forwarding(3, "1003", ForwardWhen.NOANSWER, "1002")]).noanswer_after == 20

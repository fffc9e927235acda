"""The call model: leg state machine, one snapshot per change, registry and CDRs."""
from __future__ import annotations

import pytest

from callcontrol.model.callinfo import CallInfo, CallState, Party, QueueInfo
from callcontrol.model.calls import LEG_STATES, TRANSITIONS, Call, CallRegistry, Leg, LegStateError

ALICE = Party(id="1001", account_id="1001", i_account=1, i_customer=1, i_main_office=1)
BOB = Party(id="1002", account_id="1002", i_account=2, i_customer=1, i_main_office=1)
OUTSIDE = Party(id="5551234")


def new_call(published: list[CallInfo]) -> Call:
    return Call("c1@host", published.append)


def add_a(call: Call, now: float = 100.0) -> Leg:
    return call.add_leg(tag="ta", sip_call_id="c1@host", type="outgoing", caller=ALICE, callee=BOB,
                        transport_id="127.0.0.1:5060", now=now)


def add_b(call: Call, now: float = 100.5) -> Leg:
    return call.add_leg(tag="tb", sip_call_id="other@host", type="incoming", caller=ALICE, callee=BOB,
                        transport_id="127.0.0.1:5060", now=now)


def leg_in(state: CallState) -> tuple[Call, Leg, list[CallInfo]]:
    """A leg brought to ``state`` along allowed transitions."""
    published: list[CallInfo] = []
    call = new_call(published)
    leg = add_a(call)
    path = {
        CallState.TRYING: [],
        CallState.RINGING: [CallState.RINGING],
        CallState.EARLY: [CallState.EARLY],
        CallState.CONNECTED: [CallState.CONNECTED],
        CallState.HELD: [CallState.CONNECTED, CallState.HELD],
        CallState.HOLDING: [CallState.CONNECTED, CallState.HOLDING],
        CallState.TERMINATED: [CallState.TERMINATED],
        CallState.QUEUED: [CallState.QUEUED],
        CallState.DEQUEUED: [CallState.QUEUED, CallState.DEQUEUED],
    }[state]
    for step in path:
        call.move(leg, step, 101.0)
    return call, leg, published


ALL_PAIRS = [(old, new) for old in LEG_STATES for new in LEG_STATES if new is not old]


def test_first_snapshot_is_trying_with_start_time() -> None:
    published: list[CallInfo] = []
    call = new_call(published)
    leg = add_a(call, now=100.0)
    assert [p.state for p in published] == [CallState.TRYING]
    wire = published[0].to_wire()
    assert wire["call"] == {"id": "c1@host", "tag": "ta"}
    assert wire["state"] == "trying"
    assert wire["type"] == "outgoing"
    assert wire["start_time"] == "1970-01-01 00:01:40"
    assert "connect_time" not in wire
    assert leg.info is published[0]


@pytest.mark.parametrize(("old", "new"), ALL_PAIRS, ids=[f"{o}->{n}" for o, n in ALL_PAIRS])
def test_every_transition_is_one_snapshot_or_refused(old: CallState, new: CallState) -> None:
    call, leg, published = leg_in(old)
    before = len(published)
    if new in TRANSITIONS[old]:
        assert call.move(leg, new, 102.0, reason="r", reason_code=486) is True
        assert len(published) == before + 1
        assert published[-1].state == CallState(new.value)
        assert leg.state is new
    else:
        with pytest.raises(LegStateError):
            call.move(leg, new, 102.0)
        assert len(published) == before
        assert leg.state is old


@pytest.mark.parametrize("state", LEG_STATES)
def test_same_state_is_not_a_change(state: CallState) -> None:
    call, leg, published = leg_in(state)
    before = len(published)
    assert call.move(leg, state, 103.0) is False
    assert len(published) == before


def test_a_queued_caller_publishes_its_queue_info_and_each_new_position() -> None:
    call, leg, published = leg_in(CallState.TRYING)
    assert call.move(leg, CallState.QUEUED, 110.0, queue_info=QueueInfo(800, 2, 2)) is True
    assert call.move(leg, CallState.QUEUED, 111.0, queue_info=QueueInfo(800, 2, 2)) is False
    assert call.move(leg, CallState.QUEUED, 120.0, queue_info=QueueInfo(800, 1, 2)) is True
    assert call.move(leg, CallState.DEQUEUED, 130.0, queue_info=QueueInfo(800, 0, 2)) is True
    assert call.move(leg, CallState.CONNECTED, 131.0) is True
    wires = [p.to_wire() for p in published[-4:]]
    assert [(w["state"], w.get("queue_info")) for w in wires] == [
        ("queued", {"i_c_queue": 800, "position": 2, "operators": 2}),
        ("queued", {"i_c_queue": 800, "position": 1, "operators": 2}),
        ("dequeued", {"i_c_queue": 800, "position": 0, "operators": 2}),
        ("connected", None)]
    assert "start_time" not in wires[0] and "connect_time" not in wires[0]
    assert leg.connect_time == 110.0  # the queue answered the caller: it is billed from there
    assert wires[-1]["connect_time"] == "1970-01-01 00:01:50"


def test_connect_time_is_the_answer_then_the_start_of_each_hold() -> None:
    """Seed, SIPCallInfo.connect_time: "when the call was connected or put on hold": held and
    holding carry when the hold began (kept while it lasts, also through held <-> holding),
    connected the answer, also after an unhold (docs/portasip-compat.md, "Notifications")."""
    call, leg, published = leg_in(CallState.RINGING)
    call.move(leg, CallState.CONNECTED, 110.0)
    call.move(leg, CallState.HOLDING, 120.0)
    call.move(leg, CallState.HELD, 125.0)
    call.move(leg, CallState.CONNECTED, 130.0)
    call.move(leg, CallState.HELD, 140.0)
    assert leg.connect_time == 110.0
    assert [(str(p.state), p.connect_time) for p in published[-5:]] == [
        ("connected", 110.0), ("holding", 120.0), ("held", 120.0), ("connected", 110.0), ("held", 140.0)]
    assert published[-4].to_wire()["connect_time"] == "1970-01-01 00:02:00"
    assert "start_time" not in published[-1].to_wire()
    call.move(leg, CallState.TERMINATED, 150.0)
    assert published[-1].duration == 40  # from the answer, holds included


def test_terminated_carries_duration_reason_and_code() -> None:
    call, leg, published = leg_in(CallState.CONNECTED)  # connected at 101.0
    call.terminate(leg, 143.9, "caller hung up")
    wire = published[-1].to_wire()
    assert wire["state"] == "terminated"
    assert wire["duration"] == 42
    assert wire["reason"] == "caller hung up"
    assert wire["reason_code"] is None
    assert call.terminate(leg, 150.0, "again") is False  # no second snapshot
    assert published[-1].reason == "caller hung up"


def test_unanswered_termination_has_zero_duration_and_code() -> None:
    call, leg, published = leg_in(CallState.RINGING)
    call.terminate(leg, 105.0, "Busy Here", 486)
    assert (published[-1].duration, published[-1].reason_code) == (0, 486)


def test_call_ends_once_when_last_leg_terminates() -> None:
    ended: list[Call] = []
    published: list[CallInfo] = []
    call = Call("c1@host", published.append, on_ended=ended.append)
    a, b = add_a(call), add_b(call)
    call.terminate(a, 110.0, "caller hung up")
    assert not ended and not call.ended
    call.terminate(b, 110.0, "caller hung up")
    assert ended == [call] and call.ended
    with pytest.raises(LegStateError):
        add_b(call)


def test_registry_indexes_live_legs_and_forwards_snapshots() -> None:
    hub: list[CallInfo] = []
    registry = CallRegistry(hub.append)
    ended: list[Call] = []
    registry.on_call_ended = ended.append
    call = registry.new_call("c1@host")
    a = add_a(call)
    b = call.add_leg(tag="tb", sip_call_id="x@h", type="incoming", caller=ALICE, callee=OUTSIDE,
                     transport_id="127.0.0.1:5060", now=100.0)
    assert registry.leg("c1@host", "ta") is a
    assert registry.leg("c1@host", "tb") is b
    assert {x.call.tag for x in registry.snapshots()} == {"ta", "tb"}
    assert [x.call.tag for x in registry.snapshots([("i_account", 2)])] == ["ta"]
    assert registry.snapshots([("i_account", 99)]) == []
    call.move(a, CallState.CONNECTED, 101.0)
    assert registry.leg("c1@host", "ta").info.state == CallState.CONNECTED  # type: ignore[union-attr]
    call.terminate(a, 102.0, "caller hung up")
    assert registry.leg("c1@host", "ta") is None
    assert registry.call("c1@host") is call
    call.terminate(b, 102.0, "caller hung up")
    assert registry.call("c1@host") is None and ended == [call] and len(registry) == 0
    assert [(i.call.tag, i.state) for i in hub] == [
        ("ta", CallState.TRYING), ("tb", CallState.TRYING), ("ta", CallState.CONNECTED),
        ("ta", CallState.TERMINATED), ("tb", CallState.TERMINATED)]
    registry.new_call("c2@host")
    with pytest.raises(ValueError):
        registry.new_call("c2@host")  # one live call per id


def test_registry_survives_a_failing_publisher() -> None:
    def broken(info: CallInfo) -> None:
        raise RuntimeError("subscriber side broke")

    registry = CallRegistry(broken)
    call = registry.new_call("c1@host")
    leg = add_a(call)
    assert call.move(leg, CallState.RINGING, 101.0)
    assert registry.leg("c1@host", "ta") is leg


def test_cdrs_one_per_call_and_leg() -> None:
    published: list[CallInfo] = []
    call = new_call(published)
    a, b = add_a(call, 100.0), add_b(call, 100.5)
    call.move(b, CallState.RINGING, 101.0)
    call.move(b, CallState.CONNECTED, 103.0)
    call.move(a, CallState.CONNECTED, 103.0)
    call.terminate(b, 133.0, "callee hung up")
    call.terminate(a, 133.0, "callee hung up")
    whole, cdr_a, cdr_b = call.cdrs()
    assert (whole.call_id, whole.leg_tag, whole.caller, whole.callee) == ("c1@host", None, "1001", "1002")
    assert (whole.start_time, whole.connect_time, whole.end_time, whole.duration) == (100.0, 103.0, 133.0, 30.0)
    assert whole.disconnect_reason == "callee hung up"
    assert (whole.i_account, whole.i_customer) == (1, 1)  # billed to the caller
    assert (cdr_a.leg_tag, cdr_a.i_account) == ("ta", 1)
    assert (cdr_b.leg_tag, cdr_b.i_account, cdr_b.start_time) == ("tb", 2, 100.5)


def test_cdr_of_failed_call_keeps_code() -> None:
    published: list[CallInfo] = []
    call = new_call(published)
    a, b = add_a(call), add_b(call)
    call.terminate(b, 104.0, "Busy Here", 486)
    call.terminate(a, 104.0, "Busy Here", 486)
    whole, *_ = call.cdrs()
    assert (whole.connect_time, whole.duration, whole.sip_code, whole.disconnect_reason) == (
        None, 0.0, 486, "Busy Here")


def test_caller_info_carries_display_id_and_centrex_id() -> None:
    """Issue 12 point 2: SipCallerInfo as the seed's examples carry it, on every party."""
    assert ALICE.to_wire() == {"account_id": "1001", "centrex_id": "1", "display_id": "1001",
                               "forwarder_list": [], "id": "1001"}
    assert OUTSIDE.to_wire() == {"display_id": "5551234", "forwarder_list": [], "id": "5551234"}
    presented = Party(id="1002", account_id="1002", display_id="+15550001002", i_account=2, i_customer=1)
    assert presented.to_wire()["display_id"] == "+15550001002"  # what the From presented, when known
    branch = Party(id="2001", i_account=4, i_customer=2, i_main_office=1)
    assert branch.to_wire()["centrex_id"] == "2"  # the account's own customer (a branch office here)


def test_a_leg_is_found_by_its_dialog_as_the_phone_knows_it_for_its_whole_life() -> None:
    """Issue 12 point 3: (id, our tag) as notified, and the dialog: its SIP Call-ID, our tag or
    the phone's; notifications keep naming (id, our tag)."""
    registry = CallRegistry()
    call = registry.new_call("c1@host")
    a = add_a(call)
    b = call.add_leg(tag="tb", sip_call_id="x@h", type="incoming", caller=ALICE, callee=BOB,
                     transport_id="127.0.0.1:5060", now=100.0)
    assert registry.leg("x@h", "tb") is b  # leg B's own Call-ID with our tag
    call.dialog_tag(a, "alice-from-tag")
    call.dialog_tag(b, "bob-to-tag")
    call.dialog_tag(b, "bob-second-to-tag")  # a restarted INVITE: a new dialog, the leg the same
    call.dialog_tag(b, "ta")  # a phone tag equal to another leg's own tag never takes it over
    assert registry.leg("c1@host", "alice-from-tag") is a
    for key in (("c1@host", "bob-to-tag"), ("x@h", "bob-to-tag"), ("x@h", "bob-second-to-tag"),
                ("c1@host", "tb")):
        assert registry.leg(*key) is b, key
    assert registry.leg("c1@host", "ta") is a
    assert registry.leg("x@h", "alice-from-tag") is None
    assert sorted(x.call.tag for x in registry.snapshots()) == ["ta", "tb"]  # each leg once
    call.move(b, CallState.CONNECTED, 101.0)
    assert b.info is not None and b.info.call.tag == "tb"  # what notifications name never changes
    call.terminate(b, 102.0, "callee hung up")
    assert [registry.leg(*key) for key in (("x@h", "tb"), ("x@h", "bob-to-tag"), ("c1@host", "bob-to-tag"))] == [
        None, None, None]
    call.dialog_tag(b, "late")  # an ended leg takes no new names
    assert registry.leg("c1@host", "late") is None
    assert registry.leg("c1@host", "alice-from-tag") is a
    call.terminate(a, 103.0, "caller hung up")
    assert registry.leg("c1@host", "alice-from-tag") is None

"""Scopes of each realm (real Directory), CallInfo's wire form and routing keys, login throttle."""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from callcontrol.access.throttle import LoginThrottle
from callcontrol.api.models import SipCallInfo
from callcontrol.directory.service import Directory, Principal
from callcontrol.model.callinfo import (
    CallId,
    CallInfo,
    CallState,
    Party,
    QueueInfo,
    format_time,
    routing_keys,
)
from callcontrol.model.scope import Scope
from tests.unit.hub_harness import leg


@pytest.fixture
async def demo(data_dir: Path) -> AsyncIterator[Directory]:
    directory = await Directory.open(data_dir)
    yield directory
    await directory.close()


def _scope(directory: Directory, **principal: object) -> Scope:
    return Scope(Principal(**principal), directory)  # type: ignore[arg-type]


async def test_administrator_covers_everything_that_exists(demo: Directory) -> None:
    s = _scope(demo, realm="administrator", login="admin")
    assert all(s.covers_customer(i) for i in (1, 2, 3)) and all(s.covers_account(i) for i in range(1, 6))
    assert s.covers_main_office(1) and not s.covers_main_office(2) and not s.covers_main_office(3)
    assert s.covers_ivr_an(1)
    assert not s.covers_customer(99) and not s.covers_account(99) and not s.covers_ivr_an(99)
    assert s.covers_call(leg(demo, "x", "a", caller=5, callee=None))


async def test_main_office_customer(demo: Directory) -> None:
    s = _scope(demo, realm="customer", login="demo-corp", i_customer=1)
    assert s.covers_customer(1) and s.covers_customer(2) and not s.covers_customer(3)
    assert [s.covers_account(i) for i in range(1, 6)] == [True, True, True, True, False]
    assert s.covers_main_office(1) and s.covers_ivr_an(1)
    assert s.covers_key("i_account", 4) and not s.covers_key("i_account", 5) and not s.covers_key("bogus", 1)
    assert s.covers_bill_account("2001") is not None and s.covers_bill_account("3001") is None
    assert s.covers_call(leg(demo, "x", "a", caller=4, callee=None))      # branch leg
    assert s.covers_call(leg(demo, "x", "a", caller=5, callee=2))         # outsider calls 1002
    assert not s.covers_call(leg(demo, "x", "a", caller=5, callee=None))


async def test_branch_and_unrelated_customers(demo: Directory) -> None:
    branch = _scope(demo, realm="customer", login="b", i_customer=2)
    assert branch.covers_customer(2) and not branch.covers_customer(1)
    assert branch.covers_account(4) and not branch.covers_account(1)
    assert not branch.covers_main_office(1) and not branch.covers_ivr_an(1)
    assert not branch.covers_call(leg(demo, "x", "a", caller=1, callee=2))
    other = _scope(demo, realm="customer", login="other-corp", i_customer=3)
    assert other.covers_customer(3) and not other.covers_customer(1) and not other.covers_customer(2)
    assert other.covers_account(5) and not other.covers_main_office(1)
    assert not other.covers_call(leg(demo, "x", "a", caller=4, callee=1))


async def test_account_covers_its_own_legs_only(demo: Directory) -> None:
    s = _scope(demo, realm="account", login="1001", i_customer=1, i_account=1)
    assert s.covers_account(1) and not s.covers_account(2)
    assert not s.covers_customer(1) and not s.covers_main_office(1) and not s.covers_ivr_an(1)
    assert s.covers_bill_account("1001") is not None and s.covers_bill_account("1002") is None
    assert s.covers_call(leg(demo, "x", "a", caller=2, callee=1))
    assert not s.covers_call(leg(demo, "x", "a", caller=2, callee=3))


async def test_reseller_covers_its_customers_and_their_branches(tmp_path: Path) -> None:
    directory = await Directory.open(tmp_path, seed_demo=False)
    try:
        r1 = await directory.add_reseller("R1")
        r2 = await directory.add_reseller("R2")
        main = await directory.add_customer("Main", i_office_type=3, i_reseller=r1.i_reseller)
        branch = await directory.add_customer("Branch", i_main_office=main.i_customer)
        foreign = await directory.add_customer("Foreign", i_reseller=r2.i_reseller)
        a_branch = await directory.add_account(branch.i_customer, "500", "pw-500-xyz")
        a_foreign = await directory.add_account(foreign.i_customer, "600", "pw-600-xyz")
        s = Scope(Principal(realm="reseller", login="r1", i_reseller=r1.i_reseller), directory)
        assert s.covers_customer(main.i_customer) and s.covers_customer(branch.i_customer)
        assert not s.covers_customer(foreign.i_customer)
        assert s.covers_account(a_branch.i_account) and not s.covers_account(a_foreign.i_account)
        assert s.covers_main_office(main.i_customer)
        p_branch = Party(id="500", **routing_keys(directory, i_account=a_branch.i_account))
        p_foreign = Party(id="600", **routing_keys(directory, i_account=a_foreign.i_account))
        info = CallInfo(CallId("x", "a"), CallState.TRYING, "h:1", "incoming", p_foreign, p_branch)
        assert s.covers_call(info)
        assert not s.covers_call(replace(info, callee=p_foreign))
    finally:
        await directory.close()


# ---------------------------------------------------------------------- CallInfo


async def test_routing_keys_from_the_directory(demo: Directory) -> None:
    assert routing_keys(demo, i_account=4) == {"i_account": 4, "i_customer": 2, "i_main_office": 1,
                                               "i_ivr_an": None}
    assert routing_keys(demo, i_account=1)["i_main_office"] == 1  # a main office is its own
    assert routing_keys(demo, i_account=5)["i_main_office"] is None
    assert routing_keys(demo, i_ivr_an=1) == {"i_account": None, "i_customer": 1, "i_main_office": 1,
                                              "i_ivr_an": 1}
    info = leg(demo, "x", "a", caller=1, callee=2)
    assert info.routing_keys() == (("i_account", 1), ("i_customer", 1), ("i_main_office", 1),
                                   ("i_account", 2))


def _info(state: CallState, **kw: object) -> CallInfo:
    return CallInfo(CallId("id@h", "t1"), state, "10.0.0.1:5060", "incoming",
                    Party(id="1002", account_id="1002", forwarder_list=("9",), i_account=2),
                    Party(id="1001", display_name="Alice", i_account=1),
                    start_time=1_543_498_864.0, connect_time=1_543_498_885.0, **kw)  # type: ignore[arg-type]


def test_state_specific_fields() -> None:
    ringing = _info(CallState.RINGING).to_wire()
    assert ringing["start_time"] == "2018-11-29 13:41:04" and "connect_time" not in ringing
    connected = _info(CallState.CONNECTED).to_wire()
    assert connected["connect_time"] == "2018-11-29 13:41:25" and "start_time" not in connected
    assert connected["caller"] == {"account_id": "1002", "display_id": "1002", "forwarder_list": [{"id": "9"}],
                                   "id": "1002"}
    assert connected["callee"] == {"display_id": "1001", "display_name": "Alice", "forwarder_list": [], "id": "1001"}
    terminated = _info(CallState.TERMINATED, duration=5, reason="blind transfer").to_wire()
    assert (terminated["duration"], terminated["reason"], terminated["reason_code"]) == (5, "blind transfer", None)
    assert "connect_time" not in terminated
    queued = _info(CallState.QUEUED, queue_info=QueueInfo(7, 2, 3)).to_wire()
    assert queued["queue_info"] == {"i_c_queue": 7, "position": 2, "operators": 3}
    dtmf = _info(CallState.CONNECTED, event="dtmf_digit_detected", digit="#", duration=120,
                 dtmf_method="rfc4733").to_wire()
    assert (dtmf["event"], dtmf["digit"], dtmf["duration"], dtmf["dtmf_method"]) == (
        "dtmf_digit_detected", "#", 120, "rfc4733")
    prompt = _info(CallState.CONNECTED, event="play_prompt_completed", order=3).to_wire()
    assert (prompt["event"], prompt["order"]) == ("play_prompt_completed", 3)
    for state in CallState:
        SipCallInfo.model_validate(_info(state, queue_info=QueueInfo(1, 1, 1), duration=1).to_wire())


def test_encoded_once_and_local_time_offset() -> None:
    info = _info(CallState.RINGING)
    first = info.encoded()
    assert info.encoded() is first
    assert orjson.loads(first) == info.to_wire()
    assert format_time(1_543_498_864.0, 3600) == "2018-11-29 14:41:04"
    assert CallId("A~10", "x").base_id == "A" and CallId("A").base_id == "A"
    assert CallId("A").to_wire() == {"id": "A"}


# ---------------------------------------------------------------------- throttle


def test_throttle_backoff_is_exponential_and_capped() -> None:
    t = LoginThrottle(free_failures=2, base_delay=1.0, max_delay=8.0)
    now = 100.0
    assert [t.record_failure("u", None, now) for _ in range(2)] == [0.0, 0.0]
    delays = [t.record_failure("u", None, now) for _ in range(5)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert t.retry_after("u", None, now) == 8.0 and t.retry_after("v", None, now) == 0.0
    assert t.retry_after("u", None, now + 8.0) == 0.0
    t.record_success("u")
    assert t.retry_after("u", None, now) == 0.0


def test_throttle_forgets_old_failures_and_prunes() -> None:
    t = LoginThrottle(free_failures=1, base_delay=1.0, forget_after=60.0, max_entries=4)
    t.record_failure("u", "1.2.3.4", 0.0)
    assert t.record_failure("u", "1.2.3.4", 100.0) == 0.0  # the first one was forgotten
    for i in range(10):
        t.record_failure(f"user{i}", None, 200.0 + i)
    assert len(t._logins) <= 4

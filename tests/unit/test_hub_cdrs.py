"""CallControl.get_cdr_list over a real WebSocket: each realm reads the CDRs billed to it, and
nothing of another tenant (demo directory: customer 1 main office, 2 its branch, 3 unrelated)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from callcontrol.api.models import CdrListResult
from callcontrol.store.sqlite import Cdr
from tests.unit.hub_harness import HubEnv, error_code, hub_env

T0 = 1_796_601_600.0  # 2026-12-07T00:00:00Z

# (call id, i_customer, i_account, start): one call row each, billed as the engine bills them.
ROWS = [
    ("c1-1001", 1, 1, T0 + 10),
    ("c1-1002", 1, 2, T0 + 20),
    ("c2-2001", 2, 4, T0 + 30),  # the branch's account
    ("c3-3001", 3, 5, T0 + 40),  # the other tenant
    ("trunk", None, None, T0 + 50),  # nobody's: a trusted trunk calling a number
    ("c1-next-day", 1, 1, T0 + 86400),
]


@pytest.fixture
async def env(data_dir: Path) -> AsyncIterator[HubEnv]:
    async with hub_env(data_dir) as e:
        store = e.directory.store
        for call_id, i_customer, i_account, start in ROWS:
            store.add_cdr(Cdr(call_id, None, "caller", "callee", start, start + 5, i_account, i_customer,
                              start + 1, 4.0, "caller hung up", 200, sip_reason="OK", hangup_side="caller",
                              route="account"))
        await store.flush()
        e.api.cdrs = store
        yield e


async def _cdrs(env: HubEnv, login: str, password: str, **params: Any) -> list[str]:
    client = await env.logged_in(login, password)
    resp = await client.cc("get_cdr_list", params)
    assert resp["success"] == 1, resp
    CdrListResult.model_validate(resp["result"])  # the schema describes what is sent
    return [row["call_id"] for row in resp["result"]["cdr_list"]]


async def test_administrator_reads_every_cdr(env: HubEnv) -> None:
    assert await _cdrs(env, "admin", "admin-pass") == [r[0] for r in ROWS]
    assert await _cdrs(env, "admin", "admin-pass", i_customer=3) == ["c3-3001"]


async def test_main_office_reads_its_own_and_its_branchs_never_another_tenants(env: HubEnv) -> None:
    assert await _cdrs(env, "demo-corp", "demo-corp-pass") == ["c1-1001", "c1-1002", "c2-2001", "c1-next-day"]
    assert await _cdrs(env, "demo-corp", "demo-corp-pass", i_customer=2) == ["c2-2001"]
    assert await _cdrs(env, "demo-corp", "demo-corp-pass", i_account=2) == ["c1-1002"]
    # Another tenant's keys behave as if they did not exist: an empty list.
    assert await _cdrs(env, "demo-corp", "demo-corp-pass", i_customer=3) == []
    assert await _cdrs(env, "demo-corp", "demo-corp-pass", i_account=5) == []


async def test_other_tenant_reads_only_its_own(env: HubEnv) -> None:
    assert await _cdrs(env, "other-corp", "other-corp-pass") == ["c3-3001"]
    assert await _cdrs(env, "other-corp", "other-corp-pass", i_customer=1) == []
    assert await _cdrs(env, "other-corp", "other-corp-pass", i_account=1) == []


async def test_account_reads_its_own_only(env: HubEnv) -> None:
    assert await _cdrs(env, "1001", "secret1001") == ["c1-1001", "c1-next-day"]
    assert await _cdrs(env, "1002", "secret1002") == ["c1-1002"]
    assert await _cdrs(env, "1001", "secret1001", i_account=2) == []
    assert await _cdrs(env, "1001", "secret1001", i_customer=1) == []  # an account is not its customer
    assert await _cdrs(env, "3001", "secret3001") == ["c3-3001"]


async def test_window_paging_and_iso_times(env: HubEnv) -> None:
    assert await _cdrs(env, "admin", "admin-pass", from_date="2026-12-07", to_date="2026-12-08") == [
        r[0] for r in ROWS[:-1]]
    assert await _cdrs(env, "admin", "admin-pass", from_date="2026-12-07T00:00:30Z") == [
        "c2-2001", "c3-3001", "trunk", "c1-next-day"]
    assert await _cdrs(env, "admin", "admin-pass", limit=2, offset=1) == ["c1-1002", "c2-2001"]
    client = await env.logged_in("1001", "secret1001")
    resp = await client.cc("get_cdr_list", {"to_date": "2026-12-08"})
    (row,) = resp["result"]["cdr_list"]
    assert (row["start_time"], row["connect_time"], row["disconnect_time"]) == (
        "2026-12-07T00:00:10.000Z", "2026-12-07T00:00:11.000Z", "2026-12-07T00:00:15.000Z")
    assert (row["sip_code"], row["sip_reason"], row["hangup_side"], row["duration"]) == (200, "OK", "caller", 4.0)


@pytest.mark.parametrize(("params", "field"), [
    ({"from_date": "yesterday"}, "params.from_date"),
    ({"to_date": 5}, "params.to_date"),
    ({"limit": 0}, "params.limit"),
    ({"limit": 10001}, "params.limit"),
    ({"offset": -1}, "params.offset"),
    ({"i_customer": "x"}, "params.i_customer"),
    ({"from_date": "2026-12-08", "to_date": "2026-12-07"}, "params"),
])
async def test_bad_params_name_the_field(env: HubEnv, params: dict[str, Any], field: str) -> None:
    client = await env.logged_in("admin", "admin-pass")
    resp = await client.cc("get_cdr_list", params)
    assert error_code(resp) == "sip.wrong_parameters"
    assert field in [d["field"] for d in resp["error"]["details"]], resp


async def test_unknown_params_are_ignored(env: HubEnv) -> None:
    client = await env.logged_in("admin", "admin-pass")
    resp = await client.cc("get_cdr_list", {"bogus": 1, "limit": 1})
    assert resp["success"] == 1 and len(resp["result"]["cdr_list"]) == 1


async def test_without_a_store_the_method_is_disabled(env: HubEnv) -> None:
    env.api.cdrs = None
    client = await env.logged_in("admin", "admin-pass")
    resp = await client.cc("get_cdr_list", {})
    assert error_code(resp) == "sip.call_control_disabled"
    assert resp["error"]["details"] == {"reason": "no CDR store attached"}


async def test_needs_a_session(env: HubEnv) -> None:
    client = await env.client()
    resp = await client.cc("get_cdr_list", {}, auth=None)
    assert resp["success"] == 0 and resp["error"]["code"].startswith("auth.")

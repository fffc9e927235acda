"""Session service over a real WebSocket: login, logout, expiry, auth_info forms, throttling, realms."""
from __future__ import annotations

import asyncio
import re
from pathlib import Path

import orjson

from callcontrol.access.throttle import LoginThrottle
from tests.unit.hub_harness import (  # noqa: F401  (fixtures)
    TIMEOUT,
    HubEnv,
    env_fixture,
    error_code,
    hub_env,
)

ADMIN = {"login": "admin", "password": "admin-pass"}


async def _server_side(env: HubEnv, before: set) -> object:
    async with asyncio.timeout(TIMEOUT):
        while True:
            new = env.hub.connections - before
            if new:
                return next(iter(new))
            await asyncio.sleep(0)


async def test_login_returns_session_id_in_spec_envelope(env: HubEnv) -> None:
    c = await env.client()
    await c.send({"cseq": 7, "service": "Session", "method": "login", "params": ADMIN})
    raw = await asyncio.wait_for(c.ws.recv(), TIMEOUT)
    msg = orjson.loads(raw)
    assert list(msg) == ["cseq", "result", "success"]
    assert msg["cseq"] == 7 and msg["success"] == 1
    assert set(msg["result"]) == {"session_id", "success"} and msg["result"]["success"] == 1
    assert re.fullmatch(r"[0-9a-f]{32}", msg["result"]["session_id"])


async def test_each_login_gets_a_distinct_session(env: HubEnv) -> None:
    c = await env.client()
    one = await c.login("admin", "admin-pass")
    two = await c.login("1001", "secret1001")
    assert one != two
    assert len(env.api.sessions) == 2


async def test_bad_password_is_auth_failed(env: HubEnv) -> None:
    c = await env.client()
    resp = await c.request("Session", "login", {"login": "admin", "password": "wrong"}, auth=None)
    assert error_code(resp) == "auth.failed"
    assert resp["error"]["message"] == "Authentication failed"
    assert "reason" in resp["error"]["details"]
    resp = await c.request("Session", "login", {"login": "nobody", "password": "x"}, auth=None)
    assert error_code(resp) == "auth.failed"


async def test_logout_ends_session_and_its_subscriptions(env: HubEnv) -> None:
    c = await env.logged_in("demo-corp", "demo-corp-pass")
    assert (await c.subscribe(i_customer=1))["success"] == 1
    assert env.api.router.subscriber_count(("i_customer", 1)) == 1
    resp = await c.request("Session", "logout", {})
    assert resp == {"cseq": resp["cseq"], "result": {"success": 1}, "success": 1}
    assert env.api.router.subscriber_count(("i_customer", 1)) == 0
    resp = await c.cc("get_sip_calls_list", {"i_customer": 1})
    assert error_code(resp) == "auth.session_expired"


async def test_unknown_and_malformed_session_ids(env: HubEnv) -> None:
    c = await env.client()
    resp = await c.cc("get_sip_calls_list", {"i_customer": 1}, auth={"session_id": "0" * 32})
    assert error_code(resp) == "auth.session_expired"
    resp = await c.cc("get_sip_calls_list", {"i_customer": 1}, auth={"session_id": 12})
    assert error_code(resp) == "auth.failed"
    resp = await c.cc("get_sip_calls_list", {"i_customer": 1}, auth=None)
    assert error_code(resp) == "auth.failed"
    resp = await c.cc("get_sip_calls_list", {"i_customer": 1}, auth={"login": "admin"})
    assert error_code(resp) == "auth.failed"


async def test_idle_session_expires_after_its_connections_close(env: HubEnv) -> None:
    timeout = env.api.sessions.idle_timeout
    before = set(env.hub.connections)
    c = await env.client()
    server_conn = await _server_side(env, before)
    sid = await c.login("admin", "admin-pass")
    await c.subscribe(i_customer=1)

    # While a connection that used it is open, the session does not idle out.
    env.clock.advance(timeout * 3)
    assert (await c.cc("get_sip_calls_list", {"i_customer": 1}))["success"] == 1

    await c.ws.close()
    await asyncio.wait_for(server_conn.closed.wait(), TIMEOUT)  # type: ignore[attr-defined]
    env.clock.advance(timeout - 1)
    before = set(env.hub.connections)
    other = await env.client()
    other_conn = await _server_side(env, before)
    assert (await other.cc("get_sip_calls_list", {"i_customer": 1}, auth={"session_id": sid}))["success"] == 1
    await other.ws.close()
    await asyncio.wait_for(other_conn.closed.wait(), TIMEOUT)  # type: ignore[attr-defined]

    env.clock.advance(timeout + 1)
    third = await env.client()
    resp = await third.cc("get_sip_calls_list", {"i_customer": 1}, auth={"session_id": sid})
    assert error_code(resp) == "auth.session_expired"
    assert env.api.router.subscriber_count(("i_customer", 1)) == 0


async def test_sweep_ends_idle_sessions(env: HubEnv) -> None:
    before = set(env.hub.connections)
    c = await env.client()
    server_conn = await _server_side(env, before)
    await c.login("admin", "admin-pass")
    await c.ws.close()
    await asyncio.wait_for(server_conn.closed.wait(), TIMEOUT)  # type: ignore[attr-defined]
    assert env.api.sweep() == 0
    env.clock.advance(env.api.sessions.idle_timeout + 1)
    assert env.api.sweep() == 1
    assert len(env.api.sessions) == 0


async def test_auth_info_with_login_and_password(env: HubEnv) -> None:
    c = await env.client()
    resp = await c.cc("get_sip_calls_list", {"i_customer": 1}, auth=ADMIN)
    assert resp["success"] == 1 and resp["result"]["calls_list"] == []
    # Second request: served from the verified-credential cache, same answer.
    resp = await c.cc("get_sip_calls_list", {"i_customer": 1}, auth=ADMIN)
    assert resp["success"] == 1
    resp = await c.cc("get_sip_calls_list", {"i_customer": 1}, auth={"login": "admin", "password": "nope"})
    assert error_code(resp) == "auth.failed"
    # Subscriptions under credentials belong to the connection and end with it.
    resp = await c.subscribe(i_customer=1, auth=ADMIN)
    assert resp["success"] == 1
    assert env.api.router.subscriber_count(("i_customer", 1)) == 1


async def test_auth_info_domain_is_accepted(env: HubEnv) -> None:
    c = await env.client()
    resp = await c.cc("get_sip_calls_list", {"i_account": 1},
                      auth={"login": "1001", "password": "secret1001", "domain": "callcontrol"})
    assert resp["success"] == 1


async def test_login_throttling_backs_off_and_answers_at_once(data_dir: Path) -> None:
    throttle = LoginThrottle(free_failures=2, base_delay=10.0, max_delay=60.0)
    async with hub_env(data_dir, throttle=throttle) as env:
        c = await env.client()
        bad = {"login": "admin", "password": "bad"}
        for _ in range(2):
            resp = await c.request("Session", "login", bad, auth=None)
            assert error_code(resp) == "auth.failed"
            assert "retry_after" not in resp["error"]["details"]
        resp = await c.request("Session", "login", bad, auth=None)
        assert resp["error"]["details"]["retry_after"] == 10.0
        # Blocked: even the right password is refused, without a password check and without waiting.
        resp = await c.request("Session", "login", ADMIN, auth=None)
        assert error_code(resp) == "auth.failed"
        assert 0 < resp["error"]["details"]["retry_after"] <= 10.0
        # Per-request credentials are throttled by the same record.
        resp = await c.cc("get_sip_calls_list", {"i_customer": 1}, auth=ADMIN)
        assert error_code(resp) == "auth.failed" and "retry_after" in resp["error"]["details"]
        # Another login from the same address is not blocked yet.
        assert await c.login("demo-corp", "demo-corp-pass")
        env.clock.advance(10.5)
        resp = await c.request("Session", "login", bad, auth=None)
        assert resp["error"]["details"]["retry_after"] == 20.0  # exponential
        env.clock.advance(20.5)
        assert await c.login("admin", "admin-pass")
        # A success clears the login's record.
        resp = await c.request("Session", "login", bad, auth=None)
        assert "retry_after" not in resp["error"]["details"]


async def test_throttling_per_source_address(data_dir: Path) -> None:
    throttle = LoginThrottle(free_failures=100, ip_free_failures=3, base_delay=5.0)
    async with hub_env(data_dir, throttle=throttle) as env:
        c = await env.client()
        for login in ("a", "b", "c"):
            resp = await c.request("Session", "login", {"login": login, "password": "x"}, auth=None)
            assert "retry_after" not in resp["error"]["details"]
        resp = await c.request("Session", "login", {"login": "d", "password": "x"}, auth=None)
        assert resp["error"]["details"]["retry_after"] == 5.0
        resp = await c.request("Session", "login", ADMIN, auth=None)
        assert error_code(resp) == "auth.failed" and resp["error"]["details"]["retry_after"] > 0


async def test_realm_not_served_on_this_listener_is_forbidden(data_dir: Path) -> None:
    async with hub_env(data_dir, allowed_realms={"account"}) as env:
        c = await env.client()
        resp = await c.request("Session", "login", ADMIN, auth=None)
        assert error_code(resp) == "auth.forbidden"
        assert await c.login("1001", "secret1001")


async def test_login_dry_run_validates_without_authenticating(env: HubEnv) -> None:
    c = await env.client()
    resp = await c.request("Session", "login", {"login": "admin", "password": "wrong"}, auth=None,
                           aux={"dry_run": 1})
    assert resp["success"] == 1
    # The password is never echoed back.
    assert resp["result"] == {"dry_run": 1, "params": {"login": "admin", "domain": None}, "ignored": [],
                              "success": 1}
    assert len(env.api.sessions) == 0
    resp = await c.request("Session", "login", {"login": "admin"}, auth=None, aux={"dry_run": 1})
    assert error_code(resp) == "sip.wrong_parameters"
    assert resp["error"]["details"] == [{"field": "params.password", "message": "Field required"}]

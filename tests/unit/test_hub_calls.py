"""CallControl methods through the hub: results, every error code, dry_run, isolation, ordering."""
from __future__ import annotations

import asyncio
import contextvars
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest

from callcontrol.api.models import SipCallInfo
from callcontrol.model.callinfo import CallState
from callcontrol.model.calls import Leg
from tests.unit.hub_harness import (  # noqa: F401  (fixtures)
    TIMEOUT,
    TRANSPORT,
    HubEnv,
    RawClient,
    env_fixture,
    error_code,
    hub_env,
    party,
)

CALL = "c1@10.0.0.1"


def _ref(call_id: str, tag: str) -> dict[str, Any]:
    return {"call": {"id": call_id, "tag": tag}, "transport_id": TRANSPORT}


def _demo_calls(env: HubEnv) -> None:
    """1001 -> 1002 (customer 1), 2001 -> 1003 (branch -> main), 3001 -> outside (customer 3)."""
    env.backend.add(env.leg(CALL, "a", caller=1, callee=2, type="outgoing", state=CallState.CONNECTED))
    env.backend.add(env.leg(CALL, "b", caller=1, callee=2, state=CallState.CONNECTED))
    env.backend.add(env.leg("c2@10.0.0.1", "a", caller=4, callee=3, state=CallState.RINGING))
    env.backend.add(env.leg("c3@10.0.0.1", "a", caller=5, callee=None, type="outgoing",
                            state=CallState.TRYING))


def _ids(resp: dict[str, Any]) -> set[tuple[str, str]]:
    assert resp["success"] == 1, resp
    return {(c["call"]["id"], c["call"]["tag"]) for c in resp["result"]["calls_list"]}


# ---------------------------------------------------------------------- listing


async def test_calls_list_returns_sip_call_info(env: HubEnv) -> None:
    _demo_calls(env)
    admin = await env.logged_in("admin", "admin-pass")
    resp = await admin.cc("get_sip_calls_list", {"i_customer": 1})
    assert _ids(resp) == {(CALL, "a"), (CALL, "b"), ("c2@10.0.0.1", "a")}
    assert list(resp) == ["cseq", "result", "success"] and resp["result"]["success"] == 1
    by_tag = {c["call"]["tag"]: c for c in resp["result"]["calls_list"] if c["call"]["id"] == CALL}
    wire = by_tag["a"]
    SipCallInfo.model_validate(wire)
    assert wire["caller"]["id"] == "1001" and wire["callee"]["id"] == "1002"
    assert wire["state"] == "connected" and wire["type"] == "outgoing"
    assert wire["connect_time"] == "2023-11-14 22:13:20"
    assert "i_account" not in wire["caller"]  # routing keys never go on the wire
    assert _ids(await admin.cc("get_sip_calls_list", {"i_ivr_an": 1})) == set()
    assert _ids(await admin.cc("get_sip_calls_list", {"i_customer": 3})) == {("c3@10.0.0.1", "a")}


async def test_calls_list_needs_a_key(env: HubEnv) -> None:
    admin = await env.logged_in("admin", "admin-pass")
    resp = await admin.cc("get_sip_calls_list", {})
    assert error_code(resp) == "sip.wrong_parameters"
    assert resp["error"]["details"] == [
        {"field": "params", "message": "At least one of i_account, i_customer, i_main_office, i_ivr_an is required"}]


# ---------------------------------------------------------------------- isolation


async def test_other_tenant_cannot_list_subscribe_or_control(env: HubEnv) -> None:
    _demo_calls(env)
    other = await env.logged_in("other-corp", "other-corp-pass")
    assert _ids(await other.cc("get_sip_calls_list", {"i_customer": 1})) == set()
    assert _ids(await other.cc("get_sip_calls_list", {"i_account": 1})) == set()
    assert _ids(await other.cc("get_sip_calls_list", {"i_main_office": 1})) == set()
    assert _ids(await other.cc("get_sip_calls_list", {"i_customer": 3})) == {("c3@10.0.0.1", "a")}
    resp = await other.subscribe(i_customer=1)
    assert error_code(resp) == "auth.forbidden"
    assert resp["error"]["details"] == [{"field": "params.i_customer", "message": "not found or not in your scope"}]
    resp = await other.subscribe(i_customer=3, i_account=1)
    assert error_code(resp) == "auth.forbidden"  # all or nothing
    assert env.api.router.subscriber_count(("i_customer", 3)) == 0
    # Someone else's leg and a leg that does not exist answer alike.
    foreign = await other.cc("terminate_call", _ref(CALL, "a"))
    missing = await other.cc("terminate_call", _ref(CALL, "zz"))
    assert error_code(foreign) == error_code(missing) == "sip.call_not_found"
    assert foreign["error"]["message"] == missing["error"]["message"] == "Not found"
    for method in ("answer_call", "hold_call", "unhold_call", "start_dtmf_detect", "stop_dtmf_detect"):
        assert error_code(await other.cc(method, _ref(CALL, "a"))) == "sip.call_not_found"
    resp = await other.cc("transfer_call", {**_ref(CALL, "a"), "cld": "3001"})
    assert error_code(resp) == "sip.call_not_found"
    resp = await other.cc("join_calls", {**_ref("c3@10.0.0.1", "a"), "to_call": {"id": CALL, "tag": "b"}})
    assert error_code(resp) == "sip.call_not_found"
    resp = await other.cc("play_prompt", {**_ref(CALL, "a"), "url": "http://127.0.0.1/p"})
    assert error_code(resp) == "sip.call_not_found"
    resp = await other.cc("originate_advanced_call", {"bill_id": "1001", "caller_id": "1001", "callee_id": "1002"})
    assert error_code(resp) == "sip.wrong_parameters"
    assert resp["error"]["details"] == [{"field": "params.bill_id", "message": "unknown account"}]
    assert env.backend.actions == []
    assert (await other.cc("terminate_call", _ref("c3@10.0.0.1", "a")))["success"] == 1


async def test_main_office_sees_its_branch(env: HubEnv) -> None:
    _demo_calls(env)
    main = await env.logged_in("demo-corp", "demo-corp-pass")
    assert _ids(await main.cc("get_sip_calls_list", {"i_customer": 2})) == {("c2@10.0.0.1", "a")}
    assert _ids(await main.cc("get_sip_calls_list", {"i_account": 4})) == {("c2@10.0.0.1", "a")}
    assert _ids(await main.cc("get_sip_calls_list", {"i_main_office": 1})) == {
        (CALL, "a"), (CALL, "b"), ("c2@10.0.0.1", "a")}
    assert (await main.subscribe(i_customer=2))["success"] == 1
    assert (await main.subscribe(i_main_office=1, i_ivr_an=1))["success"] == 1
    assert (await main.cc("hold_call", _ref("c2@10.0.0.1", "a")))["success"] == 1


async def test_branch_and_account_scopes(env: HubEnv) -> None:
    _demo_calls(env)
    branch_phone = await env.logged_in("2001", "secret2001")
    assert error_code(await branch_phone.subscribe(i_main_office=1)) == "auth.forbidden"
    assert error_code(await branch_phone.subscribe(i_customer=2)) == "auth.forbidden"
    assert (await branch_phone.subscribe(i_account=4))["success"] == 1

    phone = await env.logged_in("1001", "secret1001")
    assert _ids(await phone.cc("get_sip_calls_list", {"i_account": 1})) == {(CALL, "a"), (CALL, "b")}
    assert _ids(await phone.cc("get_sip_calls_list", {"i_account": 3})) == set()
    assert _ids(await phone.cc("get_sip_calls_list", {"i_customer": 1})) == set()
    assert error_code(await phone.subscribe(i_customer=1)) == "auth.forbidden"
    assert error_code(await phone.subscribe(i_account=2)) == "auth.forbidden"
    assert error_code(await phone.subscribe(i_ivr_an=1)) == "auth.forbidden"
    assert error_code(await phone.cc("answer_call", _ref("c2@10.0.0.1", "a"))) == "sip.call_not_found"
    resp = await phone.cc("originate_advanced_call", {"bill_id": "1002", "caller_id": "1002", "callee_id": "1"})
    assert error_code(resp) == "sip.wrong_parameters"
    assert (await phone.cc("terminate_call", _ref(CALL, "b")))["success"] == 1


async def test_nonexistent_keys_are_not_covered_even_for_admin(env: HubEnv) -> None:
    admin = await env.logged_in("admin", "admin-pass")
    resp = await admin.subscribe(i_account=999)
    assert error_code(resp) == "auth.forbidden"
    assert error_code(await admin.subscribe(i_main_office=3)) == "auth.forbidden"  # not a main office
    assert (await admin.subscribe(i_main_office=1))["success"] == 1


# ---------------------------------------------------------------------- error codes


async def test_unsupported_method_and_service(env: HubEnv) -> None:
    c = await env.logged_in("admin", "admin-pass")
    resp = await c.cc("make_coffee", {})
    assert error_code(resp) == "sip.unsupported_method"
    assert resp["error"] == {"code": "sip.unsupported_method", "message": "Unsupported method",
                             "details": {"service": "CallControl", "method": "make_coffee"}}
    resp = await c.request("Account", "get_account_list", {})
    assert error_code(resp) == "sip.unsupported_method"
    resp = await c.request(None, 5, {})  # type: ignore[arg-type]
    assert error_code(resp) == "sip.unsupported_method"


async def test_wrong_parameters_names_each_field(env: HubEnv) -> None:
    c = await env.logged_in("admin", "admin-pass")
    resp = await c.cc("play_prompt", {"call": {"tag": "x"}, "transport_id": "nowhere", "order": 4,
                                      "repeat": 0, "url": "ftp://x/y", "volume": 3})
    assert error_code(resp) == "sip.wrong_parameters"
    assert resp["error"]["message"] == "Bad parameters"
    fields = {d["field"] for d in resp["error"]["details"]}
    # ``volume`` is not a param of play_prompt: ignored, while every bad known one is named
    assert fields == {"params.call.id", "params.transport_id", "params.order", "params.url"}
    resp = await c.cc("terminate_call", [1, 2])  # type: ignore[arg-type]
    assert resp["error"]["details"] == [{"field": "params", "message": "params must be an object"}]
    resp = await c.cc("enable_api_notifications", {"event": "other", "i_customer": True})
    assert {d["field"] for d in resp["error"]["details"]} == {"params.event", "params.i_customer"}
    resp = await c.cc("answer_call", {**_ref(CALL, "a"), "callee_answer_mode": "shout"})
    assert [d["field"] for d in resp["error"]["details"]] == ["params.callee_answer_mode"]


async def test_internal_server_error_is_logged_with_correlation_id(
        env: HubEnv, caplog: pytest.LogCaptureFixture) -> None:
    _demo_calls(env)
    env.backend.failing.add("terminate_call")
    c = await env.logged_in("admin", "admin-pass")
    with caplog.at_level(logging.ERROR, logger="callcontrol.api.dispatcher"):
        resp = await c.cc("terminate_call", _ref(CALL, "a"))
    assert error_code(resp) == "sip.internal_server_error"
    assert resp["error"]["message"] == "Internal processing error"
    cid = resp["error"]["details"]["correlation_id"]
    assert set(resp["error"]["details"]) == {"correlation_id"}
    assert "Traceback" not in str(resp) and "simulated" not in str(resp)
    logged = [r for r in caplog.records if cid in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    # The connection goes on.
    assert (await c.cc("hold_call", _ref(CALL, "a")))["success"] == 1


async def test_call_not_found_for_unknown_leg_or_foreign_transport(env: HubEnv) -> None:
    _demo_calls(env)
    c = await env.logged_in("admin", "admin-pass")
    resp = await c.cc("terminate_call", {"call": {"id": "nope"}})
    assert resp["error"]["code"] == "sip.call_not_found" and resp["error"]["message"] == "Not found"
    resp = await c.cc("terminate_call", {"call": {"id": CALL, "tag": "a"}, "transport_id": "10.9.9.9:5060"})
    assert error_code(resp) == "sip.call_not_found"
    # transport_id may be omitted on a single server.
    assert (await c.cc("terminate_call", {"call": {"id": CALL, "tag": "a"}}))["success"] == 1


async def test_call_control_disabled(data_dir: Path) -> None:
    async with hub_env(data_dir, disabled_methods={"originate_advanced_call"}) as env:
        _demo_calls(env)
        c = await env.logged_in("admin", "admin-pass")
        resp = await c.cc("originate_advanced_call", {"bill_id": "1001", "caller_id": "1001", "callee_id": "1002"})
        assert resp["error"] == {"code": "sip.call_control_disabled", "message": "Disabled",
                                 "details": {"method": "originate_advanced_call"}}
        env.backend.disabled.add("hold_call")  # the backend may switch a method off per leg/principal
        assert error_code(await c.cc("hold_call", _ref(CALL, "a"))) == "sip.call_control_disabled"
        assert env.backend.actions == []


# ---------------------------------------------------------------------- dry run and methods


async def test_dry_run_validates_and_does_nothing(env: HubEnv) -> None:
    _demo_calls(env)
    c = await env.logged_in("admin", "admin-pass")
    resp = await c.cc("answer_call", {**_ref(CALL, "b"), "callee_answer_mode": "notify"}, aux={"dry_run": 1})
    assert resp["success"] == 1
    assert resp["result"] == {"dry_run": 1, "success": 1, "ignored": [], "params": {
        "call": {"id": CALL, "tag": "b"}, "transport_id": TRANSPORT, "callee_answer_mode": "Notify"}}
    assert env.backend.actions == []
    resp = await c.cc("answer_call", {"call": {}}, aux={"dry_run": 1})
    assert error_code(resp) == "sip.wrong_parameters"
    resp = await c.cc("answer_call", _ref(CALL, "b"), aux={"dry_run": 0})
    assert resp["result"] == {"success": 1}
    assert [m for m, _ in env.backend.actions] == ["answer_call"]
    resp = await c.cc("answer_call", _ref(CALL, "b"), aux="yes")  # type: ignore[arg-type]
    assert resp["error"]["details"] == [{"field": "aux_info", "message": "aux_info must be an object"}]


async def test_unknown_params_are_ignored_and_dry_run_lists_them(env: HubEnv) -> None:
    """Issue 12 point 5: a console that copies params between calls is served; unknown keys, at any
    depth, are ignored (listed by dry_run); known ones stay strict."""
    _demo_calls(env)
    c = await env.logged_in("demo-corp", "demo-corp-pass")
    resp = await c.cc("get_sip_calls_list", {"event": "sip.call_control_notifications", "i_customer": 1})
    assert resp["success"] == 1 and len(resp["result"]["calls_list"]) == 3
    copied = {"call": {"id": CALL, "tag": "b", "state": "connected"}, "transport_id": TRANSPORT,
              "event": "sip.call_control_notifications", "i_customer": 1}
    resp = await c.cc("hold_call", copied)
    assert resp["result"] == {"success": 1}
    assert env.backend.actions[-1][0] == "hold_call"
    resp = await c.cc("hold_call", copied, aux={"dry_run": 1})
    assert resp["result"]["ignored"] == ["params.call.state", "params.event", "params.i_customer"]
    assert resp["result"]["params"] == {"call": {"id": CALL, "tag": "b"}, "transport_id": TRANSPORT}
    resp = await c.cc("enable_api_notifications", {"event": "sip.call_control_notifications", "i_customer": 1,
                                                   "call": {"id": CALL}})
    assert resp["success"] == 1
    # Missing or wrongly typed known params are still refused, each named.
    resp = await c.cc("hold_call", {"call": {"tag": "b", "state": "x"}, "transport_id": 5, "cld": "1003"})
    assert error_code(resp) == "sip.wrong_parameters"
    assert {d["field"] for d in resp["error"]["details"]} == {"params.call.id", "params.transport_id"}
    resp = await c.cc("get_sip_calls_list", {"event": "sip.call_control_notifications"})
    assert error_code(resp) == "sip.wrong_parameters"
    assert resp["error"]["details"][0]["field"] == "params"
    resp = await c.cc("transfer_call", {**_ref(CALL, "b"), "cld": ["1003"], "extra": 1})
    assert [d["field"] for d in resp["error"]["details"]] == ["params.cld"]


async def test_every_command_reaches_the_backend(env: HubEnv) -> None:
    _demo_calls(env)
    env.backend.add(env.leg(CALL, "c", caller=1, callee=3, state=CallState.CONNECTED))
    c = await env.logged_in("demo-corp", "demo-corp-pass")
    ok = {"success": 1}
    assert (await c.cc("answer_call", {**_ref(CALL, "b"), "callee_answer_mode": "INVITE"}))["result"] == ok
    assert (await c.cc("hold_call", _ref(CALL, "a")))["result"] == ok
    assert (await c.cc("unhold_call", _ref(CALL, "a")))["result"] == ok
    assert (await c.cc("play_prompt", {**_ref(CALL, "b"), "url": "https://h/welcome", "order": 3,
                                       "repeat": -1}))["result"] == ok
    assert (await c.cc("stop_play_prompt", {**_ref(CALL, "b"), "order": 3}))["result"] == ok
    assert (await c.cc("start_dtmf_detect", _ref(CALL, "b")))["result"] == ok
    assert (await c.cc("stop_dtmf_detect", _ref(CALL, "b")))["result"] == ok
    assert (await c.cc("transfer_call", {**_ref(CALL, "a"), "cld": "1003"}))["result"] == ok
    assert (await c.cc("join_calls", {**_ref(CALL, "b"), "to_call": {"id": CALL, "tag": "c"}}))["result"] == ok
    resp = await c.cc("originate_advanced_call", {"bill_id": "1001", "caller_id": 1001, "callee_id": "1002",
                                                  "callee_auto_pickup": "y"})
    assert resp["success"] == 1 and set(resp["result"]) == {"call", "success"}
    assert set(resp["result"]["call"]) == {"id"}  # no tag (SPEC)
    methods = [m for m, _ in env.backend.actions]
    assert methods == ["answer_call", "hold_call", "unhold_call", "play_prompt", "stop_play_prompt",
                       "start_dtmf_detect", "stop_dtmf_detect", "transfer_call", "join_calls",
                       "originate_advanced_call"]
    params = dict(env.backend.actions)
    assert params["answer_call"].callee_answer_mode == "Invite"
    assert params["play_prompt"].order == 3 and params["play_prompt"].repeat == -1
    assert params["originate_advanced_call"].caller_id == "1001"
    assert params["originate_advanced_call"].callee_auto_pickup == "Y"


# ---------------------------------------------------------------------- concurrency and ordering


async def test_requests_on_one_connection_run_concurrently(env: HubEnv) -> None:
    # play_prompt waits until stop_play_prompt has run: only concurrent requests can both finish.
    _demo_calls(env)
    gate = asyncio.Event()
    backend = env.backend
    original_stop = backend.stop_play_prompt

    async def play(leg: Leg, url: str, order: int, repeat: int) -> None:
        await asyncio.wait_for(gate.wait(), TIMEOUT)

    async def stop(leg: Leg, order: int) -> None:
        await original_stop(leg, order)
        gate.set()

    backend.play_prompt = play  # type: ignore[method-assign]
    backend.stop_play_prompt = stop  # type: ignore[method-assign]
    c = await env.logged_in("admin", "admin-pass")
    await c.send({"cseq": "p", "auth_info": {"session_id": c.session_id}, "service": "CallControl",
                  "method": "play_prompt", "params": {**_ref(CALL, "a"), "url": "http://h/x"}})
    await c.send({"cseq": "s", "auth_info": {"session_id": c.session_id}, "service": "CallControl",
                  "method": "stop_play_prompt", "params": _ref(CALL, "a")})
    assert (await c.response("p"))["success"] == 1
    assert (await c.response("s"))["success"] == 1
    assert c.order[-2:] == [("response", "s"), ("response", "p")]


async def _ordering_case(env: HubEnv, network_echo: bool) -> None:
    _demo_calls(env)
    env.backend.network_echo = network_echo
    c = await env.logged_in("demo-corp", "demo-corp-pass")
    await c.subscribe(i_customer=1)
    resp = await c.cc("terminate_call", _ref(CALL, "a"))
    assert resp["success"] == 1
    note = await c.notification()
    info = note["result"]["call_info"]
    assert (info["call"], info["state"]) == ({"id": CALL, "tag": "a"}, "terminated")
    resp = await c.cc("originate_advanced_call", {"bill_id": "1001", "caller_id": "1001", "callee_id": "1002"})
    new_id = resp["result"]["call"]["id"]
    note = await c.notification()
    assert note["result"]["call_info"]["call"]["id"] == new_id
    assert note["result"]["call_info"]["state"] == "trying"
    # Responses strictly before the notifications they caused.
    kinds = [k for k, _ in c.order]
    assert kinds[-4:] == ["response", "notification", "response", "notification"]


async def test_response_precedes_notifications_published_inside_the_command(env: HubEnv) -> None:
    await _ordering_case(env, network_echo=False)


async def test_response_precedes_notifications_arriving_from_the_network(env: HubEnv) -> None:
    await _ordering_case(env, network_echo=True)


async def test_commands_name_a_leg_by_the_phones_own_dialog(env: HubEnv) -> None:
    """Issue 12 point 3: either tag (ours, as notified, or the phone's) and the leg's own SIP Call-ID
    reach the leg, with the response first also when the network answers meanwhile; notifications
    keep naming the leg as before."""
    env.backend.network_echo = True
    call = env.api.registry.new_call(CALL)
    alice, bob = party(env.directory, i_account=1), party(env.directory, i_account=2)
    a = call.add_leg(tag="a", sip_call_id=CALL, type="outgoing", caller=alice, callee=bob,
                     transport_id=TRANSPORT, now=1.0)
    b = call.add_leg(tag="b", sip_call_id="leg-b@10.0.0.2", type="incoming", caller=alice, callee=bob,
                     transport_id=TRANSPORT, now=1.0)
    for leg in (a, b):
        call.move(leg, CallState.CONNECTED, 2.0)
    call.dialog_tag(a, "phone-a")
    call.dialog_tag(b, "phone-b")
    c = await env.logged_in("demo-corp", "demo-corp-pass")
    await c.subscribe(i_customer=1)
    resp = await c.cc("hold_call", {"call": {"id": CALL, "tag": "phone-a"}, "transport_id": TRANSPORT})
    assert resp["result"] == {"success": 1}
    assert env.backend.actions[-1][1].call == a.call  # the leg, known by the phone's From tag
    notes = [(await c.notification())["result"]["call_info"] for _ in range(2)]
    assert [(n["call"], n["state"]) for n in notes] == [({"id": CALL, "tag": "a"}, "holding"),
                                                        ({"id": CALL, "tag": "b"}, "held")]
    kinds = [k for k, _ in c.order]
    assert kinds[-3:] == ["response", "notification", "notification"]
    for ref in ({"id": "leg-b@10.0.0.2", "tag": "phone-b"}, {"id": "leg-b@10.0.0.2", "tag": "b"},
                {"id": CALL, "tag": "phone-b"}):
        resp = await c.cc("stop_dtmf_detect", {"call": ref})
        assert resp["result"] == {"success": 1}, ref
        assert env.backend.actions[-1][1].call == b.call
    resp = await c.cc("terminate_call", {"call": {"id": "leg-b@10.0.0.2", "tag": "phone-b"}})
    assert resp["result"] == {"success": 1}
    note = (await c.notification())["result"]["call_info"]
    assert (note["call"], note["state"]) == ({"id": CALL, "tag": "b"}, "terminated")
    assert [k for k, _ in c.order][-2:] == ["response", "notification"]
    resp = await c.cc("hold_call", {"call": {"id": CALL, "tag": "phone-b"}})  # ended: gone by any name
    assert error_code(resp) == "sip.call_not_found"
    other = await env.logged_in("other-corp", "other-corp-pass")  # out of scope by any name as well
    resp = await other.cc("hold_call", {"call": {"id": CALL, "tag": "phone-a"}})
    assert error_code(resp) == "sip.call_not_found"


async def test_the_subscribers_of_a_party_that_left_see_the_leg_move_on(env: HubEnv) -> None:
    """Issue 12 point 4: a caller leaves the IVR for 1002 (Call.meet): the i_ivr_an subscribers get
    that snapshot (callee 1002), then nothing more of the leg, which their list no longer shows."""
    call = env.api.registry.new_call(CALL)
    caller = party(env.directory, i_account=1)
    a = call.add_leg(tag="a", sip_call_id=CALL, type="outgoing", caller=caller,
                     callee=party(env.directory, i_ivr_an=1), transport_id=TRANSPORT, now=1.0)
    call.move(a, CallState.CONNECTED, 2.0)
    ivr = await env.logged_in("demo-corp", "demo-corp-pass")
    await ivr.subscribe(i_ivr_an=1)
    extension = await env.logged_in("1002", "secret1002")
    await extension.subscribe(i_account=2)
    resp = await ivr.cc("get_sip_calls_list", {"i_ivr_an": 1})
    assert [c["call"]["tag"] for c in resp["result"]["calls_list"]] == ["a"]
    call.meet(a, party(env.directory, i_account=2), CallState.CONNECTED, 3.0)
    for client in (ivr, extension):
        info = (await client.notification())["result"]["call_info"]
        assert (info["call"], info["state"], info["caller"]["id"], info["callee"]["id"]) == (
            {"id": CALL, "tag": "a"}, "connected", "1001", "1002")
        SipCallInfo.model_validate(info)
    resp = await ivr.cc("get_sip_calls_list", {"i_ivr_an": 1})
    assert resp["result"]["calls_list"] == []
    resp = await extension.cc("get_sip_calls_list", {"i_account": 2})
    assert [c["callee"]["id"] for c in resp["result"]["calls_list"]] == ["1002"]
    call.terminate(a, 4.0, "caller hung up")
    assert (await extension.notification())["result"]["call_info"]["state"] == "terminated"
    resp = await ivr.cc("get_sip_calls_list", {"i_ivr_an": 1})  # a round trip: nothing came before it
    assert [k for k, _ in ivr.order][-3:] == ["notification", "response", "response"]  # no termination


async def test_request_without_cseq_runs_without_response(env: HubEnv) -> None:
    _demo_calls(env)
    c = await env.logged_in("demo-corp", "demo-corp-pass")
    await c.subscribe(i_customer=1)
    await c.send({"auth_info": {"session_id": c.session_id}, "service": "CallControl",
                  "method": "terminate_call", "params": _ref(CALL, "b")})
    note = await c.notification()
    assert note["result"]["call_info"]["state"] == "terminated"
    # An erroneous request without cseq gets no answer either.
    await c.send({"service": "CallControl", "method": "nope"})
    await c.send({"cseq": None, "service": "CallControl", "method": "nope"})
    resp = await c.cc("get_sip_calls_list", {"i_customer": 1})
    assert resp["success"] == 1
    assert [k for k in c.order if k[0] == "response"][-1] == ("response", resp["cseq"])
    assert [cseq for kind, cseq in c.order if kind == "response"] == [1, 2, resp["cseq"]]


async def test_cseq_of_any_json_number_or_string_is_echoed(env: HubEnv) -> None:
    c = await env.logged_in("admin", "admin-pass")
    for cseq in (0, -3, 2.5, "abc-1", "", 2**53):
        resp = await c.cc("get_sip_calls_list", {"i_customer": 1}, cseq=cseq)
        assert resp["cseq"] == cseq and resp["success"] == 1
    await c.send({"cseq": [1], "auth_info": {"session_id": c.session_id}, "service": "CallControl",
                  "method": "get_sip_calls_list", "params": {"i_customer": 1}})
    resp = orjson.loads(await asyncio.wait_for(c.ws.recv(), TIMEOUT))
    assert resp["cseq"] == [1] and error_code(resp) == "internal_error"
    assert resp["error"]["details"] == [{"field": "cseq", "message": "cseq must be a number or a string"}]


async def test_only_the_commands_calls_wait_for_its_response(env: HubEnv) -> None:
    _demo_calls(env)
    gate = asyncio.Event()
    backend = env.backend

    async def slow_hold(leg: Leg) -> None:
        # The phone's re-INVITE arrives (from the network) before the command returns.
        asyncio.get_running_loop().call_soon(
            backend.move, leg, CallState.HOLDING, context=contextvars.Context())
        await asyncio.wait_for(gate.wait(), TIMEOUT)
        backend.actions.append(("hold_call", leg))

    backend.hold = slow_hold  # type: ignore[method-assign]
    c = await env.logged_in("demo-corp", "demo-corp-pass")
    await c.subscribe(i_customer=1)
    await c.send({"cseq": "hold", "auth_info": {"session_id": c.session_id}, "service": "CallControl",
                  "method": "hold_call", "params": _ref(CALL, "a")})
    async with asyncio.timeout(TIMEOUT):
        while (CALL, "a") not in backend.legs or backend.legs[(CALL, "a")].state is not CallState.HOLDING:
            await asyncio.sleep(0)
    # Another call's news is not held back by the pending command...
    backend.add(env.leg("other@10.0.0.1", "a", caller=2, callee=None))
    note = await c.notification()
    assert note["result"]["call_info"]["call"]["id"] == "other@10.0.0.1" and note["seq"] == 1
    # ...while this call's waits for the response.
    gate.set()
    resp = await c.response("hold")
    assert resp["success"] == 1
    note = await c.notification()
    assert (note["seq"], note["result"]["call_info"]["state"]) == (2, "holding")
    assert c.order[-3:] == [("notification", 1), ("response", "hold"), ("notification", 2)]


async def test_an_engine_refusal_reaches_the_client_as_its_api_error(env: HubEnv) -> None:
    env.backend.add(env.leg("solo@10.0.0.1", "a", caller=1, callee=None, state=CallState.CONNECTED))
    c = await env.logged_in("admin", "admin-pass")
    resp = await c.cc("transfer_call", {**_ref("solo@10.0.0.1", "a"), "cld": "1002"})
    assert error_code(resp) == "sip.wrong_parameters"  # InvalidArgument("call", ...) from the engine
    assert resp["error"]["details"] == [{"field": "params.call",
                                         "message": "the leg has no other party to transfer"}]


async def test_a_call_of_several_legs_needs_the_tag(env: HubEnv) -> None:
    _demo_calls(env)
    c = await env.logged_in("admin", "admin-pass")
    resp = await c.cc("hold_call", {"call": {"id": CALL}})
    assert error_code(resp) == "sip.wrong_parameters"
    assert [d["field"] for d in resp["error"]["details"]] == ["params.call.tag"]
    assert env.backend.actions == []
    assert (await c.cc("terminate_call", {"call": {"id": CALL}}))["success"] == 1  # the whole call

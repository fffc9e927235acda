"""Malformed and hostile frames; paths; the server goes on serving."""
from __future__ import annotations

import asyncio

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from callcontrol.api.dispatcher import MAX_BRACKETS, parse_envelope
from tests.unit.hub_harness import (  # noqa: F401  (fixtures)
    TIMEOUT,
    HubEnv,
    RawClient,
    env_fixture,
    error_code,
)


async def _raw(c: RawClient, frame: str | bytes) -> dict:
    await c.ws.send(frame)
    return orjson.loads(await asyncio.wait_for(c.ws.recv(), TIMEOUT))


async def _still_serving(c: RawClient) -> None:
    resp = await c.request("Session", "login", {"login": "admin", "password": "admin-pass"}, auth=None)
    assert resp["success"] == 1


@pytest.mark.parametrize("frame", [
    "{oops",
    '{"cseq": 1, "service": "Session",}',  # the seed's trailing comma
    '{"cseq": 1 "service": "Session"}',  # the seed's missing comma
    '{"a": NaN}',
    '{"a": 1}{"b": 2}',
    "",
])
async def test_not_json_is_internal_error_and_connection_goes_on(env: HubEnv, frame: str) -> None:
    c = await env.client()
    resp = await _raw(c, frame)
    assert resp["cseq"] is None and resp["success"] == 0
    assert resp["error"]["code"] == "internal_error"
    assert resp["error"]["message"] == "Internal server error"
    assert resp["error"]["details"]["reason"].startswith("frame is not valid JSON")
    await _still_serving(c)


@pytest.mark.parametrize("frame,kind", [("[1, 2]", "list"), ("3", "int"), ("null", "NoneType"),
                                        ('"login"', "str")])
async def test_non_object_json_is_internal_error(env: HubEnv, frame: str, kind: str) -> None:
    c = await env.client()
    resp = await _raw(c, frame)
    assert resp == {"cseq": None, "error": {"code": "internal_error", "message": "Internal server error",
                                            "details": {"reason": f"frame is a JSON {kind}, not an object"}},
                    "success": 0}
    await _still_serving(c)


async def test_binary_frame_is_refused_but_connection_goes_on(env: HubEnv) -> None:
    c = await env.client()
    body = orjson.dumps({"cseq": 1, "service": "Session", "method": "login",
                         "params": {"login": "admin", "password": "admin-pass"}})
    resp = await _raw(c, body)
    assert error_code(resp) == "internal_error" and resp["cseq"] is None
    assert "binary" in resp["error"]["details"]["reason"]
    assert len(env.api.sessions) == 0
    await _still_serving(c)


async def test_deeply_nested_frame_is_refused_without_parsing(env: HubEnv) -> None:
    c = await env.client()
    n = 300_000  # enough to overflow orjson 3.8's C stack
    resp = await _raw(c, "[" * n + "]" * n)
    assert error_code(resp) == "internal_error"
    resp = await _raw(c, '{"a":' * 50_000 + "1" + "}" * 50_000)
    assert resp["error"]["details"] == {"reason": "frame nests too many objects or arrays"}
    await _still_serving(c)


def test_bracket_guard_lets_ordinary_requests_through() -> None:
    params = {"call": {"id": "x" * 5000, "tag": "y"}, "url": "http://h/" + "a" * 5000}
    frame = orjson.dumps({"cseq": 1, "service": "CallControl", "method": "play_prompt", "params": params})
    env_ = parse_envelope(frame.decode())
    assert env_.params == params
    many = '{"cseq": 1, "x": "' + "{" * (MAX_BRACKETS + 1) + '"}'
    with pytest.raises(Exception, match="internal_error"):
        parse_envelope(many)


async def test_oversized_frame_closes_with_1009_and_others_are_unaffected(env: HubEnv) -> None:
    bystander = await env.logged_in("admin", "admin-pass")
    big = await env.client(max_size=None)
    await big.ws.send('{"cseq": 1, "pad": "' + "x" * (10 * 1024 * 1024) + '"}')
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(big.ws.recv(), TIMEOUT)
    assert big.ws.close_code == 1009
    assert (await bystander.cc("get_sip_calls_list", {"i_customer": 1}))["success"] == 1
    fresh = await env.client()
    await _still_serving(fresh)


async def test_both_paths_serve_the_api_and_others_are_refused(env: HubEnv) -> None:
    for path in ("/ws", "/ws/CallControl", "/ws?x=1"):
        c = await env.client(path)
        await _still_serving(c)
    with pytest.raises(InvalidStatus) as info:
        await connect(f"ws://127.0.0.1:{env.hub.port}/other")
    assert info.value.response.status_code == 404


async def test_garbage_on_many_connections_then_normal_service(env: HubEnv) -> None:
    clients = [await env.client() for _ in range(5)]
    frames = ["{", "[]", "1", '{"cseq": 2}', '{"cseq": 3, "service": 1, "method": []}',
              '{"cseq": 4, "service": "Session", "method": "login", "params": "x"}']
    for c in clients:
        for frame in frames:
            await c.ws.send(frame)
    for c in clients:
        got = [orjson.loads(await asyncio.wait_for(c.ws.recv(), TIMEOUT)) for _ in frames]
        codes = sorted(r["error"]["code"] for r in got)
        assert codes == sorted(["internal_error"] * 3 + ["sip.unsupported_method"] * 2
                               + ["sip.wrong_parameters"])
        await _still_serving(c)

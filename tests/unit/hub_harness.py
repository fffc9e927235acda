"""Shared pieces of the hub tests (fixture ``env``: import ``env_fixture`` into a
test module to use it): the real Directory (demo data, from the ``data_dir``
fixture of ``tests/unit/conftest.py``), the API over a CallRegistry with the
in-memory engine, the hub in front of it on port 0, a controllable clock, and a
thin raw ``websockets`` client that keeps responses and notifications apart.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.protocol import State

from callcontrol.api.memory_engine import MemoryEngine
from callcontrol.api.service import CallControlApi
from callcontrol.directory.service import Directory
from callcontrol.model.callinfo import CallId, CallInfo, CallState, Party, routing_keys
from callcontrol.model.calls import CallRegistry
from callcontrol.ws.hub import Hub, start_hub

TIMEOUT = 5.0
TRANSPORT = "127.0.0.1:5060"


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def party(directory: Directory, *, i_account: int | None = None, number: str | None = None,
          i_ivr_an: int | None = None) -> Party:
    keys = routing_keys(directory, i_account=i_account, i_ivr_an=i_ivr_an)
    if number is None:
        if i_account is not None:
            number = directory.account(i_account).id
        elif i_ivr_an is not None:
            number = directory.ivr_an(i_ivr_an).number
        else:
            number = "unknown"
    account = directory.account(i_account) if i_account is not None else None
    customer = directory.customer(keys["i_customer"]) if keys["i_customer"] is not None else None
    return Party(id=number, account_id=account.id if account else None,
                 display_id=number, centrex_id=str(customer.i_customer) if customer else None,
                 access_number=number if i_ivr_an is not None else None, **keys)


def party_for_number(directory: Directory, number: str) -> Party:
    account = directory.account_by_id(number)
    if account is not None:
        return party(directory, i_account=account.i_account)
    an = directory.ivr_an_by_number(number)
    if an is not None:
        return party(directory, i_ivr_an=an.i_ivr_an)
    return Party(id=number, display_id=number)


def leg(directory: Directory, call_id: str, tag: str, *, caller: int | None = None, callee: int | None = None,
        callee_ivr: int | None = None, state: CallState = CallState.RINGING,
        type: str = "incoming", now: float = 1_700_000_000.0) -> CallInfo:
    return CallInfo(
        call=CallId(call_id, tag), state=state, transport_id=TRANSPORT, type=type,  # type: ignore[arg-type]
        caller=party(directory, i_account=caller) if caller is not None else Party(id="5550000"),
        callee=party(directory, i_account=callee, i_ivr_an=callee_ivr),
        start_time=now if state in (CallState.TRYING, CallState.RINGING, CallState.EARLY) else None,
        connect_time=now if state in (CallState.CONNECTED, CallState.HELD, CallState.HOLDING) else None,
    )


class RawClient:
    """A real websockets client speaking the raw JSON envelope."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.notifications: list[dict[str, Any]] = []
        self.responses: dict[Any, dict[str, Any]] = {}
        self.order: list[tuple[str, Any]] = []  # ("response", cseq) / ("notification", seq) as received
        self._cseq = 0
        self.session_id: str | None = None

    def next_cseq(self) -> int:
        self._cseq += 1
        return self._cseq

    async def send(self, obj: Any) -> None:
        await self.ws.send(orjson.dumps(obj).decode())

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        msg = orjson.loads(raw)
        if isinstance(msg, dict) and "action" in msg:
            self.notifications.append(msg)
            self.order.append(("notification", msg.get("seq")))
        elif isinstance(msg, dict):
            self.responses[msg.get("cseq")] = msg
            self.order.append(("response", msg.get("cseq")))
        return msg

    async def response(self, cseq: Any, timeout: float = TIMEOUT) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while cseq not in self.responses:
                await self.recv(timeout)
        return self.responses.pop(cseq)

    async def notification(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next notification (responses received meanwhile are kept)."""
        start = len(self.notifications)
        async with asyncio.timeout(timeout):
            while len(self.notifications) == start:
                await self.recv(timeout)
        return self.notifications[start]

    async def request(self, service: str, method: str, params: dict[str, Any] | None = None, *,
                      auth: dict[str, Any] | None | bool = True, aux: dict[str, Any] | None = None,
                      cseq: Any = None) -> dict[str, Any]:
        if cseq is None:
            cseq = self.next_cseq()
        msg: dict[str, Any] = {"cseq": cseq, "service": service, "method": method}
        if params is not None:
            msg["params"] = params
        if auth is True:
            if self.session_id is not None:
                msg["auth_info"] = {"session_id": self.session_id}
        elif auth:
            msg["auth_info"] = auth
        if aux is not None:
            msg["aux_info"] = aux
        await self.send(msg)
        return await self.response(cseq)

    async def cc(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return await self.request("CallControl", method, params, **kw)

    async def login(self, login: str, password: str) -> str:
        resp = await self.request("Session", "login", {"login": login, "password": password}, auth=None)
        assert resp["success"] == 1, resp
        self.session_id = resp["result"]["session_id"]
        return self.session_id

    async def subscribe(self, auth: Any = True, **keys: int) -> dict[str, Any]:
        return await self.cc("enable_api_notifications", {"event": "sip.call_control_notifications", **keys},
                             auth=auth)


def error_code(resp: dict[str, Any]) -> str:
    assert resp["success"] == 0, resp
    return resp["error"]["code"]


@dataclass
class HubEnv:
    hub: Hub
    api: CallControlApi
    backend: MemoryEngine
    directory: Directory
    clock: FakeClock
    clients: list[RawClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.hub.port}/ws"

    async def client(self, path: str = "/ws", **kw: Any) -> RawClient:
        ws = await connect(f"ws://127.0.0.1:{self.hub.port}{path}", compression=None, **kw)
        client = RawClient(ws)
        self.clients.append(client)
        return client

    async def logged_in(self, login: str, password: str) -> RawClient:
        client = await self.client()
        await client.login(login, password)
        return client

    def leg(self, call_id: str, tag: str, **kw: Any) -> CallInfo:
        return leg(self.directory, call_id, tag, **kw)


# Options of CallControlApi; the rest of hub_env's keywords go to start_hub.
API_OPTIONS = frozenset({"session_idle_timeout", "replay_buffer", "disabled_methods", "allowed_realms", "throttle",
                         "time_offset"})


@contextlib.asynccontextmanager
async def hub_env(data_dir: Path, **kwargs: Any) -> AsyncIterator[HubEnv]:
    directory = await Directory.open(data_dir)
    clock = FakeClock()
    registry = CallRegistry()
    engine = MemoryEngine(registry, transport_id=TRANSPORT,
                          party_for=lambda number: party_for_number(directory, number))
    api = CallControlApi(directory=directory, registry=registry, engine=engine, clock=clock,
                         **{k: v for k, v in kwargs.items() if k in API_OPTIONS})
    registry.set_publish(api.publish)
    hub_kwargs = {k: v for k, v in kwargs.items() if k not in API_OPTIONS}
    hub_kwargs.setdefault("ping_interval", None)
    hub = await start_hub("127.0.0.1", 0, api=api, **hub_kwargs)
    env = HubEnv(hub, api, engine, directory, clock)
    try:
        yield env
    finally:
        for client in env.clients:
            if client.ws.state is not State.CLOSED:
                await client.ws.close()
        await hub.close(timeout=2.0)
        await directory.close()


@pytest.fixture(name="env")
async def env_fixture(data_dir: Path) -> AsyncIterator[HubEnv]:
    async with hub_env(data_dir) as e:
        yield e

"""Login throttling on the wire: consoles over real WebSocket connections to ``callcontrol serve``.

All consoles connect from 127.0.0.1, as the consoles of one office behind one NAT
address do. The server is configured with small limits ([api] keys) so that a few
dozen attempts show each rule (docs/operations.md, "Login throttling").
"""
from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.integration.harness import Server, start_server

pytestmark = pytest.mark.integration

TIMEOUT = 10.0
WRONG = "not-the-password"
# A first wait of ten minutes: no wait ends while a test runs, whatever the machine's load.
API_LIMITS = """
[api]
login_failures_per_login = 3
login_failures_per_address = 5
login_first_wait = 600.0
login_max_wait = 3600.0
"""


class Console:
    """One console's WebSocket connection: JSON-RPC requests, answers matched by cseq."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.cseq = itertools.count(1)
        self.session_id: str | None = None

    async def request(self, service: str, method: str, params: dict[str, Any],
                      auth_info: dict[str, Any] | None = None) -> dict[str, Any]:
        cseq = next(self.cseq)
        msg: dict[str, Any] = {"cseq": cseq, "service": service, "method": method, "params": params}
        if auth_info is not None:
            msg["auth_info"] = auth_info
        await self.ws.send(json.dumps(msg))
        while True:
            frame = json.loads(await self.ws.recv())
            if frame.get("cseq") == cseq:
                return frame

    async def login(self, login: str, password: str) -> dict[str, Any]:
        answer = await self.request("Session", "login", {"login": login, "password": password})
        if answer.get("success") == 1:
            self.session_id = answer["result"]["session_id"]
        return answer

    async def calls(self) -> dict[str, Any]:
        assert self.session_id is not None
        return await self.request("CallControl", "get_sip_calls_list", {"i_customer": 1},
                                  {"session_id": self.session_id})


def refused(answer: dict[str, Any]) -> float | None:
    """The wait of a refused login (0.0: refused with no wait yet), None when it succeeded."""
    if answer.get("success") == 1:
        return None
    assert answer["error"]["code"] == "auth.failed", answer
    return float(answer["error"]["details"].get("retry_after", 0.0))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path, tables=API_LIMITS)
    yield srv
    assert srv.proc.stop() == 0


def url(server: Server) -> str:
    return f"ws://127.0.0.1:{server.ws_port}/ws"


async def test_a_stale_console_does_not_lock_out_the_office(server: Server) -> None:
    async with connect(url(server), open_timeout=TIMEOUT) as ws_a, connect(url(server), open_timeout=TIMEOUT) as ws_b:
        stale, other = Console(ws_a), Console(ws_b)
        # Both consoles worked from this address; then the account's password changed
        # under the first one, which keeps trying with the old one.
        assert refused(await stale.login("1001", "secret1001")) is None
        assert refused(await other.login("demo-corp", "demo-corp-pass")) is None
        waits = [refused(await stale.login("1001", WRONG)) for _ in range(40)]
        assert waits[:4] == [0.0, 0.0, 0.0, 600.0] and all(w is not None and w > 0 for w in waits[4:])
        # The other console, and one never seen here, still log in from the same address.
        assert refused(await other.login("demo-corp", "demo-corp-pass")) is None
        assert refused(await other.login("admin", "admin-pass")) is None
        # A console whose login never worked here strikes the address: after five failures
        # the logins not known here wait; those that succeeded here recently do not.
        waits = [refused(await stale.login("1002", WRONG)) for _ in range(3)]
        waits += [refused(await stale.login("1003", WRONG)) for _ in range(3)]
        assert waits == [0.0] * 5 + [600.0]
        other_corp = await other.login("other-corp", "other-corp-pass")
        assert refused(other_corp) is not None and refused(other_corp) > 0
        assert refused(await other.login("demo-corp", "demo-corp-pass")) is None
        # (1001 itself still waits out its backoff: one login cannot be told apart from itself.)


async def test_a_flood_of_bad_logins_locks_out_unknown_logins_only(server: Server) -> None:
    async with connect(url(server), open_timeout=TIMEOUT) as ws_open, \
            connect(url(server), open_timeout=TIMEOUT) as ws_known, connect(url(server), open_timeout=TIMEOUT) as ws:
        open_console, known, attacker = Console(ws_open), Console(ws_known), Console(ws)
        assert refused(await open_console.login("admin", "admin-pass")) is None
        assert (await open_console.calls())["success"] == 1
        assert refused(await known.login("demo-corp", "demo-corp-pass")) is None
        waits = [refused(await attacker.login(f"guess{n}", WRONG)) for n in range(12)]
        # Five free failures, then the address waits, and attempts meanwhile are refused unchecked.
        assert waits[:6] == [0.0] * 5 + [600.0] and all(w is not None and 0 < w <= 600.0 for w in waits[6:])
        # A login never seen at this address is refused without its password being checked...
        wait = refused(await attacker.login("other-corp", "other-corp-pass"))
        assert wait is not None and 0 < wait <= 600.0
        # ...per-request credentials too...
        answer = await attacker.request("CallControl", "get_sip_calls_list", {"i_customer": 3},
                                        {"login": "other-corp", "password": "other-corp-pass"})
        assert refused(answer) is not None and refused(answer) > 0
        # ...while a login that succeeded here before gets in, and an open session is untouched.
        assert refused(await known.login("demo-corp", "demo-corp-pass")) is None
        assert (await known.calls())["success"] == 1
        assert (await open_console.calls())["success"] == 1

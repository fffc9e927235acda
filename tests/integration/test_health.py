"""``/health`` of a real ``Server`` (in process, real sockets and store) failing part by part.

Each failure is real: the event loop really stalls (the test blocks it, as a slow handler
would), the store is really closed, the SIP sockets and the WebSocket server really close.
The blocking ``time.sleep`` is the stalled loop itself, not a wait for something.
"""
from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest

from callcontrol.config import Config
from callcontrol.server import Server
from tests.integration.harness import free_port

pytestmark = pytest.mark.integration


async def _health(http: aiohttp.ClientSession, server: Server) -> tuple[int, dict]:
    host, port = server.config.http.listen
    async with http.get(f"http://{host}:{port}/health") as resp:
        return resp.status, await resp.json()


async def test_health_names_each_failing_part(tmp_path: Path) -> None:
    sip = free_port()
    config = Config.model_validate({
        "sip": {"listen": [f"udp:127.0.0.1:{sip}", f"tcp:127.0.0.1:{sip}"]},
        "ws": {"listen": f"127.0.0.1:{free_port()}"}, "http": {"listen": f"127.0.0.1:{free_port()}"},
        "store": {"data_dir": str(tmp_path / "data")}, "media": {"rtp_ports": "31000-31999"}})
    server = Server(config)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            status, body = await _health(http, server)
            assert (status, body["status"]) == (200, "ok"), body
            assert body["checks"]["sip"]["listeners"] == [f"udp:127.0.0.1:{sip}", f"tcp:127.0.0.1:{sip}"]
            limit = body["checks"]["event_loop"]["max_lag_s"]
            assert limit == 1.0

            time.sleep(limit + 1.5)  # the loop stalls: the lag watch then runs > limit s late
            status, body = await _health(http, server)
            assert (status, body["failing"]) == (503, ["event_loop"]), body
            assert body["checks"]["event_loop"]["lag_s"] > limit

            await server.directory.store.close()
            status, body = await _health(http, server)
            # (the stall stays in the lag window for 5 s: event_loop may still be failing)
            assert (status, set(body["failing"]) - {"event_loop"}) == (503, {"store"}), body
            assert body["checks"]["store"]["error"] == "store is closed"

            server.ua.close()  # every SIP socket
            await server.hub.close()
            status, body = await _health(http, server)
            assert (status, set(body["failing"]) - {"event_loop"}) == (503, {"store", "sip", "ws"}), body
            assert body["checks"]["sip"]["closed"] == [f"udp:127.0.0.1:{sip}", f"tcp:127.0.0.1:{sip}"]
    finally:
        await server.stop()

"""Hub lifecycle: graceful close, TLS (wss://), stats."""
from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from callcontrol.ws.hub import ConnState
from tests.unit.hub_harness import (  # noqa: F401  (fixtures)
    TIMEOUT,
    HubEnv,
    RawClient,
    env_fixture,
    hub_env,
)


async def test_graceful_close_answers_in_flight_requests_then_closes_1001(env: HubEnv) -> None:
    gate = asyncio.Event()

    async def slow_answer(params: Any, scope: Any) -> None:
        await asyncio.wait_for(gate.wait(), TIMEOUT)

    env.backend.add(env.leg("g1", "a", caller=1, callee=2))
    env.backend.answer = slow_answer  # type: ignore[method-assign]
    c = await env.logged_in("admin", "admin-pass")
    await c.send({"cseq": "slow", "auth_info": {"session_id": c.session_id}, "service": "CallControl",
                  "method": "answer_call", "params": {"call": {"id": "g1", "tag": "a"}}})
    (server_conn,) = env.hub.connections
    async with asyncio.timeout(TIMEOUT):
        while not server_conn.tasks:
            await asyncio.sleep(0)
    port = env.hub.port
    closing = asyncio.create_task(env.hub.close(timeout=TIMEOUT))
    async with asyncio.timeout(TIMEOUT):
        while server_conn.state is not ConnState.DRAINING:
            await asyncio.sleep(0)
    with pytest.raises(OSError):
        await connect(f"ws://127.0.0.1:{port}/ws", open_timeout=1)
    gate.set()
    resp = await c.response("slow")
    assert resp["success"] == 1
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(c.ws.recv(), TIMEOUT)
    assert c.ws.close_code == 1001 and c.ws.close_reason == "server shutting down"
    await asyncio.wait_for(closing, TIMEOUT)
    assert not env.hub.connections


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_wss_with_an_ssl_context(data_dir: Path, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    async with hub_env(data_dir, ssl=server_ctx) as env:
        async with connect(f"wss://127.0.0.1:{env.hub.port}/ws", ssl=client_ctx) as ws:
            c = RawClient(ws)
            assert await c.login("admin", "admin-pass")
        with pytest.raises(Exception):  # noqa: B017 - plain ws:// on a TLS port fails one way or another
            await connect(f"ws://127.0.0.1:{env.hub.port}/ws", open_timeout=2)


async def test_stats_count_the_work(env: HubEnv) -> None:
    c = await env.logged_in("demo-corp", "demo-corp-pass")
    await c.subscribe(i_customer=1)
    env.backend.add(env.leg("s1", "a", caller=1, callee=None))
    await c.notification()
    await c.ws.send("nonsense")
    orjson.loads(await asyncio.wait_for(c.ws.recv(), TIMEOUT))
    stats = env.hub.stats()
    assert stats["connections"] == 1 and stats["sessions"] == 1 and stats["live_legs"] == 1
    assert stats["published"] == 1 and stats["delivered"] == 1 and stats["requests"] == 3
    assert stats["errors"] == 1 and stats["subscribed_keys"] == 1

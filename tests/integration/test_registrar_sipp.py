"""The registrar against SIPp: digest REGISTER, wrong password, un-REGISTER, 423, persistence,
and where ``callcontrol serve`` sends calls to what a SIPp register scenario bound.

The first harness is in-process: a real UserAgent listening on a free UDP port with
the Registrar over a real Directory (demo seeded: account 1001 / secret1001)
in ``tmp_path``. SIPp runs the scenarios of ``sipp_scenarios/`` against it.
Loopback is not trusted here, so every REGISTER is digest-challenged.
"""
from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from callcontrol.access.registrar import Registrar, binding_peer
from callcontrol.access.sip_auth import RequestAuthenticator
from callcontrol.directory.service import Directory
from sip.ua import IncomingRequest, UserAgent
from tests.integration.harness import (
    SCENARIOS,
    Server,
    SippResult,
    free_port,
    run_sipp,
    start_server,
    start_sipp_uas,
)

pytestmark = pytest.mark.integration

SIPP_TIMEOUT = 20


@dataclass
class RegistrarHarness:
    ua: UserAgent
    directory: Directory
    registrar: Registrar
    port: int

    @classmethod
    async def start(cls, data_dir: Path, port: int) -> RegistrarHarness:
        directory = await Directory.open(data_dir)
        auth = RequestAuthenticator(directory, directory.sip_realm, is_trusted=lambda host: False)
        registrar = Registrar(directory, auth)
        await registrar.start()
        ua = UserAgent()

        def on_request(incoming: IncomingRequest) -> None:
            if incoming.request.method == "REGISTER":
                registrar.handle_register(incoming)
            else:
                incoming.respond(405, headers=[("Allow", "REGISTER")])

        ua.on_request = on_request
        await ua.listen("UDP", "127.0.0.1", port)
        await ua.listen("TCP", "127.0.0.1", port)
        return cls(ua, directory, registrar, port)

    async def stop(self) -> None:
        self.ua.close()
        await self.registrar.close()
        await self.directory.close()

    async def sipp(self, scenario: str, local_port: int, transport: str = "u1") -> SippResult:
        args = [f"127.0.0.1:{self.port}", "-sf", str(SCENARIOS / scenario), "-t", transport, "-m", "1",
                "-i", "127.0.0.1", "-p", str(local_port)]
        # SIPp blocks until done; the UA must keep answering meanwhile.
        return await asyncio.to_thread(run_sipp, args, SIPP_TIMEOUT)


def assert_passed(result: SippResult) -> None:
    assert result.returncode == 0, result.output[-3000:]
    assert (result.successful, result.failed) == (1, 0), result.output[-3000:]


@pytest.mark.parametrize("transport", [pytest.param("u1", id="udp"), pytest.param("t1", id="tcp")])
async def test_register_persist_unregister(tmp_path: Path, transport: str) -> None:
    data_dir = tmp_path / "data"
    sipp_port = free_port()
    name = "UDP" if transport == "u1" else "TCP"
    h = await RegistrarHarness.start(data_dir, free_port())
    try:
        assert_passed(await h.sipp("register.xml", sipp_port, transport))
        (b,) = h.registrar.contacts("1001")
        assert b.contact == f"sip:1001@127.0.0.1:{sipp_port};transport={name}"
        peer = binding_peer(b)
        assert (peer.transport, peer.host) == (name, "127.0.0.1")
        if name == "UDP":
            assert peer.port == sipp_port  # where its REGISTER came from (rport/Via)
        assert 3590 < b.expires_at - time.time() <= 3600
    finally:
        await h.stop()

    # A restart: a new directory, registrar and UA over the same data dir.
    h = await RegistrarHarness.start(data_dir, free_port())
    try:
        (restored,) = h.registrar.contacts("1001")
        assert (restored.contact, restored.expires_at, restored.source) == (b.contact, b.expires_at, b.source)
        assert_passed(await h.sipp("unregister.xml", sipp_port, transport))
        assert h.registrar.contacts("1001") == []
        await h.registrar.flush()
        assert await h.directory.store.load_bindings() == []
    finally:
        await h.stop()


async def test_wrong_password_is_refused_with_403(tmp_path: Path) -> None:
    h = await RegistrarHarness.start(tmp_path / "data", free_port())
    try:
        assert_passed(await h.sipp("register_wrong_password.xml", free_port()))
        assert h.registrar.contacts("1001") == []
    finally:
        await h.stop()


async def test_too_brief_gets_423_with_min_expires(tmp_path: Path) -> None:
    h = await RegistrarHarness.start(tmp_path / "data", free_port())
    try:
        assert_passed(await h.sipp("register_too_brief.xml", free_port()))
        assert h.registrar.contacts("1001") == []
    finally:
        await h.stop()


# --------------------------------------------------------------------------- calls to what was registered
# ``callcontrol serve`` itself: a SIPp register scenario binds 1001 (digest, from 127.0.0.1),
# a SIPp caller on a trusted address (127.0.0.2) dials 1001, and a SIPp UAS answers where the
# server should send the call (docs/sip.md, "Where a registered phone's calls go").

CALLER = "127.0.0.2"


def register_contact(server: Server, port: int, contact_host: str, contact_port: int) -> None:
    assert_passed(run_sipp([f"127.0.0.1:{server.sip_port}", "-sf", str(SCENARIOS / "register_contact.xml"),
                            "-m", "1", "-i", "127.0.0.1", "-p", str(port), "-key", "contact_host", contact_host,
                            "-key", "contact_port", str(contact_port)], SIPP_TIMEOUT))


def call_1001(server: Server, uas: subprocess.Popen[str]) -> None:
    try:
        result = run_sipp([f"127.0.0.1:{server.sip_port}", "-sn", "uac", "-s", "1001", "-m", "1",
                           "-i", CALLER, "-p", str(free_port())], 40)
        assert_passed(result)
        assert uas.wait(SIPP_TIMEOUT) == 0
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path, trusted=(f"{CALLER}/32",))
    yield srv
    assert srv.proc.stop() == 0


def test_calls_go_to_the_registered_contact_on_another_port(server: Server) -> None:
    register_port, contact_port = free_port(), free_port()
    uas = start_sipp_uas(contact_port, "u1", 1)  # the phone's listener, beside the register scenario
    register_contact(server, register_port, "127.0.0.1", contact_port)
    call_1001(server, uas)


def test_behind_nat_calls_go_where_the_register_came_from(server: Server) -> None:
    # The Contact names a host the REGISTER did not come from (what a phone behind NAT
    # writes): only the REGISTER's source reaches it.
    register_port = free_port()
    register_contact(server, register_port, "127.0.0.3", free_port())
    uas = start_sipp_uas(register_port, "u1", 1)  # the NAT's mapping: the register's own port
    call_1001(server, uas)

"""Live operations on the real server: directory edits while calls are up, SIGHUP reload, drain.

``callcontrol serve`` runs as the README says; pjsua2 phones register with digest (nothing is
trusted), ``callcontrol directory`` edits the running server's data dir from another process,
``callcontrol reload``/``drain`` signal it through its pid file. Every wait is on an event:
a phone's SIP state, a line of the server's log, the process's exit.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import (PHONE, ROOT, Server, SoftPhone, free_port, register, start, start_server,
                                       start_softphone)

pytest.importorskip("pjsua2")

pytestmark = pytest.mark.integration


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path, trusted=())
    try:
        yield srv
    finally:
        srv.proc.stop()


@pytest.fixture
def phones() -> Iterator[list[SoftPhone]]:
    started: list[SoftPhone] = []
    try:
        yield started
    finally:
        for phone in started:
            phone.quit()


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callcontrol", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=60)


def phone_registration(user: str, server: Server) -> tuple[SoftPhone, int]:
    """A pjsua2 phone for ``user`` and the final code of its REGISTER (not asserted here)."""
    args = {"port": free_port(), "user": user, "password": f"secret{user}", "server_port": server.sip_port}
    proc = start([sys.executable, str(PHONE), json.dumps(args)], ready='{"event": "ready"', timeout=20,
                 stdin=subprocess.PIPE)
    phone = SoftPhone(proc, user, args["port"])  # type: ignore[arg-type]
    return phone, phone.event("reg", timeout=10)["code"]


def connect(caller: SoftPhone, callee: SoftPhone, server: Server) -> None:
    caller.send(cmd="call", uri=f"sip:{callee.user}@127.0.0.1:{server.sip_port}")
    callee.event("incoming")
    caller.event("state", state="CONFIRMED")
    callee.event("state", state="CONFIRMED")


def hang_up(caller: SoftPhone, callee: SoftPhone) -> None:
    caller.send(cmd="hangup")
    caller.event("state", state="DISCONNECTED")
    callee.event("state", state="DISCONNECTED")


def options(server: Server) -> str:
    """An OPTIONS from a raw socket (a proxy's keep-alive probe); the status line of the answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        sock.sendto((
            f"OPTIONS sip:127.0.0.1:{server.sip_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKopt{port};rport\r\n"
            f"From: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:127.0.0.1:{server.sip_port}>\r\n"
            f"Call-ID: probe-{port}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        ).encode(), ("127.0.0.1", server.sip_port))
        return sock.recv(65535).decode().split("\r\n", 1)[0]


def health(server: Server) -> tuple[int, str, dict]:
    """/health's status code, overall status and its intake check."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/health", timeout=5) as resp:
            code, body = resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        code, body = err.code, json.loads(err.read())
    return code, body["status"], body["checks"]["intake"]


def test_account_added_while_a_call_is_up_registers_and_calls(server: Server, phones: list[SoftPhone]) -> None:
    p1001, p1002, p1003 = (start_softphone(u, f"secret{u}", server.sip_port) for u in ("1001", "1002", "1003"))
    phones += [p1001, p1002, p1003]
    connect(p1001, p1002, server)

    # Unknown before the edit: the digest cannot be answered for an account that does not exist.
    before, code = phone_registration("1004", server)
    phones.append(before)
    assert code in (401, 403, 404), code
    before.quit()

    done = cli("directory", "add", "account", "--data-dir", str(server.data_dir), "--customer", "1",
               "--id", "1004", "--password-stdin", stdin="secret1004\n")
    assert done.returncode == 0, done.stderr
    server.proc.wait_for_log("accounts added: 1004")

    p1004 = start_softphone("1004", "secret1004", server.sip_port)  # asserts the 200
    phones.append(p1004)
    connect(p1004, p1003, server)
    hang_up(p1004, p1003)

    # The first call went on through all of it: both phones still have it confirmed, and it ends normally.
    for phone in (p1001, p1002):
        calls = phone.request("calls", cmd="calls")["calls"]
        assert [c["state"] for c in calls] == ["CONFIRMED"], calls
    hang_up(p1001, p1002)
    cdrs = server.stop_and_read_cdrs()
    answered = {(row["caller"], row["callee"]) for row in cdrs if row["connect_time"]}
    assert {("1001", "1002"), ("1004", "1003")} <= answered, [dict(r) for r in cdrs]


def test_removed_account_is_forgotten_and_sighup_reloads(tmp_path: Path, phones: list[SoftPhone]) -> None:
    server = start_server(tmp_path, trusted=(), trunk=False)  # no trunk: a number nobody has gets 404
    try:
        removed_account_then_reload(server, phones)
    finally:
        server.proc.stop()


def removed_account_then_reload(server: Server, phones: list[SoftPhone]) -> None:
    p1001, p1003 = (start_softphone(u, f"secret{u}", server.sip_port) for u in ("1001", "1003"))
    phones += [p1001, p1003]
    done = cli("directory", "remove", "account", "--data-dir", str(server.data_dir), "3")
    assert done.returncode == 0, done.stderr
    server.proc.wait_for_log("accounts removed: 1003")
    # Its registration went with it: a call to 1003 is now for nobody.
    p1001.send(cmd="call", uri=f"sip:1003@127.0.0.1:{server.sip_port}")
    ended = p1001.event("state", state="DISCONNECTED")
    assert ended["code"] == 404, ended
    assert p1003.seen("incoming") == []

    reply = cli("reload", "--data-dir", str(server.data_dir))
    assert reply.returncode == 0, reply.stderr
    assert reply.stdout.startswith(f"sent SIGHUP to server process {server.proc.popen.pid}")
    server.proc.wait_for_log("directory reload (SIGHUP): reloaded")


def test_drain_refuses_new_calls_keeps_the_call_and_exits_0(server: Server, phones: list[SoftPhone]) -> None:
    p1001, p1002, p1003 = (start_softphone(u, f"secret{u}", server.sip_port) for u in ("1001", "1002", "1003"))
    phones += [p1001, p1002, p1003]
    connect(p1001, p1002, server)
    assert options(server).endswith("200 OK")
    assert health(server) == (200, "ok", {"status": "ok", "intake": "open"})

    reply = cli("drain", "--data-dir", str(server.data_dir))
    assert reply.returncode == 0, reply.stderr
    server.proc.wait_for_log("draining: new calls get 503; 1 calls up")

    p1003.send(cmd="call", uri=f"sip:1001@127.0.0.1:{server.sip_port}")
    refused = p1003.event("state", state="DISCONNECTED")
    assert refused["code"] == 503, refused
    assert p1001.seen("incoming") == []
    assert options(server) == "SIP/2.0 503 Draining"
    # Healthy, but wanting no new work: a load balancer polling /health takes it out too.
    assert health(server) == (503, "draining", {"status": "draining", "intake": "draining", "calls_up": 1})

    # The call that was up is untouched and ends when its parties hang up; then the server exits 0.
    calls = p1001.request("calls", cmd="calls")["calls"]
    assert [c["state"] for c in calls] == ["CONFIRMED"], calls
    hang_up(p1001, p1002)
    server.proc.wait_for_log("drained: the last call ended")
    assert server.proc.popen.wait(15) == 0, server.proc.stderr_text()
    assert not (server.data_dir / "callcontrol.pid").exists()


def test_control_commands_without_a_server_say_which_file(tmp_path: Path) -> None:
    for command in ("reload", "drain"):
        reply = cli(command, "--data-dir", str(tmp_path))
        assert reply.returncode == 1
        assert reply.stderr.strip() == (f"callcontrol {command}: no server running on {tmp_path}: "
                                        f"{tmp_path / 'callcontrol.pid'} does not exist")
    (tmp_path / "callcontrol.pid").write_text("999999999\n")
    reply = cli("reload", "--data-dir", str(tmp_path))
    assert reply.returncode == 1 and "process 999999999" in reply.stderr and "is gone" in reply.stderr


def test_sighup_applies_reloadable_config_and_refuses_the_rest(tmp_path: Path) -> None:
    server = start_server(tmp_path, trusted=())
    config = tmp_path / "callcontrol.toml"
    original = config.read_text()
    try:
        assert register(server.sip_port, free_port(), "1001").startswith("SIP/2.0 401")  # challenged

        config.write_text(original.replace("trusted = []", 'trusted = ["127.0.0.1/32"]'))
        os.kill(server.proc.popen.pid, signal.SIGHUP)
        line = server.proc.wait_for_log("config reloaded:")
        assert line.endswith('config reloaded: sip.trusted [] -> ["127.0.0.1/32"]'), line
        assert register(server.sip_port, free_port(), "1001").startswith("SIP/2.0 200")  # now trusted

        config.write_text(original.replace("trusted = []", 'trusted = ["127.0.0.1/32"]\nt1 = "fast"'))
        os.kill(server.proc.popen.pid, signal.SIGHUP)
        line = server.proc.wait_for_log("config reload refused:")
        assert f"{config}: sip.t1" in line and line.endswith("the running config is unchanged"), line

        moved = original.replace("trusted = []", 'trusted = ["127.0.0.1/32"]')
        moved = moved.replace(f'listen = "127.0.0.1:{server.ws_port}"', f'listen = "127.0.0.1:{free_port()}"')
        config.write_text(moved.replace('trusted = ["127.0.0.1/32"]', "trusted = []"))
        os.kill(server.proc.popen.pid, signal.SIGHUP)
        line = server.proc.wait_for_log("config reload refused:")
        assert "ws.listen" in line and line.endswith("(needs a restart); nothing applied"), line
        assert "sip.trusted" not in line
        # All or nothing: the trusted change in the refused file was not applied either.
        assert register(server.sip_port, free_port(), "1001").startswith("SIP/2.0 200")
        assert server.proc.stop() == 0
    finally:
        server.proc.stop()

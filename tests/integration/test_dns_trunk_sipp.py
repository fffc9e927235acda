"""A trunk given by name (RFC 3263): ``callcontrol serve`` with ``[trunk] uri = "sip:trunk.test"``
and ``[dns] nameservers`` pointing at Debian's dnsmasq, started by the test on loopback with
NAPTR, SRV and A records. The first SRV target is dead (TCP: the connection is refused; UDP:
it answers 503): the server fails over to the second, a SIPp UAS, which gets the call.

Both sides are asserted: the SIPp UAS's trace (the INVITE's Request-URI keeps the name, its
Via the transport NAPTR chose) and dnsmasq's query log (NAPTR, then SRV, then A; and the
second call asks nothing: answers are cached by their TTL).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.harness import (
    SCENARIOS,
    free_port,
    run_sipp,
    sip_start_line,
    sipp_messages,
    start_server,
    start_sipp_scenario,
    start_sipp_uas,
    wait_port_bound,
)

pytestmark = pytest.mark.integration

DNSMASQ = shutil.which("dnsmasq") or shutil.which("dnsmasq", path="/usr/sbin")
if DNSMASQ is None:
    pytest.skip("dnsmasq not installed (scripts/run-tests installs dnsmasq-base)", allow_module_level=True)


@dataclass
class Dns:
    popen: subprocess.Popen[str]
    port: int
    log: Path

    def queries(self) -> list[tuple[str, str]]:
        """(type, name) of every query dnsmasq logged so far."""
        return re.findall(r"query\[(\w+)\] (\S+) from", self.log.read_text())


def start_dnsmasq(tmp_path: Path, *records: str) -> Dns:
    """dnsmasq on 127.0.0.1:PORT answering only from ``records`` (its own options), TTL 300."""
    port = free_port()
    log = tmp_path / "dnsmasq.log"
    popen = subprocess.Popen(
        [DNSMASQ, "--keep-in-foreground", "--no-resolv", "--no-hosts", f"--port={port}",
         "--listen-address=127.0.0.1", "--bind-interfaces", "--pid-file=",
         *(["--user=root"] if os.geteuid() == 0 else []),  # else it drops to "nobody", who cannot log here
         "--local-ttl=300", "--log-queries", f"--log-facility={log}", *records],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_port_bound(port, "udp")
    except BaseException:
        popen.kill()
        raise
    return Dns(popen, port, log)


@pytest.fixture
def dns_servers() -> Iterator[list[Dns]]:
    started: list[Dns] = []
    yield started
    for d in started:
        d.popen.terminate()
        d.popen.wait(10)


def _server(tmp_path: Path, dns: Dns) -> object:
    # [trunk] and [dns] tables after the harness's [sip] lines (it writes no [trunk] with trunk=False).
    return start_server(tmp_path, trunk=False, sip_extra=f"""
[trunk]
uri = "sip:trunk.test"
[dns]
nameservers = ["127.0.0.1:{dns.port}"]
""")


def _call(server: object, count: int = 1) -> None:
    result = run_sipp([f"127.0.0.1:{server.sip_port}", "-sn", "uac", "-s", "5551234",  # type: ignore[attr-defined]
                       "-m", str(count), "-l", "1", "-p", str(free_port())], timeout=60)
    assert result.returncode == 0, result.output[-3000:]
    assert (result.successful, result.failed) == (count, 0)


def test_trunk_by_name_over_tcp_fails_over_past_a_dead_target(tmp_path: Path, dns_servers: list[Dns]) -> None:
    dead, live = free_port(), free_port()  # nothing listens on ``dead``: TCP connect refused
    dns = start_dnsmasq(tmp_path,
                        "--naptr-record=trunk.test,10,10,S,SIP+D2T,,_sip._tcp.trunk.test",
                        "--naptr-record=trunk.test,20,10,S,SIP+D2U,,_sip._udp.trunk.test",
                        f"--srv-host=_sip._tcp.trunk.test,dead.trunk.test,{dead},10,0",
                        f"--srv-host=_sip._tcp.trunk.test,live.trunk.test,{live},20,0",
                        # Never reached (TCP comes first by NAPTR order); asked for all the same.
                        f"--srv-host=_sip._udp.trunk.test,live.trunk.test,{live},10,0",
                        "--host-record=dead.trunk.test,127.0.0.1",
                        "--host-record=live.trunk.test,127.0.0.2")
    dns_servers.append(dns)
    server = _server(tmp_path, dns)
    trace = tmp_path / "uas.log"
    uas = subprocess.Popen(["sipp", "-sn", "uas", "-t", "t1", "-i", "127.0.0.2", "-p", str(live), "-m", "2",
                            "-nostdin", "-timeout", "120s", "-trace_msg", "-message_file", str(trace)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_tcp_listening("127.0.0.2", live)
        _call(server)
        first = dns.queries()
        _call(server)
        assert uas.wait(30) == 0, uas.stderr.read()[-2000:] if uas.stderr else ""
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait()
        server.proc.stop()  # type: ignore[attr-defined]
    log = server.proc.popen.stderr.read()  # type: ignore[attr-defined]  (all of it: the process ended)
    # Each call tried the priority-10 target first; its connection was refused (§4.3).
    assert log.count(f"tcp:127.0.0.1:{dead} failed, trying tcp:127.0.0.2:{live}") == 2, log
    # NAPTR first, then the SRV of the transports it named, then the targets' addresses (§4.1-4.2).
    assert first[0] == ("NAPTR", "trunk.test")
    assert {("SRV", "_sip._tcp.trunk.test"), ("SRV", "_sip._udp.trunk.test")} <= set(first)
    assert {("A", "dead.trunk.test"), ("A", "live.trunk.test")} <= set(first)
    assert all(q[0] != "AAAA" for q in first)  # our listeners are IPv4: no AAAA asked
    assert dns.queries() == first  # the second call was routed from the cache (TTL 300)
    invites = [m for d, m in sipp_messages(trace) if d == "received" and m.startswith("INVITE ")]
    assert len(invites) == 2
    for invite in invites:
        assert sip_start_line(invite) == "INVITE sip:5551234@trunk.test SIP/2.0"
        assert re.search(r"^Via: SIP/2\.0/TCP 127\.0\.0\.1:", invite, re.MULTILINE | re.IGNORECASE), invite


def test_trunk_by_name_over_udp_fails_over_after_503(tmp_path: Path, dns_servers: list[Dns]) -> None:
    first_port, second_port = free_port(), free_port()
    dns = start_dnsmasq(tmp_path,
                        "--naptr-record=trunk.test,10,10,S,SIP+D2U,,_sip._udp.trunk.test",
                        f"--srv-host=_sip._udp.trunk.test,a.trunk.test,{first_port},10,0",
                        f"--srv-host=_sip._udp.trunk.test,b.trunk.test,{second_port},20,0",
                        "--host-record=a.trunk.test,127.0.0.1",
                        "--host-record=b.trunk.test,127.0.0.1")
    dns_servers.append(dns)
    server = _server(tmp_path, dns)
    refusing = start_sipp_scenario(first_port, "u1", 1, SCENARIOS / "uas_503.xml")
    answering = start_sipp_uas(second_port, "u1", 1)
    try:
        _call(server)
        assert refusing.wait(30) == 0, refusing.stderr.read()[-2000:] if refusing.stderr else ""
        assert answering.wait(30) == 0, answering.stderr.read()[-2000:] if answering.stderr else ""
    finally:
        for p in (refusing, answering):
            if p.poll() is None:
                p.kill()
                p.wait()
        cdrs = server.stop_and_read_cdrs()  # type: ignore[attr-defined]
    calls = [c for c in cdrs if c["leg_tag"] is None]
    assert len(calls) == 1 and calls[0]["connect_time"] is not None


def test_trunk_name_that_does_not_resolve_is_503_to_the_caller(tmp_path: Path, dns_servers: list[Dns]) -> None:
    dns = start_dnsmasq(tmp_path, "--host-record=other.test,127.0.0.1")
    dns_servers.append(dns)
    server = _server(tmp_path, dns)
    try:
        result = run_sipp([f"127.0.0.1:{server.sip_port}", "-sf", str(SCENARIOS / "uac_503.xml"),  # type: ignore[attr-defined]
                           "-s", "5551234", "-m", "1", "-p", str(free_port())], timeout=60)
        assert result.returncode == 0, result.output[-3000:]
    finally:
        server.proc.stop()  # type: ignore[attr-defined]
    assert ("NAPTR", "trunk.test") in dns.queries()


def _wait_tcp_listening(host: str, port: int) -> None:
    import socket
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.02)  # polling a condition with a deadline, not a blind wait
    raise TimeoutError(f"nothing listens on tcp {host}:{port}")

"""The RFC 4475 corpus on the wire: every message sent to ``callcontrol serve`` over UDP and TCP.

Each message of ``tests/rfc4475.py`` goes to the real server on its own socket
(UDP) or connection (TCP), and the answer read off the wire is checked against
the case: the status and the headers the RFC asks for (Allow, Unsupported,
Accept, a challenge). A message that must go unanswered (a response, or on TCP
a framing error) is checked by what comes instead: over UDP a probe OPTIONS
sent right after it on the same socket must be the first thing answered (the
server handles one socket's datagrams in order and answers at once); over TCP
the connection must end without a byte (the server closes it, or, where the
framer waits for the promised Content-Length, after we end our side).

Three rules of the setting:

- Over UDP the answer goes where the top Via says (RFC 3261 §18.2.2), and the
  RFC's Vias name example hosts without ``rport``; the test adds ``;rport`` to
  the top Via (RFC 3581, what phones send) so the answer comes back to its
  socket, except where the Via is the defect (badinv01: the server answers the
  source) or already has it. TCP messages go byte for byte as the RFC has them.
- Several messages share a branch and sent-by (``z9hG4bKkdjuw`` from
  ``host5.example.com``...): to the server a second one is a retransmission
  of the first (§17.2.3), rightly answered with the first one's answer. Each
  message therefore goes to a server that has not seen its transaction key.
- The corpus comes from an untrusted address, so every request that reaches
  the registrar or the B2BUA is challenged (401/407), on UDP and TCP alike.
- After the corpus the same server still serves: an OPTIONS gets 200, a SIPp
  call from a trusted address through the trunk completes, it logged no exception, and SIGTERM stops
  it with exit code 0.
"""
from __future__ import annotations

import itertools
import re
import socket
from pathlib import Path

import pytest

from sip.framing import StreamFramer
from sip.message import Request, SipParseError, parse_message
from tests.integration.harness import Server, free_port, run_sipp, start_server, start_sipp_uas
from tests.rfc4475 import CASES, Case, check_answer, read_answer

pytestmark = pytest.mark.integration

TIMEOUT = 10.0  # bound of every read; answers come in milliseconds
# The corpus is sent from 127.0.0.1, which the server does not trust: what reaches the
# registrar or the B2BUA is challenged on both transports (trusted INVITEs would be routed,
# to the trunk for unknown users). The SIPp call afterwards comes from a trusted address.
TRUSTED = "127.0.0.2"
_probes = itertools.count(1)


def with_rport(data: bytes) -> bytes:
    """``data`` with ``;rport`` ending the first value of its top Via header (folded or not)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    first = next(i for i, line in enumerate(lines) if re.match(rb"(?i)(via|v)\s*:", line))
    last = first
    while last + 1 < len(lines) and lines[last + 1][:1] in (b" ", b"\t"):
        last += 1  # continuation lines of the same header (§7.3.1)
    for i in range(first, last + 1):
        start = lines[i].index(b":") + 1 if i == first else 0
        comma = lines[i].find(b",", start)
        if comma >= 0:  # the top value ends at the first comma
            lines[i] = lines[i][:comma].rstrip() + b";rport" + lines[i][comma:]
            break
    else:
        lines[last] = lines[last].rstrip() + b";rport"
    return b"\r\n".join(lines) + sep + body


def transaction_key(case: Case) -> tuple[object, ...] | None:
    """What a server matches a request's transaction by (§17.2.3), for requests that parse."""
    try:
        msg = parse_message(case.data)
        if not isinstance(msg, Request):
            return None
        via = msg.top_via
    except SipParseError:
        return None
    return (via.branch, via.sent_by, msg.method)


def rounds(cases: list[Case]) -> list[list[Case]]:
    """The cases split so that no round holds two with one transaction key (first fit, in order)."""
    groups: list[tuple[set[tuple[object, ...]], list[Case]]] = []
    for case in cases:
        key = transaction_key(case)
        for keys, members in groups:
            if key is None or key not in keys:
                break
        else:
            keys, members = set(), []
            groups.append((keys, members))
        if key is not None:
            keys.add(key)
        members.append(case)
    return [members for _, members in groups]


def probe(transport: str, server_port: int, local_port: int) -> tuple[str, bytes]:
    n = next(_probes)
    call_id = f"probe-{n}@rfc4475"
    return call_id, (
        f"OPTIONS sip:127.0.0.1:{server_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1:{local_port};branch=z9hG4bK-probe-{n};rport\r\n"
        f"From: <sip:probe@127.0.0.1>;tag=p{n}\r\nTo: <sip:127.0.0.1:{server_port}>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def call_id_of(answer: bytes) -> str | None:
    return read_answer(answer)[1].get("call-id")


# -- UDP ---------------------------------------------------------------------------------------

def udp_final(sock: socket.socket) -> bytes:
    """The next final answer on ``sock`` (a 100 Trying before it is skipped)."""
    while True:
        data = sock.recv(65535)
        if read_answer(data)[0] >= 200:
            return data


def udp_case(server: Server, case: Case) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(TIMEOUT)
        sock.sendto(with_rport(case.data) if case.rport else case.data, ("127.0.0.1", server.sip_port))
        if case.status is not None:
            check_answer(case, udp_final(sock))
            return
        call_id, options = probe("UDP", server.sip_port, sock.getsockname()[1])
        sock.sendto(options, ("127.0.0.1", server.sip_port))
        first = udp_final(sock)
        assert call_id_of(first) == call_id, f"{case.id} was answered: {first[:200]!r}"
        assert read_answer(first)[0] == 200


# -- TCP ---------------------------------------------------------------------------------------

def tcp_final(conn: socket.socket, framer: StreamFramer) -> bytes:
    while True:
        data = conn.recv(65535)
        assert data, "the server closed the connection without answering"
        for item in framer.feed(data):
            if isinstance(item, bytes) and read_answer(item)[0] >= 200:
                return item


def tcp_case(server: Server, case: Case) -> None:
    with socket.create_connection(("127.0.0.1", server.sip_port), timeout=TIMEOUT) as conn:
        conn.sendall(case.data)
        if case.stream != "answer":
            if case.stream == "wait":
                conn.shutdown(socket.SHUT_WR)  # the server waits for the promised body: end our side
            assert conn.recv(65535) == b"", f"{case.id}: answered on a stream it should {case.stream} on"
            return
        framer = StreamFramer()
        if case.status is not None:
            check_answer(case, tcp_final(conn, framer))
            return
        call_id, options = probe("TCP", server.sip_port, conn.getsockname()[1])
        conn.sendall(options)
        first = tcp_final(conn, framer)
        assert call_id_of(first) == call_id, f"{case.id} was answered: {first[:200]!r}"


# -- the server afterwards ---------------------------------------------------------------------

def assert_still_serving(server: Server) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(TIMEOUT)
        call_id, options = probe("UDP", server.sip_port, sock.getsockname()[1])
        sock.sendto(options, ("127.0.0.1", server.sip_port))
        answer = udp_final(sock)
        assert (read_answer(answer)[0], call_id_of(answer)) == (200, call_id)
    uas = start_sipp_uas(server.trunk_port, "u1", 1)
    try:
        result = run_sipp([f"127.0.0.1:{server.sip_port}", "-sn", "uac", "-s", "5551234", "-m", "1",
                           "-i", TRUSTED, "-p", str(free_port())], timeout=30)
        assert result.returncode == 0 and (result.successful, result.failed) == (1, 0), result.output[-3000:]
        assert uas.wait(30) == 0
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_every_rfc4475_message_is_answered_per_the_rfc(tmp_path: Path, transport: str) -> None:
    send = udp_case if transport == "udp" else tcp_case
    groups = rounds(CASES)
    assert sum(len(g) for g in groups) == len(CASES) and len(groups) > 1
    for n, group in enumerate(groups):
        (tmp_path / f"round{n}").mkdir()
        server = start_server(tmp_path / f"round{n}", trusted=(TRUSTED + "/32",))
        try:
            for case in group:
                send(server, case)
            assert_still_serving(server)
        finally:
            code = server.proc.stop()
        assert server.proc.popen.stderr is not None
        log = "\n".join(server.proc.err_lines) + server.proc.popen.stderr.read()
        assert code == 0, log[-3000:]
        assert "Traceback" not in log, log[-3000:]

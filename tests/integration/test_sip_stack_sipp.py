"""The SIP stack against SIPp over loopback: both directions, late ACK, CANCEL, UDP and TCP."""
from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from tests.integration.harness import (
    AGENT,
    SCENARIOS,
    free_port,
    run_sipp,
    start,
    start_agent_uas,
    start_sipp_uas,
)

pytestmark = pytest.mark.integration

TRANSPORTS = [pytest.param("u1", id="udp"), pytest.param("t1", id="tcp")]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sipp_uac_to_stack_uas_200_calls(transport: str) -> None:
    port = free_port()
    uas = start_agent_uas(port)
    try:
        result = run_sipp([f"127.0.0.1:{port}", "-sn", "uac", "-t", transport, "-m", "200", "-r", "100",
                           "-p", str(free_port())])
    finally:
        counters = uas.stop_and_read_json()
    assert result.returncode == 0, result.output[-3000:]
    assert (result.successful, result.failed) == (200, 0)
    assert counters["invites"] == 200
    assert counters["answered"] == 200
    assert counters["acked"] == 200
    assert counters["byes"] == 200
    assert counters["parse_errors"] == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stack_uac_to_sipp_uas(transport: str) -> None:
    sipp_port = free_port()
    tcp = ["--tcp"] if transport == "t1" else []
    sipp = start_sipp_uas(sipp_port, transport, 100)
    try:
        # The agent stays connected until SIPp has finished its scenario (its last
        # call ends with a pause; closing TCP under it would count as a failure).
        agent = start([sys.executable, str(AGENT), "uac", "--target", f"sip:service@127.0.0.1:{sipp_port}",
                       "--calls", "100", "--rate", "50", "--wait-stdin", *tcp], ready="{", timeout=60,
                      stdin=subprocess.PIPE)
        counters = json.loads(agent.lines[-1])
        sipp_code = sipp.wait(30)
        assert agent.popen.stdin is not None
        agent.popen.stdin.close()
        assert agent.popen.wait(10) == 0
    finally:
        if sipp.poll() is None:
            sipp.kill()
    assert counters["completed"] == 100, counters
    assert counters["failed"] == 0
    assert sipp_code == 0, sipp.stderr.read() if sipp.stderr else ""
    assert counters["completed"] == 100
    assert counters["failed"] == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_withheld_ack_gets_200_retransmitted_then_call_completes(transport: str, tmp_path) -> None:
    port = free_port()
    trace = tmp_path / "messages.log"
    uas = start_agent_uas(port)
    try:
        result = run_sipp([f"127.0.0.1:{port}", "-sf", str(SCENARIOS / "uac_late_ack.xml"), "-t", transport,
                           "-m", "5", "-r", "5", "-p", str(free_port()), "-trace_msg", "-message_file",
                           str(trace)])
    finally:
        counters = uas.stop_and_read_json()
    assert result.returncode == 0, result.output[-3000:]
    assert (result.successful, result.failed) == (5, 0)
    assert counters["answered"] == 5
    assert counters["acked"] == 5  # the late ACK was matched to its dialog
    assert counters["byes"] == 5
    # Count, per call, the 200s to the INVITE that reached SIPp before its ACK.
    oks: dict[str, int] = {}
    for block in trace.read_text().split("message received")[1:]:
        if "SIP/2.0 200 OK" in block and "CSeq: 1 INVITE" in block:
            call_id = next(line.split(":", 1)[1].strip() for line in block.splitlines()
                           if line.startswith("Call-ID:"))
            oks[call_id] = oks.get(call_id, 0) + 1
    assert len(oks) == 5
    if transport == "u1":
        # T1 = 500 ms: the 200 is resent at 0.5 s and 1.5 s while SIPp withholds its ACK.
        assert all(n >= 2 for n in oks.values()), oks
    else:
        # Over TCP the transport is reliable: no retransmission (§17.2.1, §13.3.1.4).
        assert all(n == 1 for n in oks.values()), oks


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_cancel_of_ringing_invite(transport: str) -> None:
    port = free_port()
    uas = start_agent_uas(port, "--ring-ms", "60000")
    try:
        result = run_sipp([f"127.0.0.1:{port}", "-sf", str(SCENARIOS / "uac_cancel.xml"), "-t", transport,
                           "-m", "20", "-r", "20", "-p", str(free_port())])
    finally:
        counters = uas.stop_and_read_json()
    assert result.returncode == 0, result.output[-3000:]
    assert (result.successful, result.failed) == (20, 0)
    assert counters["invites"] == 20
    assert counters["cancelled"] == 20
    assert counters["answered"] == 0


def _options(port: int, call_id: str) -> bytes:
    return (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{call_id}\r\n"
            "From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


def test_server_survives_garbage_and_answers_400_then_options() -> None:
    """Random bytes, truncations, bad Content-Length, NUL/CR-LF injection: 400 where possible, still serving."""
    port = free_port()
    http = free_port()
    data_dir = f"/tmp/cc-garbage-{port}"
    server = start(["callcontrol", "serve", "--sip-listen", f"127.0.0.1:{port}", "--ws-listen",
                    f"127.0.0.1:{free_port()}", "--http-listen", f"127.0.0.1:{http}", "--data-dir", data_dir],
                   ready="ready")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    try:
        good = _options(port, "good1").decode()
        # The Via names our socket (rport) so that 400s can come back to us.
        me = sock.getsockname()[1]
        good = good.replace("127.0.0.1:9;", f"127.0.0.1:{me};")
        bad_answered = [
            good.replace("Content-Length: 0", "Content-Length: 50"),          # CL larger than body
            good.replace("Content-Length: 0", "Content-Length: -3"),          # negative CL
            good.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE"),               # CSeq method mismatch
            good.replace("sip:127.0.0.1:", "sip:127.0.0.1 :"),               # space in Request-URI
            good.replace("From: <sip:probe@127.0.0.1>;tag=1", "From: \"unterminated <sip:p@x>;tag=1"),
            good.replace("Max-Forwards: 70", "Max-Forwards: seventy"),
        ]
        for i, text in enumerate(bad_answered):
            sock.sendto(text.replace("good1", f"bad{i}").encode(), ("127.0.0.1", port))
            reply = sock.recv(65535).decode()
            assert reply.startswith("SIP/2.0 400 "), (i, reply)
            assert f"Call-ID: bad{i}" in reply
        # Garbage that cannot be answered is dropped; the listener keeps serving.
        for junk in (b"\x00\xff" * 100, b"INVITE", b"SIP/2.0 200 OK\r\n\r\n", good.encode()[:40],
                     good.replace("Call-ID: good1", "Call-ID: a\x00b").encode(), bytes(range(256)) * 10):
            sock.sendto(junk, ("127.0.0.1", port))
        sock.sendto(_options(port, "final").replace(b"127.0.0.1:9;", f"127.0.0.1:{me};".encode()),
                    ("127.0.0.1", port))
        while True:
            reply = sock.recv(65535).decode()
            if "Call-ID: final" in reply:
                break
        assert reply.startswith("SIP/2.0 200 OK")
    finally:
        sock.close()
        assert server.stop() == 0

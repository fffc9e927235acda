"""What an operator sees, end to end against ``callcontrol serve`` and SIPp (docs/operations.md).

- ``/metrics`` parsed by ``prometheus_client.parser`` before, during and after a SIPp call to a
  registered account: the labelled SIP series, the call histograms, calls by outcome move;
- the JSON operator log (``--log-format json``) of a registration, a call, a refused INVITE
  and an API command;
- the SIP trace (``--sip-trace``) of a digest REGISTER holds no digest response;
- ``/health`` turns 503 naming the store when the CDR writes really fail (the table is gone).
"""
from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from callcontrol.client import CallControlClient, CallControlError
from tests.integration.harness import (
    SCENARIOS,
    Server,
    free_port,
    register,
    run_sipp,
    sipp_messages,
    start_server,
    start_sipp_uas,
)

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: Server) -> tuple[list, Samples]:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/metrics", timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        text = resp.read().decode()
    families = list(text_string_to_metric_families(text))
    samples: Samples = {}
    for family in families:
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return families, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_metric(server: Server, name: str, at_least: float, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while server.metric(name) < at_least:
        assert time.monotonic() < deadline, f"{name} stayed below {at_least}"
        time.sleep(0.05)  # polling a counter under a deadline


def wait_calls_over(server: Server, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while server.metric("callcontrol_calls_active") > 0:
        assert time.monotonic() < deadline, "calls still active"
        time.sleep(0.05)  # polling a gauge under a deadline


def test_metrics_labelled_series_move_during_a_sipp_call(tmp_path: Path) -> None:
    server = start_server(tmp_path, trunk=False)
    try:
        phone_port = free_port()
        assert register(server.sip_port, phone_port, "1002").startswith("SIP/2.0 200 ")
        families, before = scrape(server)

        # Every series has its HELP; the library's process and GC collectors are there.
        assert all(f.documentation for f in families), [f.name for f in families if not f.documentation]
        names = {f.name: f.type for f in families}
        for name in ("process_cpu_seconds", "process_resident_memory_bytes", "process_open_fds",
                     "python_gc_collections"):
            assert name in names, sorted(names)
        assert names["callcontrol_call_setup_seconds"] == "histogram"
        assert names["callcontrol_call_post_dial_delay_seconds"] == "histogram"
        assert names["callcontrol_event_loop_lag_seconds"] == "histogram"
        assert value(before, "callcontrol_register_requests_total", outcome="registered") == 1
        assert value(before, "callcontrol_registrations_contacts") == 1
        assert value(before, "callcontrol_sip_requests_received_total", method="REGISTER") == 1
        assert value(before, "callcontrol_sip_responses_sent_total", method="REGISTER", code="200") == 1

        uas = start_sipp_uas(phone_port, "u1", 1)
        uac = subprocess.Popen(["sipp", f"127.0.0.1:{server.sip_port}", "-sn", "uac", "-s", "1002", "-d", "8000",
                                "-m", "1", "-p", str(free_port()), "-nostdin", "-timeout", "60s"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_metric(server, "callcontrol_calls_answered_total", 1)
            _, during = scrape(server)  # the call is up for 8 s from its answer
            assert value(during, "callcontrol_calls_active") == 1
            assert value(during, "callcontrol_sip_requests_received_total", method="INVITE") >= 1
            assert value(during, "callcontrol_sip_requests_sent_total", method="INVITE") >= 1
            assert value(during, "callcontrol_sip_responses_received_total", method="INVITE", code="180") >= 1
            assert value(during, "callcontrol_sip_responses_received_total", method="INVITE", code="200") >= 1
            assert value(during, "callcontrol_sip_responses_sent_total", method="INVITE", code="180") >= 1
            assert value(during, "callcontrol_sip_responses_sent_total", method="INVITE", code="200") >= 1
            assert value(during, "callcontrol_call_setup_seconds_count") == 1
            assert value(during, "callcontrol_call_setup_seconds_bucket", le="+Inf") == 1
            assert value(during, "callcontrol_call_post_dial_delay_seconds_count") == 1
            assert value(during, "callcontrol_calls_ended_total", outcome="answered") == 0
            assert uac.wait(30) == 0, uac.stderr.read() if uac.stderr else ""
            assert uas.wait(30) == 0
        finally:
            for proc in (uac, uas):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        deadline = time.monotonic() + 15
        while True:
            _, after = scrape(server)
            if value(after, "callcontrol_calls_ended_total", outcome="answered") == 1:
                break
            assert time.monotonic() < deadline, "the call did not end"
            time.sleep(0.05)  # polling a counter under a deadline
        assert value(after, "callcontrol_calls_active") == 0
        assert value(after, "callcontrol_event_loop_lag_seconds_count") > 0  # 8 s of call: 4 samples a second
        assert value(after, "callcontrol_sip_requests_received_total", method="BYE") >= 1
        assert value(after, "callcontrol_sip_requests_sent_total", method="BYE") >= 1
        assert value(after, "callcontrol_sip_responses_sent_total", method="BYE", code="200") >= 1
        assert value(after, "callcontrol_sip_requests_received_total", method="ACK") >= 1

        # A number nobody has: the INVITE is refused 404 before any call exists.
        result = run_sipp([f"127.0.0.1:{server.sip_port}", "-sf", str(SCENARIOS / "uac_not_found.xml"),
                           "-s", "5551234", "-m", "1", "-p", str(free_port())], timeout=30)
        assert result.returncode == 0, result.output[-3000:]
        _, last = scrape(server)
        assert value(last, "callcontrol_sip_responses_sent_total", method="INVITE", code="404") == 1
        assert value(last, "callcontrol_calls_total") == 1
        # sums of the labelled series are the unlabelled totals
        sent = sum(v for (name, _), v in last.items()
                   if name in ("callcontrol_sip_requests_sent_total", "callcontrol_sip_responses_sent_total"))
        assert sent == value(last, "callcontrol_sip_messages_sent_total")
    finally:
        server.proc.stop()


def _records(stderr: str) -> list[dict]:
    records = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    for record in records:
        assert {"ts", "level", "logger", "msg"} <= record.keys(), record
    return records


async def test_json_log_has_one_line_per_call_step_registration_refusal_and_command(tmp_path: Path) -> None:
    server = start_server(tmp_path, trunk=False, args=("--log-format", "json"))
    try:
        phone_port = free_port()
        reply = await asyncio.to_thread(register, server.sip_port, phone_port, "1002")
        assert reply.startswith("SIP/2.0 200 "), reply
        uas = start_sipp_uas(phone_port, "u1", 1)
        result = await asyncio.to_thread(run_sipp, [f"127.0.0.1:{server.sip_port}", "-sn", "uac", "-s", "1002",
                                                    "-d", "200", "-m", "1", "-p", str(free_port())], 30)
        assert result.returncode == 0, result.output[-3000:]
        assert await asyncio.to_thread(uas.wait, 30) == 0
        result = await asyncio.to_thread(run_sipp, [
            f"127.0.0.1:{server.sip_port}", "-sf", str(SCENARIOS / "uac_not_found.xml"), "-s", "5551234",
            "-m", "1", "-p", str(free_port())], 30)
        assert result.returncode == 0, result.output[-3000:]
        async with CallControlClient.connect(f"ws://127.0.0.1:{server.ws_port}/ws") as client:
            await client.login("demo-corp", "demo-corp-pass")
            with pytest.raises(CallControlError):
                await client.terminate_call({"id": "no-such-call", "tag": "x"})
        await asyncio.to_thread(wait_calls_over, server)
    finally:
        server.proc.stop()
    assert server.proc.popen.stderr is not None
    records = _records(server.proc.popen.stderr.read())
    by_event: dict[str, list[dict]] = {}
    for record in records:
        by_event.setdefault(record.get("event", ""), []).append(record)

    (registered,) = by_event["registered"]
    assert registered["level"] == "INFO" and registered["aor"] == "1002"
    assert registered["contact"] == f"sip:1002@127.0.0.1:{phone_port}"
    (setup,), (answered,), (end,) = by_event["call_setup"], by_event["call_answered"], by_event["call_end"]
    assert setup["call_id"] == answered["call_id"] == end["call_id"]
    for record in (setup, answered, end):
        assert (record["caller"], record["callee"], record["route"]) == ("sipp", "1002", "account 1002")
        assert record["logger"] == "callcontrol.b2b.call_report"
    assert end["outcome"] == "answered" and end["reason"] == "caller hung up" and end["duration_s"] >= 0
    assert answered["setup_s"] >= 0
    refused = [r for r in by_event["refused"] if r["method"] == "INVITE"]
    assert [(r["code"], r["reason"]) for r in refused] == [(404, "Not Found")]
    assert "5551234" in refused[0]["to_uri"]
    (command,) = by_event["api_command"]
    assert (command["method"], command["login"], command["outcome"]) == (
        "CallControl.terminate_call", "demo-corp", "sip.call_not_found")


def test_sip_trace_of_a_digest_register_has_no_digest_response(tmp_path: Path) -> None:
    trace = tmp_path / "sip-trace.txt"
    server = start_server(tmp_path, trusted=(), args=("--sip-trace", str(trace)))
    sipp_log = tmp_path / "sipp_messages.log"
    try:
        result = run_sipp([f"127.0.0.1:{server.sip_port}", "-sf", str(SCENARIOS / "register.xml"), "-m", "1",
                           "-p", str(free_port()), "-trace_msg", "-message_file", str(sipp_log)], timeout=30)
        assert result.returncode == 0, result.output[-3000:]
    finally:
        assert server.proc.stop() == 0  # the trace is complete once the server has exited
    sent = [text for direction, text in sipp_messages(sipp_log) if direction == "sent"]
    authorized = [text for text in sent if "\r\nAuthorization:" in text]
    assert len(authorized) == 1, sent
    digest = re.search(r'response="?([0-9a-f]{32})', authorized[0])
    assert digest is not None, authorized[0]

    text = trace.read_text()
    assert digest.group(1) not in text
    assert "secret1001" not in text
    headers = re.findall(r"^--- (\S+) (recv|sent) UDP 127\.0\.0\.1:(\d+) \((\d+) bytes\)$", text, re.M)
    assert [h[1] for h in headers] == ["recv", "sent", "recv", "sent"], headers  # REGISTER, 401, REGISTER, 200
    assert re.search(r'^Authorization: Digest .*response="<redacted>"', text, re.M), text
    assert text.count("REGISTER sip:") == 2
    assert re.search(r"^SIP/2\.0 401 ", text, re.M) and re.search(r"^SIP/2\.0 200 ", text, re.M)


def test_health_fails_naming_the_store_when_cdr_writes_fail(tmp_path: Path) -> None:
    server = start_server(tmp_path, trunk=False)
    try:
        status, body = _health(server)
        assert status == 200 and body["status"] == "ok", body
        assert {name for name, c in body["checks"].items() if c["status"] == "ok"} == {
            "store", "sip", "ws", "event_loop", "intake"}
        # Break the store under the running server: its CDR table is gone.
        db = sqlite3.connect(server.data_dir / "callcontrol.sqlite3")
        try:
            db.execute("DROP TABLE cdrs")
            db.commit()
        finally:
            db.close()
        phone_port = free_port()
        assert register(server.sip_port, phone_port, "1002").startswith("SIP/2.0 200 ")
        uas = start_sipp_uas(phone_port, "u1", 1)
        result = run_sipp([f"127.0.0.1:{server.sip_port}", "-sn", "uac", "-s", "1002", "-d", "100", "-m", "1",
                           "-p", str(free_port())], timeout=30)
        assert result.returncode == 0, result.output[-3000:]
        assert uas.wait(30) == 0
        deadline = time.monotonic() + 15  # the call's CDRs are written within the flush interval (1 s)
        while True:
            status, body = _health(server)
            if status != 200:
                break
            assert time.monotonic() < deadline, body
            time.sleep(0.05)  # polling the endpoint under a deadline
        assert status == 503 and body["status"] == "fail" and body["failing"] == ["store"], body
        assert "no such table: cdrs" in body["checks"]["store"]["error"]
        assert body["checks"]["store"]["pending_cdrs"] == 3  # kept in memory, not lost
        assert body["checks"]["sip"]["status"] == "ok"
    finally:
        server.proc.stop()


def _health(server: Server) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/health", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())

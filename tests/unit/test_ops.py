"""The operator-facing pieces (callcontrol/ops, b2b/call_report): histograms, the collector's
exposition, SIP counters, call outcomes and their log lines, refusal logging, SIP trace redaction."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from callcontrol.b2b.call_report import outcome_of
from callcontrol.config import ConfigError, load_config
from callcontrol.model.callinfo import CallState, Party
from callcontrol.model.calls import CallRegistry
from callcontrol.ops.histogram import Histogram
from callcontrol.ops.logs import configure, json_formatter
from callcontrol.ops.metrics import MetricSources, make_registry, render
from callcontrol.ops.refusals import RefusalLog
from callcontrol.ops.sip_trace import REDACTED, SipTrace, format_record, redact
from sip.peer import Peer
from sip.ua import UserAgent
from sip.ua_core import Send
from tests.unit.b2bua_rig import (  # noqa: F401  (fixtures)
    make_rig_fixture,
    phones_fixture,
    target,
    wait_for,
)

PEER = Peer("UDP", "127.0.0.1", 5070)


# -- histogram ------------------------------------------------------------------------------------

def test_histogram_buckets_are_le_and_cumulative() -> None:
    h = Histogram((0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 1.0, 7.0):
        h.observe(v)
    assert h.counts == [2, 2, 1]  # a value equal to a bound falls in that bound's bucket
    assert h.cumulative() == [(0.1, 2), (1.0, 4), (float("inf"), 5)]
    assert h.count == 5 and h.sum == pytest.approx(8.65)


@pytest.mark.parametrize("bounds", [(), (1.0, 0.5), (1.0, 1.0)])
def test_histogram_refuses_unordered_bounds(bounds: tuple[float, ...]) -> None:
    with pytest.raises(ValueError):
        Histogram(bounds)


# -- SIP counters and the collector ---------------------------------------------------------------

def _request(method: str, cseq: int = 1) -> bytes:
    return (f"{method} sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{method}{cseq}\r\n"
            f"From: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: c{method}\r\n"
            f"CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        assert family.documentation, family.name
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def test_sip_messages_are_counted_by_method_and_code_and_exposed() -> None:
    ua = UserAgent()  # no socket: the core's outputs are looked at directly
    ua.core.local_addresses["UDP"] = ("127.0.0.1", 5060)
    out = ua.core.receive(_request("OPTIONS"), PEER, now=0.0)
    (incoming,) = [o.incoming for o in out if type(o).__name__ == "RequestReceived"]
    sent = ua.core.respond(incoming, incoming.request and _response(incoming, 200), now=0.0)
    assert any(type(o) is Send for o in sent)
    ua.core.receive(_request("OPTIONS"), PEER, now=0.1)  # a retransmission: counted, absorbed
    ua.core.receive(_request("FROBNICATE"), PEER, now=0.2)  # an invented method: "other"
    stats = ua.stats
    assert stats.requests_received == {"OPTIONS": 2, "other": 1}
    assert stats.responses_sent[("OPTIONS", 200)] == 2  # the retransmission got the 200 again

    samples = _samples(render(make_registry(MetricSources(ua=ua))).decode())
    assert samples[("callcontrol_sip_requests_received_total", frozenset({("method", "OPTIONS")}))] == 2
    assert samples[("callcontrol_sip_requests_received_total", frozenset({("method", "other")}))] == 1
    assert samples[("callcontrol_sip_responses_sent_total",
                    frozenset({("method", "OPTIONS"), ("code", "200")}))] == 2
    assert samples[("callcontrol_sip_retransmissions_absorbed_total", frozenset())] == 1
    assert ("process_cpu_seconds_total", frozenset()) in samples
    assert ("callcontrol_calls_total", frozenset()) not in samples  # no B2BUA yet: not exposed


def _response(incoming, status: int):
    from sip.message import make_response

    return make_response(incoming.request, status)


# -- calls: outcome, histograms, log lines --------------------------------------------------------

def _ended_call(*, connected: bool, code: int | None):
    registry = CallRegistry()
    call = registry.new_call("c1")
    leg = call.add_leg(tag="t", sip_call_id="c1", type="outgoing", caller=Party(id="1001"),
                       callee=Party(id="1002"), transport_id="127.0.0.1:5060", now=10.0)
    if connected:
        call.move(leg, CallState.CONNECTED, 11.0)
    call.terminate(leg, 20.0, "x", code)
    return call


@pytest.mark.parametrize(("connected", "code", "outcome"), [
    (True, 200, "answered"), (False, 486, "busy"), (False, 487, "cancelled"), (False, 480, "no_answer"),
    (False, 404, "not_found"), (False, 403, "refused"), (False, 503, "unavailable"), (False, 500, "failed"),
    (False, None, "failed"),
])
def test_call_outcome(connected: bool, code: int | None, outcome: str) -> None:
    assert outcome_of(_ended_call(connected=connected, code=code)) == outcome


async def test_b2bua_call_records_histograms_outcomes_and_logs_three_lines(phones, make_rig, caplog) -> None:
    a, b, _ = phones
    rig = await make_rig(lambda: (target(b),))
    caplog.set_level(logging.INFO, logger="callcontrol.b2b.call_report")
    a.call("sip:5551234@127.0.0.1", rig.peer)
    await a.next("r200")
    await b.next("ack")
    stats = rig.b2b.stats
    assert (stats.setup_time.count, stats.post_dial_delay.count, stats.answered) == (1, 1, 1)
    assert b.dialog is not None
    b.send_in_dialog(b.dialog.create_bye(), rig.peer)
    await b.next("bye200")
    await wait_for(lambda: len(rig.cdrs) == 3)
    assert stats.outcomes == {"answered": 1}
    b.answer_with = 486
    b.dialog = a.dialog = None
    a.call("sip:5551234@127.0.0.1", rig.peer)
    await a.next("r486")
    await wait_for(lambda: len(rig.cdrs) == 6)
    assert stats.outcomes == {"answered": 1, "busy": 1}
    assert stats.setup_time.count == 1  # a refused call has no setup time
    events = [(r.event, r.outcome if r.event == "call_end" else None) for r in caplog.records]  # type: ignore[attr-defined]
    assert events == [("call_setup", None), ("call_answered", None), ("call_end", "answered"),
                      ("call_setup", None), ("call_end", "busy")]
    end = caplog.records[2]
    assert (end.caller, end.callee, end.route, end.reason) == ("alice", "5551234", "trunk 5551234",  # type: ignore[attr-defined]
                                                               "callee hung up")


async def test_call_log_lines_cost_nothing_when_info_is_off(phones, make_rig, caplog) -> None:
    a, b, _ = phones
    rig = await make_rig(lambda: (target(b),))
    caplog.set_level(logging.WARNING)
    a.call("sip:5551234@127.0.0.1", rig.peer)
    await a.next("r200")
    assert not [r for r in caplog.records if r.name == "callcontrol.b2b.call_report"]
    assert rig.b2b.stats.setup_time.count == 1  # the numbers are recorded all the same


# -- refusals ---------------------------------------------------------------------------------------

class _Incoming:
    def __init__(self, method: str) -> None:
        from sip.message import parse_message

        self.request = parse_message(_request(method))
        self.source = PEER


def test_refusals_are_logged_except_challenges_and_bounded_per_second(caplog) -> None:
    from sip.message import make_response

    now = [100.0]
    log = RefusalLog(lambda: now[0], per_second=2)
    caplog.set_level(logging.INFO, logger="callcontrol.ops.refusals")
    incoming = _Incoming("INVITE")
    log(incoming, make_response(incoming.request, 407))  # type: ignore[arg-type]
    log(incoming, make_response(incoming.request, 487))  # type: ignore[arg-type]
    for _ in range(5):
        log(incoming, make_response(incoming.request, 404))  # type: ignore[arg-type]
    now[0] += 1.5
    log(incoming, make_response(incoming.request, 488))  # type: ignore[arg-type]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 4, messages
    assert messages[0].startswith("refused INVITE from udp:127.0.0.1:5070: 404 Not Found (Call-ID cINVITE")
    assert messages[2] == "3 more refused requests not logged in the last second"
    assert caplog.records[3].code == 488  # type: ignore[attr-defined]


# -- SIP trace ---------------------------------------------------------------------------------------

SECRET = "6c2b6f0e2d3a4b5c6d7e8f9012345678"


@pytest.mark.parametrize("header", [
    f'Authorization: Digest username="1001", realm="cc", nonce="n", uri="sip:x", response="{SECRET}", qop=auth',
    f"Proxy-Authorization: Digest username=\"1001\",response={SECRET},nonce=\"n\"",
    f'authorization: digest username="1001",\r\n response = "{SECRET}" ,cnonce="c"',  # folded, any case
])
def test_redact_removes_digest_responses(header: str) -> None:
    message = f"REGISTER sip:x SIP/2.0\r\n{header}\r\nContent-Length: 0\r\n\r\n".replace("\r\n", "\n")
    out = redact(message)
    assert SECRET not in out and REDACTED in out
    assert 'username="1001"' in out


def test_redact_removes_uri_passwords_and_leaves_ports_and_bodies() -> None:
    message = ("INVITE sip:bob:hunter2@10.0.0.1:5060 SIP/2.0\nContact: <sip:alice:pw@1.2.3.4:5070;transport=udp>\n"
               "Via: SIP/2.0/UDP 1.2.3.4:5070;branch=z9hG4bK1\n\nv=0\nresponse=kept-in-body\n")
    out = redact(message)
    assert "hunter2" not in out and ":pw@" not in out
    assert f"sip:bob:{REDACTED}@10.0.0.1:5060" in out and "1.2.3.4:5070;branch" in out
    assert out.endswith("response=kept-in-body\n")  # bodies are not headers


def test_trace_file_records_every_message_with_time_direction_transport_peer(tmp_path: Path) -> None:
    trace = SipTrace(tmp_path / "t.txt")
    request, response = b"OPTIONS sip:x SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n", b"SIP/2.0 200 OK\r\n\r\n"
    trace("in", request, PEER)
    trace("out", response, Peer("TCP", "::1", 5061))
    trace.close()
    lines = (tmp_path / "t.txt").read_text().splitlines()
    assert lines[0].startswith("--- ") and lines[0].endswith(f" recv UDP 127.0.0.1:5070 ({len(request)} bytes)")
    assert lines[1:3] == ["OPTIONS sip:x SIP/2.0", "CSeq: 1 OPTIONS"]
    assert [x for x in lines if x.startswith("--- ")][1].endswith(f" sent TCP [::1]:5061 ({len(response)} bytes)")
    assert format_record(0.0, "in", PEER, b"x").startswith("--- 1970-01-01T00:00:00.000000Z recv")


def test_trace_file_that_cannot_be_opened_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=r"--sip-trace .*/missing/t.txt: No such file or directory"):
        SipTrace(tmp_path / "missing" / "t.txt")


# -- log format and config ----------------------------------------------------------------------------

def test_json_formatter_writes_one_object_with_the_structured_fields() -> None:
    record = logging.LogRecord("callcontrol.x", logging.INFO, __file__, 1, "call %s ended", ("c1",), None)
    record.call_id, record.outcome = "c1", "busy"
    data = json.loads(json_formatter().format(record))
    assert {k: data[k] for k in ("level", "logger", "msg", "call_id", "outcome")} == {
        "level": "INFO", "logger": "callcontrol.x", "msg": "call c1 ended", "call_id": "c1", "outcome": "busy"}
    assert data["ts"].endswith("+00:00")


def test_configure_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="log format"):
        configure(logging.INFO, "xml")


def test_config_log_keys(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[log]\nformat = "json"\nsip_trace = "/tmp/t.txt"\n')
    cfg = load_config(path, environ={})
    assert (cfg.log.format, str(cfg.log.sip_trace)) == ("json", "/tmp/t.txt")
    assert load_config(None, environ={}).log.sip_trace is None
    path.write_text('[log]\nformat = "yaml"\n')
    with pytest.raises(ConfigError, match=r'log.format.*expected "text" or "json", got "yaml"'):
        load_config(path, environ={})

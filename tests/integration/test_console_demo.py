"""The README's console walkthrough, run as the README says (on free ports, in a temporary data dir).

Terminal 1: ``callcontrol serve``; terminal 2: ``python scripts/demo_phones.py`` (three SIPp phones
registered as 1001, 1002, 1003); terminal 3: ``python scripts/console_demo.py``. The script must
exit 0 having printed every expected state, step by step, in order; the phones must have seen
the matching SIP (auto-answer INVITE, hold re-INVITEs, BYEs) and nothing SIPp found unexpected.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.harness import ROOT, Proc, free_port, sip_start_line, sipp_messages, start

pytestmark = pytest.mark.integration

PHONES = ("1001", "1002", "1003")
# `13:22:41.453  #4   leg B  X~10;tag=TAG  trying      1001 -> 1002  [reason: 'x' (code)]`
LEG_LINE = re.compile(r"^\S+  #\d+\s+leg (?P<leg>[A-Z])  (?P<id>X\S*);tag=(?P<tag>\S+)  (?P<state>\S+)\s+"
                      r"(?P<caller>\S+) -> (?P<callee>\S+)(?:  reason: (?P<reason>'[^']*') \((?P<code>[^)]*)\))?$")
STEP_LINE = re.compile(r"^\S+  == (?P<method>\w+)")

# Per step of the walkthrough: what each leg goes through (A = 1001, B = 1002, C = the new leg to 1003).
EXPECTED: list[tuple[str, dict[str, list[str]]]] = [
    ("originate_advanced_call", {"A": ["trying", "ringing", "connected"], "B": ["trying", "ringing", "connected"]}),
    ("hold_call", {"A": ["holding"], "B": ["held"]}),
    ("unhold_call", {"A": ["connected"], "B": ["connected"]}),
    ("transfer_call", {"A": ["terminated"], "C": ["trying", "ringing", "connected"]}),
    ("terminate_call", {"B": ["terminated"], "C": ["terminated"]}),
]


@dataclass
class Walkthrough:
    server: Proc
    phones: Proc
    ws_url: str
    traces: Path


@pytest.fixture
def walkthrough(tmp_path: Path) -> Iterator[Walkthrough]:
    sip, ws, http = free_port(), free_port(), free_port()
    server = start(["callcontrol", "serve", "--sip-listen", f"127.0.0.1:{sip}", "--ws-listen", f"127.0.0.1:{ws}",
                    "--http-listen", f"127.0.0.1:{http}", "--data-dir", str(tmp_path / "data")],
                   ready="ready", timeout=30)
    traces = tmp_path / "sip"
    try:
        ports = [str(free_port()) for _ in PHONES]
        media = [str(free_port()) for _ in PHONES]
        phones = start([sys.executable, str(ROOT / "scripts" / "demo_phones.py"), "--sip", f"127.0.0.1:{sip}",
                        "--numbers", ",".join(PHONES), "--ports", ",".join(ports), "--media-ports", ",".join(media),
                        "--trace-dir", str(traces)], ready="ready", timeout=30)
        try:
            yield Walkthrough(server, phones, f"ws://127.0.0.1:{ws}/ws", traces)
            assert phones.stop() == 0, phones.stderr_text()
        finally:
            phones.stop()
        assert server.stop() == 0, server.stderr_text()
    finally:
        server.stop()


def header(message: str, name: str) -> str:
    for line in message.split("\r\n\r\n", 1)[0].split("\r\n")[1:]:
        key, colon, value = line.partition(":")
        if colon and key.strip().lower() == name.lower():
            return value.strip()
    return ""


def requests(trace: Path, method: str) -> list[str]:
    """The requests ``method`` a phone received, one per CSeq (UDP retransmissions left out)."""
    seen: dict[str, str] = {}
    for direction, message in sipp_messages(trace):
        if direction == "received" and sip_start_line(message).startswith(method + " "):
            seen.setdefault(header(message, "CSeq"), message)
    return list(seen.values())


def wait_bye_answered(trace: Path, timeout: float = 10.0) -> None:
    """Until the phone has sent its 200 to a BYE (it may come after the last notification)."""
    deadline = time.monotonic() + timeout
    while True:
        if any(d == "sent" and sip_start_line(m).startswith("SIP/2.0 200") and header(m, "CSeq").endswith(" BYE")
               for d, m in sipp_messages(trace)):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{trace.name}: no 200 to BYE within {timeout}s")
        time.sleep(0.05)  # polling a file for a condition, bounded by the deadline


def test_console_walkthrough(walkthrough: Walkthrough) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "console_demo.py"), "--ws-url", walkthrough.ws_url,
                          "--step-timeout", "10"], cwd=ROOT, capture_output=True, text=True, timeout=90, check=False)
    assert out.returncode == 0, f"{out.stdout}\n{out.stderr}"
    assert out.stderr == "", out.stderr

    # The printed notifications, cut into the steps that caused them.
    steps: list[tuple[str, dict[str, list[str]]]] = []
    legs: dict[str, re.Match[str]] = {}
    reasons: dict[str, tuple[str | None, str | None]] = {}
    for line in out.stdout.splitlines():
        if (m := STEP_LINE.match(line)) and m["method"] != "done":
            steps.append((m["method"], {}))
        elif m := LEG_LINE.match(line):
            assert steps, line
            steps[-1][1].setdefault(m["leg"], []).append(m["state"])
            first = legs.setdefault(m["leg"], m)
            assert (m["id"], m["tag"]) == (first["id"], first["tag"]), line  # one label, one leg
            if m["state"] == "terminated":
                reasons[m["leg"]] = (m["reason"], m["code"])
    assert steps == EXPECTED, out.stdout
    assert out.stdout.splitlines()[-1].split("  == ", 1)[1].startswith("done: "), out.stdout

    a, b, c = legs["A"], legs["B"], legs["C"]
    assert (a["caller"], a["callee"]) == ("1002", "1001")  # originate: leg A shows the callee as caller
    assert (b["caller"], b["callee"]) == ("1001", "1002")
    assert c["callee"] == "1003"
    assert (a["id"], b["id"], c["id"]) == ("X", "X~10", "X~10")  # X: the id originate answered
    assert c["tag"] not in (a["tag"], b["tag"])
    assert reasons == {"A": ("'blind transfer'", "no code"), "B": ("'terminated by API'", "no code"),
                       "C": ("'terminated by API'", "no code")}

    # What the phones saw on the wire (each hung up: a BYE, answered).
    traces = {n: walkthrough.traces / f"phone-{n}.log" for n in PHONES}
    for trace in traces.values():
        wait_bye_answered(trace)
        assert len(requests(trace, "BYE")) == 1
    invites = requests(traces["1001"], "INVITE")
    assert len(invites) == 3, invites
    assert "info=autoanswer" in header(invites[0], "Alert-Info").lower()
    assert "answer-after=0" in header(invites[0], "Call-Info")
    assert "a=inactive" in invites[1] and "a=sendrecv" in invites[2]  # 1001 holds, then resumes
    invites = requests(traces["1002"], "INVITE")
    assert len(invites) == 4, invites  # the call, held (music on hold), resumed, re-pointed at 1003
    assert "a=sendonly" in invites[1] and "a=sendonly" not in invites[2] + invites[3]
    assert len(requests(traces["1003"], "INVITE")) == 1
    for number in PHONES:
        errors = walkthrough.traces / f"phone-{number}-errors.log"
        text = errors.read_text(errors="replace") if errors.exists() else ""
        assert "nexpected" not in text and "borting" not in text, text

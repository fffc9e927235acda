"""Two pjsua2 softphones digest-registered to ``callcontrol serve`` call each other.

Each phone is a child process (tests/integration/pjsua_phone.py: pjsua2 allows one
library per process) driven over JSON lines. Loopback is not trusted here, so the
phones really REGISTER and INVITE with digest credentials of the demo directory.
"""
from __future__ import annotations

import array
import json
import math
import signal
import sqlite3
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.harness import Proc, Server, free_port, start
from tests.integration.harness import start_server as harness_start_server

pytest.importorskip("pjsua2")

pytestmark = pytest.mark.integration

PHONE = Path(__file__).with_name("pjsua_phone.py")


@dataclass
class Phone:
    proc: Proc
    pending: list[dict] = field(default_factory=list)

    def send(self, **cmd: object) -> None:
        assert self.proc.popen.stdin is not None
        self.proc.popen.stdin.write(json.dumps(cmd) + "\n")
        self.proc.popen.stdin.flush()

    def event(self, name: str, timeout: float = 10.0, **match: object) -> dict:
        """The first not yet taken event ``name`` whose fields equal ``match``; waits bounded for it.

        Events arrive in the phone's order (media may precede CONFIRMED), so ones that do
        not match are kept for later calls instead of being dropped.
        """
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.pending):
                if ev["event"] == name and all(ev.get(k) == v for k, v in match.items()):
                    return self.pending.pop(i)
            line = self.proc.wait_for_line('{"event": ', max(0.0, deadline - time.monotonic()))
            self.pending.append(json.loads(line))

    def quit(self) -> None:
        if self.proc.popen.poll() is None:
            self.send(cmd="quit")
            try:
                self.proc.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.stop()


def start_server(tmp_path: Path, rtp_timeout: float) -> Server:
    """The real server; nothing trusted, so loopback phones are digest-challenged."""
    return harness_start_server(tmp_path, trusted=(), media=f"rtp_timeout = {rtp_timeout}")


def start_phone(server: Server, user: str, **opts: object) -> Phone:
    args = {"port": free_port(), "user": user, "password": f"secret{user}", "server_port": server.sip_port,
            **opts}
    proc = start([sys.executable, str(PHONE), json.dumps(args)], ready='{"event": "ready"', timeout=20,
                 stdin=subprocess.PIPE)
    phone = Phone(proc)
    try:
        reg = phone.event("reg", timeout=10)
        assert reg["code"] == 200, reg  # the 401 challenge was answered and the digest accepted
    except BaseException:
        phone.proc.stop()
        raise
    return phone


def write_tone(path: Path, seconds: float = 5.0, hz: float = 1000.0) -> None:
    samples = array.array("h", (int(12000 * math.sin(2 * math.pi * hz * i / 8000))
                                for i in range(int(8000 * seconds))))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())


def wav_rms(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        data = array.array("h", w.readframes(w.getnframes()))
    if not data:
        return 0.0
    return math.sqrt(sum(x * x for x in data) / len(data)) / 32768


@pytest.fixture
def phones() -> Iterator[list[Phone]]:
    started: list[Phone] = []
    yield started
    for p in started:
        p.quit()


def _calls(cdrs: list[sqlite3.Row]) -> list[sqlite3.Row]:
    return [c for c in cdrs if c["leg_tag"] is None]


def wait_rtp_both_ways(phone: Phone, timeout: float = 10.0) -> dict:
    """Poll the phone's RTP counters until it both sent and received packets (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        phone.send(cmd="stats")
        st = phone.event("stats", timeout=5)
        if st["rx"] > 10 and st["tx"] > 10:
            return st
        if time.monotonic() > deadline:
            raise AssertionError(f"no RTP both ways: {st}")
        time.sleep(0.2)  # polling a counter with a deadline, not a blind wait


def test_call_between_two_registered_phones(tmp_path: Path, phones: list[Phone]) -> None:
    server = start_server(tmp_path, rtp_timeout=30)
    try:
        tone, rec = tmp_path / "tone.wav", tmp_path / "rec.wav"
        write_tone(tone)
        p1001 = start_phone(server, "1001", play=str(tone))
        p1002 = start_phone(server, "1002", record=str(rec))
        phones += [p1001, p1002]

        p1001.send(cmd="call", uri=f"sip:1002@127.0.0.1:{server.sip_port}")
        p1002.event("incoming")
        p1001.event("state", state="CONFIRMED")
        p1002.event("state", state="CONFIRMED")
        p1001.event("media")
        p1002.event("media")

        wait_rtp_both_ways(p1001)
        wait_rtp_both_ways(p1002)

        p1001.send(cmd="hangup")
        p1001.event("state", state="DISCONNECTED")
        p1002.event("state", state="DISCONNECTED")
        p1002.quit()  # libDestroy closes the recorder: the WAV header is complete
        assert wav_rms(rec) > 0.05  # the 1 kHz tone crossed the anchor
    finally:
        cdrs = server.stop_and_read_cdrs()

    calls = _calls(cdrs)
    assert len(calls) == 1 and len(cdrs) == 3, [dict(c) for c in cdrs]
    call = calls[0]
    assert (call["caller"], call["callee"]) == ("1001", "1002")
    assert call["connect_time"] is not None and call["connect_time"] >= call["start_time"]
    assert 0.2 < call["duration"] < 60  # RTP flowed both ways (>10 packets of 20 ms) before the BYE
    assert call["duration"] == pytest.approx(call["end_time"] - call["connect_time"], abs=0.05)
    assert call["disconnect_reason"] == "caller hung up"
    assert (call["sip_code"], call["sip_reason"], call["hangup_side"]) == (200, "OK", "caller")
    assert call["i_account"] == 1  # billed to the caller's account
    legs = [c for c in cdrs if c["leg_tag"] is not None]
    assert sorted(c["i_account"] for c in legs) == [1, 2]


def test_killed_callee_is_cleaned_up_by_rtp_timeout(tmp_path: Path, phones: list[Phone]) -> None:
    server = start_server(tmp_path, rtp_timeout=3)
    try:
        p1001 = start_phone(server, "1001")
        p1002 = start_phone(server, "1002")
        phones += [p1001, p1002]

        p1001.send(cmd="call", uri=f"sip:1002@127.0.0.1:{server.sip_port}")
        p1002.event("incoming")
        p1001.event("state", state="CONFIRMED")
        p1002.event("state", state="CONFIRMED")
        wait_rtp_both_ways(p1001)

        killed_at = time.time()
        p1002.proc.popen.send_signal(signal.SIGKILL)  # no BYE, no more RTP
        p1002.proc.popen.wait(10)
        p1001.event("state", timeout=15, state="DISCONNECTED")  # the server's BYE
    finally:
        cdrs = server.stop_and_read_cdrs()

    calls = _calls(cdrs)
    assert len(calls) == 1 and len(cdrs) == 3, [dict(c) for c in cdrs]
    call = calls[0]
    assert (call["caller"], call["callee"]) == ("1001", "1002")
    assert call["disconnect_reason"] == "RTP timeout"
    assert call["connect_time"] is not None
    # The server waited for the configured 3 s of silence after the kill (not less; how much
    # later depends on the check interval and the machine, which a test must not assert).
    assert call["end_time"] - killed_at >= 3 - 0.2
    legs = [c for c in cdrs if c["leg_tag"] is not None]
    assert sorted(c["i_account"] for c in legs) == [1, 2]
    assert {c["disconnect_reason"] for c in legs} == {"RTP timeout"}


def test_wrong_password_is_refused(tmp_path: Path) -> None:
    """Loopback really is untrusted in these tests: a bad digest does not register."""
    server = start_server(tmp_path, rtp_timeout=30)
    args = {"port": free_port(), "user": "1001", "password": "wrong", "server_port": server.sip_port}
    proc = start([sys.executable, str(PHONE), json.dumps(args)], ready='{"event": "ready"', timeout=20,
                 stdin=subprocess.PIPE)
    phone = Phone(proc)
    try:
        assert phone.event("reg", timeout=10)["code"] in (401, 403)
    finally:
        phone.quit()
        server.proc.stop()

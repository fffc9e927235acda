"""Starting real processes (the server, the stack's agent, SIPp) for integration tests.

Every wait is bounded and event-driven: a process is ready when it prints its
ready line, done when it exits; nothing sleeps to synchronise.
"""
from __future__ import annotations

import fcntl
import json
import os
import random
import selectors
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "sipp_scenarios"
AGENT = ROOT / "scripts" / "sip_agent.py"


# Ports handed out by free_port: below the kernel's ephemeral range (32768-60999 on Linux),
# where no outgoing connection or `bind(0)` of another process can take the port between
# our check and the server's bind, and below the servers' default RTP range (20000-29999).
FREE_PORTS = range(10000, 16000)
# Ports a test module keeps for itself across its tests (fixed static contacts): apart from
# FREE_PORTS, so no other test's free_port() takes one while its owner is between tests.
QUIET_PORTS = range(16000, 20000)
# A port handed out stays reserved this long for every test process on the machine (the
# file below, under an flock): a test picks several ports before its server binds any, and
# other test runs may be picking at the same time.
_RESERVED_FOR = 120.0
_RESERVATIONS = Path(tempfile.gettempdir()) / "callcontrol-test-ports.json"


def free_port(ports: range = FREE_PORTS) -> int:
    """A port of ``ports`` free for both UDP and TCP on 127.0.0.1 (SIP listeners bind both),
    handed to no other caller of this function on this machine in the last two minutes."""
    with open(_RESERVATIONS, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        try:
            held = {int(k): v for k, v in json.loads(lock.read() or "{}").items()}
        except ValueError:
            held = {}
        now = time.time()
        held = {port: since for port, since in held.items() if now - since < _RESERVED_FOR}
        for _ in range(400):
            port = random.choice(ports)
            if port in held:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, \
                    socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    u.bind(("127.0.0.1", port))
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
            held[port] = now
            lock.seek(0)
            lock.truncate()
            lock.write(json.dumps(held))
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


@dataclass
class Proc:
    popen: subprocess.Popen[str]
    lines: list[str]
    _buf: str = ""
    err_lines: list[str] = field(default_factory=list)
    _err_buf: str = ""

    def wait_for_line(self, prefix: str, timeout: float = 15.0) -> str:
        """Read stdout until a line starting with ``prefix``; fail on exit or timeout."""
        assert self.popen.stdout is not None
        return self._wait(self.popen.stdout.fileno(), lambda line: line.startswith(prefix), repr(prefix),
                          timeout, err=False)

    def wait_for_log(self, fragment: str, timeout: float = 15.0) -> str:
        """Read stderr (the server's log) until a line containing ``fragment``; fail on exit or timeout."""
        assert self.popen.stderr is not None
        return self._wait(self.popen.stderr.fileno(), lambda line: fragment in line, f"log {fragment!r}",
                          timeout, err=True)

    def _wait(self, fd: int, match: Callable[[str], bool], what: str, timeout: float, *, err: bool) -> str:
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        seen = self.err_lines if err else self.lines
        try:
            while True:
                buf = self._err_buf if err else self._buf
                while "\n" in buf:
                    line, buf = buf.split("\n", 1)
                    seen.append(line)
                    if match(line):
                        self._set_buf(err, buf)
                        return line
                self._set_buf(err, buf)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no line {what} within {timeout}s; got {seen[-40:]}")
                if not sel.select(left):
                    continue
                chunk = os.read(fd, 65536)  # raw reads: a buffered readline would hide lines from select
                if not chunk:
                    raise RuntimeError(f"process exited ({self.popen.wait()}) before {what}: "
                                       f"{self.lines} {self.err_lines[-40:]} {self.stderr_text()}")
                self._set_buf(err, buf + chunk.decode(errors="replace"))
        finally:
            sel.close()

    def _set_buf(self, err: bool, buf: str) -> None:
        if err:
            self._err_buf = buf
        else:
            self._buf = buf

    def stderr_text(self) -> str:
        if self.popen.stderr is None or self.popen.poll() is None:
            return ""
        return (self._err_buf + self.popen.stderr.read())[-3000:]

    def stop(self, timeout: float = 10.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return self.popen.wait()

    def stop_and_read_json(self) -> dict:
        """SIGTERM a process that prints one JSON line of counters on exit."""
        self.stop()
        assert self.popen.stdout is not None
        rest = self._buf + self.popen.stdout.read()
        for line in reversed(rest.strip().splitlines()):
            if line.startswith("{"):
                return json.loads(line)
        raise AssertionError(f"no JSON counters in output: {rest!r} {self.stderr_text()}")


def start(cmd: list[str], ready: str = "ready", timeout: float = 20.0, env: dict | None = None,
          stdin: int | None = None) -> Proc:
    popen = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, **(env or {})}, stdin=stdin)
    proc = Proc(popen, [])
    try:
        proc.wait_for_line(ready, timeout)
    except BaseException:
        proc.stop()
        raise
    return proc


def start_agent_uas(port: int, *extra: str) -> Proc:
    return start([sys.executable, str(AGENT), "uas", "--listen", f"127.0.0.1:{port}", *extra])


def wait_port_bound(port: int, transport: str = "udp", timeout: float = 10.0) -> None:
    """Until another process holds ``port`` (our own bind attempt fails), bounded."""
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return
        time.sleep(0.01)  # polling a condition with a deadline, not a blind wait
    raise TimeoutError(f"nothing bound {transport} port {port} within {timeout}s")


def start_sipp_uas(port: int, transport: str, calls: int, *extra: str) -> subprocess.Popen[str]:
    """SIPp's built-in UAS in the foreground; it exits after ``calls`` calls (0 if all succeeded)."""
    popen = subprocess.Popen(["sipp", "-sn", "uas", "-t", transport, "-i", "127.0.0.1", "-p", str(port),
                              "-m", str(calls), "-nostdin", "-timeout", "120s", *extra], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_port_bound(port, "tcp" if transport.startswith("t") else "udp")
    return popen


@dataclass
class SippResult:
    returncode: int
    successful: int
    failed: int
    output: str


def run_sipp(args: list[str], timeout: float = 120.0) -> SippResult:
    """Run SIPp to completion (it must be given -m); parse its final statistics screen."""
    cmd = ["sipp", *args, "-nostdin", "-timeout", f"{int(timeout)}s", "-timeout_error"]
    out = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=timeout + 30)
    text = out.stdout + out.stderr
    return SippResult(out.returncode, _stat(text, "Successful call"), _stat(text, "Failed call"), text)


def _stat(text: str, label: str) -> int:
    value = -1
    for line in text.splitlines():
        if line.strip().startswith(label):
            cells = [c.strip() for c in line.split("|")]
            value = int(cells[2])  # cumulative column
    return value


def start_sipp_scenario(port: int, transport: str, calls: int, scenario: Path | str,
                        *extra: str) -> subprocess.Popen[str]:
    """SIPp running a scenario file (a UAS: it waits for calls) in the foreground; exits after ``calls``."""
    popen = subprocess.Popen(["sipp", "-sf", str(scenario), "-t", transport, "-i", "127.0.0.1", "-p", str(port),
                              "-m", str(calls), "-nostdin", "-timeout", "120s", *extra], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_port_bound(port, "tcp" if transport.startswith("t") else "udp")
    return popen


# --------------------------------------------------------------------------- pjsua2 softphones

PHONE = Path(__file__).with_name("pjsua_phone.py")


@dataclass
class SoftPhone:
    """One ``pjsua_phone.py`` process: commands in, JSON events out (see that module's doc)."""

    proc: Proc
    user: str
    port: int
    pending: list[dict] | None = None

    def send(self, **cmd: object) -> None:
        assert self.proc.popen.stdin is not None
        self.proc.popen.stdin.write(json.dumps(cmd) + "\n")
        self.proc.popen.stdin.flush()

    def event(self, name: str, timeout: float = 10.0, **match: object) -> dict:
        """The first not yet taken event ``name`` whose fields equal ``match`` (bounded wait).

        Events that do not match are kept, in order, for later calls. An ``error`` event that
        answers a command fails the wait at once (unless ``error`` is what is awaited)."""
        if self.pending is None:
            self.pending = []
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.pending):
                if ev["event"] == name and all(ev.get(k) == v for k, v in match.items()):
                    return self.pending.pop(i)
                if ev["event"] == "error" and name != "error":
                    self.pending.pop(i)
                    raise AssertionError(f"phone {self.user}: {ev}")
            line = self.proc.wait_for_line('{"event": ', max(0.0, deadline - time.monotonic()))
            self.pending.append(json.loads(line))

    def request(self, reply: str, timeout: float = 10.0, **cmd: object) -> dict:
        """Send a command that answers with event ``reply``; return that event."""
        self.send(**cmd)
        return self.event(reply, timeout)

    def seen(self, name: str, **match: object) -> list[dict]:
        """Events ``name`` received so far and not taken (after a round trip, so none is in flight)."""
        self.request("calls", cmd="calls")
        return [ev for ev in self.pending or [] if ev["event"] == name
                and all(ev.get(k) == v for k, v in match.items())]

    def clear(self) -> None:
        self.pending = []

    def quit(self) -> None:
        if self.proc.popen.poll() is None:
            self.send(cmd="quit")
            try:
                self.proc.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.stop()


def start_softphone(user: str, password: str, server_port: int, **opts: object) -> SoftPhone:
    """A pjsua2 phone that registers ``user`` (digest) at 127.0.0.1:``server_port``; waits for the 200."""
    port = free_port()
    args = {"port": port, "user": user, "password": password, "server_port": server_port, **opts}
    proc = start([sys.executable, str(PHONE), json.dumps(args)], ready='{"event": "ready"', timeout=20,
                 stdin=subprocess.PIPE)
    phone = SoftPhone(proc, user, port)
    try:
        reg = phone.event("reg", timeout=10)
        if reg["code"] != 200:
            raise AssertionError(f"phone {user} did not register: {reg}")
    except BaseException:
        phone.proc.stop()
        raise
    return phone


def write_tone(path: Path, seconds: float = 5.0, hz: float = 1000.0, amplitude: int = 12000) -> None:
    """A 16-bit 8 kHz mono WAV sine tone (pjsua players loop it)."""
    import array
    import math
    import wave

    samples = array.array("h", (int(amplitude * math.sin(2 * math.pi * hz * i / 8000))
                                for i in range(int(8000 * seconds))))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())


# --------------------------------------------------------------------------- SIPp message traces


def sipp_messages(path: Path) -> list[tuple[str, str]]:
    """A SIPp ``-trace_msg`` file as (``"sent"``|``"received"``, message text) pairs, in order."""
    if not path.exists():
        return []
    out: list[tuple[str, str]] = []
    for block in path.read_text(errors="replace").split("----------------------------------------------- ")[1:]:
        lines = block.split("\n")
        if len(lines) < 2:
            continue
        head = lines[1]
        direction = "sent" if " message sent" in head else "received" if " message received" in head else ""
        if not direction:
            continue
        text = "\n".join(lines[2:]).strip("\n")
        out.append((direction, text.replace("\r\n", "\n").replace("\n", "\r\n")))
    return out


def sip_start_line(message: str) -> str:
    return message.split("\r\n", 1)[0]


@dataclass
class Server:
    proc: Proc
    sip_port: int
    trunk_port: int
    data_dir: Path
    ws_port: int
    http_port: int

    def metric(self, name: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5) as resp:
            for line in resp.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        raise AssertionError(f"no metric {name}")

    def stop_and_read_cdrs(self) -> list[sqlite3.Row]:
        assert self.proc.stop() == 0, self.proc.stderr_text()
        db = sqlite3.connect(self.data_dir / "callcontrol.sqlite3")
        db.row_factory = sqlite3.Row
        try:
            return db.execute("SELECT * FROM cdrs ORDER BY id").fetchall()
        finally:
            db.close()


def start_server(tmp_path: Path, *, media: str = "", sip_extra: str = "", trunk: bool = True,
                 trusted: tuple[str, ...] = ("127.0.0.1/32",), args: tuple[str, ...] = (),
                 tables: str = "") -> Server:
    """``callcontrol serve`` on free ports with its trunk at ``Server.trunk_port``, data in ``tmp_path``.

    ``trusted=()``: nothing is trusted, every request from a phone is digest-challenged.
    ``sip_extra``/``media``: more lines for the ``[sip]``/``[media]`` tables of the config;
    ``tables``: more tables (``"[api]\\nlogin_failures_per_address = 5"``).
    ``args``: more ``callcontrol serve`` options (``--log-format json``)."""
    sip, trunk_port, ws, http = free_port(), free_port(), free_port(), free_port()
    trunk_table = f'[trunk]\nuri = "sip:127.0.0.1:{trunk_port}"' if trunk else ""
    data_dir = tmp_path / "data"
    config = tmp_path / "callcontrol.toml"
    trusted_list = ", ".join(f'"{net}"' for net in trusted)
    config.write_text(f"""
[sip]
listen = ["udp:127.0.0.1:{sip}", "tcp:127.0.0.1:{sip}"]
trusted = [{trusted_list}]
{sip_extra}
{trunk_table}
[ws]
listen = "127.0.0.1:{ws}"
[http]
listen = "127.0.0.1:{http}"
[store]
data_dir = "{data_dir}"
[media]
{media}
{tables}
""")
    proc = start(["callcontrol", "serve", "--config", str(config), *args], ready="ready", timeout=30)
    return Server(proc, sip, trunk_port, data_dir, ws, http)


def register(server_port: int, contact_port: int, account: str) -> str:
    """REGISTER ``account`` from 127.0.0.1:``contact_port`` (a trusted source: no digest); the reply."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", contact_port))
        sock.settimeout(5)
        sock.sendto((
            f"REGISTER sip:127.0.0.1:{server_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{contact_port};branch=z9hG4bKreg1;rport\r\n"
            f"From: <sip:{account}@127.0.0.1>;tag=r1\r\nTo: <sip:{account}@127.0.0.1>\r\n"
            f"Call-ID: reg-{account}\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n"
            f"Contact: <sip:{account}@127.0.0.1:{contact_port}>;expires=300\r\nContent-Length: 0\r\n\r\n"
        ).encode(), ("127.0.0.1", server_port))
        return sock.recv(65535).decode()

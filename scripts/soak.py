#!/usr/bin/env python3
"""Soak the B2BUA: a steady call rate for minutes, media anchored, RTP flowing both ways.

    python scripts/soak.py                                   # 150 calls/s for 4 minutes, 1 s calls
    python scripts/soak.py --rate 100 --minutes 0.5          # a short smoke run
    python scripts/soak.py --pythonpath /work/wt-before --label "before 3dc094d" --report
    python scripts/soak.py --minutes 1 --mem-profile         # where the memory goes (tracemalloc, gc)

One ``callcontrol serve`` (bench_b2bua.py's ServerProc: own data dir, free ports,
``[sip] trusted`` 127.0.0.1, ``[trunk] uri`` at a SIPp UAS) with ``[media] anchor =
true``. A SIPp UAC places ``--rate`` calls/s for ``--minutes`` to 5551234 (not in the
directory: the trunk route), each call plays sip-tester's g711a.pcap (50 packets/s) to the
server's media address for ``--call-ms`` and hangs up; the trunk SIPp ``uas`` runs with
``-rtp_echo``, so RTP crosses the anchor in both directions.

While the calls run the script samples, once a second, the server's VmRSS
(/proc/PID/status) and, four times a second, how long ``GET /health`` on the server's
HTTP port takes to answer (a probe of the event loop from outside: a loop that is N s
behind answers N s late). At the end it prints calls ok/failed/unfinished (SIPp's
``-trace_stat``), INVITE->200 p50/p99/max (SIPp's ``-trace_rtt``, ms clock), RSS at
start/peak/end (end: ``--drain`` s after the last call) with VmHWM, the growth per 1,000
calls placed, the server's CPU ms per call, and the largest event-loop lag three ways: the
server's own ``callcontrol_event_loop_lag_max_seconds`` on /metrics (when the server has
it), the worst /health probe, and the largest "event loop N s behind" in the server log
(logged only over the 1 s overload threshold). ``--report`` adds one markdown table row
(the table in docs/benchmarks.md).

``--mem-profile`` starts the server with a ``sitecustomize`` hook (written to the work
directory, first on PYTHONPATH; no server code changes): tracemalloc on, and a thread that
snapshots allocations and counts live objects by type (``gc.get_objects``) when the script
asks. Snapshots are taken once the first ``--warmup`` s of calls are placed and again after
the drain; the script prints the top growing allocation sites and object types. tracemalloc
makes the server several times slower: profile at a rate it sustains under it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench_b2bua import CALLEE, ROOT, ServerProc, TrunkUas, stat_counts
from bench_sip_uas import cpu_seconds

PCAP = Path("/usr/share/sip-tester/g711a.pcap")

# SIPp's uac with SDP and RTP: INVITE (response time measured to the 200), ACK, the pcap
# played to the answered media address, the call held for -d ms, BYE.
UAC_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="soak uac with rtp">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:sipp@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8
a=rtpmap:8 PCMA/8000
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
  <nop><action><exec play_pcap_audio="@PCAP@"/></action></nop>
  <pause/>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200" crlf="true"/>
</scenario>
"""

# The --mem-profile hook, imported by the server's interpreter at start-up (sitecustomize).
MEM_HOOK = '''"""soak.py --mem-profile: tracemalloc and gc type counts on request (SOAK_MEMHOOK_DIR/NAME.req)."""
import collections, gc, json, os, threading, time, tracemalloc

_dir = os.environ.get("SOAK_MEMHOOK_DIR")


def _serve() -> None:
    while True:
        for name in sorted(os.listdir(_dir)):
            if not name.endswith(".req"):
                continue
            tag = name[:-4]
            os.unlink(os.path.join(_dir, name))
            gc.collect()
            counts = collections.Counter(type(o).__module__ + "." + type(o).__qualname__
                                         for o in gc.get_objects())
            tracemalloc.take_snapshot().dump(os.path.join(_dir, tag + ".tracemalloc"))
            with open(os.path.join(_dir, tag + ".types.json"), "w") as f:
                json.dump(dict(counts), f)
            open(os.path.join(_dir, tag + ".done"), "w").close()
        time.sleep(0.2)


if _dir:
    tracemalloc.start(int(os.environ.get("SOAK_MEMHOOK_FRAMES", "8")))
    threading.Thread(target=_serve, name="soak-memhook", daemon=True).start()
'''


@dataclass(slots=True)
class LoopProbe:
    """``GET /health`` four times a second from a thread; the slowest answer is the loop's worst lag."""

    url: str
    interval: float = 0.25
    worst_s: float = 0.0
    worst_at: float = 0.0
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="loop-probe", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        t_start = time.monotonic()
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=60) as reply:
                    reply.read()
            except (OSError, urllib.error.URLError):
                self.failures += 1
            took = time.monotonic() - t0
            if took > self.worst_s:
                self.worst_s, self.worst_at = took, t0 - t_start
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(70)


@dataclass(slots=True)
class RssSamples:
    pid: int
    samples: list[tuple[float, int]] = field(default_factory=list)  # (s since start, KB)

    def sample(self, t: float) -> int:
        kb = proc_status_kb(self.pid, "VmRSS")
        self.samples.append((t, kb))
        return kb

    @property
    def peak_kb(self) -> int:
        return max(kb for _, kb in self.samples)


def proc_status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(q * len(sorted_values) + 0.999999)))
    return sorted_values[rank - 1]


def read_rtts(workdir: Path) -> list[float]:
    """INVITE->200 response times (ms) from SIPp's -trace_rtt file(s): Date_ms;response_time_ms;rtd_no."""
    values: list[float] = []
    for path in workdir.glob("*_rtt.csv"):
        for line in path.read_text().splitlines()[1:]:
            parts = line.split(";")
            try:
                values.append(float(parts[1]))
            except (IndexError, ValueError):
                continue
    return sorted(values)


def scrape_metrics(http_port: int) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=30) as reply:
            text = reply.read().decode()
    except (OSError, urllib.error.URLError):
        return {}
    metrics: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                metrics[name] = float(value)
            except ValueError:
                continue
    return metrics


LOG_LAG = re.compile(r"event loop ([0-9.]+) s behind")


def log_lags(log: Path) -> list[float]:
    return [float(m.group(1)) for m in LOG_LAG.finditer(log.read_text(errors="replace"))]


def free_udp_port(low: int, high: int) -> int:
    """A UDP port of our own range (17000-17999 by default: clear of the other benchmarks' ports)."""
    for port in range(low, high + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            # SIPp binds the port and the next one (RTCP) for media.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtcp:
                try:
                    rtcp.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    raise SystemExit(f"no free UDP port in {low}-{high}")


class MemHook:
    """The server side of --mem-profile: request a snapshot, wait for it, diff two."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "mem"
        self.dir.mkdir()
        hook_dir = workdir / "hook"
        hook_dir.mkdir()
        (hook_dir / "sitecustomize.py").write_text(MEM_HOOK)
        self.pythonpath = str(hook_dir)

    def env(self) -> dict[str, str]:
        return {"SOAK_MEMHOOK_DIR": str(self.dir)}

    def snapshot(self, tag: str, timeout: float = 300.0) -> bool:
        (self.dir / f"{tag}.req").touch()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self.dir / f"{tag}.done").exists():
                return True
            time.sleep(0.2)  # polling a file under a deadline
        print(f"# mem-profile: no snapshot {tag!r} within {timeout:.0f} s", flush=True)
        return False

    def report(self, first: str, second: str, calls: int, top: int = 15) -> None:
        import tracemalloc

        a = tracemalloc.Snapshot.load(str(self.dir / f"{first}.tracemalloc"))
        b = tracemalloc.Snapshot.load(str(self.dir / f"{second}.tracemalloc"))
        ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen *>")]
        a, b = a.filter_traces(ignore), b.filter_traces(ignore)
        per = max(1, calls)
        print(f"# mem-profile: allocation growth {first} -> {second} by line ({calls} calls in between)")
        for stat in b.compare_to(a, "lineno")[:top]:
            frame = stat.traceback[0]
            print(f"#   {stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+9d} blocks "
                  f"{stat.size_diff / per:+8.1f} B/call  {frame.filename}:{frame.lineno}")
        print("# mem-profile: largest growth by traceback")
        for stat in b.compare_to(a, "traceback")[:5]:
            print(f"#   {stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+9d} blocks")
            for line in stat.traceback.format(most_recent_first=True)[:16]:
                print(f"#       {line}")
        ta = json.loads((self.dir / f"{first}.types.json").read_text())
        tb = json.loads((self.dir / f"{second}.types.json").read_text())
        growth = sorted(((tb.get(k, 0) - ta.get(k, 0), k) for k in set(ta) | set(tb)), reverse=True)
        print("# mem-profile: live objects (gc-tracked) growth by type")
        for diff, name in growth[:top]:
            print(f"#   {diff:+9d} ({diff / per:+.2f}/call) {name}  now {tb.get(name, 0)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=150, help="calls per second (default 150)")
    parser.add_argument("--minutes", type=float, default=4.0, help="minutes of calls (default 4)")
    parser.add_argument("--call-ms", type=int, default=1000, help="call duration, ms (default 1000)")
    parser.add_argument("--drain", type=float, default=5.0,
                        help="seconds after the last call before the end RSS sample (default 5)")
    # -P: ``-m`` would put the server's working directory (this tree) ahead of PYTHONPATH.
    parser.add_argument("--server-cmd", default=f"{shlex.quote(sys.executable)} -P -m callcontrol",
                        help="the server command, before 'serve --config FILE' (default: this python "
                             "-P -m callcontrol)")
    parser.add_argument("--pythonpath", default=str(ROOT),
                        help="the checkout first on the server's PYTHONPATH (default: this tree); "
                             "e.g. an older worktree")
    parser.add_argument("--rtp-ports", default="40000-44999", help="the server's RTP port range")
    parser.add_argument("--media-ports", default="17000-17999",
                        help="where the SIPps' media ports are picked from")
    parser.add_argument("--pcap", default=str(PCAP), help="the RTP the caller plays (default g711a.pcap)")
    parser.add_argument("--sipp", default=shutil.which("sipp") or "sipp")
    parser.add_argument("--log-level", default="WARNING", help="the server's log level (its log: server.log)")
    parser.add_argument("--mem-profile", action="store_true",
                        help="tracemalloc + gc type counts in the server (slow): top growth at the end")
    parser.add_argument("--warmup", type=float, default=20.0,
                        help="with --mem-profile: seconds of calls before the first snapshot")
    parser.add_argument("--label", default="", help="the first column of the --report row")
    parser.add_argument("--report", action="store_true", help="print one markdown table row at the end")
    parser.add_argument("--keep-dir", action="store_true", help="keep the work directory (logs, SIPp stats)")
    args = parser.parse_args()
    args.trace_err = False  # TrunkUas reads it

    calls = max(1, int(args.rate * args.minutes * 60))
    call_s = args.call_ms / 1000
    low, high = (int(p) for p in args.media_ports.split("-"))
    workdir = Path(tempfile.mkdtemp(prefix="soak_"))
    scenario = workdir / "soak_uac.xml"
    scenario.write_text(UAC_SCENARIO.replace("@PCAP@", args.pcap))
    mem = MemHook(workdir) if args.mem_profile else None

    trunk_port = free_udp_port(low, high)
    uas = TrunkUas(args, trunk_port, workdir,
                   extra=["-rtp_echo", "-mi", "127.0.0.1", "-mp", str(free_udp_port(trunk_port + 2, high)),
                          "-buff_size", "1048576"])
    saved_env = dict(os.environ)
    if mem is not None:
        os.environ.update(mem.env())  # ServerProc passes os.environ on
    try:
        pythonpath = os.pathsep.join(filter(None, [mem.pythonpath if mem else "", args.pythonpath]))
        server = ServerProc(workdir, trunk_port, True, args.rtp_ports, args.log_level,
                            shlex.split(args.server_cmd), pythonpath=pythonpath)
    except BaseException:
        uas.stop()
        raise
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
    uac_port = free_udp_port(low, high)
    uac_media = free_udp_port(uac_port + 2, high)
    load0 = os.getloadavg()
    print(f"# server pid {server.pid} SIP 127.0.0.1:{server.sip_port}, HTTP {server.http_port}, trunk SIPp uas "
          f"127.0.0.1:{trunk_port} (-rtp_echo), media anchored, {args.rate} calls/s for {args.minutes:g} min "
          f"= {calls} calls of {args.call_ms} ms, PYTHONPATH {pythonpath}, nproc={os.cpu_count()}, "
          f"load {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, workdir {workdir}", flush=True)

    uac_stat = workdir / "uac_stat.csv"
    timeout = int(args.minutes * 60 * 2 + call_s + 120)
    # A high limit: a stalled server must not make SIPp slow down the offered rate.
    limit = str(max(1000, int(args.rate * (call_s + 30))))
    uac_cmd = [args.sipp, f"127.0.0.1:{server.sip_port}", "-sf", str(scenario), "-s", CALLEE,
               "-d", str(args.call_ms), "-r", str(args.rate), "-m", str(calls), "-l", limit,
               "-i", "127.0.0.1", "-p", str(uac_port), "-mi", "127.0.0.1", "-mp", str(uac_media), "-t", "u1",
               "-nostdin", "-timeout", f"{timeout}s", "-timeout_error", "-recv_timeout", "32000",
               "-buff_size", "1048576", "-trace_stat", "-stf", str(uac_stat), "-fd", "1",
               "-trace_rtt", "-rtt_freq", "1"]
    rss = RssSamples(server.pid)
    probe = LoopProbe(f"http://127.0.0.1:{server.http_port}/health")
    t0 = time.monotonic()
    rss_start = rss.sample(0.0)
    cpu0 = cpu_seconds(server.pid)
    probe.start()
    uac = subprocess.Popen(uac_cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    snapped = False
    try:
        while uac.poll() is None:
            t = time.monotonic() - t0
            if server.alive():
                kb = rss.sample(t)
                if int(t) % 30 == 0:
                    print(f"# t={t:5.0f} s RSS {kb / 1024:7.1f} MB, loop probe worst {probe.worst_s:.2f} s",
                          flush=True)
            if mem is not None and not snapped and t >= args.warmup:
                snapped = True
                placed_at_snap = min(calls, int(args.rate * (time.monotonic() - t0)))
                threading.Thread(target=mem.snapshot, args=("warm",), daemon=True).start()
            time.sleep(max(0.0, 1.0 - (time.monotonic() - t0 - t) % 1.0))  # once a second
        uac_err = uac.stderr.read() if uac.stderr else ""
        elapsed = time.monotonic() - t0
        uas_counts = uas.wait_for((0, 0, 0), calls, timeout=10.0)
        time.sleep(args.drain)  # the end sample: calls' timers and transactions gone
        alive = server.alive()
        rss_end = rss.sample(time.monotonic() - t0) if alive else 0
        hwm = proc_status_kb(server.pid, "VmHWM") if alive else 0
        cpu1 = cpu_seconds(server.pid) if alive else cpu0
        probe.stop()
        metrics = scrape_metrics(server.http_port) if alive else {}
        if mem is not None and alive and snapped and mem.snapshot("end"):
            mem.report("warm", "end", calls - placed_at_snap)
    finally:
        if uac.poll() is None:
            uac.kill()
            uac.wait()
        probe.stop()
        code = server.stop()
        uas.stop()
    counts = stat_counts(uac_stat)
    if counts is None:
        print(f"# uac exit {uac.returncode}, no statistics: {uac_err.strip()[-500:]}", flush=True)
        counts = (0, 0, 0)
    ok, failed, retrans = counts
    unfinished = calls - ok - failed
    rtts = read_rtts(workdir)
    p50, p99, pmax = percentile(rtts, 0.5), percentile(rtts, 0.99), (rtts[-1] if rtts else float("nan"))
    lags = log_lags(server.log)
    lag_gauge = metrics.get("callcontrol_event_loop_lag_max_seconds")
    growth_per_1000 = (rss_end - rss_start) / calls * 1000 if rss_end else float("nan")
    ms_per_call = 1000 * (cpu1 - cpu0) / calls
    load1 = os.getloadavg()
    print(f"# server exit {code}, alive at the end: {alive}, uac exit {uac.returncode}, {elapsed:.0f} s, "
          f"load {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}", flush=True)
    print(f"calls {calls}: ok {ok} failed {failed} unfinished {unfinished} (retransmissions {retrans}; "
          f"trunk ok {uas_counts[0]} failed {uas_counts[1]}; shed 503 {metrics.get('callcontrol_calls_shed_total', '-')})")
    print(f"INVITE->200 ms: p50 {p50:.0f} p99 {p99:.0f} max {pmax:.0f} ({len(rtts)} samples)")
    print(f"RSS MB: start {rss_start / 1024:.1f} peak {rss.peak_kb / 1024:.1f} end {rss_end / 1024:.1f} "
          f"(VmHWM {hwm / 1024:.1f}); growth {growth_per_1000:.0f} KB per 1,000 calls")
    print(f"server CPU: {ms_per_call:.2f} ms per call ({100 * (cpu1 - cpu0) / elapsed:.0f}% of a core)")
    gauge = "-" if lag_gauge is None else f"{lag_gauge:.2f}"
    log_lag = f"{max(lags):.1f}" if lags else "<1"
    print(f"largest loop lag (s): /metrics gauge {gauge}, /health probe {probe.worst_s:.2f} "
          f"(at t={probe.worst_at:.0f} s, {probe.failures} failed), log 'behind' {log_lag} ({len(lags)} warnings)")
    rtp_in = metrics.get("callcontrol_rtp_packets_received_total", 0)
    rtp_out = metrics.get("callcontrol_rtp_packets_sent_total", 0)
    print(f"RTP through the anchor: {rtp_in:.0f} packets received, {rtp_out:.0f} sent "
          f"({rtp_in / calls:.0f} and {rtp_out / calls:.0f} per call)")
    if args.report:
        print(f"| {args.label} | {args.rate} | {args.minutes:g} | {ok}/{failed}/{unfinished} | "
              f"{p50:.0f} / {p99:.0f} / {pmax:.0f} | {rss_start / 1024:.0f} / {rss.peak_kb / 1024:.0f} / "
              f"{rss_end / 1024:.0f} | {growth_per_1000:.0f} | {ms_per_call:.2f} | "
              f"{gauge} / {probe.worst_s:.2f} / {log_lag} | {load0[0]:.1f} |")
    if args.keep_dir:
        print(f"# work dir kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if alive and failed == 0 and unfinished == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

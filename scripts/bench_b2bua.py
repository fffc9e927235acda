#!/usr/bin/env python3
"""Benchmark the B2BUA: SIPp ``uac`` -> ``callcontrol serve`` -> SIPp ``uas`` on the trunk, rising rates.

    python scripts/bench_b2bua.py                                   # 200..2000 calls/s, 10 s per step, no media
    python scripts/bench_b2bua.py --rates 500,1000 --duration 5 --call-ms 1000 [--media] [--keep-going]

The server is started once, as the README says (``callcontrol serve --config
FILE``), with its own data directory in a temporary directory, free ports,
``[sip] trusted = ["127.0.0.1/32"]`` (SIPp is not challenged) and ``[trunk] uri``
pointing at the SIPp UAS; ``[media] anchor = false`` unless ``--media`` (then the
server relays RTP: SDP rewritten, two port pairs per call). Each step runs

    sipp 127.0.0.1:SIP -sn uac -s 5551234 -d CALL_MS -r RATE -m RATE*DURATION ...

against it and the trunk, one ``sipp -sn uas -p TRUNK`` kept for the whole run
(5551234 is outside the demo directory, so every call goes to the trunk), and
reads the caller's final ``-trace_stat`` row and the difference of the trunk's
cumulative rows, the server's CPU time from ``/proc/PID/stat``
(utime+stime) before and after, and both SIPps' (``sipp_cpu%``). A step fails when the caller or the trunk side reports a
failed call, or fewer successful calls than offered; the run stops at the first
failing step unless ``--keep-going``. SIPp retransmits, so a server that falls
behind may still complete every call late: ``ach_cps`` is the successful calls
per second of step, less the call duration, and a step below ``--sustain`` of the
offered rate is marked "(slow)". ``ms/call`` is the server's CPU time per offered
call, the figure least disturbed by other processes on the machine (when they
take CPU, ``srv_cpu%`` stays low and the server falls behind). The SIPp
built-in UAS aborts a call when it sees the server's INVITE retransmitted after
its 200 (the server answered late): such calls count in ``uas_fail``. Prints one
table row per step and the highest rate with zero failed calls; exits 0.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench_sip_uas import cpu_seconds, free_port, print_best_rates, read_stat, stop_process

ROOT = Path(__file__).resolve().parent.parent
CALLEE = "5551234"  # not in the directory: routed to the trunk


@dataclass(slots=True)
class Step:
    rate: int
    calls: int
    successful: int
    failed: int
    retransmissions: int
    uas_successful: int
    uas_failed: int
    uas_retransmissions: int
    elapsed_s: float
    server_cpu_pct: float
    sipp_cpu_pct: float
    call_s: float

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.uas_failed == 0 and self.successful == self.calls

    @property
    def server_ms_per_call(self) -> float:
        """Server CPU per offered call (ms): the cost figure least disturbed by other load."""
        return 10.0 * self.server_cpu_pct * self.elapsed_s / self.calls

    @property
    def achieved_cps(self) -> float:
        busy = self.elapsed_s - self.call_s  # the last call is held call_s after it was placed
        return self.successful / busy if busy > 0 else 0.0

    def sustained(self, ratio: float) -> bool:
        return self.ok and self.achieved_cps >= ratio * self.rate


class ServerProc:
    """``callcontrol serve --config FILE`` as a child process with its own data dir and ports."""

    def __init__(self, workdir: Path, trunk_port: int, media: bool, rtp_ports: str, log_level: str,
                 command: list[str], pythonpath: str = str(ROOT)) -> None:
        self.sip_port = free_port()
        self.http_port = free_port()
        self.trunk_port = trunk_port
        self.log = workdir / "server.log"
        config = workdir / "callcontrol.toml"
        config.write_text(f"""
[sip]
listen = ["udp:127.0.0.1:{self.sip_port}", "tcp:127.0.0.1:{self.sip_port}"]
trusted = ["127.0.0.1/32"]
[trunk]
uri = "sip:127.0.0.1:{trunk_port}"
[ws]
listen = "127.0.0.1:{free_port()}"
[http]
listen = "127.0.0.1:{self.http_port}"
[media]
anchor = {"true" if media else "false"}
rtp_ports = "{rtp_ports}"
[store]
data_dir = "{workdir / 'data'}"
[log]
level = "{log_level}"
""")
        with self.log.open("w") as err:
            # The checkout first on the path (this tree unless ``pythonpath`` names another):
            # the benchmark measures that tree, installed or not.
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [pythonpath,
                                                                             os.environ.get("PYTHONPATH")]))}
            self.proc = subprocess.Popen([*command, "serve", "--config", str(config)], cwd=ROOT, env=env,
                                         stdout=subprocess.PIPE, stderr=err, text=True)
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # blocks until the server is ready (or dies)
            if line.strip() == "ready":
                break
        else:
            raise SystemExit(f"server did not start: {self.log.read_text()[-2000:]}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        return stop_process(self.proc)


def stat_counts(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = read_stat(path)
    except (OSError, RuntimeError):
        return None
    return (int(stat.get("SuccessfulCall(C)", 0) or 0), int(stat.get("FailedCall(C)", 0) or 0),
            int(stat.get("Retransmissions(C)", 0) or 0))


class TrunkUas:
    """SIPp's built-in ``uas`` on the trunk port, started once and kept for every step.

    One process for the whole run: a UAS started per step would still be starting up
    (files, statistics) while the first INVITEs of the step arrive, answer them late
    and make the server retransmit them. Its ``-trace_stat`` rows (one a second,
    cumulative) give each step's counts as differences.
    """

    def __init__(self, args: argparse.Namespace, port: int, workdir: Path, extra: Sequence[str] = ()) -> None:
        self.stat_file = workdir / "uas_stat.csv"
        cmd = [args.sipp, "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-nostdin",
               "-trace_stat", "-stf", str(self.stat_file), "-fd", "1", *extra]
        if args.trace_err:
            cmd += ["-trace_err", "-error_file", str(workdir / "uas_errors.log")]
        self.proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        _wait_bound(port, self.proc)

    def counts(self) -> tuple[int, int, int]:
        return stat_counts(self.stat_file) or (0, 0, 0)

    def wait_for(self, base: tuple[int, int, int], calls: int, timeout: float) -> tuple[int, int, int]:
        """Counts since ``base`` once ``calls`` calls ended there (or ``timeout`` passed)."""
        deadline = time.monotonic() + timeout
        while True:
            now = self.counts()
            delta = (now[0] - base[0], now[1] - base[1], now[2] - base[2])
            if delta[0] + delta[1] >= calls or time.monotonic() >= deadline or self.proc.poll() is not None:
                return delta
            time.sleep(0.5)  # SIPp rewrites its statistics once a second; bounded by the deadline

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_step(server: ServerProc, uas: TrunkUas, rate: int, args: argparse.Namespace, workdir: Path) -> Step:
    calls = max(1, int(rate * args.duration))
    stamp = time.monotonic_ns()
    uac_stat = workdir / f"uac_{rate}_{stamp}.csv"
    timeout = int(args.duration * 3 + args.call_ms / 1000 + 60)
    limit = str(max(1000, int(rate * (args.call_ms / 1000 + 2) * 2)))
    uac_cmd = [args.sipp, f"127.0.0.1:{server.sip_port}", "-sn", "uac", "-s", CALLEE, "-d", str(args.call_ms),
               "-r", str(rate), "-m", str(calls), "-l", limit, "-nostdin", "-timeout", f"{timeout}s",
               "-timeout_error", "-trace_stat", "-stf", str(uac_stat), "-fd", "1", "-i", "127.0.0.1",
               "-p", "0", "-t", "u1"]
    if args.sipp_args:
        uac_cmd += args.sipp_args.split()
    if args.trace_err:
        uac_cmd += ["-trace_err", "-error_file", str(workdir / f"uac_{rate}_{stamp}_errors.log")]
    uas_base = uas.counts()
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the caller SIPp, reaped during the step
    uas_cpu0 = cpu_seconds(uas.proc.pid)
    cpu0 = cpu_seconds(server.pid)
    t0 = time.monotonic()
    uac = subprocess.run(uac_cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         check=False, timeout=timeout + 60)
    elapsed = time.monotonic() - t0
    try:
        cpu1 = cpu_seconds(server.pid)
    except FileNotFoundError:
        cpu1 = cpu0
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    uas_cpu = cpu_seconds(uas.proc.pid) - uas_cpu0 if uas.proc.poll() is None else 0.0
    sipp_cpu = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime) + uas_cpu
    uac_counts = stat_counts(uac_stat)
    if uac_counts is None:
        print(f"# uac exit {uac.returncode}, no statistics: {uac.stderr.strip()[-500:]}", flush=True)
        uac_counts = (0, calls, 0)
    # Calls the trunk saw end within two statistics periods of the caller's end, or never.
    uas_counts = uas.wait_for(uas_base, calls, timeout=5.0)
    return Step(rate, calls, *uac_counts, *uas_counts, elapsed, 100.0 * (cpu1 - cpu0) / elapsed,
                100.0 * sipp_cpu / elapsed, args.call_ms / 1000)


def _wait_bound(port: int, proc: subprocess.Popen[str], timeout: float = 10.0) -> None:
    """Until SIPp holds the trunk's UDP port (our own bind fails), bounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"trunk SIPp exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return
        time.sleep(0.01)  # polling a condition under a deadline
    raise SystemExit(f"trunk SIPp did not bind {port}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="200,400,700,1000,1500,2000",
                        help="comma-separated offered call rates (calls/s), tried in this order")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of calls per step")
    parser.add_argument("--call-ms", type=int, default=1000, help="call duration (SIPp -d), ms")
    parser.add_argument("--media", action="store_true", help="media anchoring on (default off: SDP passes)")
    parser.add_argument("--rtp-ports", default="20000-29999")
    parser.add_argument("--keep-going", action="store_true", help="do not stop at the first failing step")
    parser.add_argument("--pause", type=float, default=3.0, help="seconds between steps (lets timers drain)")
    parser.add_argument("--sipp", default=shutil.which("sipp") or "sipp")
    parser.add_argument("--sipp-args", default="", help="extra SIPp uac arguments, space-separated")
    parser.add_argument("--server", default=shutil.which("callcontrol") or "callcontrol",
                        help="the server command (default: the installed console script)")
    parser.add_argument("--log-level", default="WARNING", help="the server's log level (its log: server.log)")
    parser.add_argument("--trace-err", action="store_true", help="SIPp -trace_err on both sides (in the work dir)")
    parser.add_argument("--keep-dir", action="store_true", help="keep the work directory (logs, SIPp stats)")
    parser.add_argument("--sustain", type=float, default=0.95,
                        help="a step is 'sustained' when it has zero failures and completes calls at this "
                             "fraction of the offered rate or better (default 0.95)")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",") if r.strip()]

    workdir = Path(tempfile.mkdtemp(prefix="bench_b2bua_"))
    trunk_port = free_port()
    uas = TrunkUas(args, trunk_port, workdir)
    try:
        server = ServerProc(workdir, trunk_port, args.media, args.rtp_ports, args.log_level, [args.server])
    except BaseException:
        uas.stop()
        raise
    steps: list[Step] = []
    print(f"# server pid {server.pid} SIP 127.0.0.1:{server.sip_port} (UDP), trunk SIPp uas "
          f"127.0.0.1:{server.trunk_port}, media {'anchored' if args.media else 'not anchored'}, "
          f"{args.duration:g} s of calls per step, calls of {args.call_ms} ms, nproc={os.cpu_count()}, "
          f"workdir {workdir}", flush=True)
    print(f"# load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}",
          flush=True)
    print(f"{'rate':>6} {'calls':>7} {'ok':>7} {'failed':>6} {'retrans':>7} {'uas_ok':>7} {'uas_fail':>8} "
          f"{'uas_retr':>8} {'elapsed_s':>9} {'ach_cps':>8} {'srv_cpu%':>8} {'ms/call':>7} {'sipp_cpu%':>9}", flush=True)
    try:
        for i, rate in enumerate(rates):
            if i:
                time.sleep(args.pause)  # spacing the steps, not synchronising
            if not server.alive():
                print(f"# server exited with {server.proc.returncode}; see {server.log}", flush=True)
                break
            step = run_step(server, uas, rate, args, workdir)
            steps.append(step)
            mark = "  FAIL" if not step.ok else ("" if step.sustained(args.sustain) else "  (slow)")
            print(f"{step.rate:>6} {step.calls:>7} {step.successful:>7} {step.failed:>6} "
                  f"{step.retransmissions:>7} {step.uas_successful:>7} {step.uas_failed:>8} "
                  f"{step.uas_retransmissions:>8} {step.elapsed_s:>9.2f} {step.achieved_cps:>8.0f} "
                  f"{step.server_cpu_pct:>8.1f} {step.server_ms_per_call:>7.2f} {step.sipp_cpu_pct:>9.1f}{mark}", flush=True)
            if not step.ok and not args.keep_going:
                break
    finally:
        code = server.stop()
        uas.stop()
        if code != 0:
            print(f"# server exit code {code}; log {server.log}", flush=True)
        if not args.keep_dir:
            shutil.rmtree(workdir, ignore_errors=True)
    print_best_rates(steps, args.sustain)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Benchmark the SIP stack's UAS leg: SIPp ``uac`` at rising call rates against ``sip_agent.py uas``.

    python scripts/bench_sip_uas.py                                  # 500..4000 calls/s, 10 s per step, UDP
    python scripts/bench_sip_uas.py --rates 1000,2000,3000 --duration 5 [--tcp] [--keep-going]

The agent UAS (built only on ``sip/``) is started once on a free port and kept
for all steps (restarted only if it dies). Each step runs

    sipp 127.0.0.1:PORT -sn uac -r RATE -m RATE*DURATION -nostdin -timeout T ...

and reads SIPp's final statistics (successful and failed calls,
retransmissions) from its ``-trace_stat`` CSV, while the UAS process CPU time
is taken from ``/proc/PID/stat`` (utime+stime) before and after the step.
A step fails when SIPp reports any failed call or fewer successful calls than
offered; the run stops at the first failing step unless ``--keep-going``.
Because SIPp retransmits, a UAS that falls behind can still end a step with
zero failures, only late: the table shows the achieved rate (successful calls
per second of step) and marks "(slow)" a step below ``--sustain`` of the
offered rate. Prints one table row per step, the highest rate with zero
failures and the highest sustained rate; exits 0.
"""
from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AGENT = ROOT / "scripts" / "sip_agent.py"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(slots=True)
class Step:
    rate: int
    calls: int
    successful: int
    failed: int
    retransmissions: int
    elapsed_s: float
    uas_cpu_pct: float
    sipp_cpu_pct: float
    uas_restarted: bool

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.successful == self.calls

    @property
    def achieved_cps(self) -> float:
        return self.successful / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def sustained(self, ratio: float) -> bool:
        """Zero failures and the calls completed at ``ratio`` of the offered rate or better."""
        return self.ok and self.achieved_cps >= ratio * self.rate


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (the agent listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                    t.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("no free port for UDP+TCP")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    # Fields after the ")" of comm; utime and stime are fields 14 and 15 (1-based).
    fields = stat[stat.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Uas:
    """The agent UAS as a child process, started on demand."""

    def __init__(self, port: int, python: str, extra: list[str], quiet: bool = True) -> None:
        self.quiet = quiet  # the UAS logs warnings when overloaded; they would bury the table
        self.port = port
        self.python = python
        self.extra = extra
        self.proc: subprocess.Popen[str] | None = None

    def ensure(self) -> bool:
        """Start the UAS unless it runs; True when it had to be (re)started."""
        if self.proc is not None and self.proc.poll() is None:
            return False
        if self.proc is not None:
            print(f"# UAS exited with {self.proc.returncode}; restarting", flush=True)
        self.proc = subprocess.Popen(
            [self.python, str(AGENT), "uas", "--listen", f"127.0.0.1:{self.port}", *self.extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL if self.quiet else None, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until the agent listens (or dies)
        if line.strip() != "ready":
            raise SystemExit(f"UAS did not start: {line!r}")
        return True

    def stop(self) -> str:
        if self.proc is None or self.proc.poll() is not None:
            return ""
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return out.strip()


def stop_process(proc: subprocess.Popen[str], timeout: float = 30.0) -> int:
    """SIGTERM, then SIGKILL after ``timeout``; the exit code."""
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def print_best_rates(steps: list, sustain: float) -> None:  # type: ignore[type-arg]
    """The two summary lines every rate benchmark prints (steps: ``.rate``, ``.ok``, ``.sustained()``)."""
    passed = [s.rate for s in steps if s.ok]
    sustained = [s.rate for s in steps if s.sustained(sustain)]
    print(f"highest rate with zero failed calls: {max(passed) if passed else 0} calls/s")
    print(f"highest rate sustained (zero failed, >= {sustain:.0%} of offered completed per second): "
          f"{max(sustained) if sustained else 0} calls/s")


def read_stat(path: Path) -> dict[str, str]:
    """The last row of SIPp's ``-trace_stat`` CSV (';'-separated, cumulative counters)."""
    with path.open(newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    if len(rows) < 2:
        raise RuntimeError(f"no statistics in {path}")
    return dict(zip(rows[0], rows[-1]))


def run_step(uas: Uas, rate: int, duration: float, args: argparse.Namespace, workdir: Path) -> Step:
    restarted = uas.ensure()
    assert uas.proc is not None
    calls = max(1, int(rate * duration))
    stat_file = workdir / f"uac_{rate}_{time.monotonic_ns()}.csv"
    cmd = [args.sipp, f"127.0.0.1:{uas.port}", "-sn", "uac", "-r", str(rate), "-m", str(calls),
           "-nostdin", "-timeout", f"{int(duration * 3 + 40)}s", "-timeout_error",
           "-trace_stat", "-stf", str(stat_file), "-fd", "1",
           "-i", "127.0.0.1", "-p", "0", "-l", str(max(1000, rate * 4)),
           "-t", "t1" if args.tcp else "u1"]
    if args.sipp_args:
        cmd += args.sipp_args.split()
    cpu0 = cpu_seconds(uas.proc.pid)
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)  # only SIPp is reaped during the step
    t0 = time.monotonic()
    res = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False,
                         cwd=workdir, timeout=duration * 3 + 120)
    elapsed = time.monotonic() - t0
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    sipp_cpu = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
    try:
        cpu1 = cpu_seconds(uas.proc.pid)
    except FileNotFoundError:
        cpu1 = cpu0  # the UAS died during the step; the next step restarts it
    try:
        stat = read_stat(stat_file)
    except (OSError, RuntimeError) as exc:
        print(f"# sipp exit {res.returncode}, no statistics ({exc}): {res.stderr.strip()[-500:]}",
              flush=True)
        stat = {}
    ok = int(stat.get("SuccessfulCall(C)", 0) or 0)
    failed = int(stat.get("FailedCall(C)", 0) or 0)
    retrans = int(stat.get("Retransmissions(C)", 0) or 0)
    if not stat:
        failed = calls
    return Step(rate, calls, ok, failed, retrans, elapsed, 100.0 * (cpu1 - cpu0) / elapsed,
                100.0 * sipp_cpu / elapsed, restarted)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="500,1000,1500,2000,2500,3000,3500,4000",
                        help="comma-separated offered call rates (calls/s), tried in this order")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of calls per step")
    parser.add_argument("--tcp", action="store_true", help="SIPp -t t1 (one TCP connection) instead of UDP")
    parser.add_argument("--keep-going", action="store_true", help="do not stop at the first failing step")
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between steps (lets timers drain)")
    parser.add_argument("--sipp", default=shutil.which("sipp") or "sipp")
    parser.add_argument("--sipp-args", default="", help="extra SIPp arguments, space-separated")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the UAS")
    parser.add_argument("--uas-args", default="", help="extra sip_agent.py uas arguments")
    parser.add_argument("--port", type=int, default=0, help="UAS port (default: a free one)")
    parser.add_argument("--uas-stderr", action="store_true", help="show the UAS's log output")
    parser.add_argument("--sustain", type=float, default=0.95,
                        help="a step is 'sustained' when it has zero failures and completes calls "
                             "at this fraction of the offered rate or better (default 0.95)")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",") if r.strip()]

    port = args.port or free_port()
    uas = Uas(port, args.python, args.uas_args.split(), quiet=not args.uas_stderr)
    steps: list[Step] = []
    print(f"# UAS 127.0.0.1:{port} ({'TCP' if args.tcp else 'UDP'}), {args.duration:g} s per step, "
          f"nproc={os.cpu_count()}", flush=True)
    header = f"{'rate':>6} {'calls':>7} {'ok':>7} {'failed':>6} {'retrans':>7} {'elapsed_s':>9} " \
             f"{'ach_cps':>8} {'uas_cpu%':>8} {'sipp_cpu%':>9}"
    print(header, flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="bench_sip_uas_") as tmp:
            for i, rate in enumerate(rates):
                if i:
                    time.sleep(args.pause)
                step = run_step(uas, rate, args.duration, args, Path(tmp))
                steps.append(step)
                mark = "  FAIL" if not step.ok else ("" if step.sustained(args.sustain) else "  (slow)")
                if step.uas_restarted and i:
                    mark += "  (UAS restarted)"
                print(f"{step.rate:>6} {step.calls:>7} {step.successful:>7} {step.failed:>6} "
                      f"{step.retransmissions:>7} {step.elapsed_s:>9.2f} {step.achieved_cps:>8.0f} "
                      f"{step.uas_cpu_pct:>8.1f} {step.sipp_cpu_pct:>9.1f}{mark}", flush=True)
                if not step.ok and not args.keep_going:
                    break
    finally:
        counters = uas.stop()
    if counters:
        print(f"# UAS counters: {counters}")
    print_best_rates(steps, args.sustain)
    return 0


if __name__ == "__main__":
    sys.exit(main())

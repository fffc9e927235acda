#!/usr/bin/env python3
"""Benchmark the IVR: N concurrent calls to the access number 7000, each playing a prompt
for ever with DTMF detection on; how many keep their RTP pacing within 5 ms.

    python scripts/bench_ivr.py                                # N = 100, 250, 500, 750; 10 s measured
    python scripts/bench_ivr.py --calls 500 --measure 20 --rate 50 --drift-ms 5

For each N, from scratch:

1. ``callcontrol serve --config FILE`` (this checkout first on PYTHONPATH) with free
   ports, ``[sip] trusted = ["127.0.0.1/32"]``, ``[media] rtp_timeout = 3600`` (SIPp
   sends no RTP; the calls must not be ended for silence) and a data dir in a temp dir;
2. a prompt server (aiohttp, in this process): ``/prompt.au``, 1 s of 8-bit u-law,
   ``Cache-Control: max-age=3600`` (fetched once, then served from the server's cache);
3. an RTP receiver in its own process, one UDP port that the SDP of a sample of the calls
   names (every k-th call, at most ``--sample``; the others name a socket nobody reads, so
   the receiver keeps up and the server does the same work): it tells the calls apart by
   the server's source port and, per stream, compares each packet's arrival time with its RTP
   timestamp: ``drift = (arrival - first arrival) - (timestamp - first timestamp) / 8000``.
   A stream's *pacing drift* is ``max(drift) - min(drift)`` over the measured window
   (0 for a perfectly paced sender; a late frame, a burst or a stall widens it; a
   schedule restart after a stall shows as a step). Also counted: packets lost
   (sequence gaps) and the RFC 3550 interarrival jitter;
4. the IVR application: a ``CallControlClient`` logged in as ``demo-corp``, subscribed to
   ``i_ivr_an`` 1; on each ``connected`` notification it sends ``start_dtmf_detect`` and
   ``play_prompt {url, order 2, repeat -1}``;
5. ``sipp 127.0.0.1:SIP -sf ivr_caller.xml -s 7000 -inf ports.csv -r RATE -m N -l N``
   (a copy of ``sipp_scenarios/ivr_caller.xml`` whose SDP port is the injection file's
   field 0 instead of ``-key rtp_port``; calls held until the server's BYE).

When every call plays (or ``--setup-timeout`` passes), the receiver's statistics are
reset and read back ``--measure`` seconds later, with the server's CPU time
(``/proc/PID/stat``) over the same window. Then SIGTERM: the server BYEs every call.
One table row per N: calls playing, streams heard in the window, streams with pacing
drift < ``--drift-ms`` (``<drift``: the whole window, so one stall of the server's event
loop counts), streams whose 99th percentile per-packet error ``|inter-arrival - 20 ms|``
is below the same limit (``paced``: local pacing, a single stall does not count), drift
percentiles over streams, the largest RFC 3550 jitter, packets per second per stream,
packets lost, server CPU (% of one core) and RSS, the machine's load average and CPU
pressure (``/proc/pressure/cpu`` some avg10: the share of time runnable tasks waited for a
CPU; with other work on the machine the server is descheduled for tens to hundreds of ms
and the pacing figures measure that, not the server). Exits 0.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import random
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp import web
from bench_sip_uas import cpu_seconds, free_port, stop_process

from callcontrol.client import CallControlClient, CallControlError
from ivr.au import write_au

logger = logging.getLogger("bench_ivr")

ACCESS_NUMBER = "7000"
I_IVR_AN = 1
CLOCK_RATE = 8000
SCENARIO = ROOT / "sipp_scenarios" / "ivr_caller.xml"
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; the kernel's receive time of each datagram


# --------------------------------------------------------------------------- RTP receiver (own process)


@dataclass(slots=True)
class _Stream:
    t0: int  # ns, first arrival in the window
    ts0: int  # its RTP timestamp
    first_seq: int
    last_seq: int
    packets: int = 1
    dmin: float = 0.0
    dmax: float = 0.0
    last_t: int = 0
    last_ts: int = 0
    jitter: float = 0.0  # RFC 3550 §6.4.1, in seconds
    # |inter-arrival - timestamp step| per packet, in 0.5 ms buckets (the last: 50 ms and more)
    errors: list[int] = field(default_factory=lambda: [0] * 101)


def _p99_ms(histogram: list[int]) -> float:
    """The 99th percentile of a 0.5 ms-bucket histogram (upper bucket edge), in ms."""
    total = sum(histogram)
    seen = 0
    for i, count in enumerate(histogram):
        seen += count
        if seen >= 0.99 * total:
            return (i + 1) / 2
    return 0.0


def _receiver(port_out: Connection, control: Connection) -> None:
    """Receive RTP on one port until told to stop; ``reset`` starts a window, ``report``
    sends back ``{source_port: (packets, expected, drift_ms, jitter_ms)}``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    # Arrival times from the kernel (SO_TIMESTAMPNS), not from when this process gets to
    # read: a receiver that falls behind must not show up as the server's drift.
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    port_out.send(sock.getsockname()[1])
    streams: dict[int, _Stream] = {}
    unpack = struct.Struct("!HII").unpack_from
    timespec = struct.Struct("@qq").unpack_from
    recv = sock.recvmsg
    ancillary = socket.CMSG_SPACE(16)
    while True:
        ready, _, _ = select.select([sock, control], [], [], 1.0)
        if control in ready:
            cmd = control.recv()
            if cmd == "reset":
                streams.clear()
            elif cmd == "report":
                control.send({src: (s.packets, ((s.last_seq - s.first_seq) & 0xFFFF) + 1,
                                    (s.dmax - s.dmin) * 1000.0, s.jitter * 1000.0, _p99_ms(s.errors))
                              for src, s in streams.items()})
            else:
                return
        if sock not in ready:
            continue
        while True:
            try:
                buf, anc, _, addr = recv(2048, ancillary)
            except BlockingIOError:
                break
            size = len(buf)
            now = 0
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = timespec(data)
                    now = sec * 1_000_000_000 + nsec
            if not now:
                now = time.time_ns()
            if size < 12:
                continue
            seq, ts, _ = unpack(buf, 2)
            src = addr[1]
            s = streams.get(src)
            if s is None:
                streams[src] = _Stream(now, ts, seq, seq, last_t=now, last_ts=ts)
                continue
            elapsed = (ts - s.ts0) & 0xFFFFFFFF
            if elapsed >= 1 << 31:
                elapsed -= 1 << 32
            drift = (now - s.t0) / 1e9 - elapsed / CLOCK_RATE
            if drift < s.dmin:
                s.dmin = drift
            elif drift > s.dmax:
                s.dmax = drift
            step = (ts - s.last_ts) & 0xFFFFFFFF
            d = abs((now - s.last_t) / 1e9 - step / CLOCK_RATE)
            s.jitter += (d - s.jitter) / 16
            s.errors[min(100, int(d * 2000))] += 1
            s.last_t, s.last_ts = now, ts
            if ((seq - s.last_seq) & 0xFFFF) < 0x8000:
                s.last_seq = seq
            s.packets += 1


class Receiver:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("fork")
        port_in, port_out = ctx.Pipe(duplex=False)
        self._control, child = ctx.Pipe()
        self.proc = ctx.Process(target=_receiver, args=(port_out, child), daemon=True)
        self.proc.start()
        self.port: int = port_in.recv()

    def reset(self) -> None:
        self._control.send("reset")

    def report(self) -> dict[int, tuple[int, int, float, float, float]]:
        self._control.send("report")
        return self._control.recv()

    def stop(self) -> None:
        self._control.send("stop")
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()


# --------------------------------------------------------------------------- server, prompt, application


class Server:
    def __init__(self, workdir: Path, rtp_ports: str, log_level: str, nice: int = 0) -> None:
        self.sip_port, self.ws_port = free_port(), free_port()
        self.log = workdir / "server.log"
        config = workdir / "callcontrol.toml"
        config.write_text(f"""
[sip]
listen = ["udp:127.0.0.1:{self.sip_port}"]
trusted = ["127.0.0.1/32"]
[ws]
listen = "127.0.0.1:{self.ws_port}"
[http]
listen = "127.0.0.1:{free_port()}"
[media]
rtp_ports = "{rtp_ports}"
rtp_timeout = 3600
[store]
data_dir = "{workdir / 'data'}"
[log]
level = "{log_level}"
""")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        with self.log.open("w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "callcontrol", "serve", "--config", str(config)],
                                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # blocks until the server is ready (or dies)
            if line.strip() == "ready":
                break
        else:
            raise SystemExit(f"server did not start: {self.log.read_text()[-2000:]}")
        if nice:
            os.setpriority(os.PRIO_PROCESS, self.proc.pid, nice)  # negative values need root

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> int:
        return stop_process(self.proc, 60)


async def start_prompt_server() -> tuple[web.AppRunner, str]:
    rng = random.Random(7)
    prompt = write_au(bytes(b if b not in (0xFF, 0x7F) else 0x80 for b in rng.randbytes(8000)))

    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=prompt, content_type="audio/basic", headers={"Cache-Control": "max-age=3600"})

    app = web.Application()
    app.router.add_get("/prompt.au", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/prompt"


@dataclass
class IvrApp:
    url: str
    connected: int = 0
    playing: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    all_playing: asyncio.Event = field(default_factory=asyncio.Event)
    target: int = 0

    async def run(self, client: CallControlClient) -> None:
        tasks: set[asyncio.Task[None]] = set()
        async for n in client.notifications():
            info = n.call_info
            if info is None or info.get("event") or info.get("state") != "connected":
                continue
            if info.get("callee", {}).get("access_number") != ACCESS_NUMBER:
                continue
            self.connected += 1
            task = asyncio.create_task(self._drive(client, info))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def _drive(self, client: CallControlClient, info: dict[str, Any]) -> None:
        ref = {"call": info["call"], "transport_id": info["transport_id"]}
        try:
            await client.start_dtmf_detect(**ref)
            await client.play_prompt(url=self.url, order=2, repeat=-1, **ref)
        except (CallControlError, ConnectionError, TimeoutError) as exc:
            self.failed += 1
            if len(self.errors) < 5:
                self.errors.append(repr(exc))
            return
        self.playing += 1
        if self.playing >= self.target:
            self.all_playing.set()


# --------------------------------------------------------------------------- one step


@dataclass
class Step:
    calls: int
    playing: int
    failed: int
    sampled: int  # calls whose RTP goes to the receiver
    streams: int
    within: int
    paced: int  # streams whose 99th percentile per-packet pacing error is < drift_ms
    drift_p50: float
    drift_p99: float
    drift_max: float
    jitter_max: float
    lost: int
    server_cpu_pct: float
    server_rss_mb: float
    setup_s: float
    pps: float  # packets per second per stream, received in the window (50 when paced at 20 ms)
    load: float  # 1-minute load average at the end of the window (the machine may be shared)
    psi: float  # /proc/pressure/cpu "some avg10": % of time runnable tasks waited for a CPU


def _cpu_pressure() -> float:
    try:
        with open("/proc/pressure/cpu") as f:
            return float(f.readline().split()[1].partition("=")[2])
    except (OSError, IndexError, ValueError):
        return float("nan")


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def run_step(n: int, args: argparse.Namespace, workdir: Path) -> Step:
    server = await asyncio.to_thread(Server, workdir, args.rtp_ports, args.log_level, args.server_nice)
    receiver = Receiver()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    runner, url = await start_prompt_server()
    app = IvrApp(url, target=n)
    sipp: asyncio.subprocess.Process | None = None
    try:
        async with CallControlClient.connect(f"ws://127.0.0.1:{server.ws_port}/ws", request_timeout=60,
                                             notification_buffer=100_000) as client:
            await client.login("demo-corp", "demo-corp-pass")
            await client.enable_api_notifications(i_ivr_an=I_IVR_AN)
            driver = asyncio.create_task(app.run(client))
            started = time.monotonic()
            # Every k-th call's SDP names the receiver's port, the others a socket nobody reads
            # (the kernel drops what overflows it): the receiver keeps up, the server's work is
            # the same. SIPp takes one line of the injection file per call.
            every = max(1, -(-n // args.sample))
            inject = workdir / "ports.csv"
            inject.write_text("SEQUENTIAL\n" + "".join(
                f"{receiver.port if i % every == 0 else sink.getsockname()[1]};\n" for i in range(n)))
            scenario = workdir / SCENARIO.name
            scenario.write_text(SCENARIO.read_text().replace("[rtp_port]", "[field0]"))
            sampled = len(range(0, n, every))
            with (workdir / f"sipp-{n}.log").open("w") as out:
                sipp = await asyncio.create_subprocess_exec(
                    args.sipp, f"127.0.0.1:{server.sip_port}", "-sf", str(scenario), "-s", ACCESS_NUMBER,
                    "-inf", str(inject), "-i", "127.0.0.1", "-p", str(free_port()),
                    "-r", str(args.rate), "-m", str(n), "-l", str(n), "-nostdin",
                    "-timeout", f"{int(args.setup_timeout + args.measure + 120)}s",
                    cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
            try:
                await asyncio.wait_for(app.all_playing.wait(), args.setup_timeout)
            except TimeoutError:
                logger.warning("N=%d: only %d of %d calls playing after %.0f s", n, app.playing, n,
                               args.setup_timeout)
            setup_s = time.monotonic() - started
            await asyncio.sleep(args.settle)  # a benchmark's warm-up: let the last calls' start-up pass
            receiver.reset()
            cpu0, t0 = cpu_seconds(server.proc.pid), time.monotonic()
            await asyncio.sleep(args.measure)  # the measured window
            report = receiver.report()
            cpu1, t1 = cpu_seconds(server.proc.pid), time.monotonic()
            rss = server.rss_mb()
            driver.cancel()
    finally:
        code = await asyncio.to_thread(server.stop)  # SIGTERM: BYE to every call
        if code != 0:
            logger.warning("server exited %d (log: %s)", code, server.log)
        if sipp is not None:
            try:
                await asyncio.wait_for(sipp.wait(), 60)
            except TimeoutError:
                sipp.kill()
                await sipp.wait()
        receiver.stop()
        sink.close()
        await runner.cleanup()
    drifts = [d for (_, _, d, _, _) in report.values()]
    if app.errors:
        logger.warning("N=%d: play_prompt/start_dtmf_detect errors, e.g. %s", n, app.errors)
    return Step(
        calls=n, playing=app.playing, failed=app.failed, sampled=sampled, streams=len(report),
        within=sum(d < args.drift_ms for d in drifts),
        paced=sum(e < args.drift_ms for (_, _, _, _, e) in report.values()),
        drift_p50=_percentile(drifts, 0.5), drift_p99=_percentile(drifts, 0.99),
        drift_max=max(drifts, default=float("nan")),
        jitter_max=max((j for (_, _, _, j, _) in report.values()), default=float("nan")),
        lost=sum(max(0, expected - got) for (got, expected, _, _, _) in report.values()),
        server_cpu_pct=100.0 * (cpu1 - cpu0) / (t1 - t0), server_rss_mb=rss, setup_s=setup_s,
        pps=sum(got for (got, _, _, _, _) in report.values()) / max(1, len(report)) / args.measure,
        load=os.getloadavg()[0], psi=_cpu_pressure())


HEADER = (f"{'calls':>6} {'playing':>8} {'failed':>6} {'sample':>6} {'heard':>6} {'<drift':>7} {'paced':>6} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'jit ms':>7} {'pps':>5} {'lost':>6} {'cpu %':>6} {'rss MB':>7} {'setup s':>8} {'load':>5} {'psi %':>5}")


def row(s: Step) -> str:
    return (f"{s.calls:>6} {s.playing:>8} {s.failed:>6} {s.sampled:>6} {s.streams:>6} {s.within:>7} {s.paced:>6} {s.drift_p50:>7.2f} "
            f"{s.drift_p99:>7.2f} {s.drift_max:>7.2f} {s.jitter_max:>7.2f} {s.pps:>5.1f} {s.lost:>6} {s.server_cpu_pct:>6.1f} "
            f"{s.server_rss_mb:>7.1f} {s.setup_s:>8.1f} {s.load:>5.1f} {s.psi:>5.0f}")


async def amain(args: argparse.Namespace) -> int:
    steps = [int(x) for x in args.calls.split(",")]
    keep = Path(tempfile.mkdtemp(prefix="bench_ivr-"))
    print(f"IVR benchmark: calls to {ACCESS_NUMBER} at {args.rate}/s, prompt repeat -1 + DTMF detection, "
          f"{args.measure:g} s measured per step; pacing drift limit {args.drift_ms:g} ms; server nice {args.server_nice}; "
          f"work dir {keep}")
    print(HEADER)
    held = paced = 0
    for n in steps:
        workdir = keep / f"n{n}"
        workdir.mkdir()
        step = await run_step(n, args, workdir)
        print(row(step), flush=True)
        if step.playing == n and step.streams == step.sampled and step.within == step.sampled:
            held = n
        if step.playing == n and step.streams == step.sampled and step.paced == step.sampled:
            paced = n
    print(f"held with pacing drift < {args.drift_ms:g} ms on every call: {held}; "
          f"with per-packet pacing (p99) < {args.drift_ms:g} ms on every call: {paced}")
    if not args.keep_dir:
        shutil.rmtree(keep, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", default="100,250,500,750", help="concurrent calls per step, comma-separated")
    parser.add_argument("--rate", type=int, default=50, help="new calls per second (SIPp -r)")
    parser.add_argument("--measure", type=float, default=10.0, help="seconds measured once all calls play")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds between the last call playing and the window")
    parser.add_argument("--setup-timeout", type=float, default=120.0, help="give up waiting for all calls after this")
    parser.add_argument("--sample", type=int, default=100,
                        help="at most this many calls send their RTP to the receiver (every k-th call)")
    parser.add_argument("--drift-ms", type=float, default=5.0, help="pacing drift limit per stream")
    parser.add_argument("--rtp-ports", default="20000-39999")
    parser.add_argument("--server-nice", type=int, default=0,
                        help="scheduling priority of the server (e.g. -10, as root) on a machine busy with other work")
    parser.add_argument("--sipp", default=shutil.which("sipp") or "sipp")
    parser.add_argument("--log-level", default="WARNING", help="the server's log level (its log: server.log)")
    parser.add_argument("--keep-dir", action="store_true", help="keep the work directory (server and SIPp logs)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Benchmark the WebSocket JSON-RPC hub: request latency and notification fan-out.

    python scripts/bench_ws.py                      # hub in a child process (demo directory, memory engine)
    python scripts/bench_ws.py --same-process       # hub on this event loop (client cost included)
    python scripts/bench_ws.py --url ws://127.0.0.1:8445/ws --login admin --password admin-pass

Phase 1, latency: ``--connections`` clients send ``--method`` (default
get_sip_calls_list, or any CallControl method with ``--params JSON``) open-loop
at ``--rate`` requests/s in total (default 1,000/s) for ``--duration`` s; prints
p50/p90/p99/max from send to matching response (cseq). Target: p99 < 5 ms.

Phase 2, fan-out: ``--subscribers`` connections subscribe to ``--key`` (default
i_customer=1). With a local hub, ``--notifications`` leg snapshots are published
as fast as the hub's send queues drain, and the time until every subscriber has
received every one gives notifications/s delivered. Against a running server
(``--url``) nothing can be published from here: it counts what arrives for
``--duration`` s while you drive calls (e.g. with SIPp). Default: 1,000
subscribers; target: at least 50,000 notifications/s delivered.

Every connection is a file descriptor in this process (and in the hub's): the
soft RLIMIT_NOFILE is raised as far as the hard limit allows (1,024 is a common
default). The machine's load average is printed first: other processes on the
box share the CPU with the hub and with the clients.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson
from websockets.asyncio.client import ClientConnection, connect

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None


TARGET_P99_MS = 5.0
TARGET_NOTIFICATIONS_PER_S = 50_000


def raise_fd_limit(needed: int) -> int:
    """Raise the soft RLIMIT_NOFILE to at least ``needed`` (up to the hard limit); returns the new soft limit.

    Child processes (the hub, the subscriber processes) inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        print(f"file descriptors: soft limit raised from {soft} to {new}")
        soft = new
    if soft != resource.RLIM_INFINITY and soft < needed:
        print(f"warning: only {soft} file descriptors allowed (hard limit), {needed} wanted", file=sys.stderr)
    return soft


def _verdict(ok: bool) -> str:
    return "meets the target" if ok else "MISSES the target"


# --------------------------------------------------------------------------- a local hub


@dataclass
class LocalHub:
    hub: Any
    api: Any
    directory: Any

    async def publish(self, count: int, batch: int, queue_high: int) -> float:
        """Publish ``count`` snapshots as fast as subscribers' queues allow; returns seconds."""
        from callcontrol.model.callinfo import CallId, CallInfo, CallState, Party, routing_keys

        keys = routing_keys(self.directory, i_account=1)
        caller = Party(id="1001", account_id="1001", display_id="1001", **keys)
        callee = Party(id="5550100", display_id="5550100")
        api = self.api
        hub = self.hub
        states = (CallState.TRYING, CallState.RINGING, CallState.CONNECTED, CallState.TERMINATED)
        now = time.time()
        start = time.perf_counter()
        for i in range(count):
            api.publish(CallInfo(call=CallId(f"bench-{i // 4}@127.0.0.1", "a"), state=states[i % 4],
                                 transport_id="127.0.0.1:5060", type="outgoing", caller=caller, callee=callee,
                                 start_time=now, connect_time=now, duration=0))
            if i % batch == batch - 1:
                await asyncio.sleep(0)
                # Flow control: a benchmark measures sustained delivery, not overflow handling.
                while any(len(c.queue) > queue_high for c in hub.connections):
                    await asyncio.sleep(0.0005)
        return time.perf_counter() - start

    async def close(self) -> None:
        await self.hub.close()
        await self.directory.close()


async def start_local_hub(data_dir: Path) -> LocalHub:
    from callcontrol.api.memory_engine import MemoryEngine
    from callcontrol.api.service import CallControlApi
    from callcontrol.directory.service import Directory
    from callcontrol.model.calls import CallRegistry
    from callcontrol.ws.hub import start_hub

    directory = await Directory.open(data_dir)
    registry = CallRegistry()
    api = CallControlApi(directory=directory, registry=registry, engine=MemoryEngine(registry))
    registry.set_publish(api.publish)
    hub = await start_hub("127.0.0.1", 0, api=api, ping_interval=None, max_inflight=256,
                          send_queue_limit=1 << 16)
    return LocalHub(hub, api, directory)


def _child_main(pipe: Pipe, data_dir: str) -> None:
    """The hub in its own process, driven over a pipe: ("publish", n, batch) -> seconds."""
    if uvloop is not None:
        uvloop.install()

    async def main() -> None:
        local = await start_local_hub(Path(data_dir))
        pipe.send(("port", local.hub.port))
        loop = asyncio.get_running_loop()
        while True:
            cmd = await loop.run_in_executor(None, pipe.recv)
            if cmd[0] == "publish":
                pipe.send(("published", await local.publish(cmd[1], cmd[2], cmd[3])))
            elif cmd[0] == "cpu":
                pipe.send(("cpu", time.process_time()))
            elif cmd[0] == "stats":
                pipe.send(("stats", local.hub.stats()))
            else:
                await local.close()
                pipe.send(("closed",))
                return

    asyncio.run(main())


# --------------------------------------------------------------------------- clients


@dataclass
class Stream:
    ws: ClientConnection
    sent: dict[int, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    notifications: int = 0
    errors: int = 0
    first_note: float = 0.0
    last_note: float = 0.0
    target: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def read(self) -> None:
        async for frame in self.ws:
            now = time.perf_counter()
            if frame.startswith('{"action"'):
                if self.notifications == 0:
                    self.first_note = now
                self.notifications += 1
                self.last_note = now
                if self.notifications == self.target:
                    self.done.set()
                continue
            msg = orjson.loads(frame)
            t = self.sent.pop(msg.get("cseq"), None)
            if t is not None:
                self.latencies.append(now - t)
            if msg.get("success") != 1:
                self.errors += 1


async def _login(url: str, login: str, password: str) -> str:
    async with connect(url, compression=None) as ws:
        await ws.send(orjson.dumps({"cseq": 1, "service": "Session", "method": "login",
                                    "params": {"login": login, "password": password}}).decode())
        resp = orjson.loads(await ws.recv())
    if resp.get("success") != 1:
        raise SystemExit(f"login failed: {resp}")
    return resp["result"]["session_id"]


async def _open_streams(url: str, n: int) -> list[Stream]:
    streams = []
    for _ in range(n):
        ws = await connect(url, compression=None, ping_interval=None, max_queue=None)
        streams.append(Stream(ws))
    return streams


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))] if values else float("nan")


async def latency_phase(url: str, session_id: str, args: argparse.Namespace) -> None:
    streams = await _open_streams(url, args.connections)
    readers = [asyncio.create_task(s.read()) for s in streams]
    params = orjson.loads(args.params) if args.params else {"i_account": 1}
    prefix = orjson.dumps({"auth_info": {"session_id": session_id}, "service": "CallControl",
                           "method": args.method, "params": params})[1:]  # splice the cseq in front
    total = int(args.rate * args.duration)
    interval = 1.0 / args.rate
    start = time.perf_counter()
    late = 0
    for i in range(total):
        due = start + i * interval
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > 0.05:
            late += 1
        s = streams[i % len(streams)]
        cseq = i + 1
        s.sent[cseq] = time.perf_counter()
        await s.ws.send(b'{"cseq":%d,' % cseq + prefix, text=True)
    send_elapsed = time.perf_counter() - start
    deadline = time.perf_counter() + 10.0
    while any(s.sent for s in streams) and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    lat = sorted(x for s in streams for x in s.latencies)
    lost = sum(len(s.sent) for s in streams)
    errors = sum(s.errors for s in streams)
    ms = 1000.0
    print(f"latency: {args.method} x{total} over {args.connections} connections, "
          f"target {args.rate:.0f}/s, sent at {total / send_elapsed:.0f}/s"
          + (f" ({late} sends >50 ms late: client saturated)" if late else ""))
    p99 = _pct(lat, 0.99) * ms
    print(f"  p50 {_pct(lat, 0.50) * ms:.3f} ms  p90 {_pct(lat, 0.90) * ms:.3f} ms  "
          f"p99 {p99:.3f} ms  max {lat[-1] * ms if lat else float('nan'):.3f} ms  "
          f"errors {errors}  unanswered {lost}")
    print(f"  p99 {p99:.3f} ms vs < {TARGET_P99_MS:g} ms: "
          f"{_verdict(p99 < TARGET_P99_MS and not errors and not lost)}")
    for s in streams:
        await s.ws.close()
    for r in readers:
        r.cancel()


async def _subscribe(url: str, session_id: str, key: str, n: int) -> list[Stream]:
    kind, _, value = key.partition("=")
    streams = await _open_streams(url, n)
    for s in streams:
        await s.ws.send(orjson.dumps({"cseq": 1, "auth_info": {"session_id": session_id},
                                      "service": "CallControl", "method": "enable_api_notifications",
                                      "params": {"event": "sip.call_control_notifications", kind: int(value)}},
                                     ).decode())
        resp = orjson.loads(await s.ws.recv())
        if resp.get("success") != 1:
            raise SystemExit(f"subscribe failed: {resp}")
    return streams


def _subscriber_main(pipe: Pipe, url: str, session_id: str, key: str, n: int, target: int,
                     duration: float) -> None:
    """A subscriber process: n connections; reports (count, first, last) in wall-clock time."""
    if uvloop is not None:
        uvloop.install()

    async def main() -> None:
        streams = await _subscribe(url, session_id, key, n)
        for s in streams:
            s.target = target
        readers = [asyncio.create_task(s.read()) for s in streams]
        pipe.send("ready")
        offset = time.time() - time.perf_counter()
        if target:
            try:
                await asyncio.wait_for(asyncio.gather(*(s.done.wait() for s in streams)), 120.0)
            except TimeoutError:
                pass
        else:
            await asyncio.sleep(duration)
        count = sum(s.notifications for s in streams)
        firsts = [s.first_note for s in streams if s.notifications]
        last = max((s.last_note for s in streams), default=0.0)
        pipe.send((count, (min(firsts) + offset) if firsts else 0.0, last + offset))
        for s in streams:
            await s.ws.close()
        for r in readers:
            r.cancel()

    asyncio.run(main())


async def fanout_phase(url: str, session_id: str, args: argparse.Namespace, publish: Any,
                       hub_cpu: Any = None) -> None:
    loop = asyncio.get_running_loop()
    ctx = multiprocessing.get_context("spawn")
    procs = max(1, min(args.client_procs, args.subscribers))
    target = args.notifications if publish is not None else 0
    workers = []
    for i in range(procs):
        n = args.subscribers // procs + (1 if i < args.subscribers % procs else 0)
        here, there = ctx.Pipe()
        proc = ctx.Process(target=_subscriber_main, daemon=True,
                           args=(there, url, session_id, args.key, n, target, args.duration))
        proc.start()
        workers.append((proc, here))
    for _, pipe in workers:
        await loop.run_in_executor(None, pipe.recv)  # "ready": every subscription is in place
    if publish is None:
        print(f"fan-out: counting notifications on {args.subscribers} subscribers for {args.duration}s "
              "(drive calls meanwhile) ...")
        start = time.time()
        published_in = None
    else:
        cpu_before = await hub_cpu() if hub_cpu is not None else None
        start = time.time()
        published_in = await publish(target)
    results = [await loop.run_in_executor(None, pipe.recv) for _, pipe in workers]
    for proc, _ in workers:
        proc.join(10)
    delivered = sum(r[0] for r in results)
    if publish is None:
        print(f"  received {delivered} notifications: {delivered / args.duration:.0f}/s in total, "
              f"{delivered / args.duration / max(1, args.subscribers):.0f}/s per subscriber")
        return
    elapsed = max(r[2] for r in results) - start
    expected = target * args.subscribers
    print(f"fan-out: {target} leg snapshots x {args.subscribers} subscribers = {expected} frames "
          f"({procs} client processes)")
    print(f"  hub published {target / published_in:.0f} snapshots/s = {expected / published_in:.0f} frames/s "
          f"queued; delivered {delivered}/{expected} in {elapsed:.3f}s = {delivered / elapsed:.0f} "
          f"notifications/s end to end")
    rate = delivered / elapsed
    print(f"  {rate:.0f} notifications/s vs >= {TARGET_NOTIFICATIONS_PER_S}/s: "
          f"{_verdict(rate >= TARGET_NOTIFICATIONS_PER_S and delivered == expected)}")
    if cpu_before is not None:
        # The hub and the clients share the machine: what the hub alone could do per core.
        cpu = await hub_cpu() - cpu_before
        print(f"  hub process CPU {cpu:.2f} s for {delivered} notifications = {delivered / cpu:.0f} "
              f"notifications per hub CPU second ({cpu / elapsed * 100:.0f} % of a core during the phase)")


# --------------------------------------------------------------------------- main


async def run(args: argparse.Namespace) -> None:
    child = None
    local: LocalHub | None = None
    publish = None
    hub_cpu = None
    tmp = tempfile.TemporaryDirectory(prefix="bench-ws-")
    if args.url:
        url = args.url
    elif args.same_process:
        local = await start_local_hub(Path(tmp.name))
        url = f"ws://127.0.0.1:{local.hub.port}/ws"

        async def publish(n: int) -> float:
            return await local.publish(n, args.batch, args.queue_high)
    else:
        ctx = multiprocessing.get_context("spawn")
        parent_end, child_end = ctx.Pipe()
        child = ctx.Process(target=_child_main, args=(child_end, tmp.name), daemon=True)
        child.start()
        loop = asyncio.get_running_loop()
        _, port = await loop.run_in_executor(None, parent_end.recv)
        url = f"ws://127.0.0.1:{port}/ws"

        async def publish(n: int) -> float:
            parent_end.send(("publish", n, args.batch, args.queue_high))
            _, seconds = await loop.run_in_executor(None, parent_end.recv)
            return seconds

        async def hub_cpu() -> float:
            parent_end.send(("cpu",))
            _, seconds = await loop.run_in_executor(None, parent_end.recv)
            return seconds

    where = "remote server" if args.url else ("this process" if args.same_process else "a child process")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (1, 5, 15 min) before the run")
    print(f"hub: {url} ({where}); loop: {'uvloop' if uvloop is not None and args.uvloop else 'asyncio'}")
    try:
        session_id = await _login(url, args.login, args.password)
        if args.rate > 0:
            await latency_phase(url, session_id, args)
        if args.subscribers > 0:
            await fanout_phase(url, session_id, args, publish, hub_cpu)
    finally:
        if local is not None:
            await local.close()
        if child is not None:
            parent_end.send(("close",))
            child.join(10)
        tmp.cleanup()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="a running server, e.g. ws://127.0.0.1:8445/ws (default: start a hub)")
    p.add_argument("--same-process", action="store_true", help="run the hub on this event loop")
    p.add_argument("--login", default="admin")
    p.add_argument("--password", default="admin-pass")
    p.add_argument("--rate", type=float, default=1000.0, help="requests/s in total (0: skip phase 1)")
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--method", default="get_sip_calls_list")
    p.add_argument("--params", help="JSON params for --method (default {\"i_account\": 1})")
    p.add_argument("--subscribers", type=int, default=1000, help="subscribed connections (0: skip phase 2)")
    p.add_argument("--key", default="i_customer=1", help="subscription key=value")
    p.add_argument("--notifications", type=int, default=200,
                   help="snapshots to publish (local hub); each goes to every subscriber")
    p.add_argument("--batch", type=int, default=64, help="snapshots published per loop iteration")
    p.add_argument("--queue-high", type=int, default=2048, help="pause publishing above this queue length")
    p.add_argument("--client-procs", type=int, default=max(1, min(8, (os.cpu_count() or 2) - 1)),
                   help="processes sharing the subscriber connections (the client must not be the bottleneck)")
    p.add_argument("--no-uvloop", dest="uvloop", action="store_false")
    args = p.parse_args()
    # Each process holds its connections' sockets: the hub one per client, the clients theirs.
    raise_fd_limit(args.subscribers + args.connections + 256)
    if args.uvloop and uvloop is not None:
        uvloop.install()
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

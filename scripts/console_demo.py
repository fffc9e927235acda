#!/usr/bin/env python3
"""Console walkthrough of the call-control API (README, "Console walkthrough").

With ``callcontrol serve`` running and three phones registered as 1001, 1002 and 1003
(``python scripts/demo_phones.py``), this logs in as customer ``demo-corp``, subscribes to
customer 1's call notifications and then, step by step:

1. ``originate_advanced_call``: the server calls 1001 (auto answer), then 1002 on 1001's behalf;
2. ``hold_call`` on 1001's leg (1001 holding, 1002 held and hearing music on hold);
3. ``unhold_call`` (both connected again);
4. ``transfer_call``: 1001 hands 1002 over to 1003 (blind transfer; 1001's leg ends);
5. ``terminate_call`` on 1002's leg: every remaining leg ends.

Every notification of the call is printed on one line as it arrives (``X`` stands for the call
id printed at the start; leg B's id is ``X~10``)::

    13:22:41.453  #4   leg B  X~10;tag=790c9b8186b7db60  trying      1001 -> 1002

Each step waits (bounded by --step-timeout) for the states it should cause; if they do not
come, or a leg ends unexpectedly, the script says which step failed, hangs up what is left
and exits 1. Exit 0 means the whole walkthrough happened.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from callcontrol.client import CallControlClient, CallControlError, ConnectionLost, Notification

logger = logging.getLogger("console_demo")

TERMINATED = "terminated"


class StepFailed(Exception):
    """A step of the walkthrough did not happen."""


@dataclass
class Leg:
    label: str
    id: str
    tag: str
    states: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str | None:
        return self.states[-1] if self.states else None

    @property
    def ref(self) -> dict[str, str]:
        return {"id": self.id, "tag": self.tag}


def _party(info: dict[str, Any], key: str) -> str:
    party = info.get(key) or {}
    return str(party.get("id") or party.get("display_id") or "?")


class CallWatcher:
    """Reads the notification stream, prints the lines of one call and lets steps wait on its legs."""

    def __init__(self, client: CallControlClient) -> None:
        self.client = client
        self.call_id: str | None = None
        self.legs: dict[tuple[str, str], Leg] = {}
        self._early: list[Notification] = []  # notifications read before the call id was known
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._read(), name="notifications")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def follow(self, call_id: str) -> None:
        """From now on print and track the legs of ``call_id`` (and ``call_id~N``)."""
        self.call_id = call_id
        early, self._early = self._early, []
        for n in early:
            self._on(n)

    def short(self, call_id: str) -> str:
        """``X`` for the call's id (printed once at the start), ``X~10`` for a leg's own."""
        assert self.call_id is not None
        return "X" + call_id[len(self.call_id):]

    def _ours(self, call: dict[str, Any]) -> bool:
        cid = str(call.get("id", ""))
        return self.call_id is not None and (cid == self.call_id or cid.startswith(self.call_id + "~"))

    async def _read(self) -> None:
        async for n in self.client.notifications():
            if self.call_id is None:
                self._early.append(n)
                continue
            self._on(n)
            async with self._changed:
                self._changed.notify_all()

    def _on(self, n: Notification) -> None:
        if n.action != "update":
            print(f"{_now()}  ({n.action}: {n.raw.get('reason', '')})", flush=True)
            return
        info = n.call_info or {}
        call = info.get("call") or {}
        if not self._ours(call):
            logger.debug("not our call: %s", call)
            return
        key = (str(call.get("id")), str(call.get("tag")))
        leg = self.legs.get(key)
        if leg is None:
            leg = Leg(f"leg {chr(ord('A') + len(self.legs))}", *key)
            self.legs[key] = leg
        state = str(info.get("state"))
        if info.get("event"):  # an IVR event (prompt completed, digit) on the leg, not a state change
            state = f"{state}/{info['event']}"
        else:
            leg.states.append(state)
        leg.info = info
        line = (f"{_now()}  #{n.seq:<3} {leg.label}  {self.short(leg.id)};tag={leg.tag}  {state:<10}  "
                f"{_party(info, 'caller')} -> {_party(info, 'callee')}")
        if state == TERMINATED:
            code = info.get("reason_code")
            line += f"  reason: {info.get('reason')!r} ({'no code' if code is None else code})"
        print(line, flush=True)

    async def wait(self, what: str, done: Callable[[], bool], timeout: float,
                   may_end: Callable[[Leg], bool] = lambda leg: False) -> None:
        """Until ``done()``; fails after ``timeout`` s, or at once when a leg ends and ``may_end`` says
        it should not have."""
        deadline = asyncio.get_running_loop().time() + timeout
        async with self._changed:
            while True:
                ended = [leg for leg in self.legs.values() if leg.state == TERMINATED and not may_end(leg)]
                if ended:
                    leg = ended[0]
                    raise StepFailed(f"{what}: {leg.label} ended ({leg.info.get('reason')!r}, "
                                     f"code {leg.info.get('reason_code')})")
                if done():
                    return
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise StepFailed(f"{what}: not within {timeout:g} s; legs: {self.describe()}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), left)

    def leg(self, label: str) -> Leg:
        for leg in self.legs.values():
            if leg.label == label:
                return leg
        raise KeyError(label)

    def find(self, pred: Callable[[Leg], bool]) -> Leg | None:
        return next((leg for leg in self.legs.values() if pred(leg)), None)

    def describe(self) -> str:
        if not self.legs:
            return "none notified"
        return "; ".join(f"{leg.label} {' > '.join(leg.states)}" for leg in self.legs.values())


def _now() -> str:
    t = time.time()
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


def step(text: str) -> None:
    print(f"{_now()}  == {text}", flush=True)


async def pause(args: argparse.Namespace) -> None:
    """Time for a person to look at the phones between steps (--pause); never used to synchronise."""
    if args.pause > 0:
        await asyncio.sleep(args.pause)


async def walkthrough(args: argparse.Namespace, client: CallControlClient, watcher: CallWatcher) -> None:
    t = args.step_timeout

    def state_is(label: str, *states: str) -> Callable[[], bool]:
        def check() -> bool:
            try:
                return watcher.leg(label).state in states
            except KeyError:
                return False
        return check

    step(f"originate_advanced_call (bill_id {args.bill_id}): the server calls {args.caller} (auto pickup), "
         f"then {args.callee}")
    call = await client.originate_advanced_call(args.bill_id, args.caller, args.callee, callee_auto_pickup=True)
    watcher.follow(call["id"])
    print(f"{_now()}     call id X = {call['id']}", flush=True)
    await watcher.wait("both legs connected",
                       lambda: state_is("leg A", "connected")() and state_is("leg B", "connected")(), t)
    a, b = watcher.leg("leg A"), watcher.leg("leg B")

    await pause(args)
    step(f"hold_call on leg A ({args.caller} holds, {args.callee} hears music on hold)")
    await client.hold_call(a.ref)
    await watcher.wait("leg A holding and leg B held",
                       lambda: a.state == "holding" and b.state == "held", t)

    await pause(args)
    step("unhold_call on leg A")
    await client.unhold_call(a.ref)
    await watcher.wait("both legs connected again", lambda: a.state == b.state == "connected", t)

    await pause(args)
    step(f"transfer_call: leg A ({args.caller}) transfers {args.callee} to {args.transfer_to}")
    await client.transfer_call(a.ref, args.transfer_to)

    def new_leg() -> Leg | None:
        return watcher.find(lambda leg: leg not in (a, b))

    await watcher.wait(f"leg A terminated and the new leg to {args.transfer_to} connected",
                       lambda: a.state == TERMINATED and (c := new_leg()) is not None
                       and c.state == "connected" and b.state == "connected",
                       t, may_end=lambda leg: leg is a)
    c = new_leg()
    assert c is not None

    await pause(args)
    step(f"terminate_call on leg B ({args.callee})")
    await client.terminate_call(b.ref)
    await watcher.wait("every leg terminated",
                       lambda: all(leg.state == TERMINATED for leg in watcher.legs.values()),
                       t, may_end=lambda leg: True)
    step("done: " + watcher.describe())


async def hang_up_leftovers(client: CallControlClient, watcher: CallWatcher) -> None:
    """After a failed step: terminate the legs still up so the phones are free again."""
    for leg in watcher.legs.values():
        if leg.state != TERMINATED:
            try:
                await client.terminate_call(leg.ref)
                return  # terminating one leg ends the whole call
            except (CallControlError, ConnectionLost, TimeoutError) as exc:
                logger.info("terminate %s: %s", leg.label, exc)


async def run(args: argparse.Namespace) -> int:
    try:
        client = await CallControlClient.connect(args.ws_url, request_timeout=args.step_timeout,
                                                 open_timeout=args.step_timeout)
    except (OSError, TimeoutError) as exc:
        print(f"console_demo: cannot connect to {args.ws_url}: {exc} (is `callcontrol serve` running?)",
              file=sys.stderr)
        return 1
    watcher = CallWatcher(client)
    try:
        await client.login(args.login, args.password)
        await client.enable_api_notifications(i_customer=args.customer)
        print(f"{_now()}  logged in as {args.login}, notifications on for i_customer {args.customer}",
              flush=True)
        watcher.start()
        try:
            await walkthrough(args, client, watcher)
        except (StepFailed, CallControlError, ConnectionLost, TimeoutError) as exc:
            print(f"console_demo: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            await hang_up_leftovers(client, watcher)
            return 1
        return 0
    except (CallControlError, ConnectionLost, TimeoutError) as exc:
        print(f"console_demo: FAILED before the walkthrough: {exc}", file=sys.stderr)
        return 1
    finally:
        await watcher.stop()
        await client.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--ws-url", default="ws://127.0.0.1:8445/ws", help="the server's WebSocket API")
    p.add_argument("--login", default="demo-corp")
    p.add_argument("--password", default="demo-corp-pass")
    p.add_argument("--customer", type=int, default=1, help="i_customer whose calls are notified")
    p.add_argument("--bill-id", default="1001", help="account the call is billed to")
    p.add_argument("--caller", default="1001", help="called first (auto answer), then connected to --callee")
    p.add_argument("--callee", default="1002")
    p.add_argument("--transfer-to", default="1003", help="where the caller transfers the callee")
    p.add_argument("--step-timeout", type=float, default=15.0, help="seconds each step may take")
    p.add_argument("--pause", type=float, default=0.0,
                   help="seconds to stay in each state before the next step (to watch the call)")
    p.add_argument("--log-level", default="WARNING", help="diagnostics on stderr (DEBUG shows more)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())

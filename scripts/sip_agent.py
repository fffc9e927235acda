#!/usr/bin/env python3
"""A SIP user agent built on the ``sip`` stack alone: a UAS that answers calls, or a UAC that places them.

It is the stack's own reference peer for SIPp (tests and benchmarks):

    python scripts/sip_agent.py uas --listen 127.0.0.1:5070 [--tcp] [--ring-ms 0] [--answer-ms 0]
    python scripts/sip_agent.py uac --target sip:service@127.0.0.1:5080 --calls 200 --rate 50 [--tcp]

The UAS prints "ready" once it listens and, on SIGTERM/SIGINT, one line of
counters (JSON). The UAC exits 0 when every call completed (INVITE, 200,
ACK, BYE, 200) and prints its counters as JSON.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sip.dialog import Dialog, new_call_id, new_tag  # noqa: E402
from sip.message import Request, Response, make_request  # noqa: E402
from sip.peer import Peer  # noqa: E402
from sip.transaction import ClientInviteTransaction  # noqa: E402
from sip.ua import IncomingRequest, UserAgent  # noqa: E402
from sip.uri import SipUri, parse_uri  # noqa: E402

logger = logging.getLogger("sip_agent")



def _totals(stats: object) -> dict[str, int]:
    """The UA's plain counters (the by-method/by-code tables are for the server's /metrics)."""
    return {k: v for k, v in asdict(stats).items() if isinstance(v, int)}  # type: ignore[call-overload]

def _sdp(host: str, port: int) -> bytes:
    return (
        "v=0\r\n"
        f"o=agent 1 1 IN IP4 {host}\r\n"
        "s=-\r\n"
        f"c=IN IP4 {host}\r\n"
        "t=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-16\r\n"
        "a=sendrecv\r\n"
    ).encode()


@dataclass(slots=True)
class UasCounters:
    invites: int = 0
    answered: int = 0
    acked: int = 0
    cancelled: int = 0
    byes: int = 0
    ack_timeouts: int = 0


class UasCall:
    """One answered (or ringing) call: the dialog and the INVITE's server transaction."""

    __slots__ = ("acked", "agent", "invite", "dialog", "timer")

    def __init__(self, agent: "UasAgent", invite: IncomingRequest, dialog: Dialog) -> None:
        self.agent = agent
        self.invite = invite
        self.dialog = dialog
        self.timer: asyncio.TimerHandle | None = None
        self.acked = False

    def on_ack(self, request: Request, peer: Peer) -> None:
        if request.cseq == self.invite.request.cseq:
            # A UAC ACKs every 2xx it receives (RFC 3261 §13.2.2.4): a 200 retransmitted while
            # its ACK was on the way brings a second ACK. ``acked`` counts calls, not ACKs.
            if not self.acked:
                self.acked = True
                self.agent.counters.acked += 1
            self.agent.ua.ack_received(self.invite)

    def on_request(self, incoming: IncomingRequest) -> None:
        status = self.dialog.receive_request(incoming.request)
        if status is not None:
            incoming.respond(status)
            return
        if incoming.request.method == "BYE":
            self.agent.counters.byes += 1
            incoming.respond(200)
            self.agent.end(self)
        else:
            incoming.respond(200)


class UasAgent:
    def __init__(self, ua: UserAgent, ring_ms: int, answer_ms: int) -> None:
        self.ua = ua
        self.ring_ms = ring_ms
        self.answer_ms = answer_ms
        self.counters = UasCounters()
        self.calls: dict[tuple[str, str], UasCall] = {}
        # Per-transport Contact and the answer SDP never change: build them once.
        self._contacts: dict[str, str] = {}
        self._sdp: bytes | None = None

    def contact(self, transport: str) -> str:
        contact = self._contacts.get(transport)
        if contact is None:
            host, port = self.ua.local_address(transport)
            suffix = ";transport=tcp" if transport == "TCP" else ""
            contact = self._contacts[transport] = f"<sip:agent@{host}:{port}{suffix}>"
        return contact

    def answer_sdp(self) -> bytes:
        if self._sdp is None:
            host, _ = self.ua.local_address()
            self._sdp = _sdp(host, 6000)
        return self._sdp

    def on_request(self, incoming: IncomingRequest) -> None:
        req = incoming.request
        if req.method == "OPTIONS":
            incoming.respond(200)
            return
        if req.method != "INVITE":
            incoming.respond(405)
            return
        self.counters.invites += 1
        tag = new_tag()
        contact = self.contact(incoming.peer.transport)
        dialog = Dialog.from_uas(req, tag, contact)
        call = UasCall(self, incoming, dialog)
        self.calls[(req.call_id, tag)] = call
        self.ua.register_dialog(req.call_id, tag, call)
        incoming.on_cancel = lambda: self._cancelled(call)
        if self.ring_ms > 0 or self.answer_ms > 0:
            incoming.respond(180, to_tag=tag, headers=[("Contact", contact)])
            call.timer = asyncio.get_running_loop().call_later(max(self.answer_ms, self.ring_ms) / 1000, self._answer, call)
        else:
            self._answer(call)

    def _answer(self, call: UasCall) -> None:
        call.timer = None
        inv = call.invite
        response = inv.respond(200, to_tag=call.dialog.local_tag,
                               headers=[("Contact", call.dialog.local_contact),
                                        ("Content-Type", "application/sdp")],
                               body=self.answer_sdp())
        call.dialog.response_sent(inv.request, response)
        self.counters.answered += 1

    def _cancelled(self, call: UasCall) -> None:
        self.counters.cancelled += 1
        if call.timer is not None:
            call.timer.cancel()
        self.end(call)

    def end(self, call: UasCall) -> None:
        key = (call.invite.request.call_id, call.dialog.local_tag)
        self.calls.pop(key, None)
        self.ua.unregister_dialog(*key)
        # The cancel hook closes over the call, which holds the handle: break the
        # cycle so the call is freed by reference counting, not by the cyclic GC.
        call.invite.on_cancel = None


@dataclass(slots=True)
class UacCounters:
    started: int = 0
    completed: int = 0
    failed: int = 0
    failures: dict[str, int] | None = None


class UacAgent:
    def __init__(self, ua: UserAgent, target: str, hold_s: float, transport: str, calls: int) -> None:
        self.ua = ua
        self.target = target
        uri = parse_uri(target)
        if not isinstance(uri, SipUri):
            raise SystemExit(f"target must be a sip: URI, not {target!r}")
        host, port = uri.address()
        self.peer = Peer(transport, host, port)
        self.hold_s = hold_s
        self.counters = UacCounters(failures={})
        self.done = asyncio.Event()
        self.calls = calls

    def _fail(self, why: str) -> None:
        self.counters.failed += 1
        assert self.counters.failures is not None
        self.counters.failures[why] = self.counters.failures.get(why, 0) + 1
        self._finish_one()

    def _finish_one(self) -> None:
        if self.counters.completed + self.counters.failed >= self.calls:
            self.done.set()

    def place_call(self) -> None:
        host, port = self.ua.local_address(self.peer.transport)
        call_id = new_call_id(host)
        suffix = ";transport=tcp" if self.peer.transport == "TCP" else ""
        contact = f"<sip:agent@{host}:{port}{suffix}>"
        invite = make_request("INVITE", self.target, [
            ("From", f"<sip:agent@{host}:{port}>;tag={new_tag()}"),
            ("To", f"<{self.target}>"),
            ("Call-ID", call_id),
            ("CSeq", "1 INVITE"),
            ("Contact", contact),
            ("Max-Forwards", "70"),
            ("Content-Type", "application/sdp"),
        ], _sdp(host, 6002))
        self.counters.started += 1
        state: dict[str, object] = {}

        def on_response(resp: Response) -> None:
            if resp.status < 200:
                return
            if resp.status >= 300:
                self._fail(f"INVITE {resp.status}")
                return
            if "dialog" in state:
                return
            dialog = Dialog.from_uac(invite, resp, asyncio.get_running_loop().time())
            state["dialog"] = dialog
            self.ua.send_ack(dialog.create_ack(invite.cseq), self.peer, tx)
            asyncio.get_running_loop().call_later(self.hold_s, hang_up, dialog)

        def hang_up(dialog: Dialog) -> None:
            bye = dialog.create_bye()

            def on_bye(resp: Response) -> None:
                if resp.status >= 200:
                    if resp.status < 300:
                        self.counters.completed += 1
                        self._finish_one()
                    else:
                        self._fail(f"BYE {resp.status}")

            self.ua.send_request(bye, self.peer, on_bye, lambda why: self._fail(f"BYE {why}"))

        tx: ClientInviteTransaction = self.ua.send_request(  # type: ignore[assignment]
            invite, self.peer, on_response, lambda why: self._fail(f"INVITE {why}"))


def _tune_gc() -> None:
    """Move start-up objects out of the collector's way and collect young objects less often.

    Calls leave no reference cycles, so garbage is freed by reference counting;
    the cyclic collector would otherwise walk every live transaction (tens of
    thousands at high rates: timers keep them 32 s) many times a second.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


async def run_uas(args: argparse.Namespace) -> int:
    ua = UserAgent()
    agent = UasAgent(ua, args.ring_ms, args.answer_ms)
    ua.on_request = agent.on_request
    host, port = args.listen.rsplit(":", 1)
    await ua.listen("UDP", host, int(port))
    await ua.listen("TCP", host, int(port))
    _tune_gc()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    ua.close()
    sys.stdout.write(json.dumps({**asdict(agent.counters), **_totals(ua.stats)}) + "\n")
    return 0


async def run_uac(args: argparse.Namespace) -> int:
    ua = UserAgent()
    host, port = args.listen.rsplit(":", 1)
    transport = "TCP" if args.tcp else "UDP"
    await ua.listen(transport, host, int(port))
    agent = UacAgent(ua, args.target, args.hold, transport, args.calls)
    start = time.monotonic()
    for i in range(args.calls):
        due = start + i / args.rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the load, not synchronising
        agent.place_call()
    try:
        await asyncio.wait_for(agent.done.wait(), timeout=args.hold + 64 * 0.5 + 10)
    except TimeoutError:
        pass  # reported below: completed + failed < calls
    out = {**asdict(agent.counters), **_totals(ua.stats), "elapsed_s": round(time.monotonic() - start, 3)}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    if args.wait_stdin:
        # Keep connections open until the caller is done with the peer (e.g. SIPp's
        # final pause over TCP): exit on EOF of standard input.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    ua.close()
    return 0 if agent.counters.completed == args.calls else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    uas = sub.add_parser("uas")
    uas.add_argument("--listen", default="127.0.0.1:5070")
    uas.add_argument("--ring-ms", type=int, default=0)
    uas.add_argument("--answer-ms", type=int, default=0)
    uac = sub.add_parser("uac")
    uac.add_argument("--listen", default="127.0.0.1:0")
    uac.add_argument("--target", required=True)
    uac.add_argument("--calls", type=int, default=10)
    uac.add_argument("--rate", type=float, default=10.0)
    uac.add_argument("--hold", type=float, default=0.0)
    uac.add_argument("--tcp", action="store_true")
    uac.add_argument("--wait-stdin", action="store_true", help="after the calls, stay up until stdin closes")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level.upper())
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    return asyncio.run(run_uas(args) if args.mode == "uas" else run_uac(args))


if __name__ == "__main__":
    sys.exit(main())

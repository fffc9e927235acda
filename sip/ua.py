"""The user-agent core: transports, the transaction table and dialog routing, on asyncio.

This is the adapter that gives the sans-I/O layers a clock and sockets:

- every received datagram/stream message is parsed, has its top Via fixed
  (received/rport, §18.2.1, RFC 3581), and is matched to a transaction;
- new requests become server transactions and are handed to the transaction
  user (TU) as ``IncomingRequest`` handles, in-dialog ones to the registered
  ``DialogUser`` (unknown dialog → 481);
- CANCEL is answered here (200, or 481 when nothing matches) and reported to
  the INVITE's handle; the INVITE gets 487 unless its TU handles the cancel;
- each transaction's ``deadline`` is kept with one ``loop.call_at``;
- a request that cannot be parsed gets a 400 naming the defect when enough
  of it is readable to address a response, else it is dropped (§16.3, §18.3).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from sip.errors import SipParseError
from sip.headers import Via, header_name
from sip.message import REASONS, Request, Response, make_request, make_response, parse_message
from sip.peer import Peer
from sip.transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    Deliver,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    Terminated,
    Timeout,
    TimerConfig,
    TransactionTable,
    Transmit,
    TransportError,
    new_branch,
)
from sip.transport import TcpTransport, UdpTransport

logger = logging.getLogger(__name__)

ClientTx = ClientInviteTransaction | ClientNonInviteTransaction
ServerTx = ServerInviteTransaction | ServerNonInviteTransaction


class DialogUser(Protocol):
    """Whoever owns a dialog (a B2BUA leg, a test agent) receives its requests."""

    def on_request(self, incoming: "IncomingRequest") -> None: ...

    def on_ack(self, request: Request, peer: Peer) -> None: ...


@dataclass(slots=True)
class UaStats:
    received: int = 0
    sent: int = 0
    parse_errors: int = 0
    bad_requests_answered: int = 0
    retransmissions_absorbed: int = 0
    transaction_timeouts: int = 0


class IncomingRequest:
    """A request that opened a server transaction: the TU answers through it."""

    __slots__ = ("ua", "request", "peer", "source", "tx", "on_cancel", "final_sent")

    def __init__(self, ua: "UserAgent", request: Request, peer: Peer, tx: ServerTx,
                 source: Peer | None = None) -> None:
        self.ua = ua
        self.request = request
        # ``peer``: where responses go (§18.2.2); ``source``: where the request really came from.
        self.peer = peer
        self.source = source if source is not None else peer
        self.tx = tx
        # Set by the TU to handle CANCEL itself (it must then send the final response).
        self.on_cancel: Callable[[], None] | None = None
        self.final_sent = False

    def respond(self, status: int, reason: str | None = None, *, to_tag: str | None = None,
                headers: Iterable[tuple[str, str]] | None = None, body: bytes = b"") -> Response:
        response = make_response(self.request, status, reason, to_tag=to_tag, headers=headers, body=body)
        self.send(response)
        return response

    def send(self, response: Response) -> None:
        if response.status >= 200:
            self.final_sent = True
        self.ua._respond(self, response)


ResponseCallback = Callable[[Response], None]
FailureCallback = Callable[[str], None]


class _ClientCtx:
    __slots__ = ("tx", "peer", "on_response", "on_failure", "ack_data")

    def __init__(self, tx: ClientTx, peer: Peer, on_response: ResponseCallback | None,
                 on_failure: FailureCallback | None) -> None:
        self.tx = tx
        self.peer = peer
        self.on_response = on_response
        self.on_failure = on_failure
        self.ack_data: bytes | None = None


class UserAgent:
    def __init__(self, *, timers: TimerConfig | None = None, server_name: str = "callcontrol",
                 on_request: Callable[[IncomingRequest], None] | None = None,
                 trying_delay: float = 0.1) -> None:
        self.timers = timers or TimerConfig()
        # 100 Trying waits this long for the TU's own answer (§17.2.1 allows up to 200 ms).
        self.trying_delay = trying_delay
        self.server_name = server_name
        self.on_request = on_request
        self.table = TransactionTable()
        self.stats = UaStats()
        self.transports: dict[str, UdpTransport | TcpTransport] = {}
        self._clients: dict[ClientTx, _ClientCtx] = {}
        self._servers: dict[ServerTx, IncomingRequest] = {}
        self._armed: dict[object, float] = {}
        self._dialogs: dict[tuple[str, str], DialogUser] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- set-up -----------------------------------------------------------------------------------
    async def listen(self, transport: str, host: str, port: int) -> tuple[str, int]:
        """Open a listener; returns the bound address (port 0 picks a free one)."""
        self._loop = asyncio.get_running_loop()
        name = transport.upper()
        t: UdpTransport | TcpTransport
        if name == "UDP":
            t = await UdpTransport.listen(host, port, self._receive)
        elif name == "TCP":
            t = await TcpTransport.listen(host, port, self._receive, self._transport_error)
        else:
            raise ValueError(f"unsupported transport {transport!r}")
        self.transports[name] = t
        return t.local

    def local_address(self, transport: str = "UDP") -> tuple[str, int]:
        t = self.transports.get(transport.upper()) or next(iter(self.transports.values()))
        return t.local

    def close(self) -> None:
        for t in self.transports.values():
            t.close()
        self.transports.clear()

    # -- dialogs ----------------------------------------------------------------------------------
    def register_dialog(self, call_id: str, local_tag: str, user: DialogUser) -> None:
        self._dialogs[(call_id, local_tag)] = user

    def unregister_dialog(self, call_id: str, local_tag: str) -> None:
        self._dialogs.pop((call_id, local_tag), None)

    # -- sending ----------------------------------------------------------------------------------
    def _send(self, data: bytes, peer: Peer) -> None:
        t = self.transports.get(peer.transport)
        if t is None:
            logger.warning("no %s transport to reach %s", peer.transport, peer)
            return
        self.stats.sent += 1
        t.send(data, peer)

    def _via_for(self, peer: Peer, branch: str) -> str:
        host, port = self.local_address(peer.transport)
        return f"SIP/2.0/{peer.transport} {host}:{port};branch={branch};rport"

    def send_request(self, request: Request, peer: Peer, on_response: ResponseCallback | None = None,
                     on_failure: FailureCallback | None = None) -> ClientTx:
        """Send ``request`` through a new client transaction (the UA adds the top Via).

        ``on_response`` gets every response (provisionals, finals, 2xx
        retransmissions for INVITE); ``on_failure`` gets "timeout" or
        "transport error" when no final response can come.
        """
        request.push_via(self._via_for(peer, new_branch()))
        now = self._now()
        tx: ClientTx
        if request.method == "INVITE":
            tx = ClientInviteTransaction(request, now, self.timers, reliable=peer.reliable)
        else:
            tx = ClientNonInviteTransaction(request, now, self.timers, reliable=peer.reliable)
        ctx = _ClientCtx(tx, peer, on_response, on_failure)
        self.table.add(tx)
        self._clients[tx] = ctx
        self._run_client(ctx, tx.start())
        return tx

    def send_ack(self, ack: Request, peer: Peer, invite_tx: ClientInviteTransaction | None = None) -> None:
        """Send the ACK for a 2xx (its own branch, no transaction, §13.2.2.4).

        With ``invite_tx`` the ACK is remembered and re-sent on each 2xx
        retransmission that transaction passes up.
        """
        ack.push_via(self._via_for(peer, new_branch()))
        data = ack.to_bytes()
        if invite_tx is not None:
            ctx = self._clients.get(invite_tx)
            if ctx is not None:
                ctx.ack_data = data
        self._send(data, peer)

    def cancel(self, invite_tx: ClientInviteTransaction, on_response: ResponseCallback | None = None,
               reason: str | None = None) -> ClientNonInviteTransaction | None:
        """CANCEL a pending INVITE (§9.1): same branch, Request-URI, Call-ID, From, To, Route."""
        ctx = self._clients.get(invite_tx)
        if ctx is None or invite_tx.terminated:
            return None
        inv = invite_tx.request
        headers: list[tuple[str, str]] = [("Via", inv.via_values[0])]
        for name, value in inv.headers:
            low = name.lower()
            if low in ("from", "to", "call-id", "route", "max-forwards"):
                headers.append((name, value))
        headers.append(("CSeq", f"{inv.cseq} CANCEL"))
        if reason:
            headers.append(("Reason", reason))
        cancel = make_request("CANCEL", inv.uri, headers)
        now = self._now()
        tx = ClientNonInviteTransaction(cancel, now, self.timers, reliable=ctx.peer.reliable)
        cctx = _ClientCtx(tx, ctx.peer, on_response, None)
        self.table.add(tx)
        self._clients[tx] = cctx
        self._run_client(cctx, tx.start())
        return tx

    # -- receiving --------------------------------------------------------------------------------
    def _now(self) -> float:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop.time()

    def _receive(self, data: bytes, peer: Peer) -> None:
        self.stats.received += 1
        try:
            msg = parse_message(data, stream=peer.reliable)
        except SipParseError as exc:
            self.stats.parse_errors += 1
            self._reject_malformed(data, peer, exc)
            return
        if type(msg) is Request:
            self._on_request(msg, peer)
        else:
            self._on_response(msg, peer)  # type: ignore[arg-type]

    def _on_response(self, response: Response, peer: Peer) -> None:
        tx = self.table.match_response(response)
        if tx is None:
            # A 2xx retransmission after the INVITE transaction ended, or a stray: §18.1.2 drops it.
            logger.debug("response matches no transaction: %r", response)
            return
        ctx = self._clients.get(tx)
        if ctx is None:
            return
        self._run_client(ctx, tx.receive_response(response, self._now()))

    def _fix_via(self, request: Request, peer: Peer) -> None:
        via = request.top_via
        changed = False
        received = via.params.get("received")
        if (via.host != peer.host and via.host.strip("[]") != peer.host) or (
                received is not None and received != peer.host):
            # Always our own observation: a client-supplied "received" could misdirect responses.
            via.params["received"] = peer.host
            changed = True
        if "rport" in via.params and via.params["rport"] is None:
            via.params["rport"] = str(peer.port)
            via.params.setdefault("received", peer.host)
            changed = True
        if changed:
            request.replace_top_via(via)

    def _response_peer(self, request: Request, peer: Peer) -> Peer:
        """Where responses go (§18.2.2, RFC 3581): the connection for streams, else the Via."""
        if peer.reliable:
            return peer
        via = request.top_via
        params = via.params
        rport = params.get("rport")
        if rport:
            return Peer("UDP", params.get("received") or peer.host, int(rport))
        if via.maddr:
            return Peer("UDP", via.maddr, via.port or 5060)
        host = params.get("received") or via.sent_by[0]
        return Peer("UDP", host, via.sent_by[1])

    def _on_request(self, request: Request, peer: Peer) -> None:
        try:
            self._fix_via(request, peer)
        except SipParseError as exc:
            self.stats.parse_errors += 1
            self._reject_malformed(b"", peer, exc, request)
            return
        tx = self.table.match_request(request)
        if tx is not None:
            self.stats.retransmissions_absorbed += 1
            incoming = self._servers.get(tx)
            if incoming is not None:
                self._run_server(incoming, tx.receive_request(request, self._now()))
            return
        method = request.method
        if method == "ACK":
            self._on_ack(request, peer)
            return
        try:
            request.validate()
        except SipParseError as exc:
            self.stats.parse_errors += 1
            self._reject_malformed(b"", peer, exc, request)
            return
        now = self._now()
        reply_to = self._response_peer(request, peer)
        stx: ServerTx
        if method == "INVITE":
            # 100 Trying is sent after the TU has seen the INVITE, and only if it
            # did not answer at once (see _trying_unless_answered).
            stx = ServerInviteTransaction(request, now, self.timers, reliable=peer.reliable,
                                          send_trying=False)
        else:
            stx = ServerNonInviteTransaction(request, now, self.timers, reliable=peer.reliable)
        incoming = IncomingRequest(self, request, reply_to, stx, peer)
        self.table.add(stx)
        self._servers[stx] = incoming
        if method == "CANCEL":
            self._run_server(incoming, stx.start(), deliver=False)
            self._on_cancel(incoming)
            return
        self._run_server(incoming, stx.start(), deliver=False)
        to_tag = request.to_tag
        if to_tag is not None:
            user = self._dialogs.get((request.call_id, to_tag))
            if user is None:
                incoming.respond(481)
                return
            self._dispatch(user.on_request, incoming)
        else:
            handler = self.on_request
            if handler is None:
                incoming.respond(501 if method not in ("OPTIONS",) else 200)
                return
            self._dispatch(handler, incoming)
        if method == "INVITE" and incoming.tx.last_response is None:
            if self.trying_delay > 0:
                self._now()  # makes sure the loop is known
                assert self._loop is not None
                self._loop.call_later(self.trying_delay, self._trying_unless_answered, incoming)
            else:
                self._trying_unless_answered(incoming)

    def _trying_unless_answered(self, incoming: IncomingRequest) -> None:
        """Send 100 Trying for an INVITE the TU has not answered by now.

        §17.2.1 asks for 100 Trying unless the TU answers within 200 ms. A TU that
        answers at once (a UAS) or soon (a B2BUA relaying the callee's 180) has,
        and the 100 would only be one more datagram for both ends: so it waits
        ``trying_delay``. INVITE retransmissions are answered with the last
        response either way.
        """
        tx = incoming.tx
        if tx.last_response is None and not tx.terminated:
            incoming.respond(100)

    def _dispatch(self, handler: Callable[[IncomingRequest], None], incoming: IncomingRequest) -> None:
        try:
            handler(incoming)
        except Exception:
            logger.exception("TU failed on %r", incoming.request)
            if not incoming.final_sent:
                incoming.respond(500)

    def _on_ack(self, request: Request, peer: Peer) -> None:
        to_tag = request.to_tag
        if to_tag is None:
            return
        user = self._dialogs.get((request.call_id, to_tag))
        if user is not None:
            user.on_ack(request, peer)

    def ack_received(self, invite: IncomingRequest) -> None:
        """The dialog owner matched the ACK of our 2xx: stop retransmitting it."""
        tx = invite.tx
        if isinstance(tx, ServerInviteTransaction) and not tx.terminated:
            self._run_server(invite, tx.ack_received(self._now()))

    def _on_cancel(self, cancel: IncomingRequest) -> None:
        invite_tx = self.table.match_cancel(cancel.request)
        invite = self._servers.get(invite_tx) if invite_tx is not None else None
        if invite is None or invite.final_sent:
            cancel.respond(481)
            return
        cancel.respond(200)
        if invite.on_cancel is not None:
            try:
                invite.on_cancel()
            except Exception:
                logger.exception("cancel handler failed")
        if not invite.final_sent:
            invite.respond(487)

    def _respond(self, incoming: IncomingRequest, response: Response) -> None:
        tx = incoming.tx
        self._run_server(incoming, tx.send_response(response, self._now()))

    # -- action processing ------------------------------------------------------------------------
    def _run_client(self, ctx: _ClientCtx, actions: list) -> None:  # type: ignore[type-arg]
        tx = ctx.tx
        for action in actions:
            kind = type(action)
            if kind is Transmit:
                self._send(action.data, ctx.peer)
            elif kind is Deliver:
                response = action.message
                if ctx.ack_data is not None and 200 <= response.status < 300:
                    self._send(ctx.ack_data, ctx.peer)  # a 2xx retransmission: our ACK was lost
                    continue
                if ctx.on_response is not None:
                    try:
                        ctx.on_response(response)
                    except Exception:
                        logger.exception("response handler failed for %r", response)
            elif kind is Timeout or kind is TransportError:
                if kind is Timeout:
                    self.stats.transaction_timeouts += 1
                if ctx.on_failure is not None:
                    try:
                        ctx.on_failure("timeout" if kind is Timeout else "transport error")
                    except Exception:
                        logger.exception("failure handler failed")
            elif kind is Terminated:
                self.table.remove(tx)
                self._clients.pop(tx, None)
                return
        self._arm(tx)

    def _run_server(self, incoming: IncomingRequest, actions: list, deliver: bool = True) -> None:  # type: ignore[type-arg]
        tx = incoming.tx
        for action in actions:
            kind = type(action)
            if kind is Transmit:
                self._send(action.data, incoming.peer)
            elif kind is Terminated:
                self.table.remove(tx)
                self._servers.pop(tx, None)
                return
            elif kind is Timeout:
                self.stats.transaction_timeouts += 1
                logger.info("no ACK for %r (timer %s)", incoming.request, action.timer)
            # Deliver of the request is handled by the caller; ACKs for 2xx go via dialogs.
        self._arm(tx)

    def _arm(self, tx: object) -> None:
        deadline = tx.deadline  # type: ignore[attr-defined]
        if deadline is None:
            return
        armed = self._armed.get(tx)
        if armed is not None and armed <= deadline:
            return  # an earlier wake-up is pending; it re-arms for the rest
        self._armed[tx] = deadline
        loop = self._loop or asyncio.get_running_loop()
        loop.call_at(deadline, self._fire, tx, deadline)

    def _fire(self, tx: object, when: float) -> None:
        if self._armed.get(tx) == when:
            del self._armed[tx]
        if tx.terminated:  # type: ignore[attr-defined]
            self._armed.pop(tx, None)
            return
        actions = tx.on_timer(self._now())  # type: ignore[attr-defined]
        if tx in self._clients:
            self._run_client(self._clients[tx], actions)  # type: ignore[index]
        elif tx in self._servers:
            self._run_server(self._servers[tx], actions)  # type: ignore[index]

    def _transport_error(self, peer: Peer, reason: str) -> None:
        now = self._now()
        for tx, ctx in list(self._clients.items()):
            if ctx.peer == peer and not tx.terminated:
                self._run_client(ctx, tx.transport_error(now))

    # -- malformed input --------------------------------------------------------------------------
    def _reject_malformed(self, data: bytes, peer: Peer, exc: SipParseError,
                          request: Request | None = None) -> None:
        """Answer 400 (or 505/513) when a response can be addressed; otherwise drop."""
        logger.info("malformed message from %s: %s", peer, exc.reason)
        if request is not None:
            if request.method == "ACK":
                return
            response = make_response(request, exc.status, exc.reason)
            self._send(response.to_bytes(), self._response_peer(request, peer))
            self.stats.bad_requests_answered += 1
            return
        raw = _salvage_headers(data)
        if raw is None:
            return
        start, headers = raw
        if start.startswith("SIP/") or start.split(" ", 1)[0] == "ACK":
            return  # never answer a response or an ACK
        lines = [f"SIP/2.0 {exc.status} {_safe_reason(exc)}"]
        lines += [f"{name}: {value}" for name, value in headers]
        lines += ["Content-Length: 0", "", ""]
        dest = peer
        if not peer.reliable:
            try:
                via_value = next(v for n, v in headers if n == "Via")
                fake = make_request("OPTIONS", "sip:x", [("Via", via_value), ("From", "<sip:x>"),
                                                          ("To", "<sip:x>"), ("Call-ID", "x"),
                                                          ("CSeq", "1 OPTIONS")])
                self._fix_via(fake, peer)
                dest = self._response_peer(fake, peer)
            except (SipParseError, StopIteration, ValueError):
                dest = peer
        self._send("\r\n".join(lines).encode(), dest)
        self.stats.bad_requests_answered += 1


def _safe_reason(exc: SipParseError) -> str:
    return exc.reason if exc.reason else REASONS.get(exc.status, "Bad Request")


_SALVAGED = {"via": "Via", "from": "From", "to": "To", "call-id": "Call-ID", "cseq": "CSeq"}


def _salvage_headers(data: bytes) -> tuple[str, list[tuple[str, str]]] | None:
    """Read just enough of an unparseable request to address a 400 to it.

    Only the five headers a response copies are kept, each checked to be
    printable and free of CR/LF, so nothing of the bad input is echoed raw.
    """
    head = data.split(b"\r\n\r\n", 1)[0]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = text.split("\r\n")
    if len(lines) < 6 or "\x00" in text:
        return None
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            continue
        try:
            low, _ = header_name(name.strip())
        except SipParseError:
            continue
        if low in _SALVAGED and value.strip().isprintable():
            out.append((_SALVAGED[low], value.strip()))
            seen.add(low)
    if seen != set(_SALVAGED):
        return None
    return lines[0], out


def parse_peer(uri_host: str, port: int | None, transport: str | None) -> Peer:
    """A Peer for a host/port/transport taken from a URI (no DNS: IPs and localhost)."""
    host = "127.0.0.1" if uri_host == "localhost" else uri_host.strip("[]")
    t = (transport or "udp").upper()
    return Peer(t if t in ("UDP", "TCP", "TLS") else "UDP", host, port or 5060)


__all__ = ["DialogUser", "IncomingRequest", "Peer", "UaStats", "UserAgent", "Via", "parse_peer"]

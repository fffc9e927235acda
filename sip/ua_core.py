"""The user-agent core of RFC 3261, sans-I/O: what a UA does between the transport and its TU.

``UaCore`` owns the transaction table, the registered dialogs and the rules a
user agent applies on its own, before or around the transaction user (TU):

- every received message is parsed and has its top Via fixed (received/rport,
  §18.2.1, RFC 3581); responses go to the transaction they match, or are
  dropped (§18.1.2); requests that fail to parse get a 400 (or 505/513) naming
  the defect when enough is readable to address one, else they are dropped,
  and malformed responses and ACKs are never answered (§18.3, RFC 4475);
- a new request becomes a server transaction; with a ``UasPolicy`` it is
  first checked as §8.2.1-§8.2.3 ask (``sip.uas_checks``: 405/501 with
  ``Allow``, 416, 420 with ``Unsupported``, 415, 406), in and out of dialogs;
  then it becomes an ``IncomingRequest`` handle for the TU; an in-dialog one
  goes to the dialog's registered owner, or is answered 481 when the dialog
  is unknown (§12.2.2);
- an ACK for a 2xx (its own transaction, §17.1.1.3) goes to its dialog's owner;
- CANCEL is answered 200 and reported for the INVITE it matches, which gets
  487 unless its TU sends a final response itself, or 481 when nothing
  matches (§9.2);
- the 100 Trying of an INVITE waits ``trying_delay`` for the TU's own answer
  (§17.2.1 allows 200 ms);
- the ACK of a 2xx we sent is re-sent on each 2xx retransmission (§13.2.2.4);
- each transaction's timers are asked for as one wake-up at its ``deadline``.

Nothing here touches a socket or reads a clock. Every entry point takes
``now`` and returns a list of outputs for the adapter (``sip.ua``) to carry
out in order:

- actions: ``Send`` (bytes to a peer) and ``StartTimer`` (call
  ``timer_fired(key, when, now)`` at ``when``);
- events for the TU: ``RequestReceived``, ``DialogRequest``, ``DialogAck``,
  ``CancelReceived``, ``ResponseReceived`` and ``ClientFailed``.

Two events want a word back once the TU has seen them: ``request_handled``
after ``RequestReceived``/``DialogRequest`` (arms the 100 Trying, and sends
500 if the TU failed without a final answer), ``cancel_handled`` after
``CancelReceived`` (sends the 487).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias

from sip.dialog import new_tag
from sip.errors import SipParseError
from sip.headers import header_name
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
from sip.uas_checks import UasPolicy, check_request

logger = logging.getLogger(__name__)

ClientTx: TypeAlias = ClientInviteTransaction | ClientNonInviteTransaction
ServerTx: TypeAlias = ServerInviteTransaction | ServerNonInviteTransaction

ResponseCallback = Callable[[Response], None]
FailureCallback = Callable[[str], None]


class DialogUser(Protocol):
    """Whoever owns a dialog (a B2BUA leg, a test agent) receives its requests."""

    def on_request(self, incoming: IncomingRequest) -> None: ...

    def on_ack(self, request: Request, peer: Peer) -> None: ...


class Responder(Protocol):
    """Carries out a TU's response: the adapter, which passes it to ``UaCore.respond``."""

    def send_response(self, incoming: IncomingRequest, response: Response) -> None: ...


# Methods counted under their own name; any other token (the peer chooses it) counts as "other",
# so invented methods cannot grow the tables without bound.
COUNTED_METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "NOTIFY",
                             "REFER", "UPDATE", "PRACK", "SUBSCRIBE", "MESSAGE", "PUBLISH"})


def counted_method(method: str) -> str:
    return method if method in COUNTED_METHODS else "other"


@dataclass(slots=True)
class UaStats:
    """Plain counters, read at scrape time (``callcontrol.ops.metrics``); nothing formats here.

    The by-kind tables count messages on the wire, retransmissions included (their sums are
    ``received`` less the parse errors, and ``sent``): requests by method, responses by
    (CSeq method, status code). Status codes are 100-699 (the parser refuses others).
    """

    received: int = 0
    sent: int = 0
    parse_errors: int = 0
    bad_requests_answered: int = 0
    retransmissions_absorbed: int = 0
    transaction_timeouts: int = 0
    requests_received: dict[str, int] = field(default_factory=dict)
    responses_received: dict[tuple[str, int], int] = field(default_factory=dict)
    requests_sent: dict[str, int] = field(default_factory=dict)
    responses_sent: dict[tuple[str, int], int] = field(default_factory=dict)

    def count_received(self, msg: Request | Response) -> None:
        if type(msg) is Request:
            table = self.requests_received
            method = msg.method  # type: ignore[union-attr]
            key = method if method in COUNTED_METHODS else "other"
            table[key] = table.get(key, 0) + 1
        else:
            rtable = self.responses_received
            method = msg.cseq_method
            rkey = (method if method in COUNTED_METHODS else "other", msg.status)  # type: ignore[union-attr]
            rtable[rkey] = rtable.get(rkey, 0) + 1

    def count_sent(self, msg: Request | Response) -> None:
        if type(msg) is Request:
            table = self.requests_sent
            method = msg.method  # type: ignore[union-attr]
            key = method if method in COUNTED_METHODS else "other"
            table[key] = table.get(key, 0) + 1
        else:
            self.count_response_sent(msg.cseq_method, msg.status)  # type: ignore[union-attr]

    def count_sent_ack(self) -> None:
        table = self.requests_sent
        table["ACK"] = table.get("ACK", 0) + 1

    def count_response_sent(self, method: str, status: int) -> None:
        rtable = self.responses_sent
        rkey = (method if method in COUNTED_METHODS else "other", status)
        rtable[rkey] = rtable.get(rkey, 0) + 1


class IncomingRequest:
    """A request that opened a server transaction: the TU answers through it."""

    __slots__ = ("final_sent", "on_cancel", "peer", "request", "responder", "source", "to_tag", "tx")

    def __init__(self, responder: Responder, request: Request, peer: Peer, tx: ServerTx,
                 source: Peer | None = None) -> None:
        self.responder = responder
        self.request = request
        # ``peer``: where responses go (§18.2.2); ``source``: where the request really came from.
        self.peer = peer
        self.source = source if source is not None else peer
        self.tx = tx
        # Set by the TU to handle CANCEL itself (it must then send the final response).
        self.on_cancel: Callable[[], None] | None = None
        self.final_sent = False
        self.to_tag: str | None = None  # the tag this request's responses carry in To

    def respond(self, status: int, reason: str | None = None, *, to_tag: str | None = None,
                headers: Iterable[tuple[str, str]] | None = None, body: bytes = b"") -> Response:
        """Answer the request (see ``tag_for`` for the To tag)."""
        response = make_response(self.request, status, reason, to_tag=self.tag_for(status, to_tag),
                                 headers=headers, body=body)
        self.send(response)
        return response

    def tag_for(self, status: int, to_tag: str | None = None) -> str | None:
        """The To tag of a response: outside a dialog every response but 100 carries one
        (RFC 3261 §8.2.6.2), the TU's own (a dialog's local tag) or, when it gives none, one
        made here, the same for every later response to this request."""
        if self.request.to_tag is not None or status <= 100:
            return to_tag
        if to_tag is None:
            to_tag = self.to_tag or new_tag()
        self.to_tag = to_tag
        return to_tag

    def send(self, response: Response) -> None:
        if response.status >= 200:
            self.final_sent = True
        self.responder.send_response(self, response)


class ClientRequest:
    """A request we sent through a client transaction, and whom its outcome goes to."""

    __slots__ = ("ack_data", "on_failure", "on_response", "peer", "tx")

    def __init__(self, tx: ClientTx, peer: Peer, on_response: ResponseCallback | None,
                 on_failure: FailureCallback | None) -> None:
        self.tx = tx
        self.peer = peer
        self.on_response = on_response
        self.on_failure = on_failure
        self.ack_data: bytes | None = None  # the ACK of our 2xx, re-sent on 2xx retransmissions


# -- outputs ---------------------------------------------------------------------------------------

@dataclass(slots=True)
class Send:
    """Action: send ``data`` to ``peer``."""

    data: bytes
    peer: Peer


@dataclass(slots=True)
class StartTimer:
    """Action: call ``UaCore.timer_fired(key, when, now)`` at ``when``."""

    key: object
    when: float


@dataclass(slots=True)
class RequestReceived:
    """Event: a new out-of-dialog request for the TU; answer ``request_handled`` after it."""

    incoming: IncomingRequest


@dataclass(slots=True)
class DialogRequest:
    """Event: a request in the dialog ``user`` registered; answer ``request_handled`` after it."""

    user: DialogUser
    incoming: IncomingRequest


@dataclass(slots=True)
class DialogAck:
    """Event: the ACK of a 2xx, for the dialog ``user`` registered (no transaction, §17.1.1.3)."""

    user: DialogUser
    request: Request
    peer: Peer


@dataclass(slots=True)
class CancelReceived:
    """Event: a CANCEL matched ``invite`` (already answered 200); answer ``cancel_handled`` after it."""

    invite: IncomingRequest


@dataclass(slots=True)
class ResponseReceived:
    """Event: a response (provisional, final, or a retransmitted 2xx) for ``client``'s request."""

    client: ClientRequest
    response: Response


@dataclass(slots=True)
class ClientFailed:
    """Event: no final response can come for ``client``'s request ("timeout", "transport error")."""

    client: ClientRequest
    reason: str


Output: TypeAlias = (Send | StartTimer | RequestReceived | DialogRequest | DialogAck | CancelReceived
                     | ResponseReceived | ClientFailed)


class UaCore:
    """The UA-core rules over the transaction table and the dialog registry; see the module doc."""

    def __init__(self, responder: Responder, *, timers: TimerConfig | None = None,
                 trying_delay: float = 0.1, policy: UasPolicy | None = None) -> None:
        self.responder = responder
        # What the TU serves; None: every request reaches it (a test agent, a bare UA).
        self.policy = policy
        self.timers = timers or TimerConfig()
        # 100 Trying waits this long for the TU's own answer (§17.2.1 allows up to 200 ms).
        self.trying_delay = trying_delay
        self.table = TransactionTable()
        self.stats = UaStats()
        # Our listening address per transport name, for the Via of requests we send.
        self.local_addresses: dict[str, tuple[str, int]] = {}
        self._clients: dict[ClientTx, ClientRequest] = {}
        self._servers: dict[ServerTx, IncomingRequest] = {}
        self._armed: dict[object, float] = {}
        self._dialogs: dict[tuple[str, str], DialogUser] = {}

    # -- dialogs ----------------------------------------------------------------------------------
    def register_dialog(self, call_id: str, local_tag: str, user: DialogUser) -> None:
        self._dialogs[(call_id, local_tag)] = user

    def unregister_dialog(self, call_id: str, local_tag: str) -> None:
        self._dialogs.pop((call_id, local_tag), None)

    # -- sending ----------------------------------------------------------------------------------
    def local_address(self, transport: str = "UDP") -> tuple[str, int]:
        addresses = self.local_addresses
        addr = addresses.get(transport.upper())
        return addr if addr is not None else next(iter(addresses.values()))

    def _via_for(self, peer: Peer, branch: str) -> str:
        host, port = self.local_address(peer.transport)
        return f"SIP/2.0/{peer.transport} {host}:{port};branch={branch};rport"

    def send_request(self, request: Request, peer: Peer, now: float,
                     on_response: ResponseCallback | None = None,
                     on_failure: FailureCallback | None = None) -> tuple[ClientTx, list[Output]]:
        """Start a client transaction for ``request`` (we add its top Via)."""
        request.push_via(self._via_for(peer, new_branch()))
        tx: ClientTx
        if request.method == "INVITE":
            tx = ClientInviteTransaction(request, now, self.timers, reliable=peer.reliable)
        else:
            tx = ClientNonInviteTransaction(request, now, self.timers, reliable=peer.reliable)
        return tx, self._start_client(ClientRequest(tx, peer, on_response, on_failure))

    def send_ack(self, ack: Request, peer: Peer, invite_tx: ClientInviteTransaction | None = None) -> list[Output]:
        """The ACK for a 2xx (its own branch, no transaction, §13.2.2.4).

        With ``invite_tx`` the ACK is remembered and re-sent on each 2xx
        retransmission that transaction passes up.
        """
        ack.push_via(self._via_for(peer, new_branch()))
        data = ack.to_bytes()
        if invite_tx is not None:
            client = self._clients.get(invite_tx)
            if client is not None:
                client.ack_data = data
        self.stats.count_sent(ack)
        return [Send(data, peer)]

    def cancel(self, invite_tx: ClientInviteTransaction, now: float,
               on_response: ResponseCallback | None = None,
               reason: str | None = None) -> tuple[ClientNonInviteTransaction | None, list[Output]]:
        """CANCEL a pending INVITE (§9.1): same branch, Request-URI, Call-ID, From, To, Route."""
        client = self._clients.get(invite_tx)
        if client is None or invite_tx.terminated:
            return None, []
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
        tx = ClientNonInviteTransaction(cancel, now, self.timers, reliable=client.peer.reliable)
        return tx, self._start_client(ClientRequest(tx, client.peer, on_response, None))

    def _start_client(self, client: ClientRequest) -> list[Output]:
        tx = client.tx
        self.table.add(tx)
        self._clients[tx] = client
        out: list[Output] = []
        self._run_client(client, tx.start(), out)
        return out

    def respond(self, incoming: IncomingRequest, response: Response, now: float) -> list[Output]:
        """The TU's response to ``incoming``, through its server transaction."""
        out: list[Output] = []
        self._run_server(incoming, incoming.tx.send_response(response, now), out)
        return out

    def ack_received(self, invite: IncomingRequest, now: float) -> list[Output]:
        """The dialog owner matched the ACK of our 2xx: stop retransmitting it."""
        tx = invite.tx
        out: list[Output] = []
        if isinstance(tx, ServerInviteTransaction) and not tx.terminated:
            self._run_server(invite, tx.ack_received(now), out)
        return out

    # -- receiving --------------------------------------------------------------------------------
    def receive(self, data: bytes, peer: Peer, now: float) -> list[Output]:
        """One datagram, or one framed stream message, from ``peer``."""
        self.stats.received += 1
        out: list[Output] = []
        try:
            msg = parse_message(data, stream=peer.reliable)
        except SipParseError as exc:
            self.stats.parse_errors += 1
            self._reject_unparsed(data, peer, exc, out)
            return out
        self.stats.count_received(msg)
        if type(msg) is Request:
            self._on_request(msg, peer, now, out)
        else:
            self._on_response(msg, now, out)  # type: ignore[arg-type]
        return out

    def _on_response(self, response: Response, now: float, out: list[Output]) -> None:
        tx = self.table.match_response(response)
        if tx is None:
            # A 2xx retransmission after the INVITE transaction ended, or a stray: §18.1.2 drops it.
            logger.debug("response matches no transaction: %r", response)
            return
        client = self._clients.get(tx)
        if client is not None:
            self._run_client(client, tx.receive_response(response, now), out)

    def _on_request(self, request: Request, peer: Peer, now: float, out: list[Output]) -> None:
        try:
            fix_via(request, peer)
        except SipParseError as exc:
            self._reject_parsed(request, peer, exc, out)
            return
        tx = self.table.match_request(request)
        if tx is not None:
            self.stats.retransmissions_absorbed += 1
            incoming = self._servers.get(tx)
            if incoming is not None:
                self._run_server(incoming, tx.receive_request(request, now), out)
            return
        method = request.method
        if method == "ACK":
            to_tag = request.to_tag
            user = self._dialogs.get((request.call_id, to_tag)) if to_tag is not None else None
            if user is not None:
                out.append(DialogAck(user, request, peer))
            return
        try:
            request.validate()
        except SipParseError as exc:
            self._reject_parsed(request, peer, exc, out)
            return
        stx: ServerTx
        if method == "INVITE":
            # 100 Trying is sent after the TU has seen the INVITE, and only if it
            # did not answer at once (see request_handled).
            stx = ServerInviteTransaction(request, now, self.timers, reliable=peer.reliable,
                                          send_trying=False)
        else:
            stx = ServerNonInviteTransaction(request, now, self.timers, reliable=peer.reliable)
        incoming = IncomingRequest(self.responder, request, response_peer(request, peer), stx, peer)
        self.table.add(stx)
        self._servers[stx] = incoming
        self._run_server(incoming, stx.start(), out)
        if method == "CANCEL":
            self._on_cancel(incoming, now, out)
            return
        policy = self.policy
        if policy is not None:
            refusal = check_request(request, policy)
            if refusal is not None:
                self._answer(incoming, refusal.status, now, out, refusal.reason, refusal.headers)
                return
        to_tag = request.to_tag
        if to_tag is None:
            out.append(RequestReceived(incoming))
            return
        user = self._dialogs.get((request.call_id, to_tag))
        if user is None:
            self._answer(incoming, 481, now, out)  # §12.2.2: a dialog we do not have
            return
        out.append(DialogRequest(user, incoming))

    def request_handled(self, incoming: IncomingRequest, now: float, *, failed: bool = False) -> list[Output]:
        """The TU has seen ``incoming`` (``failed``: it raised); returns what follows from its answer.

        A TU that failed without a final response gets 500 sent for it. An
        INVITE it has not answered at all gets 100 Trying after
        ``trying_delay`` (at once when that is 0): §17.2.1 asks for 100 unless
        the TU answers within 200 ms, and a TU that answers at once (a UAS) or
        soon (a B2BUA relaying the callee's 180) has, so the 100 would only be
        one more datagram for both ends. INVITE retransmissions are answered
        with the last response either way.
        """
        out: list[Output] = []
        if failed and not incoming.final_sent:
            self._answer(incoming, 500, now, out)
        tx = incoming.tx
        if type(tx) is ServerInviteTransaction and tx.last_response is None:
            if self.trying_delay > 0:
                out.append(StartTimer(incoming, now + self.trying_delay))
            else:
                self._trying_unless_answered(incoming, now, out)
        return out

    def reject_unhandled(self, incoming: IncomingRequest, now: float) -> list[Output]:
        """There is no TU for new requests: OPTIONS gets 200, anything else 501."""
        out: list[Output] = []
        self._answer(incoming, 200 if incoming.request.method == "OPTIONS" else 501, now, out)
        return out

    def _trying_unless_answered(self, incoming: IncomingRequest, now: float, out: list[Output]) -> None:
        tx = incoming.tx
        if tx.last_response is None and not tx.terminated:
            self._answer(incoming, 100, now, out)

    def _on_cancel(self, cancel: IncomingRequest, now: float, out: list[Output]) -> None:
        invite_tx = self.table.match_cancel(cancel.request)
        invite = self._servers.get(invite_tx) if invite_tx is not None else None
        if invite is None or invite.final_sent:
            self._answer(cancel, 481, now, out)
            return
        self._answer(cancel, 200, now, out)
        out.append(CancelReceived(invite))

    def cancel_handled(self, invite: IncomingRequest, now: float) -> list[Output]:
        """The INVITE's TU has seen the CANCEL: 487 unless it sent a final response itself (§9.2)."""
        out: list[Output] = []
        if not invite.final_sent:
            self._answer(invite, 487, now, out)
        return out

    def _answer(self, incoming: IncomingRequest, status: int, now: float, out: list[Output],
                reason: str | None = None, headers: Iterable[tuple[str, str]] = ()) -> None:
        """A response of the core's own, through the transaction like the TU's."""
        response = make_response(incoming.request, status, reason, to_tag=incoming.tag_for(status),
                                 headers=headers)
        if status >= 200:
            incoming.final_sent = True
        self._run_server(incoming, incoming.tx.send_response(response, now), out)

    # -- timers and transport errors --------------------------------------------------------------
    def timer_fired(self, key: object, when: float, now: float) -> list[Output]:
        """A ``StartTimer(key, when)`` came due."""
        out: list[Output] = []
        if type(key) is IncomingRequest:
            self._trying_unless_answered(key, now, out)
            return out
        if self._armed.get(key) == when:
            del self._armed[key]
        tx: ClientTx | ServerTx = key  # type: ignore[assignment]
        if tx.terminated:
            self._armed.pop(tx, None)
            return out
        actions = tx.on_timer(now)
        client = self._clients.get(tx)  # type: ignore[arg-type]
        if client is not None:
            self._run_client(client, actions, out)
        else:
            server = self._servers.get(tx)  # type: ignore[arg-type]
            if server is not None:
                self._run_server(server, actions, out)
        return out

    def transport_error(self, peer: Peer, now: float) -> list[Output]:
        """The connection to ``peer`` failed: its client transactions end (§17.1.4)."""
        out: list[Output] = []
        for tx, client in list(self._clients.items()):
            if client.peer == peer and not tx.terminated:
                self._run_client(client, tx.transport_error(now), out)
        return out

    # -- transaction actions ----------------------------------------------------------------------
    def _run_client(self, client: ClientRequest, actions: list, out: list[Output]) -> None:  # type: ignore[type-arg]
        tx = client.tx
        for action in actions:
            kind = type(action)
            if kind is Transmit:
                self.stats.count_sent(action.message)
                out.append(Send(action.data, client.peer))
            elif kind is Deliver:
                response = action.message
                if client.ack_data is not None and 200 <= response.status < 300:
                    self.stats.count_sent_ack()
                    out.append(Send(client.ack_data, client.peer))  # a 2xx retransmission: our ACK was lost
                else:
                    out.append(ResponseReceived(client, response))
            elif kind is Timeout:
                self.stats.transaction_timeouts += 1
                out.append(ClientFailed(client, "timeout"))
            elif kind is TransportError:
                out.append(ClientFailed(client, "transport error"))
            elif kind is Terminated:
                self.table.remove(tx)
                self._clients.pop(tx, None)
                return
        self._arm(tx, out)

    def _run_server(self, incoming: IncomingRequest, actions: list, out: list[Output]) -> None:  # type: ignore[type-arg]
        tx = incoming.tx
        for action in actions:
            kind = type(action)
            if kind is Transmit:
                self.stats.count_sent(action.message)
                out.append(Send(action.data, incoming.peer))
            elif kind is Terminated:
                self.table.remove(tx)
                self._servers.pop(tx, None)
                return
            elif kind is Timeout:
                self.stats.transaction_timeouts += 1
                logger.info("no ACK for %r (timer %s)", incoming.request, action.timer)
            # Deliver of the request is this core's own (see _on_request); 2xx ACKs go via dialogs.
        self._arm(tx, out)

    def _arm(self, tx: ClientTx | ServerTx, out: list[Output]) -> None:
        deadline = tx.deadline
        if deadline is None:
            return
        armed = self._armed.get(tx)
        if armed is not None and armed <= deadline:
            return  # an earlier wake-up is pending; it re-arms for the rest
        self._armed[tx] = deadline
        out.append(StartTimer(tx, deadline))

    # -- malformed input --------------------------------------------------------------------------
    def _reject_parsed(self, request: Request, peer: Peer, exc: SipParseError, out: list[Output]) -> None:
        """A request that parsed but has a defect: 400 (never to an ACK), outside any transaction."""
        self.stats.parse_errors += 1
        logger.info("malformed request from %s: %s", peer, exc.reason)
        if request.method == "ACK":
            return
        response = make_response(request, exc.status, exc.reason,
                                 to_tag=None if request.to_tag is not None else new_tag())  # §8.2.6.2
        self.stats.count_sent(response)
        try:
            dest = response_peer(request, peer)
        except SipParseError:
            # The top Via is the defect (RFC 4475 §3.1.2.1): §18.2.2 cannot be followed, and
            # the packet's source is the one address known to reach the sender.
            dest = peer
        out.append(Send(response.to_bytes(), dest))
        self.stats.bad_requests_answered += 1

    def _reject_unparsed(self, data: bytes, peer: Peer, exc: SipParseError, out: list[Output]) -> None:
        """A message that did not parse: answer 400 (or 505/513) if it is an addressable request."""
        logger.info("malformed message from %s: %s", peer, exc.reason)
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
                fix_via(fake, peer)
                dest = response_peer(fake, peer)
            except (SipParseError, StopIteration, ValueError):
                dest = peer
        out.append(Send("\r\n".join(lines).encode(), dest))
        self.stats.count_response_sent(start.split(" ", 1)[0], exc.status)
        self.stats.bad_requests_answered += 1


def fix_via(request: Request, peer: Peer) -> None:
    """Stamp the top Via with what we saw: ``received`` and a requested ``rport`` (§18.2.1, RFC 3581)."""
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


def response_peer(request: Request, peer: Peer) -> Peer:
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


def _safe_reason(exc: SipParseError) -> str:
    return exc.reason if exc.reason else REASONS.get(exc.status, "Bad Request")


_SALVAGED = {"via": "Via", "from": "From", "to": "To", "call-id": "Call-ID", "cseq": "CSeq"}
_NEEDED = frozenset({"via", "cseq"})


def _salvage_headers(data: bytes) -> tuple[str, list[tuple[str, str]]] | None:
    """Read just enough of an unparseable request to address a 400 to it.

    Only the five headers a response copies are kept, each checked to be
    printable and free of CR/LF, so nothing of the bad input is echoed raw.
    Via and CSeq are needed (they address the answer and match it to the
    sender's transaction); From, To and Call-ID are copied when present: a
    request missing them still hears why (RFC 4475 §3.3.1 asks for a 400).
    """
    head = data.split(b"\r\n\r\n", 1)[0]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = text.split("\r\n")
    if len(lines) < 3 or "\x00" in text:
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
    if not _NEEDED <= seen:
        return None
    return lines[0], out

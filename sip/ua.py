"""The user agent on asyncio: sockets, the clock and the TU's callbacks around ``sip.ua_core``.

The rules of the UA core (transaction matching, 481 for unknown dialogs,
CANCEL → 200/487, the delayed 100 Trying, 400 for malformed requests, the
§8.2 checks of a ``UasPolicy``: 405/501/416/420/415/406, the ACK re-sent on
2xx retransmissions) are in ``sip.ua_core.UaCore``, which is
sans-I/O. This adapter gives it what it lacks:

- transports: every received datagram/stream message goes to
  ``UaCore.receive``; each ``Send`` output goes out on the peer's transport;
- the clock: ``now`` for every call, and one ``loop.call_at`` per
  ``StartTimer`` output (each transaction's ``deadline``, the 100 Trying);
- the TU's callbacks: ``on_request`` for new requests, the registered
  ``DialogUser`` for in-dialog ones and 2xx ACKs, ``IncomingRequest.on_cancel``,
  and ``send_request``'s ``on_response``/``on_failure``; a callback that raises
  is logged (and a request it left unanswered gets 500 from the core).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from ssl import SSLContext

from sip.headers import Via
from sip.message import Request, Response
from sip.peer import Peer, parse_peer
from sip.transaction import ClientInviteTransaction, ClientNonInviteTransaction, TimerConfig, TransactionTable
from sip.transport import TcpTransport, UdpTransport
from sip.ua_core import (
    CancelReceived,
    ClientFailed,
    ClientTx,
    DialogAck,
    DialogRequest,
    DialogUser,
    FailureCallback,
    IncomingRequest,
    Output,
    RequestReceived,
    ResponseCallback,
    ResponseReceived,
    Send,
    StartTimer,
    UaCore,
    UaStats,
)
from sip.uas_checks import UasPolicy

logger = logging.getLogger(__name__)


class UserAgent:
    def __init__(self, *, timers: TimerConfig | None = None, server_name: str = "callcontrol",
                 on_request: Callable[[IncomingRequest], None] | None = None,
                 trying_delay: float = 0.1, policy: UasPolicy | None = None) -> None:
        self.core = UaCore(self, timers=timers, trying_delay=trying_delay, policy=policy)
        self.server_name = server_name
        self.on_request = on_request
        self.transports: dict[str, UdpTransport | TcpTransport] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        # Every message in and out, as bytes: ``trace("in"|"out", data, peer)`` (a SIP trace
        # file); None costs one test per message. It must not block: it runs on the loop.
        self.trace: Callable[[str, bytes, Peer], None] | None = None
        # The TU's final error responses (3xx-6xx), after they went out: the operator log of refusals.
        self.on_refused: Callable[[IncomingRequest, Response], None] | None = None

    @property
    def timers(self) -> TimerConfig:
        return self.core.timers

    @property
    def trying_delay(self) -> float:
        return self.core.trying_delay

    @property
    def table(self) -> TransactionTable:
        return self.core.table

    @property
    def stats(self) -> UaStats:
        return self.core.stats

    # -- set-up -----------------------------------------------------------------------------------
    async def listen(self, transport: str, host: str, port: int, *, ssl: SSLContext | None = None,
                     client_ssl: SSLContext | None = None) -> tuple[str, int]:
        """Open a listener; returns the bound address (port 0 picks a free one).

        TLS needs ``ssl`` (the listener's certificate, ``sip.tls.server_context``);
        ``client_ssl`` verifies the peers of connections we open (``sip.tls.client_context``).
        """
        self._loop = asyncio.get_running_loop()
        name = transport.upper()
        t: UdpTransport | TcpTransport
        if name == "UDP":
            t = await UdpTransport.listen(host, port, self._receive)
        elif name == "TCP":
            t = await TcpTransport.listen(host, port, self._receive, self._transport_error)
        elif name == "TLS":
            if ssl is None:
                raise ValueError("a TLS listener needs a certificate (an SSL context)")
            t = await TcpTransport.listen(host, port, self._receive, self._transport_error, ssl=ssl,
                                          client_ssl=client_ssl)
        else:
            raise ValueError(f"unsupported transport {transport!r}")
        self.transports[name] = t
        self.core.local_addresses[name] = t.local
        return t.local

    def local_address(self, transport: str = "UDP") -> tuple[str, int]:
        return self.core.local_address(transport)

    def close(self) -> None:
        for t in self.transports.values():
            t.close()
        self.transports.clear()
        self.core.local_addresses.clear()

    # -- dialogs ----------------------------------------------------------------------------------
    def register_dialog(self, call_id: str, local_tag: str, user: DialogUser) -> None:
        self.core.register_dialog(call_id, local_tag, user)

    def unregister_dialog(self, call_id: str, local_tag: str) -> None:
        self.core.unregister_dialog(call_id, local_tag)

    # -- sending ----------------------------------------------------------------------------------
    def send_request(self, request: Request, peer: Peer, on_response: ResponseCallback | None = None,
                     on_failure: FailureCallback | None = None) -> ClientTx:
        """Send ``request`` through a new client transaction (the UA adds the top Via).

        ``on_response`` gets every response (provisionals, finals, 2xx
        retransmissions for INVITE); ``on_failure`` gets "timeout" or
        "transport error" when no final response can come.
        """
        tx, outputs = self.core.send_request(request, peer, self._now(), on_response, on_failure)
        self._carry_out(outputs)
        return tx

    def send_ack(self, ack: Request, peer: Peer, invite_tx: ClientInviteTransaction | None = None) -> None:
        """Send the ACK for a 2xx (its own branch, no transaction, §13.2.2.4).

        With ``invite_tx`` the ACK is remembered and re-sent on each 2xx
        retransmission that transaction passes up.
        """
        self._carry_out(self.core.send_ack(ack, peer, invite_tx))

    def cancel(self, invite_tx: ClientInviteTransaction, on_response: ResponseCallback | None = None,
               reason: str | None = None) -> ClientNonInviteTransaction | None:
        """CANCEL a pending INVITE (§9.1); None when it can no longer be cancelled."""
        tx, outputs = self.core.cancel(invite_tx, self._now(), on_response, reason)
        self._carry_out(outputs)
        return tx

    def send_response(self, incoming: IncomingRequest, response: Response) -> None:
        """``IncomingRequest.send`` lands here: the TU's response, through its transaction."""
        self._carry_out(self.core.respond(incoming, response, self._now()))
        if response.status >= 300:
            hook = self.on_refused
            if hook is not None:
                try:
                    hook(incoming, response)
                except Exception:
                    logger.exception("refusal hook failed for %r", response)

    def ack_received(self, invite: IncomingRequest) -> None:
        """The dialog owner matched the ACK of our 2xx: stop retransmitting it."""
        self._carry_out(self.core.ack_received(invite, self._now()))

    def _send(self, data: bytes, peer: Peer) -> None:
        t = self.transports.get(peer.transport)
        if t is None:
            logger.warning("no %s transport to reach %s", peer.transport, peer)
            # A transport error, as a refused connection is (§17.1.4): the request fails now, not
            # at timer B; reported on the next turn, the sender is not re-entered.
            (self._loop or asyncio.get_running_loop()).call_soon(self._transport_error, peer, "no transport")
            return
        self.core.stats.sent += 1
        t.send(data, peer)
        trace = self.trace
        if trace is not None:
            trace("out", data, peer)

    # -- receiving --------------------------------------------------------------------------------
    def _now(self) -> float:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop.time()

    def _receive(self, data: bytes, peer: Peer) -> None:
        trace = self.trace
        if trace is not None:
            trace("in", data, peer)
        self._carry_out(self.core.receive(data, peer, self._now()))

    def _transport_error(self, peer: Peer, reason: str) -> None:
        self._carry_out(self.core.transport_error(peer, self._now()))

    def _fire(self, key: object, when: float) -> None:
        self._carry_out(self.core.timer_fired(key, when, self._now()))

    # -- the core's outputs -----------------------------------------------------------------------
    def _carry_out(self, outputs: list[Output]) -> None:
        for output in outputs:
            kind = type(output)
            if kind is Send:
                self._send(output.data, output.peer)  # type: ignore[union-attr]
            elif kind is StartTimer:
                loop = self._loop or asyncio.get_running_loop()
                loop.call_at(output.when, self._fire, output.key, output.when)  # type: ignore[union-attr]
            elif kind is RequestReceived:
                incoming = output.incoming  # type: ignore[union-attr]
                handler = self.on_request
                if handler is None:
                    self._carry_out(self.core.reject_unhandled(incoming, self._now()))
                else:
                    self._dispatch(handler, incoming)
            elif kind is DialogRequest:
                self._dispatch(output.user.on_request, output.incoming)  # type: ignore[union-attr]
            elif kind is DialogAck:
                output.user.on_ack(output.request, output.peer)  # type: ignore[union-attr]
            elif kind is ResponseReceived:
                self._deliver_response(output)  # type: ignore[arg-type]
            elif kind is ClientFailed:
                self._deliver_failure(output)  # type: ignore[arg-type]
            elif kind is CancelReceived:
                self._deliver_cancel(output.invite)  # type: ignore[union-attr]

    def _dispatch(self, handler: Callable[[IncomingRequest], None], incoming: IncomingRequest) -> None:
        failed = False
        try:
            handler(incoming)
        except Exception:
            logger.exception("TU failed on %r", incoming.request)
            failed = True
        self._carry_out(self.core.request_handled(incoming, self._now(), failed=failed))

    @staticmethod
    def _deliver_response(event: ResponseReceived) -> None:
        callback = event.client.on_response
        if callback is not None:
            try:
                callback(event.response)
            except Exception:
                logger.exception("response handler failed for %r", event.response)

    @staticmethod
    def _deliver_failure(event: ClientFailed) -> None:
        callback = event.client.on_failure
        if callback is not None:
            try:
                callback(event.reason)
            except Exception:
                logger.exception("failure handler failed")

    def _deliver_cancel(self, invite: IncomingRequest) -> None:
        if invite.on_cancel is not None:
            try:
                invite.on_cancel()
            except Exception:
                logger.exception("cancel handler failed")
        self._carry_out(self.core.cancel_handled(invite, self._now()))


__all__ = ["DialogUser", "IncomingRequest", "Peer", "UaStats", "UserAgent", "Via", "parse_peer"]

"""SIP transactions (RFC 3261 §17, amended by RFC 6026), sans-I/O.

Four state machines and a table that matches messages to them. Nothing here
touches a socket or a clock: every entry point takes ``now`` (seconds, any
monotonic origin) and returns a list of actions for the adapter to carry out:

- ``Transmit``: send ``data`` (the encoded ``message``) to the transaction's
  peer. Retransmissions reuse the same ``Transmit`` object and bytes.
- ``Deliver``: hand ``message`` to the transaction user (TU).
- ``Timeout``: a timer (B, F, H, or L for a 2xx never ACKed) gave up; tell the TU.
- ``TransportError``: the adapter reported a send failure; tell the TU.
- ``Terminated``: the transaction is over; drop it from the ``TransactionTable``.

Each transaction exposes ``deadline`` (its earliest pending timer, or None),
so the adapter keeps one ``loop.call_at`` per transaction and calls
``on_timer(now)`` when it fires, then re-arms at the new ``deadline``.

Where this goes beyond RFC 6026: the server INVITE transaction's Accepted
state also carries the UAS core's duty of RFC 3261 §13.3.1.4 — retransmitting
the 2xx (T1 doubling, capped at T2, unreliable transports only) until the TU
reports the ACK with ``ack_received`` (the ACK for a 2xx is a transaction of
its own with a new branch, so the UA core matches it by dialog), and
reporting ``Timeout("L")`` if none came within 64·T1 so the TU can send BYE.
"""
from __future__ import annotations

import enum
import logging
import os
from dataclasses import dataclass
from typing import ClassVar, TypeAlias

from sip.message import Request, Response, make_request, make_response

logger = logging.getLogger(__name__)

MAGIC_COOKIE = "z9hG4bK"

# A timer counts as due this close to its deadline: event loops with
# millisecond timers (uvloop/libuv) may wake a hair early, and a timer that is
# not treated as due would be re-armed at the same instant in a busy loop.
_TIMER_SLACK = 0.001


@dataclass(slots=True, frozen=True)
class TimerConfig:
    """RFC 3261 §17.1.1.1 / Table 4 base values, in seconds."""

    t1: float = 0.5  # RTT estimate
    t2: float = 4.0  # cap on non-INVITE request and INVITE response retransmit intervals
    t4: float = 5.0  # longest time a message lingers in the network
    timer_d: float = 32.0  # client INVITE Completed wait, unreliable transports ("at least 32 s")

    def __post_init__(self) -> None:
        if not (self.t1 > 0 and self.t2 >= self.t1 and self.t4 > 0 and self.timer_d >= 0):
            raise ValueError(f"invalid timer values: {self}")

    @property
    def timeout(self) -> float:
        """64·T1: timers B, F, H, J, L, M."""
        return 64.0 * self.t1


DEFAULT_TIMERS = TimerConfig()


# -- actions ---------------------------------------------------------------------------------------

@dataclass(slots=True)
class Transmit:
    """Send ``data`` (``message`` encoded) to the transaction's peer. Treat as immutable."""

    message: Request | Response
    data: bytes


@dataclass(slots=True)
class Deliver:
    """Pass ``message`` to the transaction user."""

    message: Request | Response


@dataclass(slots=True, frozen=True)
class Timeout:
    """Timer ``timer`` expired without the expected message ("B", "F", "H" or "L")."""

    timer: str


@dataclass(slots=True, frozen=True)
class TransportError:
    """The transport failed to send for this transaction (RFC 3261 §17.1.4, §17.2.4)."""


@dataclass(slots=True, frozen=True)
class Terminated:
    """The transaction entered the Terminated state: remove it from the table."""


Action: TypeAlias = Transmit | Deliver | Timeout | TransportError | Terminated

TERMINATED = Terminated()
TRANSPORT_ERROR = TransportError()
TIMEOUT_B = Timeout("B")
TIMEOUT_F = Timeout("F")
TIMEOUT_H = Timeout("H")
TIMEOUT_L = Timeout("L")


class TransactionState(enum.Enum):
    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


_S = TransactionState


# -- branch ids and keys ---------------------------------------------------------------------------

_BRANCH_RANDOM_CHARS = 16  # 64 bits: unguessable, so off-path peers cannot forge responses
_branch_pool = ""
_branch_pos = 0


def _reset_branch_pool() -> None:
    global _branch_pool, _branch_pos
    _branch_pool, _branch_pos = "", 0


# A forked child must not hand out the parent's remaining pool.
os.register_at_fork(after_in_child=_reset_branch_pool)


def new_branch() -> str:
    """A fresh RFC 3261 branch: the magic cookie and 64 random bits in hex.

    Random bytes are drawn from the OS in blocks, so one call is a slice,
    not a system call.
    """
    global _branch_pool, _branch_pos
    pos = _branch_pos
    if pos >= len(_branch_pool):
        _branch_pool = os.urandom(2048).hex()
        pos = 0
    _branch_pos = pos + _BRANCH_RANDOM_CHARS
    return MAGIC_COOKIE + _branch_pool[pos : pos + _BRANCH_RANDOM_CHARS]


ServerKey: TypeAlias = tuple[object, ...]
ClientKey: TypeAlias = tuple[str, str]


def server_key(request: Request, method: str | None = None) -> ServerKey:
    """Key of the server transaction ``request`` belongs to (RFC 3261 §17.2.3).

    ``method`` overrides the request's method (the table passes INVITE for ACK
    and CANCEL). With an RFC 3261 branch: (method, branch, sent-by host, port).
    Otherwise (RFC 2543 peers): (method, Request-URI, From tag, Call-ID,
    CSeq number, top Via); the To tag is checked by the table after lookup,
    because for an ACK it must equal the tag of the response, not the request.
    The two shapes have different lengths, so they never compare equal.
    """
    via = request.top_via
    if method is None:
        method = request.method
    branch = via.branch
    if branch is not None and branch.startswith(MAGIC_COOKIE):
        return (method, branch, via.host.lower(), via.port)
    # Our transport layer may stamp received/rport on the top Via; they are
    # not part of what the peer sent.
    params = frozenset(item for item in via.params.items() if item[0] not in ("received", "rport"))
    via_id = (via.transport, via.host.lower(), via.port, params)
    return (method, request.uri, request.from_tag, request.call_id, request.cseq, via_id)


def client_key(branch: str, method: str) -> ClientKey:
    """Key of a client transaction: responses match by top Via branch and CSeq method (§17.1.3)."""
    return (branch, method)


def build_ack(request: Request, response: Response) -> Request:
    """The ACK a client INVITE transaction sends for a non-2xx final response (§17.1.1.3).

    Same Request-URI, Call-ID, From and CSeq number as the INVITE, method ACK;
    only the INVITE's top Via; the To of the response (it carries the tag);
    the INVITE's Route headers.
    """
    headers: list[tuple[str, str]] = [("Via", request.via_values[0])]
    for route in request.headers.lines("route"):
        headers.append(("Route", route))
    headers.append(("Max-Forwards", "70"))
    headers.append(("From", request.headers.get("from") or ""))
    headers.append(("To", response.headers.get("to") or ""))
    headers.append(("Call-ID", request.call_id))
    headers.append(("CSeq", f"{request.cseq} ACK"))
    return make_request("ACK", request.uri, headers)


# -- the machines ----------------------------------------------------------------------------------

class Transaction:
    """Timer bookkeeping shared by the four machines.

    At most two timers run at once: a retransmission timer (A, E, G, or the
    2xx one) and a state timer (B, D, F, H, I, J, K, L, M). ``_move`` is the
    only place ``state`` changes; it checks the class's transition table and
    lets ``_on_enter`` set the new state's timers.
    """

    __slots__ = (
        "_end_at",
        "_rtx_at",
        "_rtx_interval",
        "_started",
        "config",
        "deadline",
        "key",
        "reliable",
        "request",
        "state",
    )

    is_client: ClassVar[bool]
    _TRANSITIONS: ClassVar[dict[TransactionState, frozenset[TransactionState]]]

    def __init__(self, request: Request, state: TransactionState, config: TimerConfig,
                 reliable: bool) -> None:
        self.request = request
        self.config = config
        self.reliable = reliable
        self.state = state
        self.deadline: float | None = None
        self._rtx_at: float | None = None
        self._rtx_interval = config.t1
        self._end_at: float | None = None
        self._started = False

    @property
    def terminated(self) -> bool:
        return self.state is _S.TERMINATED

    def _begin(self) -> None:
        if self._started:
            raise RuntimeError("transaction already started")
        self._started = True

    def on_timer(self, now: float) -> list[Action]:
        """Fire whatever timer is due at ``now``; calling early or twice is harmless."""
        actions: list[Action] = []
        if self.state is _S.TERMINATED:
            return actions
        due = now + _TIMER_SLACK
        end_at = self._end_at
        if end_at is not None and end_at <= due:
            # The state timer wins a tie: retransmitting just before giving up is noise.
            self._end_at = None
            self._state_timer_fired(now, actions)
        else:
            rtx_at = self._rtx_at
            if rtx_at is not None and rtx_at <= due:
                self._retransmit_timer_fired(now, actions)
        self._update_deadline()
        return actions

    def transport_error(self, now: float) -> list[Action]:
        """The adapter could not send for this transaction: inform the TU and terminate."""
        if self.state is _S.TERMINATED:
            return []
        actions: list[Action] = [TRANSPORT_ERROR]
        self._move(_S.TERMINATED, now, actions)
        return actions

    # -- internals --------------------------------------------------------------------------------
    def _move(self, new: TransactionState, now: float, actions: list[Action]) -> None:
        if new not in self._TRANSITIONS[self.state]:
            raise RuntimeError(f"{type(self).__name__}: no transition {self.state.value} -> {new.value}")
        self.state = new
        if new is _S.TERMINATED:
            self._rtx_at = self._end_at = None
            actions.append(TERMINATED)
        else:
            self._on_enter(new, now, actions)
        self._update_deadline()

    def _wait(self, duration: float, now: float, actions: list[Action]) -> None:
        """Start the state timer; a zero timer (reliable transports) ends the transaction now."""
        if duration > 0:
            self._end_at = now + duration
        else:
            self._move(_S.TERMINATED, now, actions)

    def _start_retransmit(self, now: float) -> None:
        if not self.reliable:
            self._rtx_interval = self.config.t1
            self._rtx_at = now + self.config.t1

    def _update_deadline(self) -> None:
        r, e = self._rtx_at, self._end_at
        self.deadline = e if r is None else (r if e is None or r < e else e)

    def _on_enter(self, state: TransactionState, now: float, actions: list[Action]) -> None:
        raise NotImplementedError

    def _state_timer_fired(self, now: float, actions: list[Action]) -> None:
        raise NotImplementedError

    def _retransmit_timer_fired(self, now: float, actions: list[Action]) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.request.method} {self.state.value} "
                f"call-id={self.request.call_id} cseq={self.request.cseq}>")


class ClientTransaction(Transaction):
    __slots__ = ("_out",)
    is_client = True

    def __init__(self, request: Request, state: TransactionState, config: TimerConfig,
                 reliable: bool) -> None:
        super().__init__(request, state, config, reliable)
        branch = request.top_via.branch
        if branch is None or not branch.startswith(MAGIC_COOKIE):
            raise ValueError("client transactions need an RFC 3261 branch (use new_branch())")
        self.key: ClientKey = client_key(branch, request.method)
        self._out = Transmit(request, request.to_bytes())

    def start(self) -> list[Action]:
        """The request's first transmission."""
        self._begin()
        return [self._out]


class ClientInviteTransaction(ClientTransaction):
    """RFC 3261 Figure 5 with RFC 6026's Accepted state (timer M)."""

    __slots__ = ("_ack",)
    _TRANSITIONS: ClassVar[dict[TransactionState, frozenset[TransactionState]]] = {
        _S.CALLING: frozenset({_S.PROCEEDING, _S.COMPLETED, _S.ACCEPTED, _S.TERMINATED}),
        _S.PROCEEDING: frozenset({_S.COMPLETED, _S.ACCEPTED, _S.TERMINATED}),
        _S.COMPLETED: frozenset({_S.TERMINATED}),
        _S.ACCEPTED: frozenset({_S.TERMINATED}),
        _S.TERMINATED: frozenset(),
    }

    def __init__(self, request: Request, now: float, config: TimerConfig = DEFAULT_TIMERS, *,
                 reliable: bool = False) -> None:
        super().__init__(request, _S.CALLING, config, reliable)
        self._ack: Transmit | None = None
        self._start_retransmit(now)  # timer A
        self._end_at = now + config.timeout  # timer B
        self._update_deadline()

    @property
    def ack(self) -> Request | None:
        """The ACK sent for a non-2xx final response, once there is one."""
        return None if self._ack is None else self._ack.message  # type: ignore[return-value]

    def receive_response(self, response: Response, now: float) -> list[Action]:
        actions: list[Action] = []
        state = self.state
        status = response.status
        if state is _S.CALLING or state is _S.PROCEEDING:
            actions.append(Deliver(response))
            if status < 200:
                if state is _S.CALLING:
                    self._move(_S.PROCEEDING, now, actions)
            elif status < 300:
                self._move(_S.ACCEPTED, now, actions)
            else:
                ack = build_ack(self.request, response)
                self._ack = Transmit(ack, ack.to_bytes())
                actions.append(self._ack)
                self._move(_S.COMPLETED, now, actions)
        elif state is _S.COMPLETED:
            if status >= 300 and self._ack is not None:
                actions.append(self._ack)  # the final response was retransmitted: our ACK was lost
        elif state is _S.ACCEPTED and 200 <= status < 300:
            actions.append(Deliver(response))  # retransmitted or forked 2xx: the TU ACKs each
        return actions

    def _on_enter(self, state: TransactionState, now: float, actions: list[Action]) -> None:
        if state is _S.PROCEEDING:
            # A provisional response stops retransmissions; per Figure 5 timer B
            # guards only Calling, so the TU bounds Proceeding (CANCEL / timer C).
            self._rtx_at = self._end_at = None
        elif state is _S.ACCEPTED:
            self._rtx_at = None
            self._end_at = now + self.config.timeout  # timer M
        elif state is _S.COMPLETED:
            self._rtx_at = self._end_at = None
            self._wait(0.0 if self.reliable else self.config.timer_d, now, actions)  # timer D

    def _state_timer_fired(self, now: float, actions: list[Action]) -> None:
        if self.state is _S.CALLING:
            logger.debug("INVITE timer B fired: %r", self)
            actions.append(TIMEOUT_B)
        self._move(_S.TERMINATED, now, actions)  # B in Calling, D in Completed, M in Accepted

    def _retransmit_timer_fired(self, now: float, actions: list[Action]) -> None:
        # Timer A: T1, 2·T1, 4·T1 ... without a cap; only B ends it.
        actions.append(self._out)
        self._rtx_interval *= 2
        self._rtx_at = now + self._rtx_interval


# RFC 3261 Figures 6 and 8: client and server non-INVITE machines share one shape.
_NON_INVITE_TRANSITIONS: dict[TransactionState, frozenset[TransactionState]] = {
    _S.TRYING: frozenset({_S.PROCEEDING, _S.COMPLETED, _S.TERMINATED}),
    _S.PROCEEDING: frozenset({_S.COMPLETED, _S.TERMINATED}),
    _S.COMPLETED: frozenset({_S.TERMINATED}),
    _S.TERMINATED: frozenset(),
}


class ClientNonInviteTransaction(ClientTransaction):
    """RFC 3261 Figure 6."""

    __slots__ = ()
    _TRANSITIONS = _NON_INVITE_TRANSITIONS

    def __init__(self, request: Request, now: float, config: TimerConfig = DEFAULT_TIMERS, *,
                 reliable: bool = False) -> None:
        if request.method in ("INVITE", "ACK"):
            raise ValueError(f"{request.method} cannot run a non-INVITE client transaction")
        super().__init__(request, _S.TRYING, config, reliable)
        self._start_retransmit(now)  # timer E
        self._end_at = now + config.timeout  # timer F
        self._update_deadline()

    def receive_response(self, response: Response, now: float) -> list[Action]:
        actions: list[Action] = []
        state = self.state
        if state is _S.TRYING or state is _S.PROCEEDING:
            actions.append(Deliver(response))
            if response.status >= 200:
                self._move(_S.COMPLETED, now, actions)
            elif state is _S.TRYING:
                self._move(_S.PROCEEDING, now, actions)
        # Completed absorbs retransmitted responses; Terminated ignores everything.
        return actions

    def _on_enter(self, state: TransactionState, now: float, actions: list[Action]) -> None:
        if state is _S.COMPLETED:
            self._rtx_at = self._end_at = None
            self._wait(0.0 if self.reliable else self.config.t4, now, actions)  # timer K
        # Proceeding keeps timers E and F running; E's next interval becomes T2.

    def _state_timer_fired(self, now: float, actions: list[Action]) -> None:
        if self.state is not _S.COMPLETED:
            logger.debug("%s timer F fired: %r", self.request.method, self)
            actions.append(TIMEOUT_F)
        self._move(_S.TERMINATED, now, actions)  # F in Trying/Proceeding, K in Completed

    def _retransmit_timer_fired(self, now: float, actions: list[Action]) -> None:
        actions.append(self._out)
        t2 = self.config.t2
        if self.state is _S.PROCEEDING:
            self._rtx_interval = t2
        else:
            doubled = self._rtx_interval * 2
            self._rtx_interval = min(t2, doubled)
        self._rtx_at = now + self._rtx_interval


class ServerTransaction(Transaction):
    __slots__ = ("_final", "_provisional", "response_to_tag")
    is_client = False

    def __init__(self, request: Request, state: TransactionState, config: TimerConfig,
                 reliable: bool) -> None:
        super().__init__(request, state, config, reliable)
        self.key: ServerKey = server_key(request)
        self._provisional: Transmit | None = None
        self._final: Transmit | None = None
        # The To tag of the final response, for matching an RFC 2543 ACK.
        self.response_to_tag: str | None = None

    @property
    def last_response(self) -> Response | None:
        out = self._final or self._provisional
        return None if out is None else out.message  # type: ignore[return-value]

    def _record_final(self, response: Response) -> Transmit:
        out = Transmit(response, response.to_bytes())
        self._final = out
        self.response_to_tag = response.to_tag
        return out


class ServerInviteTransaction(ServerTransaction):
    """RFC 3261 Figure 7 with RFC 6026's Accepted state (timer L), plus 2xx retransmission.

    ``send_trying``: answer 100 Trying at once (§17.2.1: quench retransmissions);
    pass False when the TU answers within 200 ms anyway.
    """

    __slots__ = ("_acked",)
    _TRANSITIONS: ClassVar[dict[TransactionState, frozenset[TransactionState]]] = {
        _S.PROCEEDING: frozenset({_S.COMPLETED, _S.ACCEPTED, _S.TERMINATED}),
        _S.COMPLETED: frozenset({_S.CONFIRMED, _S.TERMINATED}),
        _S.CONFIRMED: frozenset({_S.TERMINATED}),
        _S.ACCEPTED: frozenset({_S.TERMINATED}),
        _S.TERMINATED: frozenset(),
    }

    def __init__(self, request: Request, now: float, config: TimerConfig = DEFAULT_TIMERS, *,
                 reliable: bool = False, send_trying: bool = True) -> None:
        if request.method != "INVITE":
            raise ValueError(f"{request.method} cannot run an INVITE server transaction")
        super().__init__(request, _S.PROCEEDING, config, reliable)
        self._acked = False
        if send_trying:
            trying = make_response(request, 100)
            self._provisional = Transmit(trying, trying.to_bytes())

    @property
    def acked(self) -> bool:
        """Whether the ACK for our 2xx has been reported (Accepted state)."""
        return self._acked

    def start(self) -> list[Action]:
        """100 Trying (unless disabled), then the INVITE for the TU."""
        self._begin()
        if self._provisional is not None:
            return [self._provisional, Deliver(self.request)]
        return [Deliver(self.request)]

    def receive_request(self, request: Request, now: float) -> list[Action]:
        """A retransmitted INVITE, or an ACK, matched to this transaction by the table."""
        state = self.state
        if request.method == "ACK":
            if state is _S.COMPLETED:
                actions: list[Action] = []
                self._move(_S.CONFIRMED, now, actions)  # the non-2xx ACK is ours, not the TU's
                return actions
            if state is _S.ACCEPTED:
                # Only an RFC 2543 peer's 2xx ACK can match here; it is the TU's (RFC 6026 §8.9).
                self._stop_2xx_retransmit()
                return [Deliver(request)]
            return []  # Proceeding: no final response yet; Confirmed: a retransmitted ACK
        if state is _S.PROCEEDING:
            return [self._provisional] if self._provisional is not None else []
        if state is _S.COMPLETED:
            return [self._final] if self._final is not None else []
        if state is _S.ACCEPTED and not self._acked and not self.reliable and self._final is not None:
            return [self._final]  # the 2xx may have been lost: answer the retransmission with it
        return []

    def send_response(self, response: Response, now: float) -> list[Action]:
        """A response from the TU; discarded (empty list) if this state cannot send it."""
        state = self.state
        status = response.status
        actions: list[Action] = []
        if state is _S.PROCEEDING:
            if status < 200:
                out = Transmit(response, response.to_bytes())
                self._provisional = out
                actions.append(out)
            else:
                actions.append(self._record_final(response))
                self._move(_S.ACCEPTED if status < 300 else _S.COMPLETED, now, actions)
        elif state is _S.ACCEPTED and 200 <= status < 300:
            # The TU re-sent (or changed) its 2xx: send it and retransmit that one from now on.
            actions.append(self._record_final(response))
        else:
            logger.debug("discarding %d from TU in %s: %r", status, state.value, self)
        return actions

    def ack_received(self, now: float) -> list[Action]:
        """The UA core matched the 2xx's ACK by dialog: stop retransmitting the 2xx."""
        if self.state is _S.ACCEPTED:
            self._stop_2xx_retransmit()
        return []

    def _stop_2xx_retransmit(self) -> None:
        self._acked = True
        self._rtx_at = None
        self._update_deadline()

    def _on_enter(self, state: TransactionState, now: float, actions: list[Action]) -> None:
        timeout = self.config.timeout
        if state is _S.COMPLETED:
            self._start_retransmit(now)  # timer G
            self._end_at = now + timeout  # timer H
        elif state is _S.ACCEPTED:
            self._start_retransmit(now)  # 2xx retransmission (§13.3.1.4)
            self._end_at = now + timeout  # timer L, also the 2xx's ACK deadline
        elif state is _S.CONFIRMED:
            self._rtx_at = self._end_at = None
            self._wait(0.0 if self.reliable else self.config.t4, now, actions)  # timer I

    def _state_timer_fired(self, now: float, actions: list[Action]) -> None:
        state = self.state
        if state is _S.COMPLETED:
            logger.debug("INVITE timer H fired (no ACK for non-2xx): %r", self)
            actions.append(TIMEOUT_H)
        elif state is _S.ACCEPTED and not self._acked:
            logger.debug("no ACK for 2xx by timer L: %r", self)
            actions.append(TIMEOUT_L)
        self._move(_S.TERMINATED, now, actions)  # H, I or L

    def _retransmit_timer_fired(self, now: float, actions: list[Action]) -> None:
        # Timer G in Completed, the 2xx timer in Accepted: both T1 doubling up to T2.
        if self._final is not None:
            actions.append(self._final)
        doubled = self._rtx_interval * 2
        t2 = self.config.t2
        self._rtx_interval = min(t2, doubled)
        self._rtx_at = now + self._rtx_interval


class ServerNonInviteTransaction(ServerTransaction):
    """RFC 3261 Figure 8."""

    __slots__ = ()
    _TRANSITIONS = _NON_INVITE_TRANSITIONS

    def __init__(self, request: Request, now: float, config: TimerConfig = DEFAULT_TIMERS, *,
                 reliable: bool = False) -> None:
        if request.method in ("INVITE", "ACK"):
            raise ValueError(f"{request.method} cannot run a non-INVITE server transaction")
        super().__init__(request, _S.TRYING, config, reliable)

    def start(self) -> list[Action]:
        """The request for the TU."""
        self._begin()
        return [Deliver(self.request)]

    def receive_request(self, request: Request, now: float) -> list[Action]:
        """A retransmission of the request: answer with the last response, if any."""
        state = self.state
        if state is _S.PROCEEDING and self._provisional is not None:
            return [self._provisional]
        if state is _S.COMPLETED and self._final is not None:
            return [self._final]
        return []  # Trying: the TU has not answered yet

    def send_response(self, response: Response, now: float) -> list[Action]:
        """A response from the TU; discarded (empty list) once a final one was sent."""
        state = self.state
        actions: list[Action] = []
        if state is _S.TRYING or state is _S.PROCEEDING:
            if response.status < 200:
                out = Transmit(response, response.to_bytes())
                self._provisional = out
                actions.append(out)
                if state is _S.TRYING:
                    self._move(_S.PROCEEDING, now, actions)
            else:
                actions.append(self._record_final(response))
                self._move(_S.COMPLETED, now, actions)
        else:
            logger.debug("discarding %d from TU in %s: %r", response.status, state.value, self)
        return actions

    def _on_enter(self, state: TransactionState, now: float, actions: list[Action]) -> None:
        if state is _S.COMPLETED:
            self._wait(0.0 if self.reliable else self.config.timeout, now, actions)  # timer J

    def _state_timer_fired(self, now: float, actions: list[Action]) -> None:
        self._move(_S.TERMINATED, now, actions)  # timer J

    def _retransmit_timer_fired(self, now: float, actions: list[Action]) -> None:
        self._rtx_at = None  # never armed: the client retransmits, we only answer


AnyClientTransaction: TypeAlias = ClientInviteTransaction | ClientNonInviteTransaction
AnyServerTransaction: TypeAlias = ServerInviteTransaction | ServerNonInviteTransaction
AnyTransaction: TypeAlias = AnyClientTransaction | AnyServerTransaction


# -- the table -------------------------------------------------------------------------------------

class TransactionTable:
    """Live transactions, and the matching of incoming messages to them (§17.1.3, §17.2.3, §9.2).

    The adapter adds each transaction it creates, and removes it when an
    action list carries ``Terminated``.
    """

    __slots__ = ("_clients", "_servers")

    def __init__(self) -> None:
        self._clients: dict[ClientKey, AnyClientTransaction] = {}
        self._servers: dict[ServerKey, AnyServerTransaction] = {}

    def add(self, tx: AnyTransaction) -> None:
        """Register ``tx``; a live transaction with the same key is a caller bug (ValueError)."""
        existing: AnyTransaction | None
        if isinstance(tx, ClientTransaction):
            existing = self._clients.get(tx.key)
            self._check_free(existing, tx)
            self._clients[tx.key] = tx
        else:
            existing = self._servers.get(tx.key)
            self._check_free(existing, tx)
            self._servers[tx.key] = tx

    @staticmethod
    def _check_free(existing: AnyTransaction | None, tx: AnyTransaction) -> None:
        if existing is not None and existing is not tx and not existing.terminated:
            raise ValueError(f"a live transaction already has this key: {existing!r}")

    def remove(self, tx: AnyTransaction) -> None:
        """Forget ``tx`` (no-op if it is not, or no longer, the one under its key)."""
        if isinstance(tx, ClientTransaction):
            if self._clients.get(tx.key) is tx:
                del self._clients[tx.key]
        elif self._servers.get(tx.key) is tx:
            del self._servers[tx.key]

    def match_response(self, response: Response) -> AnyClientTransaction | None:
        """The client transaction a response belongs to: top Via branch and CSeq method."""
        branch = response.top_via.branch
        if branch is None:
            return None
        return self._clients.get((branch, response.cseq_method))

    def match_request(self, request: Request) -> AnyServerTransaction | None:
        """The server transaction a retransmitted request, or the ACK of a non-2xx, belongs to.

        An ACK matches the INVITE's transaction; a new request (and the ACK
        for a 2xx, which has its own branch) matches nothing.
        """
        method = request.method
        if method == "ACK":
            return self._lookup(request, "INVITE", ack=True)
        return self._lookup(request, method, ack=False)

    def match_cancel(self, cancel: Request) -> ServerInviteTransaction | None:
        """The INVITE server transaction a CANCEL refers to (§9.2): its key with method INVITE."""
        tx = self._lookup(cancel, "INVITE", ack=False)
        return tx if isinstance(tx, ServerInviteTransaction) else None

    def _lookup(self, request: Request, method: str, *, ack: bool) -> AnyServerTransaction | None:
        key = server_key(request, method)
        tx = self._servers.get(key)
        if tx is None or len(key) == 4:
            return tx
        # RFC 2543 matching also compares the To tag: the request's for a
        # retransmission or CANCEL, the one our response added for an ACK.
        expected = tx.response_to_tag if ack else tx.request.to_tag
        return tx if request.to_tag == expected else None

    def client_transactions(self) -> list[AnyClientTransaction]:
        return list(self._clients.values())

    def server_transactions(self) -> list[AnyServerTransaction]:
        return list(self._servers.values())

    def __len__(self) -> int:
        return len(self._clients) + len(self._servers)

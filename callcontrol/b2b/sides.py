"""The sides of a B2BUA call: the server's dialog with one phone each.

A :class:`UasSide` is an INVITE a phone sent us; a :class:`UacSide` one the server
sent (a leg B fork of a dialled call, or a call the server places for originate and
transfers). A side knows its dialog, where to send, its leg in the call model and
which call it belongs to now (an attended transfer hands a side to another call);
what it receives in its dialog goes to that call (``callcontrol.b2b.call``).
"""
from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from typing import TYPE_CHECKING

from callcontrol.b2b.anchor import A
from callcontrol.b2b.routing import Target
from callcontrol.model.calls import Call, Leg
from sip.dialog import Dialog, DialogState
from sip.message import Request, Response, allow_events
from sip.peer import Peer
from sip.session_timer import SessionTimer
from sip.transaction import ClientInviteTransaction
from sip.ua import IncomingRequest, UserAgent

if TYPE_CHECKING:
    from callcontrol.b2b.call import B2bCall
    from callcontrol.b2b.leg_media import LegMedia

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY, UPDATE, REFER"


def local_contact(ua: UserAgent, transport: str, user: str) -> str:
    host, port = ua.local_address(transport)
    suffix = ";transport=tcp" if transport == "TCP" else ""
    return f"<sip:{user}@{host}:{port}{suffix}>"


class Purpose(enum.Enum):
    FORK = "fork"  # leg B of a dialled call: relayed to leg A
    PLACED = "placed"  # a call the server places itself (originate, transfer target)


class Side:
    """The server's dialog with one phone: where to send, the leg, a pending deferred ACK."""

    __slots__ = ("allow_events", "answered_invite", "call", "caller_side", "contact", "dialog", "index",
                 "leg", "media_control", "model", "peer", "pending_ack", "reinvite_busy", "reinvite_queue",
                 "session_timer", "st_handle", "st_pending", "tag")

    def __init__(self, call: B2bCall, index: int, leg: Leg, model: Call, peer: Peer, contact: str,
                 tag: str, *, caller_side: bool) -> None:
        self.call = call  # the B2bCall that owns this side now (an attended transfer moves it)
        self.model = model  # the call model that owns the leg (never changes)
        self.index = index  # media position in ``call.media``
        self.leg = leg
        leg.side = self
        self.dialog: Dialog | None = None
        self.peer = peer  # sticky: in-dialog requests go where the dialog started (NAT-friendly)
        self.contact = contact
        self.tag = tag
        self.caller_side = caller_side  # its BYE reads "caller hung up"
        self.allow_events: frozenset[str] = frozenset()
        self.answered_invite: IncomingRequest | None = None  # a re-INVITE we 2xx'd, awaiting its ACK
        # A 2xx of ours to ACK once the other side's ACK brings the SDP answer (offerless INVITE):
        # (dialog, INVITE CSeq, the INVITE's client transaction).
        self.pending_ack: tuple[Dialog, int, ClientInviteTransaction | None] | None = None
        self.reinvite_busy = False  # a re-INVITE of ours is in progress on this dialog
        self.reinvite_queue: list[tuple[bytes, Callable[[bool], None] | None,
                                        Callable[[Response | None], None] | None]] = []
        self.media_control: LegMedia | None = None  # made on first use (B2bua.leg_media)
        self.session_timer: SessionTimer | None = None  # RFC 4028 on this dialog
        self.st_handle: asyncio.TimerHandle | None = None
        self.st_pending = False  # a refresh of ours is in flight

    @property
    def ended(self) -> bool:
        return self.leg.terminated

    @property
    def confirmed(self) -> bool:
        return self.dialog is not None and self.dialog.state is DialogState.CONFIRMED

    # DialogUser
    def on_request(self, incoming: IncomingRequest) -> None:
        self.call.in_dialog_request(self, incoming)

    def on_ack(self, request: Request, peer: Peer) -> None:
        self.call.ack_received(self, request)


class UasSide(Side):
    __slots__ = ("incoming",)

    def __init__(self, call: B2bCall, leg: Leg, incoming: IncomingRequest, contact: str, tag: str) -> None:
        super().__init__(call, A, leg, call.call, incoming.peer, contact, tag, caller_side=True)
        self.incoming = incoming
        self.allow_events = allow_events(incoming.request)


OnAnswer = Callable[["UacSide"], None]
OnFail = Callable[["UacSide", int, str], None]


class UacSide(Side):
    """An INVITE the server sends: one fork of leg B, or a call the server places."""

    __slots__ = ("answered", "failure", "final", "group", "invite", "offer_sent", "on_answer", "on_fail",
                 "purpose", "restart", "ring_timer", "st_422", "st_offer", "tx")

    def __init__(self, call: B2bCall, index: int, leg: Leg, model: Call, invite: Request, target: Target,
                 contact: str, tag: str, *, purpose: Purpose, caller_side: bool = False) -> None:
        super().__init__(call, index, leg, model, target.peer, contact, tag, caller_side=caller_side)
        self.invite = invite
        self.tx: ClientInviteTransaction | None = None
        self.final = False
        self.answered = False
        self.offer_sent = bool(invite.body)
        self.purpose = purpose
        self.on_answer: OnAnswer | None = None
        self.on_fail: OnFail | None = None
        # answer_call "Invite" mode: the headers of the INVITE that replaces the cancelled one.
        self.restart: tuple[tuple[str, str], ...] | None = None
        # A call the server places rings every contact of the target at once: the first to
        # answer wins, the others are cancelled; it fails when all of them failed.
        self.group: list[UacSide] = [self]
        self.failure: tuple[int, str] | None = None  # the final error this INVITE got
        self.ring_timer: asyncio.TimerHandle | None = None  # CANCEL after ring_timeout (placed calls)
        self.st_offer: tuple[int, int] | None = None  # (Session-Expires, Min-SE) our INVITE offered
        self.st_422 = 0  # retries after 422 Session Interval Too Small

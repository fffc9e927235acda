"""The sides of a B2BUA call: the server's dialog with one phone each.

A :class:`UasSide` is an INVITE a phone sent us; a :class:`UacSide` one the server
sent (a leg B fork of a dialled call, or a call the server places for originate and
transfers). A side knows its dialog, where to send, its leg in the call model, its
state in the side machine (``callcontrol.b2b.side_machine``) and which call owns it
now (an attended transfer hands a side to another call). What a phone sends in the
dialog reaches the call through ``callcontrol.b2b.relay``, registered with the UA.
"""
from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from callcontrol.b2b.anchor import A
from callcontrol.b2b.routing import Target
from callcontrol.b2b.side_machine import (
    INVITE_PENDING,
    UAC_TRANSITIONS,
    UAS_TRANSITIONS,
    HoldRole,
    SideEvent,
    SideState,
    Step,
    step,
)
from callcontrol.model.calls import Call, Leg
from sip.dialog import Dialog, DialogState
from sip.message import Request, Response, allow_events
from sip.peer import Peer
from sip.session_timer import SessionTimer
from sip.transaction import ClientInviteTransaction
from sip.ua import IncomingRequest, UserAgent

if TYPE_CHECKING:
    from callcontrol.b2b.leg_media import LegMedia

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY, UPDATE, REFER"


def local_contact(ua: UserAgent, transport: str, user: str) -> str:
    host, port = ua.local_address(transport)
    # The transport parameter makes the phone's in-dialog requests (BYE, re-INVITE) come back
    # over the transport the dialog uses: our TCP or TLS listener, not UDP (RFC 3263 §4.1).
    suffix = _CONTACT_TRANSPORT.get(transport, "")
    return f"<sip:{user}@{host}:{port}{suffix}>"


_CONTACT_TRANSPORT = {"TCP": ";transport=tcp", "TLS": ";transport=tls"}


class Purpose(enum.Enum):
    FORK = "fork"  # leg B of a dialled call: relayed to leg A
    PLACED = "placed"  # a call the server places itself (originate, transfer target)


ReinviteDone = Callable[[int, str, Response | None], None]  # (final status, phrase, response or None)


class OwnReinvites:
    """The server's re-INVITEs on one dialog: the one in flight and those waiting for it."""

    __slots__ = ("in_flight", "waiting")

    def __init__(self) -> None:
        self.in_flight: Request | None = None
        self.waiting: list[tuple[bytes, ReinviteDone]] = []

    def clear(self) -> list[tuple[bytes, ReinviteDone]]:
        waiting, self.waiting = self.waiting, []
        return waiting


class Side:
    """The server's dialog with one phone: its state, where to send, the leg."""

    TABLE: ClassVar[dict[tuple[SideState, SideEvent], Step]]

    __slots__ = ("allow_events", "answered_invite", "call", "caller_side", "contact", "deferred_ack", "dialog",
                 "hold", "index", "leg", "media_control", "model", "peer", "reinvites", "session_timer",
                 "st_pending", "state", "tag", "__weakref__")

    def __init__(self, call: Any, index: int, leg: Leg, model: Call, peer: Peer, contact: str,
                 tag: str, *, caller_side: bool, state: SideState) -> None:
        # The B2bCall that owns this side now (an attended transfer moves it); untyped here so
        # that sides stay below the call module. None once the call is finished.
        self.call = call
        self.model = model  # the call model that owns the leg (never changes)
        self.index = index  # media position in ``call.media``
        self.leg = leg
        leg.side = self
        self.state = state
        self.hold = HoldRole.NONE
        self.dialog: Dialog | None = None
        self.peer = peer  # sticky: in-dialog requests go where the dialog started (NAT-friendly)
        self.contact = contact
        self.tag = tag
        self.caller_side = caller_side  # its BYE reads "caller hung up"
        self.allow_events: frozenset[str] = frozenset()
        self.answered_invite: IncomingRequest | None = None  # a re-INVITE we 2xx'd, awaiting its ACK
        # A 2xx of ours to ACK once the other side's ACK brings the SDP answer (offerless INVITE
        # or re-INVITE): (dialog, INVITE CSeq, the INVITE's client transaction).
        self.deferred_ack: tuple[Dialog, int, ClientInviteTransaction | None] | None = None
        self.reinvites: OwnReinvites = OwnReinvites()
        self.media_control: LegMedia | None = None  # made on first use (B2bua.leg_media)
        self.session_timer: SessionTimer | None = None  # RFC 4028 on this dialog
        self.st_pending = False  # a session refresh of ours is in flight

    def fire(self, event: SideEvent) -> Step:
        """One step of the side machine: the new state is taken, the actions returned."""
        result = step(self.TABLE, self.state, event)
        self.state = result.state
        return result

    @property
    def ended(self) -> bool:
        return self.leg.terminated

    @property
    def confirmed(self) -> bool:
        return self.dialog is not None and self.dialog.state is DialogState.CONFIRMED

    def release(self) -> None:
        """The call is finished: drop every reference that could hold it (or this side) in a cycle."""
        self.call = None
        self.leg.side = None
        self.answered_invite = None
        self.deferred_ack = None
        self.reinvites.clear()
        self.media_control = None


class UasSide(Side):
    __slots__ = ("incoming",)

    TABLE = UAS_TRANSITIONS

    def __init__(self, call: Any, leg: Leg, model: Call, incoming: IncomingRequest, contact: str,
                 tag: str) -> None:
        super().__init__(call, A, leg, model, incoming.peer, contact, tag, caller_side=True,
                         state=SideState.INCOMING)
        self.incoming = incoming
        self.allow_events = allow_events(incoming.request)

    def release(self) -> None:
        super().release()
        self.incoming.on_cancel = None


OnAnswer = Callable[["UacSide"], None]
OnFail = Callable[["UacSide", int, str], None]


class UacSide(Side):
    """An INVITE the server sends: one fork of leg B, or a call the server places."""

    TABLE = UAC_TRANSITIONS

    __slots__ = ("failure", "group", "hops", "invite", "locate", "locating", "offer_sent", "on_answer",
                 "on_fail", "purpose", "restart_headers", "st_422", "st_offer", "tx")

    def __init__(self, call: Any, index: int, leg: Leg, model: Call, invite: Request, target: Target,
                 contact: str, tag: str, *, purpose: Purpose, caller_side: bool = False) -> None:
        super().__init__(call, index, leg, model, target.peer, contact, tag, caller_side=caller_side,
                         state=SideState.CALLING)
        self.invite = invite
        self.tx: ClientInviteTransaction | None = None
        self.offer_sent = bool(invite.body)
        self.purpose = purpose
        self.on_answer: OnAnswer | None = None
        self.on_fail: OnFail | None = None
        # answer_call "Invite" mode (state RESTARTING): the headers of the INVITE that replaces the
        # cancelled one.
        self.restart_headers: tuple[tuple[str, str], ...] = ()
        # A call the server places rings every contact of the target at once: the first to
        # answer wins, the others are cancelled; it fails when all of them failed.
        self.group: list[UacSide] = [self]
        self.failure: tuple[int, str] | None = None  # the final error this INVITE got
        self.st_offer: tuple[int, int] | None = None  # (Session-Expires, Min-SE) our INVITE offered
        self.st_422 = 0  # retries after 422 Session Interval Too Small
        # RFC 3263: a host by name is looked up before the first send (``locate``, then
        # ``locating`` while the lookup runs); ``hops`` are the next ones to fail over to (§4.3).
        self.locate = target.locate
        self.locating = False
        self.hops: list[Peer] = []

    @property
    def invite_pending(self) -> bool:
        """Our INVITE still waits for its final response."""
        return self.state in INVITE_PENDING

    def release(self) -> None:
        super().release()
        self.tx = None
        self.on_answer = self.on_fail = None
        self.group = []

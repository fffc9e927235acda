"""join_calls (attended transfer): the transferor's two legs are BYE'd; the remote parties are
re-INVITEd with each other's media and bridged (the second call hands its side to the first)."""
from __future__ import annotations

from callcontrol.actions.checks import media_of, partner, phone_party, talking
from callcontrol.actions.errors import InvalidArgument
from callcontrol.actions.hold import clear_hold
from callcontrol.b2b.call import REASON_ATTENDED_TRANSFER
from callcontrol.b2b.call_machine import CallEvent
from callcontrol.b2b.reinvite import reinvite
from callcontrol.b2b.side_machine import HoldRole
from callcontrol.b2b.sides import Side


def join(first: Side, second: Side) -> None:
    talking(first, "call")
    talking(second, "to_call")
    if first is second or first.call is second.call:
        raise InvalidArgument("to_call", "must be a leg of another call")
    if phone_party(first.leg).id != phone_party(second.leg).id:
        raise InvalidArgument("to_call", "not a leg of the same transferor as params.call")
    p1 = partner(first, "call")
    p2 = partner(second, "to_call")
    call1, call2 = first.call, second.call
    media1 = media_of(call1)
    media_of(call2)
    call1.fire(CallEvent.JOIN)  # ends a server hold of call1
    clear_hold(call2)
    index = first.index
    call1.drop(first, REASON_ATTENDED_TRANSFER)
    call2.drop(second, REASON_ATTENDED_TRANSFER)
    call2.hand_over(p2, call1, index)  # p2 (endpoint and SDP state) sits where the transferor was
    for side, other in ((p1, p2), (p2, p1)):
        reinvite(call1, side, media1.relay_offer(other.index, side.index),
                 lambda status, phrase, side=side, other=other: connected(side, other))


def connected(side: Side, peer: Side | None = None) -> None:
    """A re-INVITE that put ``side``'s media back to its partner was answered: no hold any more;
    when that partner is new (``peer``: a join, a transfer), ``side``'s leg names it from now on
    (the party left behind is told whom it talks to)."""
    bcall = side.call
    if bcall is None:
        return
    if peer is None:
        bcall.set_hold(side, HoldRole.NONE)
    else:
        bcall.meet(side, phone_party(peer.leg))

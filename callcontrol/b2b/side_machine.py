"""The side machine: where one of the server's dialogs with a phone stands, as one table.

Sans-I/O, in the style of ``sip/transaction.py``: :func:`step` takes the side's state
and an event and returns the new state and the actions to carry out; nothing here
sends, reads a clock or touches a leg. ``callcontrol.b2b.call`` feeds it what happens
on the wire and carries the actions out. :data:`SIDE_TRANSITIONS` is the only place a
side's state changes; a (state, event) pair it does not list is a bug and raises
:class:`SideStateError`.

A side is either an INVITE a phone sent us (UAS: it starts ``INCOMING``, its table is
:data:`UAS_TRANSITIONS`) or one the server sent (UAC: it starts ``CALLING``,
:data:`UAC_TRANSITIONS`). What the flags ``final``, ``answered``, ``restart`` and
``pending_ack`` used to say together is the state:

======================  ===============================================================
state                   meaning
======================  ===============================================================
``INCOMING``            the phone's INVITE is in, not answered yet (UAS)
``CALLING``             our INVITE is out, nothing but 100 back (UAC)
``RINGING``             a 1xx without SDP was sent / received
``EARLY``               a 1xx with SDP (early media)
``RESTARTING``          our INVITE is being CANCELled to be sent again changed (answer_call
                        "Invite"): its 487 sends the new one, the leg stays as it is
``CANCELLING``          our INVITE is CANCELled and the leg is over; its final response is
                        still due (a 2xx crossing the CANCEL is ACKed and BYEd)
``ANSWERED``            2xx exchanged, its ACK not yet: UAS, the phone's ACK is awaited;
                        UAC, our ACK waits for the other side's ACK to bring the SDP answer
``CONFIRMED``           the dialog is up and ACKed
``ENDED``               the dialog is over (BYE either way, a final error, a timeout)
======================  ===============================================================

The leg state a side publishes is derived from its state in one function,
:func:`leg_state`, together with its :class:`HoldRole` (who put whom on hold in the
media); ``Leg.move`` is the only way it reaches the wire.
"""
from __future__ import annotations

import enum
from typing import NamedTuple

from callcontrol.model.callinfo import CallState


class SideState(enum.Enum):
    INCOMING = "incoming"
    CALLING = "calling"
    RINGING = "ringing"
    EARLY = "early"
    RESTARTING = "restarting"
    CANCELLING = "cancelling"
    ANSWERED = "answered"
    CONFIRMED = "confirmed"
    ENDED = "ended"


class SideEvent(enum.Enum):
    """What happened. On a UAC side the 1xx/2xx/errors came from the phone; on a UAS side the
    server sent them (``DROP`` and ``BYE_OUT`` are the server's own decisions either way)."""

    RINGING = "1xx"  # a 1xx without SDP
    EARLY_MEDIA = "1xx+SDP"  # a 1xx with SDP
    ANSWER = "2xx"  # UAC: a 2xx our ACK answers now; UAS: our 2xx went out
    ANSWER_LATE_ACK = "2xx, ACK later"  # UAC: a 2xx to an offerless INVITE (our ACK carries the answer)
    ACK = "ACK"  # UAS: the phone's ACK came; UAC: our deferred ACK went out
    REFUSED = "3xx-6xx"  # UAC: a final error came
    TIMEOUT = "timeout"  # UAC: no final response (timer B, a transport error)
    RETRY = "retry"  # UAC: 422: send the INVITE again at once, asking for a longer session
    RESTART = "restart"  # UAC: CANCEL it, then send it again changed (answer_call "Invite")
    GIVE_UP = "give up"  # UAC: a placed call rang too long: CANCEL it, its 487 ends it
    UNWANTED_2XX = "unwanted 2xx"  # UAC: a 2xx we cannot use (answered elsewhere, bad SDP, ending)
    DROP = "drop"  # the server ends this side: error response, CANCEL or BYE, as the state needs
    BYE_IN = "BYE in"  # the phone sent BYE (answered 200 by the call)


class SideAction(enum.Enum):
    PUBLISH = "publish"  # the derived leg state may have changed: move the leg
    STOP_RING_TIMER = "stop ring timer"  # a placed call's ring_timeout no longer applies
    SEND_ACK = "send ACK"  # ACK the 2xx now
    SEND_CANCEL = "send CANCEL"
    SEND_ERROR = "send error response"  # a final error to the phone's INVITE
    SEND_BYE = "send BYE"
    REISSUE = "reissue"  # send the INVITE again (new CSeq, same Call-ID and tags)
    ACK_AND_BYE = "ACK and BYE"  # a 2xx to an INVITE we no longer want (§15.1.1)
    UNREGISTER = "unregister dialog"  # in-dialog requests no longer reach this side
    END_LEG = "end leg"  # the leg terminates (reason and code from the event's context)
    REPORT_ANSWER = "report answer"  # tell the call (fork answered, placed call answered, A ACKed)
    REPORT_FAILURE = "report failure"  # tell the call (a fork or a placed call failed)
    STRAY_2XX = "stray 2xx"  # a 2xx after the INVITE's outcome: a retransmission, or another fork's


class Step(NamedTuple):
    state: SideState
    actions: tuple[SideAction, ...]


class SideStateError(RuntimeError):
    """An event the side machine has no entry for in this state (a bug in the caller)."""


S = SideState
E = SideEvent
_A = SideAction

# Our INVITE still waits for its final response.
INVITE_PENDING = frozenset({S.CALLING, S.RINGING, S.EARLY, S.RESTARTING, S.CANCELLING})
# The phone's INVITE still waits for ours.
UAS_PENDING = frozenset({S.INCOMING, S.RINGING, S.EARLY})
# A dialog is up (its 2xx exchanged).
UP = frozenset({S.ANSWERED, S.CONFIRMED})

_RINGING_UAC = (S.CALLING, S.RINGING, S.EARLY)
_FAILED = (_A.STOP_RING_TIMER, _A.UNREGISTER, _A.END_LEG, _A.REPORT_FAILURE)
# The call seats the side (REPORT_ANSWER) before its leg shows connected.
_ANSWER_NOW = (_A.STOP_RING_TIMER, _A.SEND_ACK, _A.REPORT_ANSWER, _A.PUBLISH)
_ANSWER_LATER = (_A.STOP_RING_TIMER, _A.REPORT_ANSWER, _A.PUBLISH)
_UNWANTED = (_A.STOP_RING_TIMER, _A.ACK_AND_BYE, _A.UNREGISTER, _A.END_LEG)
_LATE = (E.RINGING, E.EARLY_MEDIA, E.REFUSED, E.TIMEOUT)  # the INVITE's outcome is known already

UAC_TRANSITIONS: dict[tuple[SideState, SideEvent], Step] = {
    **{(s, E.RINGING): Step(S.RINGING, (_A.PUBLISH,)) for s in _RINGING_UAC},
    **{(s, E.EARLY_MEDIA): Step(S.EARLY, (_A.PUBLISH,)) for s in _RINGING_UAC},
    **{(s, E.ANSWER): Step(S.CONFIRMED, _ANSWER_NOW) for s in _RINGING_UAC},
    **{(s, E.ANSWER_LATE_ACK): Step(S.ANSWERED, _ANSWER_LATER) for s in _RINGING_UAC},
    **{(s, E.REFUSED): Step(S.ENDED, _FAILED) for s in _RINGING_UAC},
    **{(s, E.TIMEOUT): Step(S.ENDED, _FAILED) for s in _RINGING_UAC},
    **{(s, E.RETRY): Step(S.CALLING, (_A.REISSUE,)) for s in _RINGING_UAC},
    **{(s, E.RESTART): Step(S.RESTARTING, (_A.SEND_CANCEL,)) for s in _RINGING_UAC},
    **{(s, E.DROP): Step(S.CANCELLING, (_A.STOP_RING_TIMER, _A.SEND_CANCEL, _A.END_LEG)) for s in _RINGING_UAC},
    **{(s, E.GIVE_UP): Step(s, (_A.SEND_CANCEL,)) for s in _RINGING_UAC},
    **{(s, E.UNWANTED_2XX): Step(S.ENDED, _UNWANTED) for s in (*_RINGING_UAC, S.RESTARTING, S.CANCELLING)},
    # Restarting: the leg shows what it showed until the new INVITE's answers come.
    (S.RESTARTING, E.RINGING): Step(S.RESTARTING, ()),
    (S.RESTARTING, E.EARLY_MEDIA): Step(S.RESTARTING, ()),
    (S.RESTARTING, E.REFUSED): Step(S.CALLING, (_A.REISSUE,)),
    (S.RESTARTING, E.TIMEOUT): Step(S.ENDED, _FAILED),
    (S.RESTARTING, E.ANSWER): Step(S.CONFIRMED, _ANSWER_NOW),  # answered before the CANCEL arrived
    (S.RESTARTING, E.ANSWER_LATE_ACK): Step(S.ANSWERED, _ANSWER_LATER),
    (S.RESTARTING, E.DROP): Step(S.CANCELLING, (_A.STOP_RING_TIMER, _A.END_LEG)),  # its CANCEL is out
    (S.RESTARTING, E.GIVE_UP): Step(S.RINGING, ()),  # its CANCEL is out; now its 487 ends it
    # Cancelling: the leg is over; the INVITE's outcome only cleans up.
    (S.CANCELLING, E.RINGING): Step(S.CANCELLING, ()),
    (S.CANCELLING, E.EARLY_MEDIA): Step(S.CANCELLING, ()),
    (S.CANCELLING, E.REFUSED): Step(S.ENDED, (_A.UNREGISTER, _A.REPORT_FAILURE)),
    (S.CANCELLING, E.TIMEOUT): Step(S.ENDED, (_A.UNREGISTER, _A.REPORT_FAILURE)),
    (S.CANCELLING, E.ANSWER): Step(S.ENDED, (_A.ACK_AND_BYE, _A.UNREGISTER)),  # crossed our CANCEL
    (S.CANCELLING, E.ANSWER_LATE_ACK): Step(S.ENDED, (_A.ACK_AND_BYE, _A.UNREGISTER)),
    (S.CANCELLING, E.DROP): Step(S.CANCELLING, ()),
    (S.CANCELLING, E.GIVE_UP): Step(S.CANCELLING, ()),
    # Answered: our ACK waits for the SDP answer the other side's ACK brings.
    (S.ANSWERED, E.ACK): Step(S.CONFIRMED, ()),
    **{(s, E.ANSWER): Step(s, (_A.STRAY_2XX,)) for s in (S.ANSWERED, S.CONFIRMED, S.ENDED)},
    **{(s, E.ANSWER_LATE_ACK): Step(s, (_A.STRAY_2XX,)) for s in (S.ANSWERED, S.CONFIRMED, S.ENDED)},
    **{(s, event): Step(s, ()) for s in (S.ANSWERED, S.CONFIRMED, S.ENDED) for event in _LATE},
    **{(s, E.GIVE_UP): Step(s, ()) for s in (S.ANSWERED, S.CONFIRMED, S.ENDED)},
    **{(s, E.DROP): Step(S.ENDED, (_A.SEND_BYE, _A.END_LEG)) for s in UP},
    **{(s, E.BYE_IN): Step(S.ENDED, (_A.UNREGISTER, _A.END_LEG)) for s in UP},
    # A BYE in an early dialog: the leg is over, the INVITE's outcome only cleans up.
    **{(s, E.BYE_IN): Step(S.CANCELLING, (_A.STOP_RING_TIMER, _A.UNREGISTER, _A.END_LEG)) for s in _RINGING_UAC},
    (S.RESTARTING, E.BYE_IN): Step(S.CANCELLING, (_A.STOP_RING_TIMER, _A.UNREGISTER, _A.END_LEG)),
    (S.CANCELLING, E.BYE_IN): Step(S.CANCELLING, ()),
    (S.ENDED, E.ACK): Step(S.ENDED, ()),
    (S.ENDED, E.DROP): Step(S.ENDED, ()),
    (S.ENDED, E.BYE_IN): Step(S.ENDED, ()),
}

_RINGING_UAS = tuple(sorted(UAS_PENDING, key=lambda s: s.value))

UAS_TRANSITIONS: dict[tuple[SideState, SideEvent], Step] = {
    **{(s, E.RINGING): Step(S.RINGING, (_A.PUBLISH,)) for s in _RINGING_UAS},
    **{(s, E.EARLY_MEDIA): Step(S.EARLY, (_A.PUBLISH,)) for s in _RINGING_UAS},
    **{(s, E.ANSWER): Step(S.ANSWERED, (_A.PUBLISH,)) for s in _RINGING_UAS},
    **{(s, E.DROP): Step(S.ENDED, (_A.SEND_ERROR, _A.END_LEG)) for s in _RINGING_UAS},
    **{(s, E.BYE_IN): Step(S.ENDED, (_A.UNREGISTER, _A.END_LEG)) for s in _RINGING_UAS},  # the caller's BYE, early
    (S.ANSWERED, E.ACK): Step(S.CONFIRMED, (_A.REPORT_ANSWER,)),
    (S.CONFIRMED, E.ACK): Step(S.CONFIRMED, ()),  # an ACK retransmitted
    **{(s, E.DROP): Step(S.ENDED, (_A.SEND_BYE, _A.END_LEG)) for s in UP},
    **{(s, E.BYE_IN): Step(S.ENDED, (_A.UNREGISTER, _A.END_LEG)) for s in UP},
    (S.ENDED, E.ACK): Step(S.ENDED, ()),
    (S.ENDED, E.DROP): Step(S.ENDED, ()),
    (S.ENDED, E.BYE_IN): Step(S.ENDED, ()),
}


def step(table: dict[tuple[SideState, SideEvent], Step], state: SideState, event: SideEvent) -> Step:
    """The table's entry for ``event`` in ``state``; :class:`SideStateError` when there is none."""
    try:
        return table[state, event]
    except KeyError:
        raise SideStateError(f"side in {state.name}: no transition for {event.name}") from None


class HoldRole(enum.Enum):
    """Who is on hold in the media, as the last accepted offer said (a phone's own re-INVITE,
    relayed, or the server's hold)."""

    NONE = "none"
    HOLDING = "holding"  # this side put the other on hold
    HELD = "held"  # this side is held by the other


_UP_STATE = {HoldRole.NONE: CallState.CONNECTED, HoldRole.HOLDING: CallState.HOLDING,
             HoldRole.HELD: CallState.HELD}
_SHOWN = {S.INCOMING: CallState.TRYING, S.CALLING: CallState.TRYING, S.RINGING: CallState.RINGING,
          S.EARLY: CallState.EARLY, S.CANCELLING: CallState.TERMINATED, S.ENDED: CallState.TERMINATED}


_QUEUE_SHOWN = frozenset({CallState.QUEUED, CallState.DEQUEUED})


def leg_state(state: SideState, hold: HoldRole, shown: CallState) -> CallState:
    """The leg state a side in ``state`` publishes (``shown``: what its leg shows now). The one
    place that derives it: a dialog up shows its hold role; a restarting INVITE keeps what the
    leg showed (the phone is still ringing); a call queue's caller shows queued/dequeued until
    the queue bridges it (the queue moves it to connected itself)."""
    if state in UP:
        if shown in _QUEUE_SHOWN:
            return shown
        return _UP_STATE[hold]
    if state is S.RESTARTING:
        return shown
    return _SHOWN[state]

"""The call machine: where one B2BUA call stands, as one table.

Sans-I/O like ``callcontrol.b2b.side_machine``: :func:`step` takes the call's phase and
an event and returns the new phase and the actions to carry out
(``callcontrol.b2b.call.B2bCall`` does them). :data:`CALL_TRANSITIONS` is the only
place a call's phase changes; what the flags ``ending``, ``winner``, ``ivr`` and
``server_hold`` used to say together is the phase:

=================  ===================================================================
phase              meaning
=================  ===================================================================
``ROUTING``        leg A's INVITE is accepted; its media is being opened
``RINGING``        leg B's forks are out (stage after stage of a hunt); the no-answer watchdog runs
``PLACING``        the server calls leg A itself (originate), then leg B
``BRIDGED``        two sides talk through the call's media anchor
``IVR``            the server answered leg A itself (an IVR application drives it, or sys:echo)
``SERVER_HOLD``    the server holds one side (music on hold to the other)
``TRANSFERRING``   a new leg is being placed for a transferee (blind transfer)
``ENDING``         every side is being ended (BYE, CANCEL, an error response)
``ENDED``          media closed, timers cancelled: nothing happens any more
=================  ===================================================================

Leg A's ACK is not a phase: the call's one watchdog timer slot tells whether it is
still awaited (``callcontrol.b2b.timers``), and leg A's side state says whether it came.
"""
from __future__ import annotations

import enum
from typing import NamedTuple


class CallPhase(enum.Enum):
    ROUTING = "routing"
    RINGING = "ringing"
    PLACING = "placing"
    BRIDGED = "bridged"
    IVR = "ivr"
    SERVER_HOLD = "server hold"
    TRANSFERRING = "transferring"
    ENDING = "ending"
    ENDED = "ended"


class CallEvent(enum.Enum):
    FORKS_SENT = "forks sent"  # leg B's INVITEs are out
    PLACE = "place"  # the server places the call's first leg (originate)
    FORK_ANSWERED = "fork answered"  # a fork's 2xx was relayed to leg A
    ANSWERED_HERE = "answered here"  # the server answered leg A itself (IVR)
    CONNECTED = "connected"  # a placed leg answered and sits in the pair (originate's B, a transfer target)
    ALL_FORKS_FAILED = "all forks failed"
    RING_TIMEOUT = "ring timeout"  # leg B rang ring_timeout unanswered
    ACK_TIMEOUT = "ACK timeout"  # leg A never ACKed our 2xx (64*T1)
    HOLD = "hold"  # the server starts holding
    UNHOLD = "unhold"  # the server's hold ends (unhold, refused, undone by transfer or join)
    TRANSFER = "transfer"  # a transferee's new leg is being placed
    JOIN = "join"  # another call's side is handed to this one (attended transfer)
    HANGUP = "hangup"  # end every side
    FINISHED = "finished"  # nothing live is left: close the media


class CallAction(enum.Enum):
    ARM_RING_WATCH = "arm ring watch"  # ring_timeout: CANCEL leg B, 480 to A
    ARM_ACK_WATCH = "arm ACK watch"  # 64*T1 for leg A's ACK
    REJECT_A = "reject A"  # the best fork failure to leg A, then end every side
    STOP_HOLD = "stop hold"  # music off, relay to the held side on again
    END_SIDES = "end sides"  # drop every side the call owns
    FINISH = "finish"  # cancel every timer, close the media


class Step(NamedTuple):
    phase: CallPhase
    actions: tuple[CallAction, ...]


class CallStateError(RuntimeError):
    """An event the call machine has no entry for in this phase (a bug in the caller)."""


P = CallPhase
E = CallEvent
_A = CallAction

LIVE = (P.ROUTING, P.RINGING, P.PLACING, P.BRIDGED, P.IVR, P.SERVER_HOLD, P.TRANSFERRING)
UP = (P.BRIDGED, P.IVR, P.SERVER_HOLD, P.TRANSFERRING)

CALL_TRANSITIONS: dict[tuple[CallPhase, CallEvent], Step] = {
    (P.ROUTING, E.FORKS_SENT): Step(P.RINGING, (_A.ARM_RING_WATCH,)),
    (P.ROUTING, E.PLACE): Step(P.PLACING, ()),
    (P.ROUTING, E.ANSWERED_HERE): Step(P.IVR, (_A.ARM_ACK_WATCH,)),
    (P.RINGING, E.FORK_ANSWERED): Step(P.BRIDGED, (_A.ARM_ACK_WATCH,)),  # replaces the ring watch
    # The next stage of a hunt list, or a failover's route, rings: its own ring watch.
    (P.RINGING, E.FORKS_SENT): Step(P.RINGING, (_A.ARM_RING_WATCH,)),
    # A failover to a target the server answers (sys:echo, an IVR): leg A is answered here.
    (P.RINGING, E.ANSWERED_HERE): Step(P.IVR, (_A.ARM_ACK_WATCH,)),
    (P.RINGING, E.ALL_FORKS_FAILED): Step(P.ENDING, (_A.REJECT_A,)),
    (P.RINGING, E.RING_TIMEOUT): Step(P.ENDING, (_A.END_SIDES,)),  # 480 to leg A, CANCEL the forks
    (P.PLACING, E.CONNECTED): Step(P.BRIDGED, ()),
    **{(phase, E.ACK_TIMEOUT): Step(P.ENDING, (_A.END_SIDES,)) for phase in UP},
    (P.BRIDGED, E.HOLD): Step(P.SERVER_HOLD, ()),
    (P.SERVER_HOLD, E.UNHOLD): Step(P.BRIDGED, (_A.STOP_HOLD,)),
    # A transfer or a join undoes the server's hold first.
    (P.SERVER_HOLD, E.TRANSFER): Step(P.TRANSFERRING, (_A.STOP_HOLD,)),
    (P.SERVER_HOLD, E.JOIN): Step(P.BRIDGED, (_A.STOP_HOLD,)),
    **{(phase, E.TRANSFER): Step(P.TRANSFERRING, ()) for phase in (P.BRIDGED, P.IVR, P.TRANSFERRING)},
    (P.TRANSFERRING, E.CONNECTED): Step(P.BRIDGED, ()),
    (P.BRIDGED, E.JOIN): Step(P.BRIDGED, ()),
    **{(phase, E.HANGUP): Step(P.ENDING, (_A.STOP_HOLD, _A.END_SIDES)) for phase in LIVE},
    (P.ENDING, E.HANGUP): Step(P.ENDING, (_A.END_SIDES,)),  # sides added meanwhile end too
    (P.ENDED, E.HANGUP): Step(P.ENDED, ()),
    **{(phase, E.FINISHED): Step(P.ENDED, (_A.STOP_HOLD, _A.FINISH)) for phase in (*LIVE, P.ENDING)},
    (P.ENDED, E.FINISHED): Step(P.ENDED, ()),
}


def step(phase: CallPhase, event: CallEvent) -> Step:
    """The table's entry for ``event`` in ``phase``; :class:`CallStateError` when there is none."""
    try:
        return CALL_TRANSITIONS[phase, event]
    except KeyError:
        raise CallStateError(f"call in {phase.name}: no transition for {event.name}") from None

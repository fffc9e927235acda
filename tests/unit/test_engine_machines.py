"""The side and call machines, one test per transition table entry (no sockets, no clock).

The expected tables are written out here, independently of the modules: a changed entry in
``callcontrol.b2b.side_machine`` or ``call_machine`` fails its row, an added or removed entry
fails the completeness tests. Rows read "STATE EVENT -> NEW_STATE ACTION...".
"""
from __future__ import annotations

import pytest

from callcontrol.b2b import call_machine, side_machine
from callcontrol.b2b.call_machine import CallAction, CallEvent, CallPhase, CallStateError
from callcontrol.b2b.side_machine import (
    UAC_TRANSITIONS,
    UAS_TRANSITIONS,
    HoldRole,
    SideAction,
    SideEvent,
    SideState,
    SideStateError,
    leg_state,
)
from callcontrol.model.callinfo import CallState

UAC_SPEC = [
    "CALLING RINGING -> RINGING PUBLISH",
    "RINGING RINGING -> RINGING PUBLISH",
    "EARLY RINGING -> RINGING PUBLISH",
    "CALLING EARLY_MEDIA -> EARLY PUBLISH",
    "RINGING EARLY_MEDIA -> EARLY PUBLISH",
    "EARLY EARLY_MEDIA -> EARLY PUBLISH",
    "CALLING ANSWER -> CONFIRMED STOP_RING_TIMER SEND_ACK REPORT_ANSWER PUBLISH",
    "RINGING ANSWER -> CONFIRMED STOP_RING_TIMER SEND_ACK REPORT_ANSWER PUBLISH",
    "EARLY ANSWER -> CONFIRMED STOP_RING_TIMER SEND_ACK REPORT_ANSWER PUBLISH",
    "CALLING ANSWER_LATE_ACK -> ANSWERED STOP_RING_TIMER REPORT_ANSWER PUBLISH",
    "RINGING ANSWER_LATE_ACK -> ANSWERED STOP_RING_TIMER REPORT_ANSWER PUBLISH",
    "EARLY ANSWER_LATE_ACK -> ANSWERED STOP_RING_TIMER REPORT_ANSWER PUBLISH",
    "CALLING REFUSED -> ENDED STOP_RING_TIMER UNREGISTER END_LEG REPORT_FAILURE",
    "RINGING REFUSED -> ENDED STOP_RING_TIMER UNREGISTER END_LEG REPORT_FAILURE",
    "EARLY REFUSED -> ENDED STOP_RING_TIMER UNREGISTER END_LEG REPORT_FAILURE",
    "CALLING TIMEOUT -> ENDED STOP_RING_TIMER UNREGISTER END_LEG REPORT_FAILURE",
    "RINGING TIMEOUT -> ENDED STOP_RING_TIMER UNREGISTER END_LEG REPORT_FAILURE",
    "EARLY TIMEOUT -> ENDED STOP_RING_TIMER UNREGISTER END_LEG REPORT_FAILURE",
    "CALLING RETRY -> CALLING REISSUE",
    "RINGING RETRY -> CALLING REISSUE",
    "EARLY RETRY -> CALLING REISSUE",
    "CALLING RESTART -> RESTARTING SEND_CANCEL",
    "RINGING RESTART -> RESTARTING SEND_CANCEL",
    "EARLY RESTART -> RESTARTING SEND_CANCEL",
    "CALLING DROP -> CANCELLING STOP_RING_TIMER SEND_CANCEL END_LEG",
    "RINGING DROP -> CANCELLING STOP_RING_TIMER SEND_CANCEL END_LEG",
    "EARLY DROP -> CANCELLING STOP_RING_TIMER SEND_CANCEL END_LEG",
    "CALLING GIVE_UP -> CALLING SEND_CANCEL",
    "RINGING GIVE_UP -> RINGING SEND_CANCEL",
    "EARLY GIVE_UP -> EARLY SEND_CANCEL",
    "CALLING UNWANTED_2XX -> ENDED STOP_RING_TIMER ACK_AND_BYE UNREGISTER END_LEG",
    "RINGING UNWANTED_2XX -> ENDED STOP_RING_TIMER ACK_AND_BYE UNREGISTER END_LEG",
    "EARLY UNWANTED_2XX -> ENDED STOP_RING_TIMER ACK_AND_BYE UNREGISTER END_LEG",
    "RESTARTING UNWANTED_2XX -> ENDED STOP_RING_TIMER ACK_AND_BYE UNREGISTER END_LEG",
    "CANCELLING UNWANTED_2XX -> ENDED STOP_RING_TIMER ACK_AND_BYE UNREGISTER END_LEG",
    "RESTARTING RINGING -> RESTARTING",
    "RESTARTING EARLY_MEDIA -> RESTARTING",
    "RESTARTING REFUSED -> CALLING REISSUE",
    "RESTARTING TIMEOUT -> ENDED STOP_RING_TIMER UNREGISTER END_LEG REPORT_FAILURE",
    "RESTARTING ANSWER -> CONFIRMED STOP_RING_TIMER SEND_ACK REPORT_ANSWER PUBLISH",
    "RESTARTING ANSWER_LATE_ACK -> ANSWERED STOP_RING_TIMER REPORT_ANSWER PUBLISH",
    "RESTARTING DROP -> CANCELLING STOP_RING_TIMER END_LEG",
    "RESTARTING GIVE_UP -> RINGING",
    "CANCELLING RINGING -> CANCELLING",
    "CANCELLING EARLY_MEDIA -> CANCELLING",
    "CANCELLING REFUSED -> ENDED UNREGISTER REPORT_FAILURE",
    "CANCELLING TIMEOUT -> ENDED UNREGISTER REPORT_FAILURE",
    "CANCELLING ANSWER -> ENDED ACK_AND_BYE UNREGISTER",
    "CANCELLING ANSWER_LATE_ACK -> ENDED ACK_AND_BYE UNREGISTER",
    "CANCELLING DROP -> CANCELLING",
    "CANCELLING GIVE_UP -> CANCELLING",
    "ANSWERED ACK -> CONFIRMED",
    "ANSWERED ANSWER -> ANSWERED STRAY_2XX",
    "CONFIRMED ANSWER -> CONFIRMED STRAY_2XX",
    "ENDED ANSWER -> ENDED STRAY_2XX",
    "ANSWERED ANSWER_LATE_ACK -> ANSWERED STRAY_2XX",
    "CONFIRMED ANSWER_LATE_ACK -> CONFIRMED STRAY_2XX",
    "ENDED ANSWER_LATE_ACK -> ENDED STRAY_2XX",
    "ANSWERED RINGING -> ANSWERED",
    "ANSWERED EARLY_MEDIA -> ANSWERED",
    "ANSWERED REFUSED -> ANSWERED",
    "ANSWERED TIMEOUT -> ANSWERED",
    "CONFIRMED RINGING -> CONFIRMED",
    "CONFIRMED EARLY_MEDIA -> CONFIRMED",
    "CONFIRMED REFUSED -> CONFIRMED",
    "CONFIRMED TIMEOUT -> CONFIRMED",
    "ENDED RINGING -> ENDED",
    "ENDED EARLY_MEDIA -> ENDED",
    "ENDED REFUSED -> ENDED",
    "ENDED TIMEOUT -> ENDED",
    "ANSWERED GIVE_UP -> ANSWERED",
    "CONFIRMED GIVE_UP -> CONFIRMED",
    "ENDED GIVE_UP -> ENDED",
    "CONFIRMED DROP -> ENDED SEND_BYE END_LEG",
    "ANSWERED DROP -> ENDED SEND_BYE END_LEG",
    "CONFIRMED BYE_IN -> ENDED UNREGISTER END_LEG",
    "ANSWERED BYE_IN -> ENDED UNREGISTER END_LEG",
    "CALLING BYE_IN -> CANCELLING STOP_RING_TIMER UNREGISTER END_LEG",
    "RINGING BYE_IN -> CANCELLING STOP_RING_TIMER UNREGISTER END_LEG",
    "EARLY BYE_IN -> CANCELLING STOP_RING_TIMER UNREGISTER END_LEG",
    "RESTARTING BYE_IN -> CANCELLING STOP_RING_TIMER UNREGISTER END_LEG",
    "CANCELLING BYE_IN -> CANCELLING",
    "ENDED ACK -> ENDED",
    "ENDED DROP -> ENDED",
    "ENDED BYE_IN -> ENDED",
]

UAS_SPEC = [
    "EARLY RINGING -> RINGING PUBLISH",
    "INCOMING RINGING -> RINGING PUBLISH",
    "RINGING RINGING -> RINGING PUBLISH",
    "EARLY EARLY_MEDIA -> EARLY PUBLISH",
    "INCOMING EARLY_MEDIA -> EARLY PUBLISH",
    "RINGING EARLY_MEDIA -> EARLY PUBLISH",
    "EARLY ANSWER -> ANSWERED PUBLISH",
    "INCOMING ANSWER -> ANSWERED PUBLISH",
    "RINGING ANSWER -> ANSWERED PUBLISH",
    "EARLY DROP -> ENDED SEND_ERROR END_LEG",
    "INCOMING DROP -> ENDED SEND_ERROR END_LEG",
    "RINGING DROP -> ENDED SEND_ERROR END_LEG",
    "EARLY BYE_IN -> ENDED UNREGISTER END_LEG",
    "INCOMING BYE_IN -> ENDED UNREGISTER END_LEG",
    "RINGING BYE_IN -> ENDED UNREGISTER END_LEG",
    "ANSWERED ACK -> CONFIRMED REPORT_ANSWER",
    "CONFIRMED ACK -> CONFIRMED",
    "CONFIRMED DROP -> ENDED SEND_BYE END_LEG",
    "ANSWERED DROP -> ENDED SEND_BYE END_LEG",
    "CONFIRMED BYE_IN -> ENDED UNREGISTER END_LEG",
    "ANSWERED BYE_IN -> ENDED UNREGISTER END_LEG",
    "ENDED ACK -> ENDED",
    "ENDED DROP -> ENDED",
    "ENDED BYE_IN -> ENDED",
]

CALL_SPEC = [
    "ROUTING FORKS_SENT -> RINGING ARM_RING_WATCH",
    "ROUTING PLACE -> PLACING",
    "ROUTING ANSWERED_HERE -> IVR ARM_ACK_WATCH",
    "RINGING FORK_ANSWERED -> BRIDGED ARM_ACK_WATCH",
    "RINGING FORKS_SENT -> RINGING ARM_RING_WATCH",
    "RINGING ANSWERED_HERE -> IVR ARM_ACK_WATCH",
    "RINGING ALL_FORKS_FAILED -> ENDING REJECT_A",
    "RINGING RING_TIMEOUT -> ENDING END_SIDES",
    "PLACING CONNECTED -> BRIDGED",
    "BRIDGED ACK_TIMEOUT -> ENDING END_SIDES",
    "IVR ACK_TIMEOUT -> ENDING END_SIDES",
    "SERVER_HOLD ACK_TIMEOUT -> ENDING END_SIDES",
    "TRANSFERRING ACK_TIMEOUT -> ENDING END_SIDES",
    "BRIDGED HOLD -> SERVER_HOLD",
    "SERVER_HOLD UNHOLD -> BRIDGED STOP_HOLD",
    "SERVER_HOLD TRANSFER -> TRANSFERRING STOP_HOLD",
    "SERVER_HOLD JOIN -> BRIDGED STOP_HOLD",
    "BRIDGED TRANSFER -> TRANSFERRING",
    "IVR TRANSFER -> TRANSFERRING",
    "TRANSFERRING TRANSFER -> TRANSFERRING",
    "TRANSFERRING CONNECTED -> BRIDGED",
    "BRIDGED JOIN -> BRIDGED",
    "ROUTING HANGUP -> ENDING STOP_HOLD END_SIDES",
    "RINGING HANGUP -> ENDING STOP_HOLD END_SIDES",
    "PLACING HANGUP -> ENDING STOP_HOLD END_SIDES",
    "BRIDGED HANGUP -> ENDING STOP_HOLD END_SIDES",
    "IVR HANGUP -> ENDING STOP_HOLD END_SIDES",
    "SERVER_HOLD HANGUP -> ENDING STOP_HOLD END_SIDES",
    "TRANSFERRING HANGUP -> ENDING STOP_HOLD END_SIDES",
    "ENDING HANGUP -> ENDING END_SIDES",
    "ENDED HANGUP -> ENDED",
    "ROUTING FINISHED -> ENDED STOP_HOLD FINISH",
    "RINGING FINISHED -> ENDED STOP_HOLD FINISH",
    "PLACING FINISHED -> ENDED STOP_HOLD FINISH",
    "BRIDGED FINISHED -> ENDED STOP_HOLD FINISH",
    "IVR FINISHED -> ENDED STOP_HOLD FINISH",
    "SERVER_HOLD FINISHED -> ENDED STOP_HOLD FINISH",
    "TRANSFERRING FINISHED -> ENDED STOP_HOLD FINISH",
    "ENDING FINISHED -> ENDED STOP_HOLD FINISH",
    "ENDED FINISHED -> ENDED",
]


def _parse(row: str, states, events, actions):
    left, right = row.split(" -> ")
    state, event = left.split()
    new, *acts = right.split()
    return states[state], events[event], states[new], tuple(actions[a] for a in acts)


def _side_rows(spec):
    return [pytest.param(*_parse(row, SideState, SideEvent, SideAction), id=row) for row in spec]


@pytest.mark.parametrize(("state", "event", "new", "actions"), _side_rows(UAC_SPEC))
def test_uac_entry(state, event, new, actions) -> None:
    result = side_machine.step(UAC_TRANSITIONS, state, event)
    assert (result.state, result.actions) == (new, actions)


@pytest.mark.parametrize(("state", "event", "new", "actions"), _side_rows(UAS_SPEC))
def test_uas_entry(state, event, new, actions) -> None:
    result = side_machine.step(UAS_TRANSITIONS, state, event)
    assert (result.state, result.actions) == (new, actions)


@pytest.mark.parametrize(("phase", "event", "new", "actions"),
                         [pytest.param(*_parse(row, CallPhase, CallEvent, CallAction), id=row) for row in CALL_SPEC])
def test_call_entry(phase, event, new, actions) -> None:
    result = call_machine.step(phase, event)
    assert (result.phase, result.actions) == (new, actions)


@pytest.mark.parametrize(("table", "spec"), [(UAC_TRANSITIONS, UAC_SPEC), (UAS_TRANSITIONS, UAS_SPEC)],
                         ids=["uac", "uas"])
def test_side_tables_have_exactly_the_specified_entries(table, spec) -> None:
    expected = {_parse(row, SideState, SideEvent, SideAction)[:2] for row in spec}
    assert set(table) == expected
    assert len(spec) == len(expected)  # no row written twice


def test_call_table_has_exactly_the_specified_entries() -> None:
    expected = {_parse(row, CallPhase, CallEvent, CallAction)[:2] for row in CALL_SPEC}
    assert set(call_machine.CALL_TRANSITIONS) == expected
    assert len(CALL_SPEC) == len(expected)


def test_an_event_without_an_entry_is_an_error_not_ignored() -> None:
    with pytest.raises(SideStateError, match="INCOMING: no transition for RETRY"):
        side_machine.step(UAS_TRANSITIONS, SideState.INCOMING, SideEvent.RETRY)
    with pytest.raises(SideStateError):
        side_machine.step(UAC_TRANSITIONS, SideState.CONFIRMED, SideEvent.RESTART)  # answer_call too late
    with pytest.raises(CallStateError, match="BRIDGED: no transition for FORK_ANSWERED"):
        call_machine.step(CallPhase.BRIDGED, CallEvent.FORK_ANSWERED)
    with pytest.raises(CallStateError):
        call_machine.step(CallPhase.SERVER_HOLD, CallEvent.HOLD)  # already held by the server


def test_a_finished_call_accepts_nothing_but_hangup_and_finished() -> None:
    for event in CallEvent:
        if event in (CallEvent.HANGUP, CallEvent.FINISHED):
            assert call_machine.step(CallPhase.ENDED, event) == (CallPhase.ENDED, ())
        else:
            with pytest.raises(CallStateError):
                call_machine.step(CallPhase.ENDED, event)


def test_refused_server_hold_goes_back_to_bridged_and_stops_the_music() -> None:
    """The refused-hold path as the call machine sees it: HOLD, then (a re-INVITE refused) UNHOLD:
    the call is bridged again and STOP_HOLD turns the music off and the relay back on; nothing
    on the way publishes holding/held (only ``set_hold`` after both 2xx does)."""
    phase = CallPhase.BRIDGED
    phase, actions = call_machine.step(phase, CallEvent.HOLD)
    assert (phase, actions) == (CallPhase.SERVER_HOLD, ())
    phase, actions = call_machine.step(phase, CallEvent.UNHOLD)
    assert (phase, actions) == (CallPhase.BRIDGED, (CallAction.STOP_HOLD,))


# -- the one derivation of a leg's published state ------------------------------------------------
@pytest.mark.parametrize(("state", "hold", "shown", "expected"), [
    (SideState.INCOMING, HoldRole.NONE, CallState.TRYING, CallState.TRYING),
    (SideState.CALLING, HoldRole.NONE, CallState.TRYING, CallState.TRYING),
    (SideState.RINGING, HoldRole.NONE, CallState.TRYING, CallState.RINGING),
    (SideState.EARLY, HoldRole.NONE, CallState.RINGING, CallState.EARLY),
    (SideState.RESTARTING, HoldRole.NONE, CallState.EARLY, CallState.EARLY),  # still ringing at the phone
    (SideState.RESTARTING, HoldRole.NONE, CallState.RINGING, CallState.RINGING),
    (SideState.ANSWERED, HoldRole.NONE, CallState.RINGING, CallState.CONNECTED),
    (SideState.CONFIRMED, HoldRole.NONE, CallState.HELD, CallState.CONNECTED),
    (SideState.CONFIRMED, HoldRole.HOLDING, CallState.CONNECTED, CallState.HOLDING),
    (SideState.CONFIRMED, HoldRole.HELD, CallState.CONNECTED, CallState.HELD),
    (SideState.ANSWERED, HoldRole.HELD, CallState.CONNECTED, CallState.HELD),
    (SideState.CANCELLING, HoldRole.NONE, CallState.RINGING, CallState.TERMINATED),
    (SideState.ENDED, HoldRole.HELD, CallState.HELD, CallState.TERMINATED),
    # a call queue's caller: answered by the server, it shows queued/dequeued until bridged
    (SideState.ANSWERED, HoldRole.NONE, CallState.QUEUED, CallState.QUEUED),
    (SideState.CONFIRMED, HoldRole.HOLDING, CallState.DEQUEUED, CallState.DEQUEUED),
    (SideState.ENDED, HoldRole.NONE, CallState.QUEUED, CallState.TERMINATED),
])
def test_leg_state_is_derived_from_side_state_and_hold_role(state, hold, shown, expected) -> None:
    assert leg_state(state, hold, shown) is expected

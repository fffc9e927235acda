"""The CDRs of an ended call: the call model's records (``Call.cdrs``) completed with what only
the engine knows. The one place the B2BUA makes CDRs (docs/operations.md, "CDRs").

- ``sip_code`` / ``sip_reason``: every leg's final SIP status. The code that ended the leg when
  there is one (the called phone's refusal, 487 for a cancelled INVITE, 480 no answer, 408 session
  expired, 503 shutdown, ...); else the final response its INVITE had: 200 once answered (a BYE
  carries no status), 480 for a caller the server refused without a code (what
  ``B2bCall.side_step`` sends), 487 for an INVITE of ours that was cancelled. The reason is the
  phrase the phone sent for a relayed refusal, else the standard phrase of the code.
- ``hangup_side``: ``caller`` (leg A's phone: BYE or CANCEL), ``callee`` (the called phone: BYE,
  or the final error that refused the call), ``server`` (the rest: timers, shutdown, console
  commands, transfers, a fork that lost to another).
- ``route``: the call and leg A of a dialled call: how the number was routed (``account``,
  ``ivr``, ``trunk``, ``ring``, ``echo``, ...: the dialled number's route kind); a leg the
  server called: the Request-URI of its INVITE.
"""
from __future__ import annotations

from callcontrol.b2b.call import (
    DEFAULT_REFUSAL,
    REASON_CALLEE_BYE,
    REASON_CALLER_BYE,
    REASON_CANCELLED,
    B2bCall,
)
from callcontrol.b2b.sides import UacSide
from callcontrol.model.calls import Call, Leg
from callcontrol.store.sqlite import Cdr
from sip.message import REASONS

_BY_REASON = {REASON_CALLER_BYE: "caller", REASON_CANCELLED: "caller", REASON_CALLEE_BYE: "callee"}
_CANCELLED_INVITE = 487


def call_cdrs(call: Call, bcall: B2bCall | None) -> list[Cdr]:
    """One record for the call, then one per leg. Call it before ``bcall.cleanup()``: the
    refusals and the INVITEs sent are read from the call's sides."""
    records = call.cdrs()
    if not records:
        return records
    refusals = _refusals(bcall)
    a_route = bcall.route if bcall is not None else None
    for record, leg in zip(records[1:], call.legs, strict=True):
        _complete(record, leg, refusals, a_route)
    whole, first = records[0], records[1]
    whole.sip_code, whole.sip_reason = first.sip_code, first.sip_reason
    whole.hangup_side, whole.route = first.hangup_side, first.route
    return records


def _refusals(bcall: B2bCall | None) -> dict[tuple[int, str], str]:
    """The final errors phones answered this call's INVITEs with, and which side each phone is."""
    if bcall is None:
        return {}
    forks = bcall.hunt.refusals if bcall.hunt is not None else ()
    out = {failure: "callee" for failure in forks}  # leg B forks
    for side in bcall.sides:
        if isinstance(side, UacSide) and side.failure is not None:  # calls the server placed
            out.setdefault(side.failure, "caller" if side.caller_side else "callee")
    return out


def _complete(record: Cdr, leg: Leg, refusals: dict[tuple[int, str], str], a_route: str | None) -> None:
    reason = leg.reason or ""
    code = leg.reason_code
    refused_by = refusals.get((code, reason)) if code is not None else None
    if code is None:
        if leg.answered:
            code = 200
        else:  # "outgoing": the phone sent the INVITE (our UAS side)
            code = DEFAULT_REFUSAL if leg.type == "outgoing" else _CANCELLED_INVITE
    record.sip_code = code
    record.sip_reason = reason if refused_by is not None else REASONS.get(code, "")
    record.hangup_side = _BY_REASON.get(reason) or refused_by or "server"
    side = leg.side
    record.route = side.invite.uri if isinstance(side, UacSide) else a_route

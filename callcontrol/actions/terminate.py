"""terminate_call: the leg ends (603 to an INVITE we still hold, CANCEL to one of ours still
ringing, BYE to a dialog), and with it the rest of its call."""
from __future__ import annotations

from callcontrol.b2b.call import REASON_API
from callcontrol.b2b.sides import Side, UasSide


def terminate(side: Side) -> None:
    bcall = side.call
    if isinstance(side, UasSide) and not side.incoming.final_sent:
        bcall.drop(side, REASON_API, 603)
    else:
        bcall.drop(side, REASON_API)
    bcall.hangup(REASON_API)

"""Issue 11 item 4 end to end: a server-side hold that a phone refuses fails visibly.

P = pjsua 1002 calls X = SIPp 1004 (``cc_uas_hold_488.xml``: no ``Allow-Events: hold``, so the
server holds the call itself, and X answers the hold re-INVITE 488). The console's
``hold_call`` gets ``sip.internal_server_error`` with the refusal in its details; no leg is
ever notified ``holding``/``held``; P, who had accepted its ``sendonly`` re-INVITE, is
re-INVITEd back to ``sendrecv``, the music stops, and RTP keeps flowing both ways (X echoes
what P sends, through the server's relay).
"""
from __future__ import annotations

import pytest

from callcontrol.client import InternalServerError
from tests.integration.harness import SoftPhone
from tests.integration.test_call_control import (  # noqa: F401  (fixtures)
    HEARD,
    Api,
    Rig,
    api,
    ev,
    phone_call,
    phone_pool,
    phones,
    poll_level,
    received,
    ref,
    requests_of,
    server,
    sipp_done,
    sipp_phone,
    wait_rtp,
)

pytest.importorskip("pjsua2")

pytestmark = pytest.mark.integration


async def test_refused_hold_publishes_no_holding_and_keeps_the_call_up(server: Rig, api: Api,
                                                                        phones: dict[str, SoftPhone]) -> None:
    p1002 = phones["1002"]
    with sipp_phone(server, "1004", "cc_uas_hold_488.xml") as (sipp, trace):
        call = await phone_call(server, api, p1002, "1004")
        x, p = call.b, call.a
        await wait_rtp(p1002, call.index)

        with pytest.raises(InternalServerError) as err:
            await api.client.hold_call(ref(x))
        assert err.value.details == {"reason": "1004 refused the hold: 488 Not Acceptable Here", "sip_code": 488}

        # P took its hold offer, then was put back
        assert (await ev(p1002, "offer", call=call.index))["direction"] == "sendonly"
        assert (await ev(p1002, "offer", call=call.index))["direction"] == "sendrecv"
        await wait_rtp(p1002, call.index)  # both ways: X echoes what P sends through the relay
        # no music on hold any more: P hears its own (silent) echo again
        await poll_level(p1002, call.index, lambda level: level["rx_level"] < HEARD, "music still playing")

        p1002.send(cmd="hangup", call=call.index)
        await sipp_done(sipp, trace)  # the 488'd re-INVITE was a=inactive/sendonly; no second one
        for leg in (x, p):
            await api.leg("terminated", tag=leg["call"]["tag"])
    assert api.states(ref(x)) == ["trying", "ringing", "connected", "terminated"]
    assert api.states(ref(p)) == ["trying", "ringing", "connected", "terminated"]
    reinvites = requests_of(received(trace), "INVITE")[1:]
    assert len(reinvites) == 1 and "a=inactive" in reinvites[0]  # X was the holder

"""The server's own re-INVITEs and NOTIFYs for call actions (hold, transfer, join, answer).

A re-INVITE goes through the side's queue (``callcontrol.b2b.dialog_out``, one at a time
per dialog); its 2xx's SDP answer goes to the side's media endpoint and counts as a
session refresh (RFC 4028 §7.4); an error that ended the dialog ends the call.
"""
from __future__ import annotations

from collections.abc import Callable

from callcontrol.b2b import dialog_out, session_timers
from callcontrol.b2b.call import B2bCall
from callcontrol.b2b.sides import Side
from sip.message import Response

Done = Callable[[int, str], None]  # (final status, phrase): 408 timed out, 481 never sent


def reinvite(call: B2bCall, side: Side, body: bytes, done: Done | None = None) -> None:
    """A re-INVITE of ours on ``side`` with ``body`` (an offer pointing at our endpoint)."""

    def finished(status: int, phrase: str, resp: Response | None) -> None:
        if resp is not None:
            call.reinvite_answered(side, resp)
            if 200 <= status < 300:
                session_timers.refreshed(call, side)
        if done is not None:
            done(status, phrase)

    dialog_out.send_reinvite(call.ctx, lambda: (side.call or call).timers, side, body, finished)


def notify(call: B2bCall, side: Side, event: str, done: Callable[[int], None]) -> None:
    """``NOTIFY Event: <event>`` in ``side``'s dialog; ``done`` gets the final status."""
    dialog_out.send_notify(call.ctx, side, event, done)

"""A CDR as operators see it: the fields of ``callcontrol cdr export`` and ``get_cdr_list``.

Stored rows (``callcontrol.store.sqlite.Cdr``) keep UNIX-second floats; what leaves the server
has ISO-8601 UTC times with milliseconds (``2026-12-07T10:15:02.125Z``). Times given to a query
are ISO-8601 too, or plain dates (midnight UTC). docs/operations.md, "CDRs", lists the fields.
"""
from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime
from typing import Any

from callcontrol.store.sqlite import Cdr

logger = logging.getLogger(__name__)

# The order of the CSV columns and of the JSON objects' keys.
FIELDS: tuple[str, ...] = (
    "call_id", "leg_tag", "leg_id", "sip_call_id", "leg_type", "caller", "callee", "i_account", "i_customer",
    "route", "start_time", "connect_time", "disconnect_time", "duration", "sip_code", "sip_reason",
    "disconnect_reason", "hangup_side", "huntgroup_id", "forwarders",
)
TIME_EXAMPLE = "e.g. 2026-12-07T00:00:00Z or 2026-12-07"
_DATE = re.compile(r"^\d{4}-\d\d-\d\d$")


def iso_utc(epoch: float | None) -> str | None:
    """``2026-12-07T10:15:02.125Z`` (None stays None)."""
    if epoch is None:
        return None
    text = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z"


def parse_time(text: str) -> float:
    """UNIX seconds of an ISO-8601 time (``Z``, an offset, or none: UTC) or a date (its midnight
    UTC). ValueError, saying what is accepted, for anything else."""
    value = text.strip()
    try:
        if _DATE.match(value):
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO-8601 time or date: {text!r} ({TIME_EXAMPLE})") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def cdr_record(cdr: Cdr) -> dict[str, Any]:
    """The exported form of one row, keys in :data:`FIELDS` order."""
    return {
        "call_id": cdr.call_id,
        "leg_tag": cdr.leg_tag,
        "leg_id": cdr.leg_id,
        "sip_call_id": cdr.sip_call_id,
        "leg_type": cdr.leg_type,
        "caller": cdr.caller,
        "callee": cdr.callee,
        "i_account": cdr.i_account,
        "i_customer": cdr.i_customer,
        "route": cdr.route,
        "start_time": iso_utc(cdr.start_time),
        "connect_time": iso_utc(cdr.connect_time),
        "disconnect_time": iso_utc(cdr.end_time),
        "duration": round(cdr.duration, 3),
        "sip_code": cdr.sip_code,
        "sip_reason": cdr.sip_reason,
        "disconnect_reason": cdr.disconnect_reason,
        "hangup_side": cdr.hangup_side,
        "huntgroup_id": cdr.huntgroup_id,
        "forwarders": cdr.forwarders.split(",") if cdr.forwarders else [],
    }

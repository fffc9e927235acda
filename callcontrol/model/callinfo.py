"""CallInfo: the snapshot of one leg that the B2BUA publishes on every state change.

The wire form is SPEC's SIPCallInfo. Each party also carries routing keys
(``i_account``, ``i_customer``, ``i_main_office``, ``i_ivr_an``) that never go
on the wire: the hub uses them to find the subscriptions that cover the leg
and to decide which principals may see it.

A snapshot is encoded once (orjson) and the bytes are reused for every
subscriber and every ``get_sip_calls_list`` answer; treat a published
CallInfo as immutable (make a new one with ``dataclasses.replace``).

The wire shape is defined here once: :data:`PARTY_WIRE_FIELDS` and
:data:`CALL_INFO_WIRE_FIELDS` are what the encoders write, and the schema models
of ``callcontrol.api.models`` (``SipCallerInfo``, ``SipCallInfo``) are checked
against them when that module is imported, so the two cannot drift apart.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Literal

import orjson

from callcontrol.directory.model import DirectoryView, main_office_of

logger = logging.getLogger(__name__)

RoutingKey = tuple[str, int]  # ("i_account" | "i_customer" | "i_main_office" | "i_ivr_an", id)
ROUTING_KEYS: tuple[str, ...] = ("i_account", "i_customer", "i_main_office", "i_ivr_an")
LegType = Literal["incoming", "outgoing"]
CallEvent = Literal["play_prompt_completed", "dtmf_digit_detected"]
DtmfMethod = Literal["rfc4733", "info", "inband"]


class CallState(StrEnum):
    TRYING = "trying"
    RINGING = "ringing"
    EARLY = "early"
    CONNECTED = "connected"
    HELD = "held"
    HOLDING = "holding"
    TERMINATED = "terminated"
    QUEUED = "queued"
    DEQUEUED = "dequeued"


# Which state-specific fields SPEC sends in which state. ``None`` values are
# left out, except the ones listed as nullable (the seed shows
# ``"reason_code": null`` on a blind-transfer termination).
_STATE_FIELDS: dict[CallState, tuple[str, ...]] = {
    CallState.TRYING: ("start_time",),
    CallState.RINGING: ("start_time",),
    CallState.EARLY: ("start_time",),
    CallState.CONNECTED: ("connect_time",),
    CallState.HELD: ("connect_time",),
    CallState.HOLDING: ("connect_time",),
    CallState.TERMINATED: ("duration", "reason", "reason_code"),
    CallState.QUEUED: ("queue_info",),
    CallState.DEQUEUED: ("queue_info",),
}
_NULLABLE: frozenset[str] = frozenset({"reason_code"})


def format_time(epoch: float, offset_seconds: int = 0) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in UTC shifted by ``offset_seconds`` (0 = UTC, SPEC's default)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch + offset_seconds))


@dataclass(slots=True, frozen=True)
class CallId:
    """SipCallIdentifier. ``tag`` is None only for a whole call (e.g. originate's answer)."""

    id: str
    tag: str | None = None

    @property
    def base_id(self) -> str:
        """The call a leg belongs to: originate's leg B is ``A's id + "~10"``."""
        i = self.id.find("~")
        return self.id if i < 0 else self.id[:i]

    def to_wire(self) -> dict[str, str]:
        if self.tag is None:
            return {"id": self.id}
        return {"id": self.id, "tag": self.tag}


@dataclass(slots=True, frozen=True)
class QueueInfo:
    i_c_queue: int
    position: int
    operators: int


@dataclass(slots=True)
class Party:
    """SipCallerInfo plus the party's routing keys.

    ``i_main_office`` is the main office of the party's customer, which is the
    customer itself when it is a main office (see :func:`routing_keys`).
    """

    id: str
    account_id: str | None = None
    centrex_id: str | None = None
    display_id: str | None = None
    display_name: str | None = None
    extension_id: str | None = None
    huntgroup_id: str | None = None
    access_number: str | None = None
    forwarder_list: tuple[str, ...] = ()  # on the wire: [{"id": ...}, ...]
    i_account: int | None = None
    i_customer: int | None = None
    i_main_office: int | None = None
    i_ivr_an: int | None = None

    def to_wire(self) -> dict[str, Any]:
        """SipCallerInfo as the seed's examples carry it: ``display_id`` (the number presented;
        the party's id unless the B2BUA knows another, e.g. a From user) and ``centrex_id`` (the
        id of the party's customer, when it has one) on every party; docs/portasip-compat.md,
        "SipCallerInfo"."""
        out: dict[str, Any] = {}
        for name in _PARTY_OPTIONAL:
            value = getattr(self, name)
            if value is None:
                if name == "display_id":
                    value = self.id
                elif name == "centrex_id" and self.i_customer is not None:
                    value = str(self.i_customer)
                else:
                    continue
            out[name] = value
        out["forwarder_list"] = [{"id": f} for f in self.forwarder_list]
        out["id"] = self.id
        return out

    def add_keys(self, keys: list[RoutingKey]) -> None:
        if self.i_account is not None:
            keys.append(("i_account", self.i_account))
        if self.i_customer is not None:
            keys.append(("i_customer", self.i_customer))
        if self.i_main_office is not None:
            keys.append(("i_main_office", self.i_main_office))
        if self.i_ivr_an is not None:
            keys.append(("i_ivr_an", self.i_ivr_an))


# SipCallerInfo: every field of Party but its routing keys. ``id``, ``forwarder_list`` and
# ``display_id`` are always sent, ``centrex_id`` when the customer is known; the others when set.
PARTY_WIRE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Party) if f.name not in ROUTING_KEYS)
_PARTY_OPTIONAL: tuple[str, ...] = tuple(n for n in PARTY_WIRE_FIELDS if n not in ("id", "forwarder_list"))


@dataclass(slots=True)
class CallInfo:
    """One leg's state as SPEC's SIPCallInfo, plus both parties' routing keys.

    Times are epoch seconds (``time.time()``); they are formatted on encode.
    ``duration`` is seconds for ``terminated`` and milliseconds for a
    ``dtmf_digit_detected`` event, as on the wire.
    """

    call: CallId
    state: CallState
    transport_id: str
    type: LegType
    caller: Party
    callee: Party
    start_time: float | None = None
    connect_time: float | None = None
    duration: int | None = None
    reason: str | None = None
    reason_code: int | None = None
    queue_info: QueueInfo | None = None
    event: CallEvent | None = None
    digit: str | None = None
    order: int | None = None
    dtmf_method: DtmfMethod | None = None
    _encoded: bytes | None = field(default=None, repr=False, compare=False)
    _keys: tuple[RoutingKey, ...] | None = field(default=None, repr=False, compare=False)
    # Routing keys of a party that just left the leg (a transfer, a join; Leg.meet): this one
    # snapshot also goes to their subscribers, so they see the leg move on. Never on the wire,
    # never in scope checks or listings.
    _left_keys: tuple[RoutingKey, ...] = field(default=(), repr=False, compare=False)

    def to_wire(self, offset_seconds: int = 0) -> dict[str, Any]:
        out: dict[str, Any] = {
            "call": self.call.to_wire(),
            "callee": self.callee.to_wire(),
            "caller": self.caller.to_wire(),
        }
        for name in _STATE_FIELDS.get(self.state, ()):
            value = getattr(self, name)
            if value is None and name not in _NULLABLE:
                continue
            if name in ("start_time", "connect_time"):
                value = format_time(value, offset_seconds)
            elif name == "queue_info":
                value = {"i_c_queue": value.i_c_queue, "position": value.position,
                         "operators": value.operators}
            out[name] = value
        if self.event is not None:
            out["event"] = self.event
            if self.event == "dtmf_digit_detected":
                out["digit"] = self.digit
                if self.duration is not None:
                    out["duration"] = self.duration
                if self.dtmf_method is not None:
                    out["dtmf_method"] = self.dtmf_method
            if self.order is not None:
                out["order"] = self.order
        out["state"] = str(self.state)
        out["transport_id"] = self.transport_id
        out["type"] = self.type
        return out

    def encoded(self, offset_seconds: int = 0) -> bytes:
        """The SIPCallInfo object as JSON bytes, encoded once per snapshot."""
        enc = self._encoded
        if enc is None:
            enc = self._encoded = orjson.dumps(self.to_wire(offset_seconds))
        return enc

    def routing_keys(self) -> tuple[RoutingKey, ...]:
        """Distinct routing keys of both parties (computed once per snapshot)."""
        keys = self._keys
        if keys is None:
            acc: list[RoutingKey] = []
            self.caller.add_keys(acc)
            self.callee.add_keys(acc)
            keys = self._keys = tuple(dict.fromkeys(acc))
        return keys

    def audience(self) -> tuple[RoutingKey, ...]:
        """The routing keys whose subscribers get this snapshot: the parties', and those of a
        party that just left the leg (``_left_keys``)."""
        left = self._left_keys
        return self.routing_keys() + left if left else self.routing_keys()


# SIPCallInfo: every field of CallInfo but the encoding caches; which are sent when is
# decided by CallInfo.to_wire (_STATE_FIELDS, the event fields).
CALL_INFO_WIRE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(CallInfo) if not f.name.startswith("_"))


def routing_keys(directory: DirectoryView, *, i_account: int | None = None,
                 i_ivr_an: int | None = None, i_customer: int | None = None) -> dict[str, int | None]:
    """Routing keys of a party that is a directory account and/or an IVR access number, or a
    number a customer owns (``i_customer``: a ring group, a hunt list, a menu).

    For the B2BUA: ``Party(id=..., **routing_keys(directory, i_account=3))``.
    """
    keys: dict[str, int | None] = {"i_account": i_account, "i_customer": None, "i_main_office": None,
                                   "i_ivr_an": i_ivr_an}
    if i_ivr_an is not None:
        an = directory.ivr_an(i_ivr_an)
        if an is not None:
            i_customer = an.i_customer
            if i_account is None and an.i_account is not None:
                keys["i_account"] = an.i_account
    if i_account is not None:
        account = directory.account(i_account)
        if account is not None:
            i_customer = account.i_customer
    if i_customer is not None:
        keys["i_customer"] = i_customer
        customer = directory.customer(i_customer)
        if customer is not None:
            keys["i_main_office"] = main_office_of(customer)
    return keys

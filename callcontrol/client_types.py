"""Typed objects of the client: the API's own pydantic models, readable like the wire's dicts.

Every class here is a subclass of its model in ``callcontrol.api.models`` (the ones the server
validates with and the API documents are made from), so a notification's ``call_info`` is a
:class:`CallInfo` with typed attributes (``info.state``, ``info.caller.id``, ``info.call``)
that type checkers and editors know. They also read like the JSON they came from, for code
written against the wire format: ``info["state"]``, ``info.get("connect_time")``,
``"event" in info``, ``info["call"] == {"id": ..., "tag": ...}``, iterating, ``len`` and
``repr`` behave as on the dict (a key is there when the server sent it). Fields the server adds later are kept
(``extra="allow"``), so an older client keeps working against a newer server.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from callcontrol.api import models

logger = logging.getLogger(__name__)

W = TypeVar("W", bound="WireObject")
# Each class sets it again: pydantic takes a class's config from its last base (the API model's:
# extra="forbid"). extra="allow" keeps the fields a newer server sends.
WIRE_CONFIG = ConfigDict(extra="allow", frozen=True)


class WireObject(BaseModel):
    """Mixin of the typed objects: attribute access (typed), and read access as the wire's dict."""

    model_config = WIRE_CONFIG

    @classmethod
    def from_wire(cls: type[W], data: Mapping[str, Any]) -> W:
        """Validate ``data`` (a decoded frame's object); a frame that does not match is kept
        unvalidated (logged) rather than lost."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            logger.warning("a %s from the server does not match its schema (%d errors); kept as it is",
                           cls.__name__, exc.error_count())
            return cls.model_construct(_fields_set=set(data), **data)

    def to_wire(self) -> dict[str, Any]:
        """The JSON object this came from (the keys the server sent, and only those)."""
        return self.model_dump(mode="json", exclude_unset=True)

    def __getitem__(self, key: str) -> Any:
        if key not in self.model_fields_set:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in self.model_fields_set else default

    def __contains__(self, key: object) -> bool:
        return key in self.model_fields_set

    def keys(self) -> list[str]:
        return [k for k in (*type(self).model_fields, *(self.model_extra or {})) if k in self.model_fields_set]

    def items(self) -> Iterator[tuple[str, Any]]:
        return ((k, getattr(self, k)) for k in self.keys())

    def values(self) -> Iterator[Any]:
        return (getattr(self, k) for k in self.keys())

    # Iterated, measured and shown as the dict (pydantic's own iteration gives (name, value) pairs):
    # code written against the wire's dicts does set(info["call"]), len(...), str(...).
    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __repr__(self) -> str:
        return repr(dict(self.items()))

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, WireObject):
            return self.to_wire() == other.to_wire()
        if isinstance(other, Mapping):
            return self.to_wire() == _plain(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to a dict, so not hashable (as the dict)


# Read-only mappings, for isinstance checks too (``callcontrol.client`` turns a call reference of
# either kind into its wire form).
Mapping.register(WireObject)


def _plain(value: Any) -> Any:
    if isinstance(value, WireObject):
        return value.to_wire()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class CallRef(WireObject, models.CallRef):
    """SipCallIdentifier: ``id`` (the call), ``tag`` (one leg of it). Pass it to any leg method."""

    model_config = WIRE_CONFIG


class Forwarder(WireObject, models.ForwarderInfo):
    """SipForwarderAccountInfo: who forwarded the call."""

    model_config = WIRE_CONFIG


class Party(WireObject, models.SipCallerInfo):
    """SipCallerInfo: the caller or the callee of a leg."""

    model_config = WIRE_CONFIG

    forwarder_list: list[Forwarder] = []


class QueueInfo(WireObject, models.QueueInfo):
    """SipCallQueueStateInfo: a queued caller's position."""

    model_config = WIRE_CONFIG


class CallInfo(WireObject, models.SipCallInfo):
    """SIPCallInfo: one leg (a dialog with one phone) of a call, as notified and listed."""

    model_config = WIRE_CONFIG

    call: CallRef
    caller: Party
    callee: Party
    queue_info: QueueInfo | None = None

    @property
    def phone(self) -> Party:
        """The party whose dialog this leg is: the caller of an outgoing leg, the callee of an incoming one."""
        return self.caller if self.type == "outgoing" else self.callee

    @property
    def peer(self) -> Party:
        """The far party, seen from :attr:`phone`."""
        return self.callee if self.type == "outgoing" else self.caller


class OriginatedCall(WireObject, models.OriginatedCall):
    """The call ``originate_advanced_call`` started: its ``id`` (no tag; the legs get theirs)."""

    model_config = WIRE_CONFIG


class ResumeResult(WireObject, models.ResumeResult):
    """What ``Session.resume`` answered: ``replayed`` notifications follow, up to ``last_seq``."""

    model_config = WIRE_CONFIG


class Cdr(WireObject, models.CdrInfo):
    """One call detail record (docs/operations.md, "CDRs")."""

    model_config = WIRE_CONFIG


TYPED_MODELS: tuple[type[WireObject], ...] = (CallRef, Forwarder, Party, QueueInfo, CallInfo, OriginatedCall,
                                              ResumeResult, Cdr)

"""The call model: a ``Call`` of ``Leg``s, each leg an explicit state machine (SPEC states).

Sans-I/O: nothing here sends SIP or reads the clock. The B2BUA moves legs with
``Call.move(leg, state, now, ...)`` (``now`` is epoch seconds, the unit of
CallInfo times); every accepted *change* of state yields exactly one
:class:`~callcontrol.model.callinfo.CallInfo` snapshot, handed to the call's publish
callback (normally :meth:`CallRegistry.published`, which keeps the index of live
legs and forwards to the hub). A move to the state the leg is already in is not a
change (a second 180) and publishes nothing; a move the table does not allow
raises :class:`LegStateError`.

Identity (docs/design.md, "Identity of a call part"): a leg is ``CallId(id, tag)``. ``id``
is the Call-ID of the call's first dialog (leg A's), shared by every leg of the
call; ``tag`` is the local tag the server uses in that leg's own dialog, unique
per leg. ``sip_call_id`` is the Call-ID actually used on the leg's wire (leg B
has its own). Notifications always carry ``CallId(id, tag)``, which never changes for the
life of the leg; a leg is also found by its dialog as the phone knows it (its SIP Call-ID,
and the phone's own tag as well as ours: :meth:`Call.dialog_tag`), so a console that knows a
leg from the phone can address it (docs/portasip-compat.md, "SipCallIdentifier").
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from callcontrol.model.callinfo import CallId, CallInfo, CallState, Party, QueueInfo, RoutingKey
from callcontrol.store.sqlite import Cdr

logger = logging.getLogger(__name__)

LegType = Literal["incoming", "outgoing"]


_ANSWERED = frozenset({CallState.CONNECTED, CallState.HELD, CallState.HOLDING})
_ON_HOLD = frozenset({CallState.HELD, CallState.HOLDING})

# The only place where leg states change. Ringing and early alternate (a 183 with
# SDP after a 180, or a fork ringing after another sent early media). A call queue
# answers its caller into ``queued`` (from trying, or ringing/early when the queue is a
# failover); an agent taking it makes it ``dequeued``, the bridge ``connected``; a
# dequeued caller whose agent dropped before the bridge goes back to ``queued``.
_WAITING = (CallState.QUEUED, CallState.TERMINATED)
TRANSITIONS: dict[CallState, frozenset[CallState]] = {
    CallState.TRYING: frozenset({CallState.RINGING, CallState.EARLY, CallState.CONNECTED, *_WAITING}),
    CallState.RINGING: frozenset({CallState.EARLY, CallState.CONNECTED, *_WAITING}),
    CallState.EARLY: frozenset({CallState.RINGING, CallState.CONNECTED, *_WAITING}),
    CallState.CONNECTED: frozenset({CallState.HELD, CallState.HOLDING, CallState.TERMINATED}),
    CallState.HELD: frozenset({CallState.CONNECTED, CallState.HOLDING, CallState.TERMINATED}),
    CallState.HOLDING: frozenset({CallState.CONNECTED, CallState.HELD, CallState.TERMINATED}),
    CallState.QUEUED: frozenset({CallState.DEQUEUED, CallState.TERMINATED}),
    CallState.DEQUEUED: frozenset({CallState.CONNECTED, *_WAITING}),
    CallState.TERMINATED: frozenset(),
}
# The states a call queue's caller is in: the server answered it (connect_time is set), the
# snapshot carries queue_info instead.
QUEUE_STATES = frozenset({CallState.QUEUED, CallState.DEQUEUED})
LEG_STATES: tuple[CallState, ...] = tuple(TRANSITIONS)


class LegStateError(RuntimeError):
    """A transition the table does not allow (a B2BUA bug or a race it must handle)."""


@dataclass(slots=True, eq=False)
class Leg:
    """One call part. ``type``: "outgoing" when the phone started this dialog (leg A),
    "incoming" when the phone received it (leg B)."""

    call: CallId
    sip_call_id: str
    type: LegType
    caller: Party
    callee: Party
    transport_id: str
    start_time: float
    state: CallState = CallState.TRYING
    connect_time: float | None = None
    hold_time: float | None = None  # when the hold it is in began (held/holding), else None
    end_time: float | None = None
    reason: str | None = None
    reason_code: int | None = None
    info: CallInfo | None = None  # the latest published snapshot
    queue_info: QueueInfo | None = None  # queued/dequeued: the queue, the position, the operators
    side: Any = field(default=None, repr=False)  # the B2BUA's signalling side of this leg
    # The other (id, tag) pairs that name this leg: its dialog's Call-ID and the phone's tags.
    aliases: list[tuple[str, str]] = field(default_factory=list, repr=False)
    # Whom the phone talks to now, when no longer the party the leg was set up with (a transfer,
    # a join: meet); snapshots show it in place of that party. ``caller``/``callee`` stay as set up
    # (the leg's CDR).
    peer: Party | None = None

    @property
    def tag(self) -> str:
        assert self.call.tag is not None
        return self.call.tag

    @property
    def answered(self) -> bool:
        return self.connect_time is not None

    @property
    def terminated(self) -> bool:
        return self.state is CallState.TERMINATED

    @property
    def in_progress(self) -> bool:
        """Not answered and not ended: a CANCEL or a final error still applies."""
        return self.state in (CallState.TRYING, CallState.RINGING, CallState.EARLY)

    def duration(self, now: float) -> int:
        """Whole seconds connected (0 when never answered)."""
        if self.connect_time is None:
            return 0
        end = self.end_time if self.end_time is not None else now
        return max(0, int(end - self.connect_time))

    def snapshot(self) -> CallInfo:
        state = self.state
        caller, callee, peer = self.caller, self.callee, self.peer
        if peer is not None:
            if self.type == "incoming":
                caller = peer
            else:
                callee = peer
        info = CallInfo(call=self.call, state=state, transport_id=self.transport_id,
                        type=self.type, caller=caller, callee=callee)
        if state is CallState.TERMINATED:
            info.duration = self.duration(self.end_time or 0.0)
            info.reason = self.reason
            info.reason_code = self.reason_code
        elif state in _ANSWERED:
            # Seed: connect_time is "when the call was connected or put on hold".
            hold = self.hold_time
            info.connect_time = hold if hold is not None and state in _ON_HOLD else self.connect_time
        elif state in QUEUE_STATES:
            info.queue_info = self.queue_info
        else:
            info.start_time = self.start_time
        return info

    def move(self, state: CallState, now: float, *, reason: str | None = None,
             reason_code: int | None = None, queue_info: QueueInfo | None = None) -> CallInfo | None:
        """Apply one transition; the new snapshot, or None when ``state`` is the current one
        (a queued leg whose ``queue_info`` changed is a change: its new position is published)."""
        old = self.state
        if queue_info is not None and state in QUEUE_STATES:
            if state is old and queue_info == self.queue_info:
                return None
            self.queue_info = queue_info
        elif state is old:
            return None
        if state is not old and state not in TRANSITIONS.get(old, ()):
            raise LegStateError(f"leg {self.call.id}/{self.call.tag}: {old} -> {state} is not a transition")
        self.state = state
        if (state in _ANSWERED or state in QUEUE_STATES) and self.connect_time is None:
            self.connect_time = now
        if state in _ON_HOLD:
            if old not in _ON_HOLD:
                self.hold_time = now  # held <-> holding is the same hold going on
        elif state is CallState.CONNECTED:
            self.hold_time = None
        elif state is CallState.TERMINATED:
            self.end_time = now
            self.reason = reason
            self.reason_code = reason_code
        info = self.info = self.snapshot()
        logger.debug("leg %s/%s: %s -> %s", self.call.id, self.call.tag, old, state)
        return info

    def meet(self, peer: Party, state: CallState, now: float) -> CallInfo:
        """The phone now talks to ``peer`` (the other end of an incoming leg is its caller, of an
        outgoing one its callee), in ``state`` (a hold ends with the move): the new snapshot, also
        for the subscribers of the party that left (``CallInfo.audience``)."""
        before = self.info.routing_keys() if self.info is not None else ()
        self.peer = peer
        info = self.move(state, now) if state is not self.state else None
        if info is None:
            info = self.info = self.snapshot()
        now_keys = info.routing_keys()
        info._left_keys = tuple(k for k in before if k not in now_keys)
        return info

    def forwarding(self) -> tuple[str | None, str | None]:
        """(hunt group id, forwarder ids comma-separated) the leg went through, if any (SipCallerInfo)."""
        huntgroup = self.callee.huntgroup_id or self.caller.huntgroup_id
        forwarders = self.callee.forwarder_list or self.caller.forwarder_list
        return huntgroup, ",".join(forwarders) if forwarders else None

    def account_keys(self) -> tuple[int | None, int | None]:
        """(i_account, i_customer) the leg is billed to: the phone's own account."""
        party = self.caller if self.type == "outgoing" else self.callee
        return party.i_account, party.i_customer


Publish = Callable[[CallInfo], None]
Aliased = Callable[[Leg, tuple[str, str]], None]


@dataclass(slots=True, eq=False)
class Call:
    """The legs of one call; ``id`` is leg A's Call-ID (the id every leg shows)."""

    id: str
    publish: Publish
    legs: list[Leg] = field(default_factory=list)
    on_ended: Callable[[Call], None] | None = None
    ended: bool = False
    on_alias: Aliased | None = None  # the registry's: index another name of a leg

    def add_leg(self, *, tag: str, sip_call_id: str, type: LegType, caller: Party, callee: Party,
                transport_id: str, now: float, leg_id: str | None = None) -> Leg:
        """A new leg in ``trying``; its first snapshot is published. ``leg_id`` is the id the leg
        shows when it is not the call's (originate's leg B: ``id + "~10"``)."""
        if self.ended:
            raise LegStateError(f"call {self.id} has ended")
        leg = Leg(call=CallId(leg_id or self.id, tag), sip_call_id=sip_call_id, type=type, caller=caller, callee=callee,
                  transport_id=transport_id, start_time=now)
        self.legs.append(leg)
        leg.info = leg.snapshot()
        self.publish(leg.info)
        if sip_call_id != leg.call.id:
            self._alias(leg, (sip_call_id, tag))  # our own dialog with the phone, as it knows it
        return leg

    def dialog_tag(self, leg: Leg, tag: str) -> None:
        """The phone's own tag in ``leg``'s dialog (its From tag when it called, its To tag when
        it answered): from now on the leg is also found as ``(id, tag)`` and ``(SIP Call-ID,
        tag)``, until it ends. A leg may collect several (a restarted INVITE, downstream forks)."""
        if not tag or leg.terminated:
            return
        self._alias(leg, (leg.call.id, tag))
        if leg.sip_call_id != leg.call.id:
            self._alias(leg, (leg.sip_call_id, tag))

    def _alias(self, leg: Leg, key: tuple[str, str]) -> None:
        if key == (leg.call.id, leg.call.tag) or key in leg.aliases:
            return
        leg.aliases.append(key)
        if self.on_alias is not None:
            self.on_alias(leg, key)

    def move(self, leg: Leg, state: CallState, now: float, *, reason: str | None = None,
             reason_code: int | None = None, queue_info: QueueInfo | None = None) -> bool:
        """Move ``leg`` and publish its snapshot; False when it was already in ``state`` (with
        that ``queue_info``).

        When the last live leg terminates the call ends (``on_ended`` once).
        """
        info = leg.move(state, now, reason=reason, reason_code=reason_code, queue_info=queue_info)
        if info is None:
            return False
        self.publish(info)
        if state is CallState.TERMINATED and not self.ended and all(x.terminated for x in self.legs):
            self.ended = True
            if self.on_ended is not None:
                self.on_ended(self)
        return True

    def meet(self, leg: Leg, peer: Party, state: CallState, now: float) -> None:
        """``leg``'s phone now talks to ``peer`` (see :meth:`Leg.meet`); published even when the
        state stays: the party left behind is told whom it talks to."""
        if leg.terminated:
            return
        self.publish(leg.meet(peer, state, now))

    def terminate(self, leg: Leg, now: float, reason: str, reason_code: int | None = None) -> bool:
        if leg.terminated:
            return False
        return self.move(leg, CallState.TERMINATED, now, reason=reason, reason_code=reason_code)

    @property
    def first_leg(self) -> Leg | None:
        return self.legs[0] if self.legs else None

    def cdrs(self) -> list[Cdr]:
        """One record for the call (``leg_tag`` None), then one per leg; call after it ended.

        What only the engine knows (the final SIP status when no code ended a leg, who hung
        up, the route) is the B2BUA's to add (``callcontrol.b2b.cdrs``)."""
        out: list[Cdr] = []
        if not self.legs:
            return out
        first = self.legs[0]
        end = max((x.end_time or x.start_time) for x in self.legs)
        connects = [x.connect_time for x in self.legs if x.connect_time is not None]
        connect = min(connects) if connects else None
        # The call's outcome is the leg A's (what the caller experienced).
        i_account, i_customer = first.account_keys()
        if i_account is None:
            for leg in self.legs[1:]:
                i_account, i_customer = leg.account_keys()
                if i_account is not None:
                    break
        huntgroup, forwarders = first.forwarding()
        out.append(Cdr(call_id=self.id, leg_tag=None, caller=first.caller.id, callee=first.callee.id,
                       start_time=first.start_time, end_time=end, i_account=i_account, i_customer=i_customer,
                       connect_time=connect, duration=(end - connect) if connect is not None else 0.0,
                       disconnect_reason=first.reason or "", sip_code=first.reason_code,
                       huntgroup_id=huntgroup, forwarders=forwarders))
        for leg in self.legs:
            leg_end = leg.end_time if leg.end_time is not None else end
            i_account, i_customer = leg.account_keys()
            huntgroup, forwarders = leg.forwarding()
            out.append(Cdr(call_id=self.id, leg_tag=leg.tag, caller=leg.caller.id, callee=leg.callee.id,
                           start_time=leg.start_time, end_time=leg_end, i_account=i_account,
                           i_customer=i_customer, connect_time=leg.connect_time,
                           duration=(leg_end - leg.connect_time) if leg.connect_time is not None else 0.0,
                           disconnect_reason=leg.reason or "", sip_code=leg.reason_code,
                           leg_id=leg.call.id, sip_call_id=leg.sip_call_id, leg_type=leg.type,
                           huntgroup_id=huntgroup, forwarders=forwarders))
        return out


class CallRegistry:
    """Live calls and legs, by id and by ``(id, tag)``; the publish hook of every call.

    ``publish`` (the hub's) receives every snapshot after the index is updated, so a
    ``get_sip_calls_list`` answered from here never lags a notification.
    """

    __slots__ = ("_aliases", "_calls", "_legs", "_publish", "on_call_ended")

    def __init__(self, publish: Publish | None = None,
                 on_call_ended: Callable[[Call], None] | None = None) -> None:
        self._calls: dict[str, Call] = {}
        self._legs: dict[tuple[str, str], Leg] = {}
        self._aliases: dict[tuple[str, str], Leg] = {}  # the live legs' other names (Call.dialog_tag)
        self._publish = publish
        self.on_call_ended = on_call_ended

    def set_publish(self, publish: Publish | None) -> None:
        self._publish = publish

    def new_call(self, call_id: str) -> Call:
        if call_id in self._calls:
            raise ValueError(f"call {call_id} exists")
        call = Call(call_id, self.published, on_ended=self._ended, on_alias=self._aliased)
        self._calls[call_id] = call
        return call

    def published(self, info: CallInfo) -> None:
        call = info.call
        key = (call.id, call.tag or "")
        if info.state is CallState.TERMINATED:
            gone = self._legs.pop(key, None)
            if gone is not None:
                self._unalias(gone)
        elif key not in self._legs:
            owner = self._calls.get(call.base_id)
            if owner is not None:
                for leg in owner.legs:
                    if leg.call == call:
                        self._legs[key] = leg
                        break
        publish = self._publish
        if publish is not None:
            try:
                publish(info)
            except Exception:
                # A failing subscriber side must never break the SIP side.
                logger.exception("publishing %s/%s failed", call.id, call.tag)

    def _aliased(self, leg: Leg, key: tuple[str, str]) -> None:
        # The first leg to claim a name keeps it, and a leg's own (id, tag) always wins (``leg``
        # looks there first) over a phone's tag that happens to equal it.
        if not leg.terminated:
            self._aliases.setdefault(key, leg)

    def _unalias(self, leg: Leg) -> None:
        for key in leg.aliases:
            if self._aliases.get(key) is leg:
                del self._aliases[key]

    def _ended(self, call: Call) -> None:
        self._calls.pop(call.id, None)
        for leg in call.legs:
            self._legs.pop((leg.call.id, leg.tag), None)
            self._unalias(leg)
        if self.on_call_ended is not None:
            self.on_call_ended(call)

    # -- lookups --------------------------------------------------------------------------------
    def call(self, call_id: str) -> Call | None:
        return self._calls.get(call_id)

    def leg(self, call_id: str, tag: str) -> Leg | None:
        """The live leg named ``(call_id, tag)``: as notifications name it, or by its dialog (the
        SIP Call-ID, our tag or the phone's)."""
        key = (call_id, tag)
        leg = self._legs.get(key)
        return leg if leg is not None else self._aliases.get(key)

    def legs_of(self, call_id: str) -> list[Leg]:
        """Live legs showing ``call_id`` (originate's ``id~10`` leg is found by its own id)."""
        call = self._calls.get(CallId(call_id).base_id)
        if call is None:
            return []
        return [x for x in call.legs if not x.terminated and x.call.id == call_id]

    def live_legs(self) -> Iterator[Leg]:
        return iter(list(self._legs.values()))

    def snapshots(self, keys: Iterable[RoutingKey] | None = None) -> list[CallInfo]:
        """The latest snapshot of every live leg, or of those carrying any of ``keys``."""
        wanted = None if keys is None else set(keys)
        out: list[CallInfo] = []
        for leg in self._legs.values():
            info = leg.info
            if info is None:
                continue
            if wanted is None or not wanted.isdisjoint(info.routing_keys()):
                out.append(info)
        return out

    def calls(self) -> list[Call]:
        return list(self._calls.values())

    def __len__(self) -> int:
        return len(self._calls)

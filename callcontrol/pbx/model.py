"""The PBX objects a customer's numbers route to, and the rules their values follow.

Sans-I/O and secret-free, like ``callcontrol.directory.model``. A PBX number (a ring group,
a hunt list, a time rule, an IVR menu, a call queue) belongs to one customer and shares
the number space of account ids and IVR access numbers: a number is one thing. A
forwarding belongs to an account. :class:`Dialplan` is the immutable snapshot of all of
them that the directory builds on every load and routing reads
(``callcontrol.b2b.routing``).

Targets (where a time rule, a menu choice, a forwarding or a failover sends a call) are
text: a number (``1002``, ``600``, an outside number for the trunk), optionally with the
VoIP.ms routing header naming what it must be (``account:1002``, ``grp:600``,
``queue:800``, ``ivr:660``, ``tc:650``), or a system target ``sys:busy``, ``sys:hangup``,
``sys:echo``. docs/pbx.md has the semantics.
"""
from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timezone, tzinfo
from types import MappingProxyType
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callcontrol.pbx.period import Period, PeriodError, parse_period
from callcontrol.pbx.queue import QueueSettings, QueueSettingsError

__all__ = [
    "DEFAULT_HUNT_RING_TIME",
    "DEFAULT_NOANSWER_AFTER",
    "DEFAULT_RING_GROUP_RING_TIME",
    "EMPTY_DIALPLAN",
    "SYSTEM_TARGETS",
    "AccountForwarding",
    "CallQueue",
    "Dialplan",
    "Failover",
    "ForwardWhen",
    "Forwarding",
    "HuntList",
    "Member",
    "Menu",
    "PbxError",
    "PbxKind",
    "PbxNumber",
    "RingGroup",
    "TimeRule",
    "split_target",
]


class PbxError(ValueError):
    """A PBX value that does not follow the rules (the message names the field and the value)."""


class PbxKind(enum.StrEnum):
    RINGGROUP = "ringgroup"
    HUNT = "hunt"
    TIMERULE = "timerule"
    MENU = "menu"
    QUEUE = "queue"


class ForwardWhen(enum.StrEnum):
    ALWAYS = "always"
    BUSY = "busy"
    NOANSWER = "noanswer"
    UNREACHABLE = "unreachable"


DEFAULT_RING_GROUP_RING_TIME = 20
DEFAULT_HUNT_RING_TIME = 15
DEFAULT_NOANSWER_AFTER = 20
DEFAULT_MENU_TIMEOUT = 5
MAX_RING_TIME = 600
MAX_MEMBERS = 64
MAX_TARGET = 64

SYSTEM_TARGETS = ("busy", "hangup", "echo")
# VoIP.ms routing headers and the PBX kinds (or other things) each one may name.
TARGET_HEADERS: Mapping[str, frozenset[str]] = MappingProxyType({
    "account": frozenset({"account"}),
    "grp": frozenset({PbxKind.RINGGROUP, PbxKind.HUNT}),
    "queue": frozenset({PbxKind.QUEUE}),
    "ivr": frozenset({PbxKind.MENU, "ivr"}),
    "tc": frozenset({PbxKind.TIMERULE}),
})
_TARGET_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._-+*#")
NUMBER_CHARS = frozenset("0123456789*#+")
_DIGITS = frozenset("0123456789*#")


# --- values ------------------------------------------------------------------------------


def split_target(target: str) -> tuple[str | None, str]:
    """``"grp:600"`` -> ``("grp", "600")``; ``"600"`` -> ``(None, "600")``; ``"sys:busy"`` ->
    ``("sys", "busy")``. No check (see :func:`check_target`)."""
    header, colon, value = target.partition(":")
    if not colon:
        return None, target
    return header.lower(), value


def check_target(target: str, what: str) -> str:
    """A target as stored: stripped, its header lower-cased; :class:`PbxError` when malformed."""
    target = target.strip()
    header, value = split_target(target)
    if header == "sys":
        if value.lower() not in SYSTEM_TARGETS:
            raise PbxError(f"invalid {what} {target!r}: sys: is one of {', '.join(SYSTEM_TARGETS)}")
        return f"sys:{value.lower()}"
    if header is not None and header not in TARGET_HEADERS:
        raise PbxError(f"invalid {what} {target!r}: routing headers are "
                       f"{', '.join((*TARGET_HEADERS, 'sys'))}")
    if not value or len(value) > MAX_TARGET or not set(value) <= _TARGET_CHARS:
        raise PbxError(f"invalid {what} {target!r}: a number or account id (optionally grp:, queue:, ...)")
    return value if header is None else f"{header}:{value}"


def check_number(number: str, what: str = "number") -> str:
    if not number or len(number) > 32 or not set(number) <= NUMBER_CHARS:
        raise PbxError(f"invalid {what} {number!r}: digits, *, # and +, at most 32")
    return number


def check_seconds(value: int, what: str, low: int = 1, high: int = MAX_RING_TIME) -> int:
    if not low <= value <= high:
        raise PbxError(f"invalid {what} {value}: {low}-{high} seconds")
    return value


@dataclass(frozen=True, slots=True)
class Member:
    """One member of a ring group or hunt list: an account id or a ring group's number, and its
    own ring time (None: the group's)."""

    number: str
    ring_time: int | None = None

    def __str__(self) -> str:
        return self.number if self.ring_time is None else f"{self.number}/{self.ring_time}"


def parse_members(text: str) -> tuple[Member, ...]:
    """``"1001,1002/25"``: members in order, ``/SECONDS`` a member's own ring time."""
    members: list[Member] = []
    seen: set[str] = set()
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        number, slash, seconds = part.partition("/")
        number = number.strip()
        _header, bare = split_target(number)
        if _header not in (None, "account", "grp"):
            raise PbxError(f"invalid member {part!r}: an account id or a ring group number")
        check_target(number, "member")
        ring_time = None
        if slash:
            if not seconds.strip().isdigit():
                raise PbxError(f"invalid member {part!r}: NUMBER/SECONDS, e.g. 1001/25")
            ring_time = check_seconds(int(seconds), f"ring time of member {bare}")
        if bare in seen:
            raise PbxError(f"member {bare} is listed twice")
        seen.add(bare)
        members.append(Member(bare, ring_time))
    if not members:
        raise PbxError("a group needs at least one member")
    if len(members) > MAX_MEMBERS:
        raise PbxError(f"a group has at most {MAX_MEMBERS} members")
    return tuple(members)


def parse_choices(text: str) -> tuple[tuple[str, str], ...]:
    """``"1=1002;2=queue:800"`` (``;`` or ``,`` between choices): (digit, target) in order."""
    choices: list[tuple[str, str]] = []
    for part in text.replace(",", ";").split(";"):
        part = part.strip()
        if not part:
            continue
        digit, equals, target = part.partition("=")
        digit = digit.strip()
        if not equals or len(digit) != 1 or digit not in _DIGITS:
            raise PbxError(f"invalid choice {part!r}: DIGIT=TARGET, the digit one of 0-9 * #")
        if any(d == digit for d, _t in choices):
            raise PbxError(f"choice {digit} is given twice")
        choices.append((digit, check_target(target, f"target of choice {digit}")))
    if not choices:
        raise PbxError("a menu needs at least one choice, e.g. 1=1002;2=800")
    return tuple(choices)


def check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PbxError(f"unknown time zone {name!r} (an IANA name such as Europe/Prague or UTC)") from None
    return name


# --- the objects -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failover:
    """Where a call goes when its target is busy, does not answer, or cannot be reached."""

    busy: str | None = None
    noanswer: str | None = None
    unreachable: str | None = None

    def to_spec(self) -> dict[str, str]:
        return {k: v for k, v in (("busy", self.busy), ("noanswer", self.noanswer),
                                  ("unreachable", self.unreachable)) if v is not None}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Failover:
        return cls(**{k: check_target(str(spec[k]), f"{k} failover") for k in ("busy", "noanswer", "unreachable")
                      if spec.get(k) is not None})

    def targets(self) -> tuple[str, ...]:
        return tuple(t for t in (self.busy, self.noanswer, self.unreachable) if t is not None)


NO_FAILOVER = Failover()


@dataclass(frozen=True, slots=True)
class RingGroup:
    """Every member rings at once, each for its ring time; the first to answer wins."""

    KIND: ClassVar[PbxKind] = PbxKind.RINGGROUP
    number: str
    i_customer: int
    name: str
    members: tuple[Member, ...]
    ring_time: int = DEFAULT_RING_GROUP_RING_TIME
    failover: Failover = NO_FAILOVER

    def spec(self) -> dict[str, Any]:
        return {"members": [str(m) for m in self.members], "ring_time": self.ring_time,
                "failover": self.failover.to_spec()}

    def targets(self) -> tuple[str, ...]:
        return (*(m.number for m in self.members), *self.failover.targets())


@dataclass(frozen=True, slots=True)
class HuntList:
    """Members ring one after the other (``follow``: in order; ``random``: shuffled per call)."""

    KIND: ClassVar[PbxKind] = PbxKind.HUNT
    number: str
    i_customer: int
    name: str
    members: tuple[Member, ...]
    order: Literal["follow", "random"] = "follow"
    ring_time: int = DEFAULT_HUNT_RING_TIME
    failover: Failover = NO_FAILOVER

    def spec(self) -> dict[str, Any]:
        return {"members": [str(m) for m in self.members], "order": self.order, "ring_time": self.ring_time,
                "failover": self.failover.to_spec()}

    def targets(self) -> tuple[str, ...]:
        return (*(m.number for m in self.members), *self.failover.targets())


@dataclass(frozen=True, slots=True)
class TimeRule:
    """``match`` while the customer's local time is in ``period``, else ``nomatch``."""

    KIND: ClassVar[PbxKind] = PbxKind.TIMERULE
    number: str
    i_customer: int
    name: str
    period: Period
    match: str
    nomatch: str

    def spec(self) -> dict[str, Any]:
        return {"period": self.period.text, "match": self.match, "nomatch": self.nomatch}

    def targets(self) -> tuple[str, ...]:
        return (self.match, self.nomatch)


@dataclass(frozen=True, slots=True)
class Menu:
    """An IVR menu the server plays itself: ``prompt``, then a DTMF digit picks a choice; no
    digit within ``timeout`` s goes to ``default``; an unknown digit hears ``invalid_prompt``."""

    KIND: ClassVar[PbxKind] = PbxKind.MENU
    number: str
    i_customer: int
    name: str
    prompt: str
    choices: tuple[tuple[str, str], ...]
    timeout: int = DEFAULT_MENU_TIMEOUT
    default: str | None = None
    invalid_prompt: str | None = None

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"prompt": self.prompt, "choices": ";".join(f"{d}={t}" for d, t in self.choices),
                                "timeout": self.timeout}
        if self.default is not None:
            spec["default"] = self.default
        if self.invalid_prompt is not None:
            spec["invalid_prompt"] = self.invalid_prompt
        return spec

    def targets(self) -> tuple[str, ...]:
        return (*(t for _d, t in self.choices), *((self.default,) if self.default else ()))

    def choice(self, digit: str) -> str | None:
        for d, target in self.choices:
            if d == digit:
                return target
        return None


@dataclass(frozen=True, slots=True)
class CallQueue:
    """A call queue's number: the seam for the queue step (``setQueue`` semantics). Routing
    hands a call to it as a ``RouteKind.QUEUE`` route; its settings are ``spec`` as stored,
    for the queue engine to read."""

    KIND: ClassVar[PbxKind] = PbxKind.QUEUE
    number: str
    i_customer: int
    name: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    failover: Failover = NO_FAILOVER

    def spec(self) -> dict[str, Any]:
        return {**self.settings, "failover": self.failover.to_spec()}

    def targets(self) -> tuple[str, ...]:
        return self.failover.targets()


PbxNumber = RingGroup | HuntList | TimeRule | Menu | CallQueue


@dataclass(frozen=True, slots=True)
class Forwarding:
    """One forwarding rule of an account (``when`` it applies, ``to`` where; ``after`` s of
    ringing for ``noanswer``)."""

    i_forwarding: int
    account_id: str
    when: ForwardWhen
    to: str
    after: int | None = None


@dataclass(frozen=True, slots=True)
class AccountForwarding:
    """Every forwarding of one account, by condition."""

    always: str | None = None
    busy: str | None = None
    noanswer: str | None = None
    noanswer_after: int = DEFAULT_NOANSWER_AFTER
    unreachable: str | None = None


def forwarding_of(rules: list[Forwarding]) -> AccountForwarding:
    by = {rule.when: rule for rule in rules}
    noanswer = by.get(ForwardWhen.NOANSWER)
    return AccountForwarding(
        always=by[ForwardWhen.ALWAYS].to if ForwardWhen.ALWAYS in by else None,
        busy=by[ForwardWhen.BUSY].to if ForwardWhen.BUSY in by else None,
        noanswer=noanswer.to if noanswer is not None else None,
        noanswer_after=(noanswer.after or DEFAULT_NOANSWER_AFTER) if noanswer is not None else DEFAULT_NOANSWER_AFTER,
        unreachable=by[ForwardWhen.UNREACHABLE].to if ForwardWhen.UNREACHABLE in by else None,
    )


# --- stored form -------------------------------------------------------------------------


def to_json(entry: PbxNumber) -> str:
    return json.dumps(entry.spec(), sort_keys=True, separators=(",", ":"))


def from_stored(kind: str, number: str, i_customer: int, name: str, spec_json: str) -> PbxNumber:
    """A PBX number from its stored row; :class:`PbxError` naming the number when the row is bad."""
    try:
        spec = json.loads(spec_json)
        if not isinstance(spec, dict):
            raise PbxError("settings are not a JSON object")
        return build(kind, number, i_customer, name, spec)
    except (PbxError, PeriodError, ValueError, KeyError, TypeError) as exc:
        raise PbxError(f"stored {kind} {number}: {exc}") from None


def _given(spec: Mapping[str, Any], key: str, default: Any) -> Any:
    value = spec.get(key)
    return default if value is None else value


def build(kind: str, number: str, i_customer: int, name: str, spec: Mapping[str, Any]) -> PbxNumber:
    """A checked PBX number of ``kind`` from its settings (the CLI's and the store's one path)."""
    check_number(number, f"{kind} number")
    failover = Failover.from_spec(spec.get("failover") or {})
    if kind == PbxKind.RINGGROUP or kind == PbxKind.HUNT:
        members = spec["members"]
        members = parse_members(members if isinstance(members, str) else ",".join(map(str, members)))
        default = DEFAULT_RING_GROUP_RING_TIME if kind == PbxKind.RINGGROUP else DEFAULT_HUNT_RING_TIME
        ring_time = check_seconds(int(_given(spec, "ring_time", default)), "ring time")
        if kind == PbxKind.RINGGROUP:
            return RingGroup(number, i_customer, name, members, ring_time, failover)
        order = spec.get("order") or "follow"
        if order not in ("follow", "random"):
            raise PbxError(f"invalid order {order!r}: follow or random")
        return HuntList(number, i_customer, name, members, order, ring_time, failover)
    if kind == PbxKind.TIMERULE:
        return TimeRule(number, i_customer, name, parse_period(str(spec["period"])),
                        check_target(str(spec["match"]), "match target"),
                        check_target(str(spec["nomatch"]), "nomatch target"))
    if kind == PbxKind.MENU:
        prompt = str(spec["prompt"]).strip()
        if not prompt:
            raise PbxError("a menu needs a prompt (a URL or a bundled sound)")
        invalid = spec.get("invalid_prompt")
        default = spec.get("default")
        return Menu(number, i_customer, name, prompt, parse_choices(str(spec["choices"])),
                    check_seconds(int(_given(spec, "timeout", DEFAULT_MENU_TIMEOUT)), "menu timeout", 1, 60),
                    check_target(str(default), "default target") if default else None,
                    str(invalid).strip() or None if invalid else None)
    if kind == PbxKind.QUEUE:
        settings = {k: v for k, v in spec.items() if k != "failover"}
        try:
            QueueSettings.from_spec(settings)
        except QueueSettingsError as exc:
            raise PbxError(str(exc)) from None
        return CallQueue(number, i_customer, name, MappingProxyType(settings), failover)
    raise PbxError(f"unknown PBX kind {kind!r}")


# --- the snapshot routing reads ----------------------------------------------------------

_UTC = timezone.utc  # not ZoneInfo("UTC"): works without a time zone database


@dataclass(frozen=True, slots=True)
class Dialplan:
    """Every PBX number and account forwarding, and the customers' time zones, as loaded."""

    numbers: Mapping[str, PbxNumber] = field(default_factory=dict)
    forwardings: Mapping[str, AccountForwarding] = field(default_factory=dict)  # by account id
    zones: Mapping[int, tzinfo] = field(default_factory=dict)  # by i_customer (absent: UTC)

    def number(self, number: str) -> PbxNumber | None:
        return self.numbers.get(number)

    def forwarding(self, account_id: str) -> AccountForwarding | None:
        return self.forwardings.get(account_id)

    def zone(self, i_customer: int) -> tzinfo:
        return self.zones.get(i_customer, _UTC)


EMPTY_DIALPLAN = Dialplan()

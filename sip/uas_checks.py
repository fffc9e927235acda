"""What a UAS checks of every request before its TU sees it (RFC 3261 §8.2.1-§8.2.3), sans-I/O.

``check_request(request, policy)`` returns the refusal a request gets, or
None when the TU should have it. The checks, in the RFC's order:

1. method (§8.2.1): a method the TU does not implement gets 405 when it is
   one of SIP's registered methods, 501 when the UAS does not know it at all
   (§21.5.2: ``NEWMETHOD``, ``RE%47IST%45R`` of RFC 4475 §3.1.1.5); both list
   ``Allow``;
2. Request-URI scheme (§8.2.2.1): a scheme the UAS does not serve gets 416,
   whatever the method (RFC 4475 §3.3.2, §3.3.3);
3. ``Require`` (§8.2.2.3): an option tag the UAS does not support gets 420
   naming every such tag in ``Unsupported`` (RFC 4475 §3.3.5);
4. body (§8.2.3): a body of a type the TU cannot read for that method gets
   415 with ``Accept`` (RFC 4475 §3.3.6), and a request whose ``Accept``
   rules out the body type of the answer (SDP in a 200 to INVITE) gets 406
   (RFC 4475 §3.3.15).

ACK is never answered and CANCEL is the UA core's own (§8.2.2.3: neither is
subject to ``Require``), so neither is checked. The core runs these checks
before the TU, which is also before any digest challenge: none of them
depends on who sent the request, and a phone should not answer a challenge
only to be told its request cannot be served (a proxy validates in the same
order, §16.3).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sip.errors import SipParseError
from sip.headers import split_header_values
from sip.message import Request

# SIP's registered methods (RFC 3261, 3262, 3311, 3428, 3515, 3903, 6086, 6665): a UAS that does
# not implement one of these answers 405, any other token is a method it does not know (501).
KNOWN_METHODS = frozenset({"INVITE", "ACK", "CANCEL", "BYE", "REGISTER", "OPTIONS", "PRACK", "SUBSCRIBE",
                           "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE"})

# Never checked here: the core answers CANCEL itself and never answers ACK.
_UNCHECKED = frozenset({"ACK", "CANCEL"})


@dataclass(frozen=True, slots=True)
class UasPolicy:
    """What the TU behind a UA core serves.

    ``allow``: the methods it implements (the ``Allow`` of 405/501);
    ``schemes``: the Request-URI schemes it serves (lower case);
    ``supported``: the option tags it supports in ``Require`` (lower case);
    ``bodies``: per method, the body types it reads (a method not listed takes any body);
    ``answers``: per method, the body type of its success answer, checked against ``Accept``.
    """

    allow: tuple[str, ...]
    schemes: frozenset[str] = frozenset({"sip", "sips"})
    supported: frozenset[str] = frozenset()
    bodies: Mapping[str, frozenset[str]] = field(default_factory=dict)
    answers: Mapping[str, str] = field(default_factory=dict)
    allowed: frozenset[str] = field(init=False, repr=False)  # ``allow`` as a set, for the per-request test
    allow_header: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed", frozenset(self.allow))
        object.__setattr__(self, "allow_header", ", ".join(self.allow))


@dataclass(frozen=True, slots=True)
class Refusal:
    """The response a request gets instead of reaching the TU."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    reason: str | None = None


def check_request(request: Request, policy: UasPolicy) -> Refusal | None:
    """The refusal ``request`` gets under ``policy`` (see the module doc), or None."""
    method = request.method
    if method in _UNCHECKED:
        return None
    if method not in policy.allowed:
        status = 405 if method in KNOWN_METHODS else 501
        return Refusal(status, (("Allow", policy.allow_header),))
    scheme = request.uri.partition(":")[0].lower()
    if scheme not in policy.schemes:
        return Refusal(416)
    # One pass over the headers for all three (this runs on every request).
    found = request.headers.collect(_LOOKED_AT)
    if not found:
        return None
    required = found.get("require")
    if required:
        unsupported = [tag for line in required for tag in (t.strip() for t in split_header_values(line))
                       if tag and tag.lower() not in policy.supported]
        if unsupported:
            return Refusal(420, (("Unsupported", ", ".join(unsupported)),))
    readable = policy.bodies.get(method)
    if readable is not None and request.body and "content-type" in found:
        try:
            ctype = request.content_type
        except SipParseError:
            return Refusal(400, reason="Bad Request - Malformed Content-Type")
        # An untyped body is left to the TU (RFC 2543 phones send SDP untyped).
        if ctype is not None and ctype not in readable:
            return Refusal(415, (("Accept", ", ".join(sorted(readable))),))
    answer = policy.answers.get(method)
    accept = found.get("accept")
    if answer is not None and accept is not None and not accepts(accept, answer):
        return Refusal(406, (("Accept", answer),))
    return None


_LOOKED_AT = frozenset({"require", "content-type", "accept"})


def accepts(accept: list[str], media_type: str) -> bool:
    """Whether ``Accept`` header lines allow ``media_type`` (an empty Accept allows nothing, §20.1)."""
    kind = media_type.partition("/")[0]
    for line in accept:
        for value in split_header_values(line):
            item = value.split(";", 1)[0].strip().lower()
            if item in (media_type, "*/*", f"{kind}/*"):
                return True
    return False

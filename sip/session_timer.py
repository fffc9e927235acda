"""RFC 4028 session timers for one dialog (one B2BUA leg), sans I/O.

Nothing here sends, sleeps or reads a clock: the caller hands in the messages it
received and the time (``now``, any monotonic float in seconds, e.g.
``loop.time()``), and gets back what to put in the messages it sends and when
to act next. The B2BUA keeps one :class:`SessionTimer` per leg; the two legs of
a call negotiate separately (the B2BUA is the UAS toward the caller on leg A
and the UAC toward the callee on leg B).

Who does what (RFC 4028 section numbers):

- UAS (a peer's INVITE, re-INVITE or UPDATE reaches us):
  :meth:`SessionTimer.from_request` returns a timer, or :class:`RejectWith`
  when the peer supports timers and asked for an interval below our Min-SE
  (422 with ``Min-SE``, §9). A peer that does not support timers is never
  rejected: its too-small interval is raised to our minimum (RFC 4028 erratum
  1687). :meth:`SessionTimer.response_headers` are added to our 2xx:
  ``Session-Expires`` with a ``refresher`` always, ``Require: timer`` when the
  peer supports timers (§9: a MUST for refresher=uac, a SHOULD for uas).
- UAC (we send an INVITE, or a re-INVITE/UPDATE):
  :meth:`SessionTimer.offer_headers` for a dialog-creating INVITE (§7.1),
  :meth:`SessionTimer.refresh_headers` for in-dialog requests (§7.4), then
  :meth:`SessionTimer.from_response` on the 2xx (§7.2) and
  :meth:`SessionTimer.on_422` on a 422 (§7.3).
- Both: :meth:`SessionTimer.refreshed` on every 2xx to a session refresh
  (sent or received), :meth:`SessionTimer.next_deadline` for when to refresh
  (we are the refresher: at half the interval, §7.2/§9) or to give up with
  BYE (we are not: ``min(32, interval/3)`` before expiry, §10).

Two policies are ours and documented where they apply:

- **Unilateral keepalive** (``from_request`` on a peer without ``Supported:
  timer``; ``from_response(unilateral=True)`` on a 2xx without
  ``Session-Expires``): the B2BUA still refreshes that leg itself
  (``negotiated`` is False, ``refresher`` is ``"local"``). RFC 4028 §7.2 reads
  a 2xx without Session-Expires as "no session expiration"; a re-INVITE or
  UPDATE is still a request any peer must answer, so refreshing anyway finds a
  dead phone within ``interval/2`` plus one transaction timeout and never
  makes the peer end the call.
- **Refresh retries**: a refresher whose refresh did not get a 2xx (491, 500,
  no answer yet) is told to retry at the midpoint between now and the give-up
  point, halving each time, and to send BYE once the gap is under
  :data:`MIN_RETRY_GAP` (see :meth:`SessionTimer.next_deadline`).

Refresher roles on the wire name the *transaction's* ends (``uac`` = whoever
sent this INVITE/UPDATE), not the dialog's: the same dialog-level refresher is
``uas`` in a request we send to the refreshing peer and ``uac`` in one the
refreshing peer sends to us. This module stores ``"local"``/``"remote"`` and
translates at the edges.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, NamedTuple

from sip.errors import SipParseError
from sip.headers import is_token
from sip.message import Request, Response

logger = logging.getLogger(__name__)

Refresher = Literal["local", "remote"]
Action = Literal["refresh", "bye"]

REFRESH: Action = "refresh"
BYE: Action = "bye"

#: §5: what an absent Min-SE means and the floor of any Min-SE; our default minimum (see from_request).
MIN_SE = 90
#: §4: the RECOMMENDED Session-Expires.
DEFAULT_INTERVAL = 1800
#: §10: the non-refresher sends BYE ``min(BYE_MARGIN_MAX, interval / 3)`` before expiry.
BYE_MARGIN_MAX = 32.0
#: A failed refresh is retried while the gap to the give-up point is at least this (seconds).
MIN_RETRY_GAP = 2.0
#: How many 422s in a row a UAC should follow for one request (each must raise the interval).
MAX_422_RETRIES = 2
#: delta-seconds above this are refused as garbage (same bound as Expires in sip.message).
MAX_DELTA_SECONDS = 2**32 - 1

_TIMER = "timer"
_GEN_VALUE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~[]:"


class SessionTimerHeaderError(SipParseError):
    """A Session-Expires or Min-SE that cannot be read: a UAS answers ``status`` (400) and ``reason``."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class RejectWith:
    """What a UAS answers instead of accepting: 422 with our Min-SE (§6, §9)."""

    status: int
    min_se: int
    reason: str = "Session Interval Too Small"

    def headers(self) -> list[tuple[str, str]]:
        return [("Min-SE", str(self.min_se))]


class Deadline(NamedTuple):
    """When to act next (same clock as the ``now`` given), and what to do then."""

    when: float
    action: Action


# -- header grammar (§4, §5) ----------------------------------------------------------------------
def _delta_seconds(text: str, header: str) -> int:
    v = text.strip(" \t")
    if not (v.isascii() and v.isdigit()) or len(v) > 10 or int(v) > MAX_DELTA_SECONDS:
        raise SessionTimerHeaderError.bad(f"Malformed {header}")
    return int(v)


def _split_params(value: str, header: str) -> list[str]:
    """Split on ``;`` outside quoted strings."""
    parts: list[str] = []
    start = 0
    in_quote = False
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if in_quote:
            if c == "\\":
                i += 1
            elif c == '"':
                in_quote = False
        elif c == '"':
            in_quote = True
        elif c == ";":
            parts.append(value[start:i])
            start = i + 1
        i += 1
    if in_quote:
        raise SessionTimerHeaderError.bad(f"Malformed {header} (unterminated quoted string)")
    parts.append(value[start:])
    return parts


def _generic_param(text: str, header: str) -> tuple[str, str | None]:
    """``token [EQUAL gen-value]``, gen-value = token / host / quoted-string (RFC 3261 §25.1)."""
    name, eq, raw = text.partition("=")
    name = name.strip(" \t")
    if not is_token(name):
        raise SessionTimerHeaderError.bad(f"Malformed {header} parameter")
    if not eq:
        return name.lower(), None
    val = raw.strip(" \t")
    if len(val) >= 2 and val[0] == '"' and val[-1] == '"':
        return name.lower(), val
    if not val or val.strip(_GEN_VALUE_CHARS):  # token or host: token chars plus IPv6 brackets/colons
        raise SessionTimerHeaderError.bad(f"Malformed {header} parameter")
    return name.lower(), val


def parse_session_expires(value: str) -> tuple[int, Literal["uac", "uas"] | None]:
    """``Session-Expires: delta-seconds *(;se-params)`` → (seconds, refresher or None).

    ``refresher`` is ``"uac"`` or ``"uas"`` (case-insensitive on the wire); any
    other value, a repeated ``refresher``, a non-numeric or huge interval raise
    :class:`SessionTimerHeaderError`. Unknown generic parameters are ignored.
    """
    header = "Session-Expires"
    parts = _split_params(value, header)
    seconds = _delta_seconds(parts[0], header)
    refresher: Literal["uac", "uas"] | None = None
    seen = False
    for part in parts[1:]:
        name, val = _generic_param(part, header)
        if name != "refresher":
            continue
        if seen:
            raise SessionTimerHeaderError.bad(f"Malformed {header} (refresher twice)")
        seen = True
        low = (val or "").lower()
        if low == "uac":
            refresher = "uac"
        elif low == "uas":
            refresher = "uas"
        else:
            raise SessionTimerHeaderError.bad(f"Malformed {header} (refresher must be uac or uas)")
    return seconds, refresher


def parse_min_se(value: str) -> int:
    """``Min-SE: delta-seconds *(;generic-param)`` → seconds (SessionTimerHeaderError on garbage)."""
    header = "Min-SE"
    parts = _split_params(value, header)
    seconds = _delta_seconds(parts[0], header)
    for part in parts[1:]:
        _generic_param(part, header)
    return seconds


def _one_line(message: Request | Response, name: str) -> str | None:
    lines = message.headers.lines(name)
    if not lines:
        return None
    if len(lines) > 1:
        raise SessionTimerHeaderError.bad(f"More than one {name}")
    return lines[0]


def session_expires_of(message: Request | Response) -> tuple[int, Literal["uac", "uas"] | None] | None:
    """The message's Session-Expires (compact form ``x`` too), or None when absent."""
    line = _one_line(message, "Session-Expires")
    return None if line is None else parse_session_expires(line)


def min_se_of(message: Request | Response) -> int | None:
    """The message's Min-SE, or None when absent (which means 90, §5)."""
    line = _one_line(message, "Min-SE")
    return None if line is None else parse_min_se(line)


def _has_option(message: Request | Response, header: str, tag: str) -> bool:
    return any(item.strip().lower() == tag for item in message.headers.get_all(header))


def supports_timer(message: Request | Response) -> bool:
    """``timer`` in Supported (or Require): the sender does RFC 4028."""
    return _has_option(message, "Supported", _TIMER) or _has_option(message, "Require", _TIMER)


def _allows_update(message: Request | Response) -> bool | None:
    if "allow" not in message.headers:
        return None
    return _has_option(message, "Allow", "update")


def refresh_failure_ends_session(status: int | None) -> bool:
    """§10: a refresh that times out (``None``) or gets 408 or 481 ends the session with BYE."""
    return status is None or status in (408, 481)


def _wire(refresher: Refresher, we_are_uac: bool) -> str:
    local = "uac" if we_are_uac else "uas"
    remote = "uas" if we_are_uac else "uac"
    return local if refresher == "local" else remote


# -- the timer ------------------------------------------------------------------------------------
@dataclass(slots=True)
class SessionTimer:
    """One dialog's session timer.

    ``interval``: the session interval in seconds. ``refresher``: ``"local"``
    (we send refreshes) or ``"remote"`` (the peer does; we send BYE if it stops).
    ``negotiated``: the peer does RFC 4028 and agreed to this interval; when
    False this is our unilateral keepalive (always ``"local"``). ``min_se``:
    the largest Min-SE known in the dialog, sent in our refreshes (§7.4).
    ``peer_supports``: the peer said ``Supported: timer``. ``update_allowed``:
    the peer listed UPDATE in Allow (so a bodyless UPDATE may refresh; else a
    re-INVITE). ``last_refresh``: when the session was last refreshed
    (``refreshed(now)``), None until the session starts.
    """

    interval: int
    refresher: Refresher
    negotiated: bool
    min_se: int = MIN_SE
    peer_supports: bool = False
    update_allowed: bool = False
    last_refresh: float | None = None

    def __post_init__(self) -> None:
        if self.interval < 1:
            raise ValueError(f"session interval must be at least 1 s, got {self.interval}")
        if self.refresher not in ("local", "remote"):
            raise ValueError(f"refresher must be 'local' or 'remote', got {self.refresher!r}")

    # -- UAS side ---------------------------------------------------------------------------
    @classmethod
    def from_request(cls, request: Request, min_se_local: int = MIN_SE, *, interval: int = DEFAULT_INTERVAL,
                     max_interval: int | None = None, prefer: Refresher = "remote",
                     previous: SessionTimer | None = None) -> SessionTimer | RejectWith:
        """Our answer, as UAS, to a peer's INVITE, re-INVITE or UPDATE (§9).

        ``min_se_local``: the smallest interval we accept (below 90 only for tests:
        RFC 4028 §5 puts every Min-SE at 90 or more). ``interval``: the one
        we impose when the request has no Session-Expires (and no ``previous``).
        ``max_interval``: reduce a larger request to this (never below the
        request's Min-SE). ``prefer``: who refreshes when the peer supports
        timers and left the choice to us. ``previous``: the leg's current timer
        when this is an in-dialog request; a request without Session-Expires
        then keeps its interval and refresher.

        Returns the timer to adopt once our 2xx goes out (then ``refreshed(now)``),
        or ``RejectWith(422, min_se)``. Raises SessionTimerHeaderError (answer 400)
        on a malformed Session-Expires or Min-SE.
        """
        supported = supports_timer(request)
        se = session_expires_of(request)
        req_min = min_se_of(request)
        # One floor for accepting, reducing and imposing: ours, or the request's Min-SE when larger.
        # With the default min_se_local (90, the value an absent Min-SE means, §5) this is RFC 4028's;
        # a smaller min_se_local is the operator's choice (short intervals in tests).
        floor = max(1, min_se_local, req_min or 0)
        learned = max(floor, previous.min_se if previous is not None else 0)
        allow = _allows_update(request)
        update_allowed = allow if allow is not None else (previous.update_allowed if previous is not None else False)
        if se is not None:
            seconds, wire_refresher = se
            if seconds < floor:
                if supported:
                    return RejectWith(422, floor)
                seconds = floor  # erratum 1687: cannot usefully reject a UA that does not know 422
            if max_interval is not None and seconds > max_interval:
                seconds = max(max_interval, floor)
            if not supported:
                refresher: Refresher = "local"  # §9: a UAC without timer support cannot refresh
            elif wire_refresher == "uac":
                refresher = "remote"
            elif wire_refresher == "uas":
                refresher = "local"
            elif previous is not None and previous.negotiated:
                refresher = previous.refresher
            else:
                refresher = prefer
        else:
            seconds = max(previous.interval if previous is not None else interval, floor)
            if max_interval is not None and seconds > max_interval:
                seconds = max(max_interval, floor)
            if not supported:
                refresher = "local"
            elif previous is not None and previous.negotiated:
                refresher = previous.refresher
            else:
                refresher = prefer
        return cls(interval=seconds, refresher=refresher, negotiated=supported, min_se=learned,
                   peer_supports=supported, update_allowed=update_allowed,
                   last_refresh=previous.last_refresh if previous is not None else None)

    def response_headers(self) -> list[tuple[str, str]]:
        """Headers for our 2xx to the request this timer came from (§9)."""
        headers = [("Session-Expires", f"{self.interval};refresher={_wire(self.refresher, we_are_uac=False)}")]
        if self.peer_supports:
            headers.append(("Require", _TIMER))
        return headers

    # -- UAC side ---------------------------------------------------------------------------
    @staticmethod
    def offer_headers(interval: int = DEFAULT_INTERVAL, min_se: int = MIN_SE,
                      refresher: Refresher | None = None) -> list[tuple[str, str]]:
        """Headers for a dialog-creating INVITE we send (§7.1).

        ``refresher`` None leaves the choice to the UAS (what we do on leg B:
        a phone that wants to refresh may). ``min_se`` is also the floor we
        expect; after a 422 pass the value :meth:`on_422` returned as both.
        """
        if interval < min_se:
            raise ValueError(f"Session-Expires {interval} below Min-SE {min_se}")
        se = str(interval) if refresher is None else f"{interval};refresher={_wire(refresher, we_are_uac=True)}"
        return [("Supported", _TIMER), ("Session-Expires", se), ("Min-SE", str(min_se))]

    def refresh_headers(self) -> list[tuple[str, str]]:
        """Headers for an in-dialog re-INVITE or UPDATE we send on this leg (§7.4).

        Used both for our own refreshes and for a re-INVITE/UPDATE relayed from
        the other leg: the interval and the refresher stay as they are (``uac``
        if we refresh this leg, ``uas`` if the peer does).
        """
        return [("Supported", _TIMER),
                ("Session-Expires", f"{self.interval};refresher={_wire(self.refresher, we_are_uac=True)}"),
                ("Min-SE", str(self.min_se))]

    @classmethod
    def from_response(cls, response: Response, *, interval: int = DEFAULT_INTERVAL, min_se: int = MIN_SE,
                      unilateral: bool = True, previous: SessionTimer | None = None) -> SessionTimer | None:
        """The timer after a 2xx to an INVITE, re-INVITE or UPDATE we sent (§7.2).

        ``interval``/``min_se``: what the request offered (with ``previous``,
        pass ``previous.interval``/``previous.min_se``). A 2xx with
        Session-Expires sets interval and refresher (``uac`` = us; a missing
        refresher, which §9 forbids, makes us refresh: an extra refresh never
        ends a call). A 2xx without it means the peer does not do (or turned
        off) session timers: with ``unilateral`` (our default) we keep a
        keepalive of ``interval`` that we refresh ourselves; without, None (no
        timer, RFC 4028 literally). ``Require: timer`` without Session-Expires,
        a malformed or zero Session-Expires raise SessionTimerHeaderError.
        """
        if not 200 <= response.status < 300:
            raise ValueError(f"from_response needs a 2xx, got {response.status}")
        se = session_expires_of(response)
        supported = supports_timer(response)
        allow = _allows_update(response)
        update_allowed = allow if allow is not None else (previous.update_allowed if previous is not None else False)
        last = previous.last_refresh if previous is not None else None
        learned = max(min_se, previous.min_se if previous is not None else 0)
        if se is None:
            if _has_option(response, "Require", _TIMER):
                raise SessionTimerHeaderError.bad("Require: timer without Session-Expires")
            if not unilateral:
                return None
            return cls(interval=max(interval, 1), refresher="local", negotiated=False, min_se=learned,
                       peer_supports=supported, update_allowed=update_allowed, last_refresh=last)
        seconds, wire_refresher = se
        if seconds < 1:
            raise SessionTimerHeaderError.bad("Session-Expires of 0 in a 2xx")
        refresher: Refresher = "remote" if wire_refresher == "uas" else "local"
        return cls(interval=seconds, refresher=refresher, negotiated=True, min_se=learned,
                   peer_supports=True, update_allowed=update_allowed, last_refresh=last)

    @staticmethod
    def on_422(response: Response, interval: int, min_se: int = MIN_SE) -> int | None:
        """The interval (and Min-SE) to retry with after a 422 (§7.3), or None to give up.

        ``interval``/``min_se``: what the rejected request offered. The retry
        uses the larger of the 422's Min-SE and ours. None when the 422 has no
        readable Min-SE or would not raise the interval (retrying could only loop).
        Callers also stop after :data:`MAX_422_RETRIES` retries for one request.
        """
        if response.status != 422:
            raise ValueError(f"on_422 needs a 422, got {response.status}")
        try:
            demanded = min_se_of(response)
        except SessionTimerHeaderError as exc:
            logger.info("422 with unreadable Min-SE: %s", exc)
            return None
        if demanded is None:
            return None
        new = max(demanded, min_se)
        if new <= interval:
            return None
        return new

    # -- both sides -------------------------------------------------------------------------
    def refreshed(self, now: float) -> None:
        """A 2xx to a session refresh (either direction, own or relayed) at ``now``; the session starts
        with the 2xx that establishes it."""
        self.last_refresh = now

    @property
    def started(self) -> bool:
        return self.last_refresh is not None

    @property
    def expires_at(self) -> float:
        """When the session expires unless refreshed."""
        if self.last_refresh is None:
            raise ValueError("session timer not started (call refreshed(now) on the 2xx)")
        return self.last_refresh + self.interval

    @property
    def bye_at(self) -> float:
        """When to give up: ``min(32, interval/3)`` before expiry (§10)."""
        return self.expires_at - min(BYE_MARGIN_MAX, self.interval / 3)

    def next_deadline(self, now: float) -> Deadline:
        """The next thing to do on this leg, and when.

        Remote refresher: ``bye`` at :attr:`bye_at`. Local refresher: ``refresh``
        at half the interval after the last refresh; once that time has passed
        (a refresh went out but no 2xx came back yet, or it failed with a status
        that does not end the session, e.g. 491 or 500), ``refresh`` again
        halfway between ``now`` and :attr:`bye_at`, and ``bye`` at ``bye_at``
        once that gap is under :data:`MIN_RETRY_GAP`. Every ``when`` is before
        :attr:`expires_at`; a ``when`` at or before ``now`` is due at once.

        Protocol: when a deadline fires, do its action, then ask again with the
        new ``now`` (do not recompute at the firing instant to decide the action).
        """
        bye_at = self.bye_at
        if self.refresher == "remote":
            return Deadline(bye_at, BYE)
        assert self.last_refresh is not None
        refresh_at = self.last_refresh + self.interval / 2
        if now < refresh_at:
            return Deadline(refresh_at, REFRESH)
        gap = (bye_at - now) / 2
        if gap >= MIN_RETRY_GAP:
            return Deadline(now + gap, REFRESH)
        return Deadline(bye_at, BYE)

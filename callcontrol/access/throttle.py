"""Login throttling: exponential backoff per login, and per source address for logins not known there.

Sans-I/O: every method takes ``now``. After ``free_failures`` consecutive
failures for a key, further attempts are refused without checking the
password for ``base_delay * 2**(n - free_failures)`` seconds (capped), and
the caller answers ``auth.failed`` with the wait at once — never a hang.
A success clears the login's record; an address's record only fades, so
that one good password does not reset a spray from that address.

The address limit (``ip_free_failures``) is for logins the address has not
proved: a login that succeeded from an address within ``known_for`` seconds
passes that address's limit, and its failures there count only against the
login itself. This is OWASP's "device cookie" idea with the address as the
device: one console behind an office's NAT that keeps a stale password backs
off its own login and cannot lock the other consoles of that office out, while
a spray of wrong names from the address still locks out every login it has
not seen succeed. Sessions already open are never checked here.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Record:
    failures: int = 0
    blocked_until: float = 0.0
    last_failure: float = 0.0


class LoginThrottle:
    def __init__(self, *, free_failures: int = 3, ip_free_failures: int = 20, base_delay: float = 1.0,
                 max_delay: float = 300.0, forget_after: float = 900.0, known_for: float = 7 * 86400.0,
                 max_entries: int = 100_000) -> None:
        self.free_failures = free_failures
        self.ip_free_failures = ip_free_failures
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.forget_after = forget_after
        self.known_for = known_for
        self.max_entries = max_entries
        self._logins: dict[str, _Record] = {}
        self._ips: dict[str, _Record] = {}
        self._known: dict[tuple[str, str], float] = {}  # (login, address) -> its last success there

    def known(self, login: str, ip: str, now: float) -> bool:
        """Whether ``login`` succeeded from ``ip`` within ``known_for`` seconds."""
        when = self._known.get((login, ip))
        return when is not None and now - when < self.known_for

    def retry_after(self, login: str, ip: str | None, now: float) -> float:
        """Seconds until an attempt for ``login`` from ``ip`` may be checked (0: now)."""
        wait = 0.0
        rec = self._logins.get(login)
        if rec is not None and rec.blocked_until > now:
            wait = rec.blocked_until - now
        if ip is not None:
            rec = self._ips.get(ip)
            if rec is not None and rec.blocked_until > now and not self.known(login, ip, now):
                wait = max(wait, rec.blocked_until - now)
        return wait

    def record_failure(self, login: str, ip: str | None, now: float) -> float:
        """Count a failed attempt; returns the resulting wait (0 while failures are still free)."""
        wait = self._strike(self._logins, login, self.free_failures, now)
        if ip is not None and not self.known(login, ip, now):
            wait = max(wait, self._strike(self._ips, ip, self.ip_free_failures, now))
        return wait

    def record_success(self, login: str, ip: str | None = None, now: float | None = None) -> None:
        """Clear the login's record; with ``ip`` and ``now``, the login is known at ``ip`` from now."""
        self._logins.pop(login, None)
        if ip is None or now is None:
            return
        known = self._known
        if (login, ip) not in known and len(known) >= self.max_entries:
            self.prune(now)
        known[(login, ip)] = now

    def _strike(self, table: dict[str, _Record], key: str, free: int, now: float) -> float:
        rec = table.get(key)
        if rec is None:
            if len(table) >= self.max_entries:
                self.prune(now)
            rec = table[key] = _Record()
        elif now - rec.last_failure > self.forget_after:
            rec.failures = 0
        rec.failures += 1
        rec.last_failure = now
        over = rec.failures - free
        if over <= 0:
            return 0.0
        delay = min(self.max_delay, self.base_delay * (2.0 ** min(over - 1, 62)))
        rec.blocked_until = now + delay
        return delay

    def prune(self, now: float) -> None:
        """Forget records idle for ``forget_after`` and successes older than ``known_for``
        (called periodically and when a table is full)."""
        for table in (self._logins, self._ips):
            stale = [k for k, r in table.items()
                     if now - r.last_failure > self.forget_after and r.blocked_until <= now]
            for k in stale:
                del table[k]
            if len(table) >= self.max_entries:
                # Still full of live records: drop the oldest half rather than grow without bound.
                oldest = sorted(table, key=lambda k: table[k].last_failure)[: len(table) // 2]
                for k in oldest:
                    del table[k]
        known = self._known
        for pair in [p for p, when in known.items() if now - when > self.known_for]:
            del known[pair]
        if len(known) >= self.max_entries:
            for pair in sorted(known, key=known.__getitem__)[: len(known) // 2]:
                del known[pair]

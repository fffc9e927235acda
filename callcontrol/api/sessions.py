"""The Session service: login, logout, idle expiry, credential checks.

A session is created by ``Session.login`` and named by a 32-hex id. It stays
alive while any connection that used it is open; once the last one closes it
expires after ``idle_timeout`` seconds without use. That window is also the
window in which ``Session.resume`` can pick up a dropped connection's
notification stream (see ``callcontrol.api.events.Feed``).

Requests may instead carry ``auth_info {login, password}``. Those are
checked against the directory (scrypt, slow by design) through a short-lived
cache of verified credentials, so that a client authenticating every request
does not pay a key derivation per request. The cache keeps an HMAC of the
password under a per-process random key, compared in constant time.

Time is read from the injected ``clock`` (monotonic seconds) so that tests
can move it.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from callcontrol.access.throttle import LoginThrottle
from callcontrol.api.events import Feed
from callcontrol.api.models import AuthFailed, Forbidden, SessionExpired, WrongParameters
from callcontrol.directory.model import DirectoryView
from callcontrol.model.scope import PrincipalLike, Scope

logger = logging.getLogger(__name__)

DEFAULT_IDLE_TIMEOUT = 1800.0
REALMS: tuple[str, ...] = ("administrator", "reseller", "customer", "account")


@dataclass(slots=True, eq=False)
class Session:
    id: str
    principal: PrincipalLike
    scope: Scope
    last_used: float
    live: int = 0  # open connections that have used this session
    feeds: set[Feed] = field(default_factory=set)
    ephemeral: bool = False  # implicit session of per-request credentials on one connection
    ended: bool = False

    def __hash__(self) -> int:
        return id(self)


@dataclass(slots=True)
class _Verified:
    digest: bytes
    principal: PrincipalLike
    expires: float


class SessionService:
    def __init__(self, directory: DirectoryView, *, clock: Callable[[], float],
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT, throttle: LoginThrottle | None = None,
                 allowed_realms: Collection[str] | None = None, credential_cache_ttl: float = 60.0,
                 on_end: Callable[[Session], None] | None = None) -> None:
        self.directory = directory
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.throttle = throttle if throttle is not None else LoginThrottle()
        self.allowed_realms = frozenset(allowed_realms if allowed_realms is not None else REALMS)
        self.credential_cache_ttl = credential_cache_ttl
        self.on_end = on_end
        self._sessions: dict[str, Session] = {}
        self._verified: dict[tuple[str, str | None], _Verified] = {}
        self._key = secrets.token_bytes(32)

    def __len__(self) -> int:
        return len(self._sessions)

    # ------------------------------------------------------------------ credentials

    async def authenticate(self, login: str, password: str, domain: str | None,
                           source_ip: str | None) -> PrincipalLike:
        """Check credentials (throttled, cached) and the realm; raises AuthFailed or Forbidden."""
        now = self.clock()
        throttle_key = login if domain is None else f"{login}@{domain}"
        wait = self.throttle.retry_after(throttle_key, source_ip, now)
        if wait > 0:
            raise AuthFailed({"reason": "too many failed attempts; try again later",
                              "retry_after": round(wait, 3)})
        digest = hmac.new(self._key, password.encode(), hashlib.sha256).digest()
        cache_key = (login, domain)
        hit = self._verified.get(cache_key)
        principal: PrincipalLike | None = None
        if hit is not None and hit.expires > now and hmac.compare_digest(hit.digest, digest):
            principal = hit.principal
        else:
            principal = await self.directory.authenticate(login, password, domain)
            now = self.clock()
            if principal is None:
                self._verified.pop(cache_key, None)
                wait = self.throttle.record_failure(throttle_key, source_ip, now)
                details: dict[str, Any] = {"reason": "unknown login or wrong password"}
                if wait > 0:
                    details["retry_after"] = round(wait, 3)
                logger.info("login failed for %r from %s", login, source_ip)
                raise AuthFailed(details)
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified[cache_key] = _Verified(digest, principal, now + self.credential_cache_ttl)
        # The login is known at this address from now on: its address's limit no longer applies to it.
        self.throttle.record_success(throttle_key, source_ip, now)
        if principal.realm not in self.allowed_realms:
            raise Forbidden({"reason": f"realm {principal.realm} is not served on this listener"})
        return principal

    # ------------------------------------------------------------------ sessions

    async def login(self, login: str, password: str, domain: str | None, source_ip: str | None) -> Session:
        principal = await self.authenticate(login, password, domain, source_ip)
        session = Session(id=secrets.token_hex(16), principal=principal,
                          scope=Scope(principal, self.directory), last_used=self.clock())
        self._sessions[session.id] = session
        logger.info("session started for %s (%s)", principal.login, principal.realm)
        return session

    def ephemeral(self, principal: PrincipalLike) -> Session:
        """A session for per-request credentials, owned by one connection, never resumable."""
        return Session(id="~" + secrets.token_hex(16), principal=principal,
                       scope=Scope(principal, self.directory), last_used=self.clock(), ephemeral=True)

    def lookup(self, session_id: str) -> Session:
        """The live session ``session_id``; raises SessionExpired for unknown or expired ones."""
        session = self._sessions.get(session_id) if isinstance(session_id, str) else None
        if session is None:
            raise SessionExpired({"reason": "unknown or expired session; log in again"})
        now = self.clock()
        if session.live == 0 and now - session.last_used > self.idle_timeout:
            self.end(session)
            raise SessionExpired({"reason": "unknown or expired session; log in again"})
        session.last_used = now
        return session

    def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def end(self, session: Session) -> None:
        """Logout / expiry: forget the session and let the API drop its subscriptions."""
        if session.ended:
            return
        session.ended = True
        self._sessions.pop(session.id, None)
        if self.on_end is not None:
            self.on_end(session)

    def expire(self) -> int:
        """End sessions idle past the timeout with no open connection; returns how many."""
        now = self.clock()
        limit = self.idle_timeout
        idle = [s for s in self._sessions.values() if s.live == 0 and now - s.last_used > limit]
        for session in idle:
            logger.info("session of %s expired", session.principal.login)
            self.end(session)
        self.throttle.prune(now)
        for key in [k for k, v in self._verified.items() if v.expires <= now]:
            del self._verified[key]
        return len(idle)

    def revoke(self, logins: Collection[str]) -> int:
        """The directory changed under these logins (removed, another password, another
        customer): end their sessions and forget every cached credential check, so the next
        login is verified against the new directory. Returns how many sessions ended."""
        self._verified.clear()
        if not logins:
            return 0
        gone = [s for s in self._sessions.values() if s.principal.login in logins]
        for session in gone:
            logger.info("session of %s ended: the directory changed its login", session.principal.login)
            self.end(session)
        return len(gone)

    def attach(self, session: Session) -> None:
        session.live += 1
        session.last_used = self.clock()

    def detach(self, session: Session) -> None:
        session.live = max(0, session.live - 1)
        session.last_used = self.clock()


def resume_candidate(session: Session, current: Feed | None) -> Feed:
    """The notification stream ``Session.resume`` takes over for a connection whose feed is ``current``.

    The session's most recently detached stream (its connection is gone);
    failing that, one still attached elsewhere (a connection that has not
    noticed it is dead); failing that, ``current`` itself (replay on the same
    connection). Raises WrongParameters when there is none, or when
    ``current`` already carries subscriptions of its own.
    """
    candidates = [f for f in session.feeds if f is not current]
    if not candidates:
        if current is not None and current in session.feeds:
            return current
        raise WrongParameters.field("params.session_id", "this session has no notification stream")
    if current is not None and current.subscribed:
        raise WrongParameters.field(
            "params.session_id", "this connection already has subscriptions; resume on a new connection")
    return max(candidates, key=lambda f: (f.sink is None, f.detached_at or 0.0, f.seq))

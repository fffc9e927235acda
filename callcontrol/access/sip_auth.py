"""Digest authentication of SIP requests against the directory (RFC 3261 §22, RFC 7616).

``RequestAuthenticator.decide`` is the sans-I/O core: a request, its source
and ``now`` in; an ``Account``, ``"trusted"`` or a ``Reply`` (401/407
challenge, 403) out. ``check`` is the thin adapter that reads the clock and
sends the reply on an ``IncomingRequest``.

Outcomes, in order:

- every source address the request could have come from is trusted → "trusted";
- the source is throttled (too many recent failures) → 403, nothing checked;
- no Digest credentials for our realm → 401/407 with a fresh challenge;
- credentials for an unknown user, or with a wrong response → 403, counted
  as a failure. Never another 401: a client whose password is wrong would
  answer every challenge wrongly again (the "401 loop");
- the right password against an expired, replayed or foreign nonce (one of
  a previous process) → 401/407 with a fresh nonce and ``stale=TRUE``;
- the right password but a malformed answer (digest uri, qop or algorithm
  not as challenged) → 403: a client that answers that way does so
  every time;
- the From user differs from the authenticated user → 403 (no third-party
  identities);
- otherwise → the ``Account``.

ACK and CANCEL are never challenged (§22.1); the UA core does not hand them
to a TU, so they never reach here.
"""
from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import unquote

from callcontrol.access.throttle import LoginThrottle
from callcontrol.directory.model import Account
from sip.auth import DigestCredentials, DigestError, compute_response, parse_credentials
from sip.auth_server import DigestChallenger, VerifyResult
from sip.errors import SipParseError
from sip.message import Request
from sip.peer import Peer
from sip.ua import IncomingRequest
from sip.uri import SipUri, TelUri, parse_uri

logger = logging.getLogger(__name__)

__all__ = [
    "AccountDirectory",
    "AuthResult",
    "Reply",
    "RequestAuthenticator",
    "request_user",
    "source_candidates",
]

TRUSTED: Literal["trusted"] = "trusted"


class AccountDirectory(Protocol):
    """What the authenticator needs of ``callcontrol.directory.service.Directory``."""

    def sip_ha1(self, username: str, realm: str, algorithm: str) -> str | None: ...

    def account_by_id(self, account_id: str) -> Account | None: ...


@dataclass(frozen=True, slots=True)
class Reply:
    """The final response the authenticator decided on (and ``check`` has sent)."""

    status: int
    reason: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


AuthResult = Account | Literal["trusted"] | Reply


def source_candidates(request: Request, peer: Peer) -> tuple[str, ...]:
    """Every address the request may have come from; the true source is always among them.

    On streams ``peer`` is the connection's address. On UDP the UA core hands
    over the address responses go to, which the sender controls through its
    Via; what is certain is that the UA core's Via fix-up (§18.2.1) leaves
    the true source either as the sent-by host (it then adds no received) or
    in ``received`` (it then overwrites it). A source is trusted only when all
    candidates are, so a forged ``received`` or ``maddr`` earns nothing.
    """
    if peer.reliable:
        return (peer.host,)
    via = request.top_via
    host = via.host[1:-1] if via.host.startswith("[") else via.host
    received = via.received
    if received and received != host:
        return (host, received)
    return (host,)


def request_user(uri_text: str) -> str | None:
    """The user part of a From/To URI, %-unescaped (tel: URIs: the number), else None."""
    try:
        uri = parse_uri(uri_text)
    except SipParseError:
        return None
    if isinstance(uri, SipUri):
        return unquote(uri.user) if uri.user else None
    if isinstance(uri, TelUri):
        return uri.number
    return None


class RequestAuthenticator:
    """Challenges requests from accounts; lets trusted sources through unchallenged."""

    __slots__ = ("_challenger", "_clock", "_directory", "_is_trusted", "realm", "throttle")

    def __init__(
        self,
        directory: AccountDirectory,
        realm: str,
        *,
        is_trusted: Callable[[str], bool],
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
        nonce_ttl: float = 300.0,
        algorithms: Iterable[str] = ("MD5",),
        throttle: LoginThrottle | None = None,
    ) -> None:
        """``algorithms`` are offered in order, one challenge header each.

        MD5 alone by default: many deployed phones (and SIPp 3.6) read only
        the first challenge and cannot compute SHA-256; the directory stores
        both HA1s, so ``("SHA-256", "MD5")`` is one argument away. ``secret``
        signs nonces; None makes a random per-process one (nonces of a
        previous process are then answered ``stale=TRUE``).
        """
        self._directory = directory
        self.realm = realm
        self._is_trusted = is_trusted
        self._clock = clock
        self._challenger = DigestChallenger(
            realm, secret if secret is not None else secrets.token_bytes(32), nonce_ttl, algorithms
        )
        # Keyed by source address only (the "login" slot of LoginThrottle); a
        # per-user lock-out would let anyone lock a phone out by guessing.
        self.throttle = throttle if throttle is not None else LoginThrottle(
            free_failures=10, base_delay=1.0, max_delay=300.0, forget_after=900.0, max_entries=10_000
        )

    # -- adapter ------------------------------------------------------------------------------

    def set_trusted(self, is_trusted: Callable[[str], bool]) -> None:
        """Trust other sources from now on (a config reload changed ``sip.trusted``)."""
        self._is_trusted = is_trusted
    def check(self, incoming: IncomingRequest, *, proxy: bool) -> Account | Literal["trusted"] | None:
        """Authenticate ``incoming``; on None a final response has already been sent.

        ``proxy=False`` for REGISTER (401, WWW-Authenticate); ``proxy=True``
        for requests the server routes onwards, e.g. INVITE (407, Proxy-Authenticate).
        """
        result = self.decide(incoming.request, incoming.peer, proxy=proxy, now=self._clock())
        if isinstance(result, Reply):
            incoming.respond(result.status, result.reason, to_tag=secrets.token_hex(4),
                             headers=result.headers)
            return None
        return result

    # -- core ---------------------------------------------------------------------------------
    def decide(self, request: Request, peer: Peer, *, proxy: bool, now: float) -> AuthResult:
        candidates = source_candidates(request, peer)
        if all(self._is_trusted(h) for h in candidates):
            return TRUSTED
        # Which candidate is the true source cannot be told on UDP, so failures
        # count against each: varying the forgeable one never evades the throttle.
        wait = max(self.throttle.retry_after(h, None, now) for h in candidates)
        if wait > 0:
            logger.info("SIP auth: %s throttled for %.0fs after repeated failures", "/".join(candidates), wait)
            return Reply(403, "Too Many Failed Attempts", (("Retry-After", str(int(wait) + 1)),))
        creds = self._credentials(request, proxy)
        if creds is None:
            return self._challenge(proxy, now, stale=False)
        account = self._directory.account_by_id(creds.username)
        algorithm = creds.hash_algorithm
        ha1 = (
            self._directory.sip_ha1(creds.username, self.realm, algorithm)
            if account is not None and algorithm is not None
            else None
        )
        if account is None or ha1 is None:
            return self._fail(candidates, now, f"unknown user {creds.username[:64]!r}", "Forbidden")
        result = self._challenger.verify(
            creds, method=request.method, now=now, ha1=ha1, body=request.body, request_uri=request.uri
        )
        if result is VerifyResult.OK:
            from_user = request_user(request.from_.uri)
            if from_user is None or not hmac.compare_digest(from_user.encode(), creds.username.encode()):
                return self._fail(candidates, now, f"From user differs from {creds.username!r}",
                                  "From Does Not Match Credentials")
            return account
        if result is VerifyResult.STALE or result is VerifyResult.REPLAY:
            return self._challenge(proxy, now, stale=True)
        # BAD: tell a wrong password (403) from a right one that used a nonce we
        # no longer recognise (another process's, or from the future): stale.
        if not self._knows_password(creds, ha1, request):
            return self._fail(candidates, now, f"wrong password for {creds.username!r}", "Forbidden")
        defect = self._answer_defect(creds, request)
        if defect is not None:
            return self._fail(candidates, now, f"digest answer of {creds.username!r}: {defect}", "Forbidden")
        return self._challenge(proxy, now, stale=True)

    def _credentials(self, request: Request, proxy: bool) -> DigestCredentials | None:
        """The Digest credentials addressed to our realm, if any (others are for other hops)."""
        for value in request.headers.lines("proxy-authorization" if proxy else "authorization"):
            try:
                creds = parse_credentials(value)
            except DigestError as exc:
                logger.debug("ignoring unparsable credentials: %s", exc)
                continue
            if creds.realm == self.realm:
                return creds
        return None

    def _challenge(self, proxy: bool, now: float, *, stale: bool) -> Reply:
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        values = self._challenger.challenge(now, stale=stale)
        return Reply(407 if proxy else 401, None, tuple((name, v) for v in values))

    def _fail(self, hosts: tuple[str, ...], now: float, why: str, reason: str) -> Reply:
        wait = max(self.throttle.record_failure(h, None, now) for h in hosts)
        logger.info("SIP auth refused from %s: %s%s", "/".join(hosts), why,
                    f" (throttled {wait:.0f}s)" if wait > 0 else "")
        return Reply(403, reason)

    @staticmethod
    def _knows_password(creds: DigestCredentials, ha1: str, request: Request) -> bool:
        try:
            expected = compute_response(
                algorithm=creds.algorithm, ha1=ha1, nonce=creds.nonce, method=request.method,
                uri=creds.uri, qop=creds.qop, nc=creds.nc, cnonce=creds.cnonce, body=request.body,
            )
        except DigestError:
            return False
        return hmac.compare_digest(expected.encode(), creds.response.lower().encode())

    def _answer_defect(self, creds: DigestCredentials, request: Request) -> str | None:
        """Why an answer made with the right password would fail again after a fresh challenge.

        A differing opaque is not one: it marks a challenge of another
        process (secret), like a foreign nonce, so it earns ``stale=TRUE``.
        """
        ch = self._challenger
        if creds.algorithm not in ch.algorithms:
            return f"algorithm {creds.algorithm!r} not offered"
        if creds.qop is None:
            if ch.qop:
                return "qop missing"
        elif creds.qop not in ch.qop:
            return f"qop {creds.qop!r} not offered"
        if creds.uri != request.uri:
            return "digest uri differs from the Request-URI"
        return None

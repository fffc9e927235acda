"""HTTP Digest, server side (UAS, registrar, proxy): challenge and verify.

``DigestChallenger.challenge`` issues stateless nonces (HMAC-signed, with
their issue time inside, so expiry needs no storage), ``format_challenge``
writes the WWW-Authenticate / Proxy-Authenticate value, and
``DigestChallenger.verify`` checks ``sip.auth.parse_credentials``' result
against a stored HA1 = H(username:realm:password): passwords are never
needed in clear. Sans-I/O: time arrives as ``now``.
"""
from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import logging
import secrets
import struct
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from sip.auth import (
    TOKEN_CHARS,
    DigestChallenge,
    DigestCredentials,
    DigestError,
    canonical_algorithm,
    compute_ha1,
    compute_response,
    digest_algorithm,
    is_hex,
    quote_param,
)

logger = logging.getLogger(__name__)

__all__ = ["DigestChallenger", "VerifyResult", "format_challenge"]


def format_challenge(ch: DigestChallenge) -> str:
    """Serialise a challenge as a WWW-Authenticate / Proxy-Authenticate value."""
    parts = [f"Digest realm={quote_param('realm', ch.realm)}"]
    if ch.domain is not None:
        parts.append(f"domain={quote_param('domain', ch.domain)}")
    parts.append(f"nonce={quote_param('nonce', ch.nonce)}")
    if ch.opaque is not None:
        parts.append(f"opaque={quote_param('opaque', ch.opaque)}")
    if ch.stale:
        parts.append("stale=TRUE")
    if not ch.algorithm or not TOKEN_CHARS.issuperset(ch.algorithm):
        raise DigestError(f"algorithm {ch.algorithm!r} is not a token")
    parts.append(f"algorithm={ch.algorithm}")
    if ch.qop:
        parts.append(f"qop={quote_param('qop', ','.join(ch.qop))}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- UAS side


class VerifyResult(enum.Enum):
    OK = "ok"
    STALE = "stale"  # right answer to an expired nonce: re-challenge with stale=TRUE
    BAD = "bad"  # wrong response, unknown user, wrong realm, forged nonce, ...
    REPLAY = "replay"  # nonce-count not above the last one seen for this nonce


# Nonce = base64url(issue time in ms, 8 bytes | random, 8 bytes | HMAC-SHA256, first 16 bytes).
_TS = struct.Struct(">q")
_RAND_LEN = 8
_MAC_LEN = 16
_PAYLOAD_LEN = _TS.size + _RAND_LEN
_NONCE_LEN = 43  # len(base64url(32 bytes)) without padding
# Nonces dated this far in the caller's future are forgeries or a broken clock.
_CLOCK_SKEW = 5.0


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(slots=True)
class _NonceUse:
    last_nc: int
    issued_ms: int
    expires: float


class DigestChallenger:
    """Issues challenges and verifies credentials for one realm, without per-challenge storage.

    Nonces carry their issue time and an HMAC over it (keyed by ``secret`` and
    bound to the realm), so any nonce can be checked for authenticity and age
    without remembering it. Only nonces that were *used* occupy the bounded
    nc table that detects replays.

    ``secret`` must be at least 16 bytes. Use a per-process random secret
    unless several processes verify each other's nonces: the nc table lives
    in this object and does not survive a restart.
    """

    __slots__ = (
        "_evicted_floor",
        "_mac",
        "_opaque",
        "_prefix",
        "_stale_suffix",
        "_suffix",
        "_uses",
        "algorithms",
        "max_nonces",
        "nonce_ttl",
        "qop",
        "realm",
    )

    def __init__(
        self,
        realm: str,
        secret: bytes,
        nonce_ttl: float = 300.0,
        algorithms: Iterable[str] = ("SHA-256", "MD5"),
        *,
        qop: Iterable[str] = ("auth",),
        max_nonces: int = 65536,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("secret must be at least 16 bytes")
        if nonce_ttl <= 0:
            raise ValueError("nonce_ttl must be positive")
        if max_nonces < 1:
            raise ValueError("max_nonces must be positive")
        self.realm = realm
        self.nonce_ttl = float(nonce_ttl)
        self.algorithms: tuple[str, ...] = tuple(digest_algorithm(a).name for a in algorithms)
        if not self.algorithms:
            raise ValueError("at least one algorithm is required")
        self.qop: tuple[str, ...] = tuple(q.lower() for q in qop)
        for q in self.qop:
            if q not in ("auth", "auth-int"):
                raise ValueError(f"unsupported qop {q!r}")
        if not self.qop and any(digest_algorithm(a).sess for a in self.algorithms):
            raise ValueError("-sess algorithms need a qop")
        self.max_nonces = max_nonces
        realm_b = realm.encode()
        # The realm is in the MAC so a nonce of one realm is void in another sharing the secret.
        self._mac = hmac.new(secret, b"nonce\x00" + realm_b + b"\x00", hashlib.sha256)
        self._opaque = hmac.new(secret, b"opaque\x00" + realm_b, hashlib.sha256).hexdigest()[:16]
        # Everything except the nonce is fixed: pre-render it once per algorithm.
        self._prefix = f'Digest realm={quote_param("realm", realm)}, nonce="'
        qop_part = f', qop="{",".join(self.qop)}"' if self.qop else ""
        self._suffix = tuple(
            f'", opaque="{self._opaque}", algorithm={a}{qop_part}' for a in self.algorithms
        )
        self._stale_suffix = tuple(
            f'", opaque="{self._opaque}", stale=TRUE, algorithm={a}{qop_part}'
            for a in self.algorithms
        )
        # Kept in first-use order, which tracks issue order closely: since every
        # nonce lives nonce_ttl, the front is what expires (or is evicted) first.
        self._uses: OrderedDict[str, _NonceUse] = OrderedDict()
        # Issue time (ms) at or before which an unexpired nonce may have lost its
        # nc history to eviction; such nonces are answered STALE, never trusted.
        self._evicted_floor = -(2**63)

    # -- challenges

    @staticmethod
    def ha1(username: str, realm: str, password: str, algorithm: str) -> str:
        """H(username:realm:password) with ``algorithm``'s hash, for the directory to store."""
        return compute_ha1(username, realm, password, algorithm)

    def make_nonce(self, now: float) -> str:
        payload = _TS.pack(int(now * 1000)) + secrets.token_bytes(_RAND_LEN)
        mac = self._mac.copy()
        mac.update(payload)
        return _b64(payload + mac.digest()[:_MAC_LEN])

    def challenge(self, now: float, stale: bool = False) -> list[str]:
        """WWW-Authenticate / Proxy-Authenticate values, one per algorithm in configured order.

        All share one fresh nonce: the client answers only one of them.
        """
        nonce = self.make_nonce(now)
        suffixes = self._stale_suffix if stale else self._suffix
        prefix = self._prefix + nonce
        return [prefix + s for s in suffixes]

    @property
    def opaque(self) -> str:
        return self._opaque

    # -- verification

    def _nonce_issued(self, nonce: str) -> int | None:
        """Issue time in ms of an authentic nonce of ours, else None."""
        if len(nonce) != _NONCE_LEN:
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce + "=")
        except (binascii.Error, ValueError):
            return None
        # Reject non-canonical spellings, so one nonce has one string.
        if len(raw) != _PAYLOAD_LEN + _MAC_LEN or _b64(raw) != nonce:
            return None
        payload = raw[:_PAYLOAD_LEN]
        mac = self._mac.copy()
        mac.update(payload)
        if not hmac.compare_digest(mac.digest()[:_MAC_LEN], raw[_PAYLOAD_LEN:]):
            return None
        return _TS.unpack_from(payload)[0]

    def verify(
        self,
        credentials: DigestCredentials,
        *,
        method: str,
        now: float,
        ha1: str | None,
        body: bytes = b"",
        request_uri: str | None = None,
    ) -> VerifyResult:
        """Check ``credentials`` of a request with ``method`` received at ``now``.

        ``ha1`` is the stored H(username:realm:password) for
        ``credentials.username`` made with ``credentials.hash_algorithm``, or
        None for an unknown user. ``request_uri``, when given, must equal the
        digest ``uri`` parameter exactly. Only an OK answer advances the
        nonce's nc, so a forged request cannot lock out the real client.
        """
        c = credentials
        reason = self._check_static(c, request_uri)
        if reason is None:
            issued_ms = self._nonce_issued(c.nonce)
            if issued_ms is None:
                reason = "nonce not issued here"
            elif issued_ms / 1000.0 > now + _CLOCK_SKEW:
                reason = "nonce from the future"
            elif ha1 is None:
                reason = "unknown user"
            elif not self._response_matches(c, ha1, method, body):
                reason = "wrong response"
            else:
                expires = issued_ms / 1000.0 + self.nonce_ttl
                if now >= expires:
                    return VerifyResult.STALE
                if c.nc is None:
                    # RFC 2069 clients have no nonce count; only expiry bounds a replay.
                    return VerifyResult.OK
                return self._count(c.nonce, int(c.nc, 16), issued_ms, expires, now)
        logger.debug("digest refused for %r in realm %r: %s", c.username, self.realm, reason)
        return VerifyResult.BAD

    @staticmethod
    def _response_matches(c: DigestCredentials, ha1: str, method: str, body: bytes) -> bool:
        try:
            expected = compute_response(
                algorithm=c.algorithm, ha1=ha1, nonce=c.nonce, method=method, uri=c.uri,
                qop=c.qop, nc=c.nc, cnonce=c.cnonce, body=body,
            )
        except DigestError:
            return False
        return hmac.compare_digest(expected.encode(), c.response.lower().encode())

    def _check_static(self, c: DigestCredentials, request_uri: str | None) -> str | None:
        """Reason the credentials cannot be ours regardless of any digest, or None."""
        if c.realm != self.realm:
            return "wrong realm"
        if canonical_algorithm(c.algorithm) not in self.algorithms:
            return f"algorithm {c.algorithm!r} not offered"
        if c.qop is None:
            if self.qop:
                return "qop missing"
        elif c.qop not in self.qop:
            return f"qop {c.qop!r} not offered"
        elif c.nc is None or len(c.nc) != 8 or not is_hex(c.nc) or c.cnonce is None:
            # parse_credentials enforces this; credentials built by hand may not.
            return "qop without a valid nc and cnonce"
        if request_uri is not None and c.uri != request_uri:
            return "digest uri differs from the request-URI"
        if c.opaque is not None and c.opaque != self._opaque:
            return "opaque mismatch"
        return None

    def _count(self, nonce: str, nc: int, issued_ms: int, expires: float, now: float) -> VerifyResult:
        uses = self._uses
        use = uses.get(nonce)
        if use is None:
            if issued_ms <= self._evicted_floor:
                # Its history may have been evicted: a replay could not be told apart.
                return VerifyResult.STALE
            self._purge(now)
            uses[nonce] = _NonceUse(nc, issued_ms, expires)
            if len(uses) > self.max_nonces:
                self._evict()
            return VerifyResult.OK
        if nc <= use.last_nc:
            logger.debug("digest replay in realm %r: nc %d <= %d", self.realm, nc, use.last_nc)
            return VerifyResult.REPLAY
        use.last_nc = nc
        return VerifyResult.OK

    def _purge(self, now: float) -> None:
        """Drop expired entries from the oldest end."""
        uses = self._uses
        while uses:
            nonce, use = next(iter(uses.items()))
            if use.expires > now:
                return
            del uses[nonce]

    def _evict(self) -> None:
        _, use = self._uses.popitem(last=False)
        self._evicted_floor = max(self._evicted_floor, use.issued_ms)
        logger.debug("nonce table full (%d); evicted one in realm %r", self.max_nonces, self.realm)

    def __len__(self) -> int:
        """Number of nonces whose nc is tracked."""
        return len(self._uses)

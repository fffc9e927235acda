"""HTTP Digest authentication for SIP (RFC 2617, RFC 7616, RFC 8760; RFC 2069 legacy form).

Sans-I/O: everything here works on header *values* (strings), bodies (bytes)
and a caller-supplied clock (``now: float``). The UA core moves values between
SIP messages and these functions.

Client side (UAC):
    ``parse_challenge`` a WWW-Authenticate / Proxy-Authenticate value, then
    ``build_authorization`` the Authorization / Proxy-Authorization value, or let
    ``ClientAuthState`` remember challenges per realm and count nonces.

Server side (UAS, registrar, proxy):
    ``DigestChallenger.challenge`` issues stateless nonces (HMAC-signed, with
    their issue time inside, so expiry needs no storage); ``parse_credentials``
    and ``DigestChallenger.verify`` check the answer against a stored
    HA1 = H(username:realm:password) — passwords are never needed in clear.

Supported algorithms: MD5, MD5-sess, SHA-256, SHA-256-sess; qop ``auth`` and
``auth-int``, and the RFC 2069 form without qop.
"""
from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import logging
import re
import secrets
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "ClientAuthState",
    "DigestChallenge",
    "DigestChallenger",
    "DigestCredentials",
    "DigestError",
    "UnsupportedAlgorithm",
    "VerifyResult",
    "build_authorization",
    "compute_ha1",
    "compute_response",
    "format_challenge",
    "hash_algorithm",
    "parse_challenge",
    "parse_credentials",
    "select_challenge",
]


class DigestError(ValueError):
    """A Digest header value that is malformed, incomplete or cannot be answered."""


class UnsupportedAlgorithm(DigestError):
    """The challenge names an algorithm (or qop) this module cannot compute."""


# --------------------------------------------------------------------------- algorithms


@dataclass(frozen=True, slots=True)
class _Algorithm:
    name: str  # canonical spelling, echoed on the wire
    base: str  # the hash the stored HA1 is made with ("MD5" / "SHA-256")
    hexdigest: Callable[[bytes], str]
    sess: bool


def _md5_hex(data: bytes) -> str:
    # Digest is a legacy use of MD5; say so, or FIPS builds refuse it.
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_ALGORITHMS: dict[str, _Algorithm] = {
    a.name.upper(): a
    for a in (
        _Algorithm("MD5", "MD5", _md5_hex, False),
        _Algorithm("MD5-sess", "MD5", _md5_hex, True),
        _Algorithm("SHA-256", "SHA-256", _sha256_hex, False),
        _Algorithm("SHA-256-sess", "SHA-256", _sha256_hex, True),
    )
}

SUPPORTED_ALGORITHMS: tuple[str, ...] = tuple(a.name for a in _ALGORITHMS.values())


def _canonical_algorithm(raw: str) -> str:
    """Canonical spelling of a known algorithm; unknown ones are kept as sent."""
    algo = _ALGORITHMS.get(raw.upper())
    return algo.name if algo is not None else raw


def _algorithm(name: str) -> _Algorithm:
    algo = _ALGORITHMS.get(name.upper())
    if algo is None:
        raise UnsupportedAlgorithm(f"unsupported digest algorithm {name!r}")
    return algo


def hash_algorithm(algorithm: str) -> str:
    """The hash a stored HA1 must be made with for ``algorithm`` ("MD5-sess" -> "MD5").

    Raises ``UnsupportedAlgorithm`` for algorithms this module does not know.
    """
    return _algorithm(algorithm).base


def compute_ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """HA1 = H(username:realm:password), the value a directory stores instead of the password.

    For the -sess algorithms this is the *stored* part; the per-nonce session
    key is derived from it during the computation.
    """
    algo = _algorithm(algorithm)
    return algo.hexdigest(f"{username}:{realm}:{password}".encode())


def compute_response(
    *,
    algorithm: str,
    ha1: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The ``response`` digest (RFC 7616 §3.4.1; RFC 2069 form when ``qop`` is None).

    ``nc`` is the 8-hex-digit string exactly as sent on the wire.
    """
    algo = _algorithm(algorithm)
    h = algo.hexdigest
    if algo.sess:
        if cnonce is None:
            raise DigestError(f"{algo.name} needs a cnonce, which only exists with qop")
        ha1 = h(f"{ha1}:{nonce}:{cnonce}".encode())
    if qop == "auth-int":
        ha2 = h(f"{method}:{uri}:{h(body)}".encode())
    else:
        ha2 = h(f"{method}:{uri}".encode())
    if qop is None:
        return h(f"{ha1}:{nonce}:{ha2}".encode())
    if nc is None or cnonce is None:
        raise DigestError("qop requires nc and cnonce")
    return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}".encode())


# --------------------------------------------------------------------------- parsing

_WS_STR = " \t\r\n"
_WS = frozenset(_WS_STR)
# RFC 3261 token plus HTTP's extra tchars: names are strict tokens.
_TOKEN_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~#$&^|"
)
# An unquoted value runs to the next separator. Real devices send unquoted
# values that are not strict tokens (base64 nonces with '/' and '='), so only
# the characters that would make the list ambiguous end it.
_VALUE_STOP = frozenset(' \t\r\n,"')


def _read_quoted(s: str, i: int) -> tuple[str, int]:
    """Read a quoted-string whose opening quote is at ``i - 1``; return (value, index after it)."""
    end = s.find('"', i)
    if end < 0:
        raise DigestError("unterminated quoted string")
    bs = s.find("\\", i, end)
    if bs < 0:
        return s[i:end], end + 1
    # Escapes present: rare, so the slow character walk is fine here.
    out: list[str] = []
    n = len(s)
    j = i
    while j < n:
        c = s[j]
        if c == "\\":
            if j + 1 >= n:
                break
            out.append(s[j + 1])
            j += 2
        elif c == '"':
            return "".join(out), j + 1
        else:
            out.append(c)
            j += 1
    raise DigestError("unterminated quoted string")


def _parse_digest(value: str) -> dict[str, str]:
    """Split ``Digest name=value, ...`` into a dict with lower-case names."""
    s = value.strip()
    n = len(s)
    i = 0
    while i < n and s[i] not in _WS:
        i += 1
    scheme = s[:i]
    if scheme.lower() != "digest":
        raise DigestError(f"not a Digest value (scheme {scheme[:20]!r})")
    params: dict[str, str] = {}
    while True:
        # Skip whitespace and empty list elements (RFC 7230 #rule allows ", ,").
        while i < n and (s[i] in _WS or s[i] == ","):
            i += 1
        if i >= n:
            return params
        eq = s.find("=", i)
        if eq < 0:
            raise DigestError(f"parameter at offset {i} has no value")
        name = s[i:eq].rstrip(_WS_STR)
        if not name or not _TOKEN_CHARS.issuperset(name):
            raise DigestError(f"bad parameter name at offset {i}")
        name = name.lower()
        j = eq + 1
        while j < n and s[j] in _WS:
            j += 1
        if j < n and s[j] == '"':
            val, j = _read_quoted(s, j + 1)
        else:
            k = s.find(",", j)
            val = s[j:k if k >= 0 else n].rstrip(_WS_STR)
            if not val:
                raise DigestError(f"parameter {name!r} has an empty value")
            if not _VALUE_STOP.isdisjoint(val):
                raise DigestError(f"parameter {name!r} has a malformed value")
            j += len(val)
        while j < n and s[j] in _WS:
            j += 1
        if j < n and s[j] != ",":
            raise DigestError(f"expected ',' after parameter {name!r}")
        if name in params:
            # RFC 7616 §3.3: each directive at most once; two would be ambiguous.
            raise DigestError(f"duplicate parameter {name!r}")
        params[name] = val
        i = j


def _required(params: dict[str, str], name: str, *, allow_empty: bool = False) -> str:
    val = params.get(name)
    if val is None:
        raise DigestError(f"missing {name!r}")
    if not val and not allow_empty:
        raise DigestError(f"empty {name!r}")
    return val


@dataclass(slots=True)
class DigestChallenge:
    """One WWW-Authenticate / Proxy-Authenticate Digest challenge.

    ``algorithm`` is canonical ("MD5", "SHA-256", ...) when known, else as
    sent; ``qop`` lists the offered options in lower case (empty: RFC 2069
    server). ``userhash`` is not supported and is ignored.
    """

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    domain: str | None = None

    @property
    def supported(self) -> bool:
        """Whether ``build_authorization`` can answer this challenge."""
        algo = _ALGORITHMS.get(self.algorithm.upper())
        if algo is None:
            return False
        if self.qop:
            return "auth" in self.qop or "auth-int" in self.qop
        return not algo.sess


@dataclass(slots=True)
class DigestCredentials:
    """One Authorization / Proxy-Authorization Digest value.

    ``nc`` is kept as the exact 8-hex-digit string from the wire, because the
    digest is computed over that text.
    """

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    cnonce: str | None = None
    opaque: str | None = None
    qop: str | None = None
    nc: str | None = None

    @property
    def hash_algorithm(self) -> str | None:
        """Hash the caller's stored HA1 must use ("MD5"/"SHA-256"), None if unsupported."""
        algo = _ALGORITHMS.get(self.algorithm.upper())
        return algo.base if algo is not None else None


def parse_challenge(value: str) -> DigestChallenge:
    """Parse a WWW-Authenticate / Proxy-Authenticate value. Raises ``DigestError``."""
    params = _parse_digest(value)
    qop_raw = params.get("qop")
    qop: tuple[str, ...] = ()
    if qop_raw is not None:
        qop = tuple(q for q in (p.strip().lower() for p in qop_raw.split(",")) if q)
        if not qop:
            raise DigestError("empty 'qop'")
    stale = params.get("stale")
    return DigestChallenge(
        realm=_required(params, "realm", allow_empty=True),
        nonce=_required(params, "nonce"),
        algorithm=_canonical_algorithm(params.get("algorithm", "MD5")),
        qop=qop,
        opaque=params.get("opaque"),
        # RFC 2617: anything other than TRUE means false.
        stale=stale is not None and stale.lower() == "true",
        domain=params.get("domain"),
    )


def parse_credentials(value: str) -> DigestCredentials:
    """Parse an Authorization / Proxy-Authorization value. Raises ``DigestError``."""
    params = _parse_digest(value)
    qop = params.get("qop")
    nc = params.get("nc")
    cnonce = params.get("cnonce")
    if qop is not None:
        qop = qop.lower()
        if nc is None or cnonce is None:
            raise DigestError("qop given without nc and cnonce")
        if len(nc) != 8 or not _is_hex(nc):
            raise DigestError("nc is not 8 hex digits")
    return DigestCredentials(
        username=_required(params, "username", allow_empty=True),
        realm=_required(params, "realm", allow_empty=True),
        nonce=_required(params, "nonce"),
        uri=_required(params, "uri"),
        response=_required(params, "response"),
        algorithm=_canonical_algorithm(params.get("algorithm", "MD5")),
        cnonce=cnonce,
        opaque=params.get("opaque"),
        qop=qop,
        nc=nc,
    )


_HEX = frozenset("0123456789abcdefABCDEF")


def _is_hex(s: str) -> bool:
    return all(c in _HEX for c in s)


def select_challenge(values: Iterable[str]) -> DigestChallenge | None:
    """The topmost challenge this module can answer (RFC 8760 §2.4), or None.

    Values that are not Digest, malformed, or use an unknown algorithm are
    skipped, which is how a UAC falls back from SHA-512-256 to SHA-256 to MD5.
    """
    for value in values:
        try:
            ch = parse_challenge(value)
        except DigestError as exc:
            logger.debug("skipping challenge: %s", exc)
            continue
        if ch.supported:
            return ch
    return None


# --------------------------------------------------------------------------- formatting

# CR/LF would end the header (injection); other controls are not allowed raw in SIP text.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _quote(name: str, value: str) -> str:
    if _FORBIDDEN.search(value):
        raise DigestError(f"{name!r} contains control characters")
    if '"' in value or "\\" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{value}"'


def format_challenge(ch: DigestChallenge) -> str:
    """Serialise a challenge as a WWW-Authenticate / Proxy-Authenticate value."""
    parts = [f"Digest realm={_quote('realm', ch.realm)}"]
    if ch.domain is not None:
        parts.append(f"domain={_quote('domain', ch.domain)}")
    parts.append(f"nonce={_quote('nonce', ch.nonce)}")
    if ch.opaque is not None:
        parts.append(f"opaque={_quote('opaque', ch.opaque)}")
    if ch.stale:
        parts.append("stale=TRUE")
    if not ch.algorithm or not _TOKEN_CHARS.issuperset(ch.algorithm):
        raise DigestError(f"algorithm {ch.algorithm!r} is not a token")
    parts.append(f"algorithm={ch.algorithm}")
    if ch.qop:
        parts.append(f"qop={_quote('qop', ','.join(ch.qop))}")
    return ", ".join(parts)


def _choose_qop(challenge: DigestChallenge) -> str | None:
    if not challenge.qop:
        return None
    # auth-int covers the body, which proxies may legitimately rewrite (SDP);
    # plain auth is what every SIP server accepts, so prefer it.
    if "auth" in challenge.qop:
        return "auth"
    if "auth-int" in challenge.qop:
        return "auth-int"
    raise UnsupportedAlgorithm(f"no supported qop in {challenge.qop!r}")


def _build(
    challenge: DigestChallenge,
    *,
    method: str,
    uri: str,
    username: str,
    ha1: str,
    body: bytes,
    cnonce: str | None,
    nc: int,
) -> str:
    algo = _algorithm(challenge.algorithm)
    qop = _choose_qop(challenge)
    head = (
        f"Digest username={_quote('username', username)}, "
        f"realm={_quote('realm', challenge.realm)}, "
        f"nonce={_quote('nonce', challenge.nonce)}, "
        f"uri={_quote('uri', uri)}, "
    )
    opaque = "" if challenge.opaque is None else f", opaque={_quote('opaque', challenge.opaque)}"
    if qop is None:
        if algo.sess:
            # RFC 2617 §3.2.2: cnonce MUST NOT be sent without qop, and -sess needs it.
            raise UnsupportedAlgorithm(f"{algo.name} challenge without qop cannot be answered")
        response = compute_response(
            algorithm=algo.name, ha1=ha1, nonce=challenge.nonce, method=method, uri=uri
        )
        return f'{head}response="{response}", algorithm={algo.name}{opaque}'
    if not 0 < nc <= 0xFFFFFFFF:
        raise DigestError(f"nonce count {nc} out of range")
    nc_text = f"{nc:08x}"
    if cnonce is None:
        cnonce = secrets.token_hex(8)
    response = compute_response(
        algorithm=algo.name, ha1=ha1, nonce=challenge.nonce, method=method, uri=uri,
        qop=qop, nc=nc_text, cnonce=cnonce, body=body,
    )
    # RFC 7616 §3.4: qop and nc are unquoted in credentials; some SIP servers insist.
    return (
        f'{head}response="{response}", algorithm={algo.name}, '
        f"cnonce={_quote('cnonce', cnonce)}{opaque}, qop={qop}, nc={nc_text}"
    )


def build_authorization(
    challenge: DigestChallenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    body: bytes = b"",
    cnonce: str | None = None,
    nc: int = 1,
) -> str:
    """Answer ``challenge``: the value of an Authorization / Proxy-Authorization header.

    qop=auth when offered (auth-int when it is the only option), otherwise the
    RFC 2069 form. ``uri`` is the Request-URI as written in the request line.
    A random cnonce is made when none is given. Raises ``DigestError`` /
    ``UnsupportedAlgorithm``.
    """
    ha1 = compute_ha1(username, challenge.realm, password, challenge.algorithm)
    return _build(
        challenge, method=method, uri=uri, username=username, ha1=ha1,
        body=body, cnonce=cnonce, nc=nc,
    )


# --------------------------------------------------------------------------- UAC state


@dataclass(slots=True)
class _RealmState:
    challenge: DigestChallenge
    proxy: bool
    ha1: str
    nc: int = 0


class ClientAuthState:
    """What one UAC identity remembers between requests: the last challenge per realm.

    Feed it the challenge values of every 401/407 with ``on_challenge``; ask it
    for the credential headers of each (re)sent request with
    ``authorization_headers``. Reusing a nonce increments nc, so later requests
    are authorised without another round trip.
    """

    __slots__ = ("_password", "_realms", "_username")

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password
        self._realms: dict[str, _RealmState] = {}

    @property
    def realms(self) -> tuple[str, ...]:
        return tuple(self._realms)

    def on_challenge(self, values: Iterable[str], *, proxy: bool = False) -> bool:
        """Take the WWW-Authenticate (``proxy=False``) or Proxy-Authenticate values of a response.

        Returns True when the request should be resent with new credentials;
        False when nothing usable was offered, or when a realm we already
        answered challenges again without ``stale`` — the credentials were
        refused, and resending them would loop (RFC 3261 §22.2). That realm
        is forgotten so a later request starts afresh.
        """
        offered: dict[str, DigestChallenge] = {}
        for value in values:
            try:
                ch = parse_challenge(value)
            except DigestError as exc:
                logger.debug("ignoring unparsable challenge: %s", exc)
                continue
            # RFC 8760 §2.4: per realm, the topmost challenge we support.
            if ch.supported and ch.realm not in offered:
                offered[ch.realm] = ch
        refused = False
        for realm, ch in offered.items():
            old = self._realms.get(realm)
            if old is not None and old.nc > 0 and not ch.stale:
                logger.info("digest credentials for realm %r refused", realm)
                del self._realms[realm]
                refused = True
                continue
            ha1 = compute_ha1(self._username, realm, self._password, ch.algorithm)
            self._realms[realm] = _RealmState(ch, proxy, ha1)
        return bool(offered) and not refused

    def authorization_headers(
        self, *, method: str, uri: str, body: bytes = b""
    ) -> list[tuple[str, str]]:
        """(header name, value) pairs to add to a request, one per remembered realm."""
        out: list[tuple[str, str]] = []
        for st in self._realms.values():
            st.nc += 1
            value = _build(
                st.challenge, method=method, uri=uri, username=self._username, ha1=st.ha1,
                body=body, cnonce=None, nc=st.nc,
            )
            out.append(("Proxy-Authorization" if st.proxy else "Authorization", value))
        return out

    def forget(self, realm: str | None = None) -> None:
        """Drop one realm's challenge, or all of them."""
        if realm is None:
            self._realms.clear()
        else:
            self._realms.pop(realm, None)


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
        self.algorithms: tuple[str, ...] = tuple(_algorithm(a).name for a in algorithms)
        if not self.algorithms:
            raise ValueError("at least one algorithm is required")
        self.qop: tuple[str, ...] = tuple(q.lower() for q in qop)
        for q in self.qop:
            if q not in ("auth", "auth-int"):
                raise ValueError(f"unsupported qop {q!r}")
        if not self.qop and any(_algorithm(a).sess for a in self.algorithms):
            raise ValueError("-sess algorithms need a qop")
        self.max_nonces = max_nonces
        realm_b = realm.encode()
        # The realm is in the MAC so a nonce of one realm is void in another sharing the secret.
        self._mac = hmac.new(secret, b"nonce\x00" + realm_b + b"\x00", hashlib.sha256)
        self._opaque = hmac.new(secret, b"opaque\x00" + realm_b, hashlib.sha256).hexdigest()[:16]
        # Everything except the nonce is fixed: pre-render it once per algorithm.
        self._prefix = f'Digest realm={_quote("realm", realm)}, nonce="'
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
        if _canonical_algorithm(c.algorithm) not in self.algorithms:
            return f"algorithm {c.algorithm!r} not offered"
        if c.qop is None:
            if self.qop:
                return "qop missing"
        elif c.qop not in self.qop:
            return f"qop {c.qop!r} not offered"
        elif c.nc is None or len(c.nc) != 8 or not _is_hex(c.nc) or c.cnonce is None:
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

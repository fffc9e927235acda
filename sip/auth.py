"""HTTP Digest for SIP, the part both sides share (RFC 2617, RFC 7616, RFC 8760; RFC 2069 legacy form).

Sans-I/O: everything here works on header *values* (strings), bodies (bytes)
and a caller-supplied clock (``now: float``). The UA core moves values between
SIP messages and these functions.

Here: the algorithms and the digest computations (``compute_ha1``,
``compute_response``), the challenge and credentials values
(``DigestChallenge``, ``DigestCredentials``) with their parsers
(``parse_challenge``, ``parse_credentials``) and parameter quoting.

Client side (UAC): ``sip.auth_client`` — ``select_challenge``,
``build_authorization`` and ``ClientAuthState`` (challenges per realm, nonce counts).

Server side (UAS, registrar, proxy): ``sip.auth_server`` — ``DigestChallenger``
(stateless HMAC-signed nonces, verification against a stored
HA1 = H(username:realm:password)) and ``format_challenge``.

Supported algorithms: MD5, MD5-sess, SHA-256, SHA-256-sess; qop ``auth`` and
``auth-int``, and the RFC 2069 form without qop.
"""
from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "TOKEN_CHARS",
    "DigestChallenge",
    "DigestCredentials",
    "DigestError",
    "UnsupportedAlgorithm",
    "canonical_algorithm",
    "compute_ha1",
    "compute_response",
    "digest_algorithm",
    "hash_algorithm",
    "is_hex",
    "parse_challenge",
    "parse_credentials",
    "quote_param",
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


def canonical_algorithm(raw: str) -> str:
    """Canonical spelling of a known algorithm; unknown ones are kept as sent."""
    algo = _ALGORITHMS.get(raw.upper())
    return algo.name if algo is not None else raw


def digest_algorithm(name: str) -> _Algorithm:
    algo = _ALGORITHMS.get(name.upper())
    if algo is None:
        raise UnsupportedAlgorithm(f"unsupported digest algorithm {name!r}")
    return algo


def hash_algorithm(algorithm: str) -> str:
    """The hash a stored HA1 must be made with for ``algorithm`` ("MD5-sess" -> "MD5").

    Raises ``UnsupportedAlgorithm`` for algorithms this module does not know.
    """
    return digest_algorithm(algorithm).base


def compute_ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """HA1 = H(username:realm:password), the value a directory stores instead of the password.

    For the -sess algorithms this is the *stored* part; the per-nonce session
    key is derived from it during the computation.
    """
    algo = digest_algorithm(algorithm)
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
    algo = digest_algorithm(algorithm)
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
TOKEN_CHARS = frozenset(
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
        if not name or not TOKEN_CHARS.issuperset(name):
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
        algorithm=canonical_algorithm(params.get("algorithm", "MD5")),
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
        if len(nc) != 8 or not is_hex(nc):
            raise DigestError("nc is not 8 hex digits")
    return DigestCredentials(
        username=_required(params, "username", allow_empty=True),
        realm=_required(params, "realm", allow_empty=True),
        nonce=_required(params, "nonce"),
        uri=_required(params, "uri"),
        response=_required(params, "response"),
        algorithm=canonical_algorithm(params.get("algorithm", "MD5")),
        cnonce=cnonce,
        opaque=params.get("opaque"),
        qop=qop,
        nc=nc,
    )


_HEX = frozenset("0123456789abcdefABCDEF")


def is_hex(s: str) -> bool:
    return all(c in _HEX for c in s)


# --------------------------------------------------------------------------- formatting

# CR/LF would end the header (injection); other controls are not allowed raw in SIP text.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def quote_param(name: str, value: str) -> str:
    if _FORBIDDEN.search(value):
        raise DigestError(f"{name!r} contains control characters")
    if '"' in value or "\\" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{value}"'

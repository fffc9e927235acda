"""HTTP Digest, client side (UAC): answer a SIP server's challenges.

``select_challenge`` picks the topmost answerable WWW-Authenticate /
Proxy-Authenticate value (RFC 8760 §2.4), ``build_authorization`` writes the
Authorization / Proxy-Authorization value, and ``ClientAuthState`` remembers
challenges per realm and counts nonces. Shared parsing and digest
computations are in ``sip.auth``. Sans-I/O.
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sip.auth import (
    DigestChallenge,
    DigestError,
    UnsupportedAlgorithm,
    compute_ha1,
    compute_response,
    digest_algorithm,
    parse_challenge,
    quote_param,
)

logger = logging.getLogger(__name__)

__all__ = ["ClientAuthState", "build_authorization", "select_challenge"]


def select_challenge(values: Iterable[str]) -> DigestChallenge | None:
    """The topmost challenge this module can answer (RFC 8760 §2.4), or None.

    Values that are not Digest, malformed, or use an unknown algorithm are
    skipped, which is how a UAC falls back from SHA-512-256 to SHA-256 to MD5.
    """
    return next(_supported_challenges(values), None)


def _supported_challenges(values: Iterable[str]) -> Iterator[DigestChallenge]:
    """The challenges among ``values`` this module can answer, in order; the rest are skipped."""
    for value in values:
        try:
            ch = parse_challenge(value)
        except DigestError as exc:
            logger.debug("skipping challenge: %s", exc)
            continue
        if ch.supported:
            yield ch


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
    algo = digest_algorithm(challenge.algorithm)
    qop = _choose_qop(challenge)
    head = (
        f"Digest username={quote_param('username', username)}, "
        f"realm={quote_param('realm', challenge.realm)}, "
        f"nonce={quote_param('nonce', challenge.nonce)}, "
        f"uri={quote_param('uri', uri)}, "
    )
    opaque = "" if challenge.opaque is None else f", opaque={quote_param('opaque', challenge.opaque)}"
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
        f"cnonce={quote_param('cnonce', cnonce)}{opaque}, qop={qop}, nc={nc_text}"
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
        for ch in _supported_challenges(values):
            # RFC 8760 §2.4: per realm, the topmost challenge we support.
            if ch.realm not in offered:
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

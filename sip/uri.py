"""SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966), parsed and serialised.

The user part is kept as written (still %-escaped): equality of URIs is a
separate rule (§19.1.4) and re-escaping would change what peers see.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sip.errors import SipParseError

# Characters that may appear in a hostname or IPv4 address (§25.1 hostname).
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
_IPV6_CHARS = frozenset("0123456789abcdefABCDEF:.")
# The same sets as strings: ``not text.strip(chars)`` tests "only these chars" in C.
_HOST_CHARS_STR = "".join(sorted(_HOST_CHARS))
_IPV6_CHARS_STR = "".join(sorted(_IPV6_CHARS))
# Characters never legal anywhere in a URI as written in a SIP message.
_FORBIDDEN = frozenset(" \t\r\n<>\"")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")


def _params_str(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


@dataclass(slots=True)
class SipUri:
    scheme: str
    user: str | None
    password: str | None
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(self.user)
            if self.password is not None:
                parts.append(":" + self.password)
            parts.append("@")
        parts.append(self.host)
        if self.port is not None:
            parts.append(f":{self.port}")
        if self.params:
            parts.append(_params_str(self.params))
        if self.headers:
            parts.append("?" + "&".join(f"{k}={v}" for k, v in self.headers.items()))
        return "".join(parts)

    @property
    def hostport(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def transport(self) -> str | None:
        t = self.params.get("transport")
        return t.lower() if t else None

    def address(self, default_port: int = 5060) -> tuple[str, int]:
        """Where to send to: maddr overrides host; brackets of IPv6 removed."""
        host = self.params.get("maddr") or self.host
        if host.startswith("["):
            host = host[1:-1]
        return host, self.port or (5061 if self.scheme == "sips" else default_port)


@dataclass(slots=True)
class TelUri:
    number: str
    params: dict[str, str | None] = field(default_factory=dict)

    def __str__(self) -> str:
        return "tel:" + self.number + _params_str(self.params)

    @property
    def user(self) -> str:
        return self.number


@dataclass(slots=True)
class AbsoluteUri:
    """Any other scheme (http:, mailto:, urn:...): carried, not interpreted."""

    scheme: str
    rest: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"


Uri = SipUri | TelUri | AbsoluteUri


def parse_params(text: str, what: str) -> dict[str, str | None]:
    """``;a=b;c`` (leading ';' already removed) → ordered dict, names lower-cased."""
    params: dict[str, str | None] = {}
    for item in text.split(";"):
        if not item:
            raise SipParseError.bad(f"Empty {what} parameter")
        name, eq, value = item.partition("=")
        if not name:
            raise SipParseError.bad(f"Malformed {what} parameter")
        params[name.lower()] = value if eq else None
    return params


def _valid_host(host: str) -> bool:
    if not host:
        return False
    if host[0] == "[":
        return host[-1] == "]" and len(host) > 2 and not host[1:-1].strip(_IPV6_CHARS_STR)
    return not host.strip(_HOST_CHARS_STR)


def parse_hostport(text: str, what: str) -> tuple[str, int | None]:
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError.bad(f"Malformed IPv6 reference in {what}")
        host, rest = text[: end + 1], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise SipParseError.bad(f"Malformed host in {what}")
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text_ = text.partition(":")
        port_text = port_text_ if colon else None
    if not _valid_host(host):
        raise SipParseError.bad(f"Malformed host in {what}")
    port: int | None = None
    if port_text is not None:
        if not (port_text.isascii() and port_text.isdigit()) or len(port_text) > 5 or int(port_text) > 65535:
            raise SipParseError.bad(f"Malformed port in {what}")
        port = int(port_text)
    return host, port


def parse_uri(text: str) -> Uri:
    colon = text.find(":")
    if colon <= 0:
        raise SipParseError.bad("Malformed URI")
    scheme = text[:colon]
    if any(c not in _SCHEME_CHARS for c in scheme) or not scheme[0].isalpha():
        raise SipParseError.bad("Malformed URI scheme")
    if any(c in _FORBIDDEN for c in text):
        raise SipParseError.bad("Malformed URI (whitespace or delimiter inside)")
    scheme = scheme.lower()
    rest = text[colon + 1 :]
    if scheme in ("sip", "sips"):
        return _parse_sip(scheme, rest)
    if scheme == "tel":
        number, semi, ptext = rest.partition(";")
        if not number:
            raise SipParseError.bad("Malformed tel URI")
        return TelUri(number, parse_params(ptext, "URI") if semi else {})
    if not rest:
        raise SipParseError.bad("Malformed URI")
    return AbsoluteUri(scheme, rest)


def _parse_sip(scheme: str, rest: str) -> SipUri:
    headers: dict[str, str] = {}
    # '@' is never legal unescaped after the userinfo, while '?' and ';' are legal inside it.
    at = rest.find("@")
    user: str | None = None
    password: str | None = None
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, pc, pw = userinfo.partition(":")
        password = pw if pc else None
        if not user:
            raise SipParseError.bad("Empty user in URI")
    q = rest.find("?")
    if q >= 0:
        htext, rest = rest[q + 1 :], rest[:q]
        for item in htext.split("&"):
            name, eq, value = item.partition("=")
            if not name or not eq:
                raise SipParseError.bad("Malformed URI header")
            headers[name] = value
    hostport, semi, ptext = rest.partition(";")
    host, port = parse_hostport(hostport, "URI")
    params = parse_params(ptext, "URI") if semi else {}
    return SipUri(scheme, user, password, host, port, params, headers)

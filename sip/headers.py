"""Header grammar: names (compact forms), comma lists, name-addr, Via, CSeq.

Functions here take one header *value* (a str) and return typed pieces;
the message layer decides when to call them (lazily, except for what the
transaction layer needs on every message).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sip.errors import SipParseError
from sip.uri import Uri, parse_hostport, parse_uri

# RFC 3261 §7.3.3 and later RFCs' compact forms.
COMPACT = {
    "i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
    "c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to",
    "v": "via", "o": "event", "r": "refer-to", "b": "referred-by", "u": "allow-events",
    "x": "session-expires", "a": "accept-contact", "j": "reject-contact", "d": "request-disposition",
    "y": "identity", "n": "identity-info",
}

# How each known header is written on the wire (lower-case → canonical).
_CANONICAL = {
    n.lower(): n
    for n in (
        "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Content-Length",
        "Content-Type", "Content-Encoding", "Route", "Record-Route", "Allow", "Supported", "Require",
        "Proxy-Require", "Unsupported", "User-Agent", "Server", "Expires", "Min-Expires", "Event",
        "Allow-Events", "Subscription-State", "Refer-To", "Referred-By", "Replaces", "Authorization",
        "WWW-Authenticate", "Proxy-Authenticate", "Proxy-Authorization", "Authentication-Info",
        "Session-Expires", "Min-SE", "Alert-Info", "Call-Info", "Accept", "Accept-Encoding",
        "Accept-Language", "Subject", "Date", "Timestamp", "Warning", "Reason", "Retry-After",
        "Organization", "Priority", "In-Reply-To", "Error-Info", "Reply-To", "MIME-Version",
        "Content-Disposition", "Content-Language", "Path", "Service-Route", "P-Asserted-Identity",
        "Privacy", "RSeq", "RAck", "Identity", "Identity-Info", "Accept-Contact", "Reject-Contact",
        "Request-Disposition",
    )
}

# Headers whose grammar is a comma-separated list (§7.3.1): these may be
# split and combined. Credentials and dates contain commas and are not lists.
LIST_HEADERS = frozenset({
    "via", "contact", "route", "record-route", "allow", "supported", "require", "proxy-require",
    "unsupported", "accept", "accept-encoding", "accept-language", "allow-events", "content-encoding",
    "content-language", "in-reply-to", "error-info", "alert-info", "call-info", "warning", "path",
    "service-route", "p-asserted-identity", "reason", "privacy",
})

_TOKEN_STR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"


def normalize_name(name: str) -> str:
    """Lower-case long form of a header name (compact forms expanded)."""
    low = name.lower()
    return COMPACT.get(low, low) if len(low) == 1 else low


def canonical_name(lower: str, as_written: str) -> str:
    return _CANONICAL.get(lower) or as_written


def is_token(text: str) -> bool:
    # str.strip removes every leading/trailing char of the set: all-token text strips to "".
    return bool(text) and not text.strip(_TOKEN_STR)


_NAME_CACHE: dict[str, tuple[str, str]] = {}


def header_name(as_written: str) -> tuple[str, str]:
    """(lower-case long name, canonical name) of a header name as received; validated."""
    hit = _NAME_CACHE.get(as_written)
    if hit is not None:
        return hit
    if not is_token(as_written):
        raise SipParseError.bad("Malformed header name")
    low = normalize_name(as_written)
    result = (low, canonical_name(low, as_written))
    if len(_NAME_CACHE) < 2048:  # bounded: names are attacker-chosen
        _NAME_CACHE[as_written] = result
    return result


def split_header_values(value: str) -> list[str]:
    """Split on commas that are outside quoted strings and <...>."""
    if "," not in value:
        v = value.strip()
        return [v] if v else []
    out: list[str] = []
    start = 0
    in_quote = False
    in_angle = False
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
        elif c == "<":
            in_angle = True
        elif c == ">":
            in_angle = False
        elif c == "," and not in_angle:
            item = value[start:i].strip()
            if item:
                out.append(item)
            start = i + 1
        i += 1
    if in_quote:
        raise SipParseError.bad("Unterminated quoted string")
    item = value[start:].strip()
    if item:
        out.append(item)
    return out


def parse_header_params(text: str, what: str) -> dict[str, str | None]:
    """``;a=b;c="x;y"`` → dict (names lower-cased, quoted values kept quoted)."""
    params: dict[str, str | None] = {}
    i = 0
    n = len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        if text[i] != ";":
            raise SipParseError.bad(f"Malformed {what} parameters")
        i += 1
        j = i
        while j < n and text[j] not in "=;":
            j += 1
        name = text[i:j].strip()
        if not is_token(name):
            raise SipParseError.bad(f"Malformed {what} parameter name")
        value: str | None = None
        if j < n and text[j] == "=":
            j += 1
            while j < n and text[j] in " \t":
                j += 1
            if j < n and text[j] == '"':
                k = j + 1
                while k < n and text[k] != '"':
                    k += 2 if text[k] == "\\" else 1
                if k >= n:
                    raise SipParseError.bad(f"Unterminated quoted {what} parameter")
                value = text[j : k + 1]
                j = k + 1
            else:
                k = j
                while k < n and text[k] != ";":
                    k += 1
                value = text[j:k].strip()
                if not value or " " in value or "\t" in value:
                    raise SipParseError.bad(f"Malformed {what} parameter value")
                j = k
        params[name.lower()] = value
        i = j
    return params


def _params_str(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        if "\\" not in inner:
            return inner
        out = []
        i = 0
        while i < len(inner):
            if inner[i] == "\\" and i + 1 < len(inner):
                i += 1
            out.append(inner[i])
            i += 1
        return "".join(out)
    return text


@dataclass(slots=True)
class NameAddr:
    """``"Display" <uri>;params`` or a bare addr-spec with header params."""

    display_name: str | None
    uri: str
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def parsed_uri(self) -> Uri:
        return parse_uri(self.uri)

    def __str__(self) -> str:
        if self.display_name is not None:
            head = f"{quote(self.display_name)} <{self.uri}>"
        else:
            head = f"<{self.uri}>"
        return head + _params_str(self.params)


def parse_name_addr(value: str) -> NameAddr:
    text = value.strip()
    display: str | None = None
    if text.startswith('"'):
        k = 1
        n = len(text)
        while k < n and text[k] != '"':
            k += 2 if text[k] == "\\" else 1
        if k >= n:
            raise SipParseError.bad("Unterminated quoted display name")
        display = unquote(text[: k + 1])
        rest = text[k + 1 :].lstrip()
        if not rest.startswith("<"):
            raise SipParseError.bad("Display name without <URI>")
        text = rest
    lt = text.find("<")
    if lt >= 0:
        if lt > 0:
            tokens = text[:lt].split()
            for t in tokens:
                if not is_token(t):
                    raise SipParseError.bad("Malformed display name")
            display = " ".join(tokens)
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError.bad("Unterminated <URI>")
        uri = text[lt + 1 : gt]
        rest = text[gt + 1 :]
    else:
        semi = text.find(";")
        uri, rest = (text, "") if semi < 0 else (text[:semi], text[semi:])
        uri = uri.strip()
        if "," in uri or "?" in uri:
            # §20: a URI with ',', '?' or ';' must be enclosed in <> (RFC 4475 regbadct)
            raise SipParseError.bad("URI with '?' or ',' outside <>")
    if not uri or " " in uri or "\t" in uri or ":" not in uri:
        raise SipParseError.bad("Malformed URI in address")
    params = parse_header_params(rest, "address") if rest.strip() else {}
    return NameAddr(display, uri, params)


def tag_of(value: str) -> str | None:
    """The tag parameter of a From/To value, without building a NameAddr.

    Called for every message, so it scans rather than parses; the tag is
    a header parameter, i.e. after the closing '>' when there is one.
    """
    gt = value.rfind(">")
    tail = value[gt + 1 :] if gt >= 0 else value
    if ";" not in tail or ("tag" not in tail and "TAG" not in tail.upper()):
        return None
    for part in tail.split(";")[1:]:
        name, eq, val = part.partition("=")
        if eq and name.strip(" \t").lower() == "tag":
            return val.strip(" \t") or None
    return None


@dataclass(slots=True)
class Via:
    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    protocol: str = "SIP/2.0"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> str | None:
        return self.params.get("rport")

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def ttl(self) -> str | None:
        return self.params.get("ttl")

    @property
    def sent_by(self) -> tuple[str, int]:
        host = self.host[1:-1] if self.host.startswith("[") else self.host
        default = 5061 if self.transport == "TLS" else 5060
        return host, self.port or default

    def __str__(self) -> str:
        hp = self.host if self.port is None else f"{self.host}:{self.port}"
        return f"{self.protocol}/{self.transport} {hp}{_params_str(self.params)}"


def parse_via(value: str) -> Via:
    text = value.strip()
    parts = text.split("/", 2)
    if len(parts) != 3:
        raise SipParseError.bad("Malformed Via")
    name, version, rest = parts[0].strip(), parts[1].strip(), parts[2].lstrip()
    sp = 0
    while sp < len(rest) and rest[sp] not in " \t":
        sp += 1
    transport = rest[:sp]
    rest = rest[sp:].lstrip()
    if not is_token(name) or not is_token(version) or not is_token(transport) or not rest:
        raise SipParseError.bad("Malformed Via")
    semi = rest.find(";")
    hostport, ptext = (rest, "") if semi < 0 else (rest[:semi], rest[semi:])
    hostport = hostport.strip()
    # LWS is allowed around the ':' of sent-by
    if ":" in hostport and not hostport.startswith("["):
        h, _, p = hostport.partition(":")
        hostport = h.strip() + ":" + p.strip()
    host, port = parse_hostport(hostport, "Via")
    params = parse_header_params(ptext, "Via") if ptext else {}
    return Via(transport.upper(), host, port, params, f"{name.upper()}/{version}")


def parse_cseq(value: str) -> tuple[int, str]:
    parts = value.split()
    if len(parts) != 2 or not (parts[0].isascii() and parts[0].isdigit()) or len(parts[0]) > 10:
        raise SipParseError.bad("Malformed CSeq")
    number = int(parts[0])
    if number >= 2**31:
        raise SipParseError.bad("CSeq number out of range")
    if not is_token(parts[1]):
        raise SipParseError.bad("Malformed CSeq method")
    return number, parts[1]

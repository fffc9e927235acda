"""SIP requests and responses: parse from bytes, build, serialise (RFC 3261 §7, §20).

Parsing is lazy where it can be. ``parse_message`` splits the start line and
header lines, and reads at once only what every message needs for transaction
and dialog matching: the Via values, Call-ID, CSeq, the From/To tags and
Content-Length. Everything else (name-addrs, Contact, Content-Type, Date...)
is parsed on access; ``validate()`` forces those checks, and the UA core
calls it before acting on a new request.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from email.utils import parsedate_tz

from sip.errors import SipParseError
from sip.headers import (
    _NAME_CACHE,
    LIST_HEADERS,
    NameAddr,
    Via,
    canonical_name,
    header_name,
    is_token,
    normalize_name,
    parse_cseq,
    parse_name_addr,
    parse_via,
    split_header_values,
    tag_of,
)
from sip.uri import SipUri, Uri, parse_uri

MAX_MESSAGE_SIZE = 65535
MAX_HEADERS = 256

REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 199: "Early Dialog Terminated",
    200: "OK", 202: "Accepted", 204: "No Notification",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily", 305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    413: "Request Entity Too Large", 414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required",
    422: "Session Interval Too Small", 423: "Interval Too Brief", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 600: "Busy Everywhere", 603: "Decline",
    604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}

_CRLF_OR_NUL = ("\r", "\n", "\x00")


def _check_value(value: str) -> None:
    # CR/LF in a value would let a caller inject headers on the wire.
    for c in _CRLF_OR_NUL:
        if c in value:
            raise ValueError(f"header value contains {c!r}")


def _nuls_quoted(text: str) -> bool:
    """Whether every NUL is the second half of a quoted-pair (``\\`` NUL), the only place §25 allows one."""
    i = text.find("\x00")
    while i >= 0:
        if i == 0 or text[i - 1] != "\\":
            return False
        i = text.find("\x00", i + 1)
    return True


class Headers:
    """Ordered, case-insensitive multimap of header lines.

    Items are ``(lower-case long name, name as written, value)``; values
    are kept exactly as received (one entry per header line).
    """

    __slots__ = ("_items",)

    def __init__(self, items: list[tuple[str, str, str]] | None = None) -> None:
        self._items: list[tuple[str, str, str]] = items if items is not None else []

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> "Headers":
        h = cls()
        for name, value in pairs:
            h.add(name, value)
        return h

    def get(self, name: str) -> str | None:
        key = normalize_name(name)
        for low, _, value in self._items:
            if low == key:
                return value
        return None

    def lines(self, name: str) -> list[str]:
        """Each header line's value for ``name``, unsplit."""
        key = normalize_name(name)
        return [v for low, _, v in self._items if low == key]

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``; list headers are split on their commas."""
        key = normalize_name(name)
        values = [v for low, _, v in self._items if low == key]
        if key in LIST_HEADERS:
            return [item for v in values for item in split_header_values(v)]
        return values

    def collect(self, names: frozenset[str]) -> dict[str, list[str]]:
        """Each line's value of every name in ``names`` (lower-case long names), in one pass."""
        out: dict[str, list[str]] = {}
        for low, _, value in self._items:
            if low in names:
                found = out.get(low)
                if found is None:
                    out[low] = [value]
                else:
                    found.append(value)
        return out

    def add(self, name: str, value: str) -> None:
        _check_value(value)
        low = normalize_name(name)
        self._items.append((low, canonical_name(low, name), value))

    def set(self, name: str, value: str) -> None:
        """Replace every line of ``name`` by one, at the first one's place."""
        _check_value(value)
        low = normalize_name(name)
        entry = (low, canonical_name(low, name), value)
        for i, item in enumerate(self._items):
            if item[0] == low:
                self._items[i] = entry
                self._items[i + 1 :] = [x for x in self._items[i + 1 :] if x[0] != low]
                return
        self._items.append(entry)

    def remove(self, name: str) -> None:
        low = normalize_name(name)
        self._items = [x for x in self._items if x[0] != low]

    def copy(self) -> "Headers":
        return Headers(list(self._items))

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = normalize_name(name)
        return any(low == key for low, _, _ in self._items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for _, name, value in self._items:
            yield name, value

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"


class Message:
    """What requests and responses share: headers, body and the identity fields."""

    __slots__ = (
        "headers", "body", "version", "call_id", "cseq", "cseq_method", "from_tag", "to_tag",
        "via_values", "_vias", "_top_via", "_from", "_to", "_contacts",
    )

    def __init__(self, headers: Headers, body: bytes, version: str = "SIP/2.0") -> None:
        self.headers = headers
        self.body = body
        self.version = version
        self.reindex()

    def reindex(self) -> None:
        """Recompute the identity fields; call after changing Via/From/To/Call-ID/CSeq."""
        via_values: list[str] = []
        call_id = cseq = from_v = to_v = None
        for low, _, value in self.headers._items:
            if low == "via":
                if "," in value:
                    via_values.extend(split_header_values(value))
                else:
                    via_values.append(value.strip())
            elif low == "call-id":
                if call_id is not None:
                    raise SipParseError.bad("More than one Call-ID")
                call_id = value
            elif low == "cseq":
                if cseq is not None:
                    raise SipParseError.bad("More than one CSeq")
                cseq = value
            elif low == "from":
                if from_v is not None:
                    raise SipParseError.bad("More than one From")
                from_v = value
            elif low == "to":
                if to_v is not None:
                    raise SipParseError.bad("More than one To")
                to_v = value
        # Via is checked by parse_message, not here: the UA core adds its own
        # top Via to requests built by the dialog layer just before sending.
        if not from_v:
            raise SipParseError.bad("Missing From header")
        if not to_v:
            raise SipParseError.bad("Missing To header")
        if not call_id:
            raise SipParseError.bad("Missing Call-ID header")
        if not cseq:
            raise SipParseError.bad("Missing CSeq header")
        if " " in call_id or "\t" in call_id:
            raise SipParseError.bad("Malformed Call-ID")
        self.via_values = via_values
        self.call_id = call_id
        self.cseq, self.cseq_method = parse_cseq(cseq)
        self.from_tag = tag_of(from_v)
        self.to_tag = tag_of(to_v)
        self._vias: list[Via] | None = None
        self._top_via: Via | None = None
        self._from: NameAddr | None = None
        self._to: NameAddr | None = None
        self._contacts: list[NameAddr] | None = None

    def push_via(self, value: str) -> None:
        """Add a new top Via (the UA core does this when it sends a request)."""
        _check_value(value)
        self.headers._items.insert(0, ("via", "Via", value))
        self.via_values.insert(0, value)
        self._vias = None
        self._top_via = None

    def replace_top_via(self, via: Via) -> None:
        """Rewrite the top Via (received/rport added on receipt, §18.2.1, RFC 3581)."""
        value = str(via)
        items = self.headers._items
        for i, (low, name, line) in enumerate(items):
            if low == "via":
                rest = split_header_values(line)[1:]
                items[i] = (low, name, ", ".join([value, *rest]))
                break
        self.via_values[0] = value
        self._vias = None
        self._top_via = via

    # -- lazily parsed pieces -------------------------------------------------
    @property
    def top_via(self) -> Via:
        top = self._top_via
        if top is None:
            top = self._top_via = parse_via(self.via_values[0])
        return top

    @property
    def vias(self) -> list[Via]:
        if self._vias is None:
            self._vias = [self.top_via, *(parse_via(v) for v in self.via_values[1:])]
        return self._vias

    @property
    def from_(self) -> NameAddr:
        if self._from is None:
            self._from = parse_name_addr(self.headers.get("from") or "")
        return self._from

    @property
    def to(self) -> NameAddr:
        if self._to is None:
            self._to = parse_name_addr(self.headers.get("to") or "")
        return self._to

    @property
    def star_contact(self) -> bool:
        return any(v.strip() == "*" for v in self.headers.lines("contact"))

    @property
    def contacts(self) -> list[NameAddr]:
        if self._contacts is None:
            values = self.headers.get_all("contact")
            if any(v == "*" for v in values):
                if len(values) != 1:
                    raise SipParseError.bad("Contact: * mixed with addresses")
                self._contacts = []
            else:
                self._contacts = [parse_name_addr(v) for v in values]
        return self._contacts

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("content-type")
        if value is None:
            return None
        mime = value.split(";", 1)[0].strip().lower()
        typ, slash, sub = mime.partition("/")
        if not slash or not is_token(typ.strip()) or not is_token(sub.strip()):
            raise SipParseError.bad("Malformed Content-Type")
        return f"{typ.strip()}/{sub.strip()}"

    @property
    def content_length(self) -> int:
        return len(self.body)

    @property
    def max_forwards(self) -> int | None:
        return _int_header(self.headers, "max-forwards", 255)

    @property
    def expires(self) -> int | None:
        return _int_header(self.headers, "expires", 2**32 - 1)

    def validate(self) -> None:
        """Parse every header this stack interprets, raising SipParseError on the first defect."""
        self.vias
        self.from_
        self.to
        self.contacts
        self.content_type
        self.max_forwards
        self.expires
        date = self.headers.get("date")
        if date is not None:
            parsed = parsedate_tz(date)
            if parsed is None or not date.rstrip().endswith("GMT"):
                raise SipParseError.bad("Malformed Date (RFC 1123, GMT)")

    def header_block(self) -> list[str]:
        return [f"{name}: {value}" for low, name, value in self.headers._items if low != "content-length"]

    def _serialise(self, start_line: str) -> bytes:
        lines = [start_line]
        lines.extend(self.header_block())
        lines.append(f"Content-Length: {len(self.body)}")
        lines.append("")
        lines.append("")
        head = "\r\n".join(lines).encode()
        return head + self.body if self.body else head


def _int_header(headers: Headers, name: str, limit: int) -> int | None:
    lines = headers.lines(name)
    if not lines:
        return None
    if len(lines) > 1:
        raise SipParseError.bad(f"More than one {canonical_name(name, name)}")
    value = lines[0]
    v = value.strip()
    if not (v.isascii() and v.isdigit()) or len(v) > 10 or int(v) > limit:
        raise SipParseError.bad(f"Malformed {canonical_name(name, name)}")
    return int(v)


class Request(Message):
    __slots__ = ("method", "uri", "_ruri")

    def __init__(self, method: str, uri: str, headers: Headers, body: bytes = b"",
                 version: str = "SIP/2.0") -> None:
        self.method = method
        self.uri = uri
        self._ruri: Uri | None = None
        super().__init__(headers, body, version)

    @property
    def ruri(self) -> Uri:
        if self._ruri is None:
            self._ruri = parse_uri(self.uri)
        return self._ruri

    def validate(self) -> None:
        ruri = self.ruri
        if isinstance(ruri, SipUri) and ruri.headers:
            raise SipParseError.bad("Headers not allowed in Request-URI")
        if self.cseq_method != self.method:
            raise SipParseError.bad("CSeq method does not match request method")
        Message.validate(self)

    def to_bytes(self) -> bytes:
        return self._serialise(f"{self.method} {self.uri} {self.version}")

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri} call-id={self.call_id} cseq={self.cseq}>"


class Response(Message):
    __slots__ = ("status", "reason")

    def __init__(self, status: int, reason: str, headers: Headers, body: bytes = b"",
                 version: str = "SIP/2.0") -> None:
        self.status = status
        self.reason = reason
        super().__init__(headers, body, version)

    def to_bytes(self) -> bytes:
        return self._serialise(f"{self.version} {self.status} {self.reason}")

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason} call-id={self.call_id} cseq={self.cseq} {self.cseq_method}>"


def parse_message(data: bytes, *, stream: bool = False) -> Request | Response:
    """Parse one SIP message.

    Datagram semantics by default: the body is what follows the blank line,
    cut to Content-Length (§18.3). With ``stream=True`` the caller framed the
    message by Content-Length already, so the header is mandatory.
    """
    if len(data) > MAX_MESSAGE_SIZE:
        raise SipParseError("Message Too Large", 513)
    # §7.5: CRLFs before the start line are ignored (keep-alives on streams).
    if data[:2] == b"\r\n":
        data = data.lstrip(b"\r\n")
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        body_start = end + 4
        sep = "\r\n"
    else:
        end = data.find(b"\n\n")
        if end < 0:
            raise SipParseError.bad("Missing empty line after headers")
        body_start = end + 2
        sep = "\n"
    try:
        text = data[:end].decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError.bad("Invalid UTF-8 in headers") from None
    if "\x00" in text and not _nuls_quoted(text):
        raise SipParseError.bad("NUL in headers")
    lines = text.split(sep)
    start = lines[0]
    items: list[tuple[str, str, str]] = []
    append = items.append
    known = _NAME_CACHE
    for line in lines[1:]:
        # Fast path: a name seen (and validated) before, written exactly as then.
        colon = line.find(":")
        if colon > 0 and line[0] != " " and line[0] != "\t":
            hit = known.get(line[:colon])
            if hit is not None:
                append((hit[0], hit[1], line[colon + 1 :].strip(" \t")))
                continue
        if not line:
            raise SipParseError.bad("Empty header line")
        c = line[0]
        if c == " " or c == "\t":
            if not items:
                raise SipParseError.bad("Continuation line before any header")
            low, name, value = items[-1]
            cont = line.strip(" \t")
            items[-1] = (low, name, f"{value} {cont}" if value else cont)
            continue
        colon = line.find(":")
        if colon <= 0:
            raise SipParseError.bad("Malformed header line")
        raw_name = line[:colon]
        if raw_name[-1] in " \t":
            raw_name = raw_name.rstrip()
        low, name = header_name(raw_name)
        items.append((low, name, line[colon + 1 :].strip(" \t")))
    if sep == "\r\n":
        crlf = len(lines) - 1
        if text.count("\r") != crlf or text.count("\n") != crlf:
            raise SipParseError.bad("Bare CR or LF in headers")
    if len(items) > MAX_HEADERS:
        raise SipParseError.bad("Too many headers")
    headers = Headers(items)

    body = data[body_start:]
    cl_value: str | None = None
    for low, _, value in items:
        if low == "content-length":
            if cl_value is not None and value != cl_value:
                raise SipParseError.bad("Conflicting Content-Length")
            cl_value = value
    if cl_value is not None:
        if not (cl_value.isascii() and cl_value.isdigit()) or len(cl_value) > 10:
            raise SipParseError.bad("Malformed Content-Length")
        length = int(cl_value)
        if length > len(body):
            raise SipParseError.bad("Content-Length larger than body")
        if length < len(body):
            body = body[:length]
    elif stream:
        raise SipParseError.bad("Missing Content-Length on a stream")

    if start.startswith("SIP/"):
        parts = start.split(" ", 2)
        if len(parts) < 2:
            raise SipParseError.bad("Malformed status line")
        version, code = parts[0], parts[1]
        if version != "SIP/2.0":
            raise SipParseError("Version Not Supported", 505)
        if len(code) != 3 or not (code.isascii() and code.isdigit()) or not 100 <= int(code) <= 699:
            raise SipParseError.bad("Malformed status code")
        resp = Response(int(code), parts[2] if len(parts) == 3 else "", headers, body, version)
        if not resp.via_values:
            raise SipParseError.bad("Missing Via header")
        return resp

    parts = start.split(" ")
    if len(parts) != 3:
        raise SipParseError.bad("Malformed request line")
    method, uri, version = parts
    if not is_token(method):
        raise SipParseError.bad("Malformed method")
    if version != "SIP/2.0":
        if version.upper().startswith("SIP/"):
            raise SipParseError("Version Not Supported", 505)
        raise SipParseError.bad("Malformed request line")
    if not uri or any(c in uri for c in "<>\" \t"):
        raise SipParseError.bad("Malformed Request-URI")
    req = Request(method, uri, headers, body, version)
    if not req.via_values:
        raise SipParseError.bad("Missing Via header")
    if req.cseq_method != method:
        raise SipParseError.bad("CSeq method does not match request method")
    return req


def make_request(method: str, uri: str, headers: Iterable[tuple[str, str]], body: bytes = b"") -> Request:
    return Request(method, uri, Headers.from_pairs(headers), body)


# Headers a response copies from its request (§8.2.6.2).
_COPIED = frozenset({"via", "from", "call-id", "cseq"})
# Headers that decide a message's identity fields (see Message.reindex).
_IDENTITY = frozenset({"via", "from", "to", "call-id", "cseq"})


def make_response(request: Request, status: int, reason: str | None = None, *, to_tag: str | None = None,
                  headers: Iterable[tuple[str, str]] | None = None, body: bytes = b"") -> Response:
    items: list[tuple[str, str, str]] = []
    copy_rr = 100 < status < 300
    response_to_tag = request.to_tag
    for item in request.headers._items:
        low = item[0]
        if low in _COPIED or (copy_rr and low == "record-route"):
            items.append(item)
        elif low == "to":
            value = item[2]
            if to_tag and tag_of(value) is None:
                value = f"{value};tag={to_tag}"
                response_to_tag = tag_of(value)
            items.append((low, item[1], value))
    h = Headers(items)
    identity_added = False
    if headers:
        for name, value in headers:
            h.add(name, value)
            if h._items[-1][0] in _IDENTITY:
                identity_added = True
    if reason is None:
        reason = REASONS.get(status, "")
    if identity_added:
        return Response(status, reason, h, body)
    # The identity headers are the request's own (already checked when it was
    # built), so the response's identity fields are copied instead of re-parsed.
    response = Response.__new__(Response)
    response.status = status
    response.reason = reason
    response.headers = h
    response.body = body
    response.version = "SIP/2.0"
    response.via_values = list(request.via_values)
    response.call_id = request.call_id
    response.cseq = request.cseq
    response.cseq_method = request.cseq_method
    response.from_tag = request.from_tag
    response.to_tag = response_to_tag
    response._vias = None
    response._top_via = None
    response._from = None
    response._to = None
    response._contacts = None
    return response


SDP = "application/sdp"


def has_sdp(message: Message) -> bool:
    """Whether ``message`` carries a session description: a body typed application/sdp, or untyped."""
    if not message.body:
        return False
    ctype = message.content_type
    return ctype is None or ctype.split(";", 1)[0].strip().lower() == SDP


def allow_events(message: Message) -> frozenset[str]:
    """The event packages the sender says it accepts (``Allow-Events``, RFC 6665), lower case."""
    out: set[str] = set()
    for value in message.headers.get_all("allow-events"):
        for item in split_header_values(value):
            name = item.split(";", 1)[0].strip().lower()
            if name:
                out.add(name)
    return frozenset(out)

"""SDP (RFC 4566): the model, parsing and serialisation; offer/answer is ``sip.offer_answer``.

Sans-I/O: text or bytes in, objects out, bytes back. The B2BUA touches every
SDP of every call, so parsing is one pass of plain string splitting.

Model: a `SessionDescription` holds the origin (o=), the session name (s=),
the other session-level lines in their original order, and one
`MediaDescription` per m= line with its own ordered lines. Lines the stack
reads are typed (c=, b=, t=, a=); the rest (i=, u=, e=, p=, r=, z=, k= and
unknown types) are kept verbatim as `RawLine`, so parse -> serialise keeps
every line, in order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import ClassVar

logger = logging.getLogger(__name__)

MAX_SDP_SIZE = 32 * 1024  # bytes (characters for str input)
MAX_SDP_LINES = 1024
MAX_MEDIA = 32

# Connection addresses that mean "do not send to me" (RFC 2543 hold; RFC 3264 §8.4).
HOLD_ADDRESSES = frozenset({"0.0.0.0", "::"})
_LINE_TYPES = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# Where a new c= goes so that RFC 4566 §5 order holds (after i/u/e/p, before b/t/.../a).
_AFTER_CONNECTION = frozenset("btrzka")


class SdpParseError(ValueError):
    """The SDP is malformed (or too large); the message says where."""


class Direction(StrEnum):
    """RFC 3264 §5.1 stream direction, from the point of view of the SDP's author."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        return self is Direction.SENDRECV or self is Direction.SENDONLY

    @property
    def receives(self) -> bool:
        return self is Direction.SENDRECV or self is Direction.RECVONLY

    @classmethod
    def from_flags(cls, sends: bool, receives: bool) -> Direction:
        if sends:
            return cls.SENDRECV if receives else cls.SENDONLY
        return cls.RECVONLY if receives else cls.INACTIVE

    def reverse(self) -> Direction:
        """The same stream seen from the other end: sendonly <-> recvonly."""
        return Direction.from_flags(self.receives, self.sends)

    def held(self) -> Direction:
        """RFC 3264 §8.4: sendrecv -> sendonly, recvonly -> inactive."""
        return Direction.from_flags(self.sends, False)


_DIRECTION_BY_NAME: dict[str, Direction] = {d.value: d for d in Direction}


# --- lines -------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class Origin:
    """o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>"""

    username: str
    sess_id: str
    sess_version: int
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "0.0.0.0"

    def text(self) -> str:
        return " ".join(
            (self.username, self.sess_id, str(self.sess_version), self.nettype, self.addrtype, self.address)
        )

    def next_version(self) -> Origin:
        return replace(self, sess_version=self.sess_version + 1)


@dataclass(slots=True)
class Connection:
    """c=<nettype> <addrtype> <address>; address may carry /ttl[/count] (multicast)."""

    nettype: str
    addrtype: str
    address: str
    kind: ClassVar[str] = "c"

    @classmethod
    def for_address(cls, address: str) -> Connection:
        return cls("IN", "IP6" if ":" in address else "IP4", address)

    @property
    def host(self) -> str:
        return self.address.split("/", 1)[0]

    @property
    def is_hold_address(self) -> bool:
        return self.host in HOLD_ADDRESSES

    def to_line(self) -> str:
        return f"c={self.nettype} {self.addrtype} {self.address}"

    def copy(self) -> Connection:
        return Connection(self.nettype, self.addrtype, self.address)


@dataclass(slots=True)
class Bandwidth:
    """b=<bwtype>:<bandwidth>"""

    bwtype: str
    bandwidth: int
    kind: ClassVar[str] = "b"

    def to_line(self) -> str:
        return f"b={self.bwtype}:{self.bandwidth}"

    def copy(self) -> Bandwidth:
        return Bandwidth(self.bwtype, self.bandwidth)


@dataclass(slots=True)
class Timing:
    """t=<start-time> <stop-time> (NTP seconds; 0 0 = unbounded)."""

    start: int = 0
    stop: int = 0
    kind: ClassVar[str] = "t"

    def to_line(self) -> str:
        return f"t={self.start} {self.stop}"

    def copy(self) -> Timing:
        return Timing(self.start, self.stop)


@dataclass(slots=True)
class Attribute:
    """a=<name> (value None) or a=<name>:<value> (value kept verbatim)."""

    name: str
    value: str | None = None
    kind: ClassVar[str] = "a"

    def to_line(self) -> str:
        return "a=" + self.name if self.value is None else f"a={self.name}:{self.value}"

    def copy(self) -> Attribute:
        return Attribute(self.name, self.value)


@dataclass(slots=True)
class RawLine:
    """Any other line (i, u, e, p, r, z, k, unknown types), kept verbatim."""

    kind: str
    value: str

    def to_line(self) -> str:
        return f"{self.kind}={self.value}"

    def copy(self) -> RawLine:
        return RawLine(self.kind, self.value)


# Line objects are mutable (the parser builds one per line, and frozen dataclasses
# cost five times as much to build); each belongs to one section, and copy() copies them.
SdpLine = Connection | Bandwidth | Timing | Attribute | RawLine


@dataclass(slots=True, frozen=True)
class RtpMap:
    """One payload format: a=rtpmap:<pt> <encoding>/<clock>[/<channels>], or a static PT."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int = 1

    @property
    def key(self) -> tuple[str, int, int]:
        """What makes two formats the same codec, whatever their payload type numbers."""
        return (self.encoding.lower(), self.clock_rate, self.channels)

    @property
    def is_telephone_event(self) -> bool:
        return self.encoding.lower() == "telephone-event"

    def value(self) -> str:
        tail = "" if self.channels == 1 else f"/{self.channels}"
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{tail}"


@dataclass(slots=True, frozen=True)
class Rtcp:
    """a=rtcp:<port> [<nettype> <addrtype> <address>] (RFC 3605)."""

    port: int
    address: str | None = None


# RFC 3551 static audio payload types; an SDP may list these without a=rtpmap.
STATIC_PAYLOAD_TYPES: Mapping[int, RtpMap] = {
    rtp.payload_type: rtp
    for rtp in (
        RtpMap(0, "PCMU", 8000),
        RtpMap(3, "GSM", 8000),
        RtpMap(4, "G723", 8000),
        RtpMap(5, "DVI4", 8000),
        RtpMap(6, "DVI4", 16000),
        RtpMap(7, "LPC", 8000),
        RtpMap(8, "PCMA", 8000),
        RtpMap(9, "G722", 8000),
        RtpMap(10, "L16", 44100, 2),
        RtpMap(11, "L16", 44100),
        RtpMap(12, "QCELP", 8000),
        RtpMap(13, "CN", 8000),
        RtpMap(14, "MPA", 90000),
        RtpMap(15, "G728", 8000),
        RtpMap(16, "DVI4", 11025),
        RtpMap(17, "DVI4", 22050),
        RtpMap(18, "G729", 8000),
    )
}


# Payload type numbers as they appear in m= formats, rtpmap and fmtp (a dict hit beats int()).
_PAYLOAD_TYPES_BY_TEXT: dict[str, int] = {str(pt): pt for pt in range(128)}


def _uint(text: str) -> int | None:
    # isdigit() alone accepts non-ASCII digits that int() then rejects or misreads.
    if text.isascii() and text.isdigit():
        return int(text)
    return None


_rtpmap_cache: dict[str, RtpMap | None] = {}
_RTPMAP_CACHE_SIZE = 1024


def parse_rtpmap(value: str) -> RtpMap | None:
    """`0 PCMU/8000` -> RtpMap; None when malformed."""
    # The same few rtpmap values recur on every call; RtpMap is immutable, so share them.
    try:
        return _rtpmap_cache[value]
    except KeyError:
        pass
    rtpmap = _parse_rtpmap(value)
    if len(_rtpmap_cache) >= _RTPMAP_CACHE_SIZE:
        _rtpmap_cache.clear()
    _rtpmap_cache[value] = rtpmap
    return rtpmap


def _parse_rtpmap(value: str) -> RtpMap | None:
    pt_text, _, rest = value.partition(" ")
    pt = _PAYLOAD_TYPES_BY_TEXT.get(pt_text)
    parts = rest.strip().split("/")
    if pt is None or len(parts) < 2 or not parts[0]:
        return None
    clock = _uint(parts[1])
    channels = _uint(parts[2]) if len(parts) > 2 else 1
    if clock is None or channels is None or channels == 0:
        return None
    return RtpMap(pt, parts[0], clock, channels)


# --- sections ----------------------------------------------------------------


class _Section:
    """Behaviour shared by the session level and each media description."""

    __slots__ = ()
    lines: list[SdpLine]

    @property
    def attributes(self) -> list[Attribute]:
        return [line for line in self.lines if type(line) is Attribute]

    def find_attribute(self, name: str) -> Attribute | None:
        for line in self.lines:
            if type(line) is Attribute and line.name == name:
                return line
        return None

    def attribute_values(self, name: str) -> list[str]:
        """Values of every a=<name> line, in order ("" for a flag attribute)."""
        return [line.value or "" for line in self.lines if type(line) is Attribute and line.name == name]

    def has_attribute(self, name: str) -> bool:
        return self.find_attribute(name) is not None

    def add_attribute(self, name: str, value: str | None = None) -> None:
        self.lines.append(Attribute(name, value))

    def remove_attributes(self, name: str) -> int:
        before = len(self.lines)
        self.lines[:] = [line for line in self.lines if not (type(line) is Attribute and line.name == name)]
        return before - len(self.lines)

    def set_attribute(self, name: str, value: str | None = None) -> None:
        """Replace the first a=<name> in place (dropping any others), or append one."""
        self._replace_first(
            lambda line: type(line) is Attribute and line.name == name, Attribute(name, value)
        )

    @property
    def connection(self) -> Connection | None:
        """This level's own c= line (see SessionDescription.media_connection for the effective one)."""
        for line in self.lines:
            if type(line) is Connection:
                return line
        return None

    @connection.setter
    def connection(self, connection: Connection | None) -> None:
        if connection is None:
            self.lines[:] = [line for line in self.lines if type(line) is not Connection]
            return
        if self.connection is not None:
            self._replace_first(lambda line: type(line) is Connection, connection)
            return
        for position, line in enumerate(self.lines):
            if line.kind in _AFTER_CONNECTION:
                self.lines.insert(position, connection)
                return
        self.lines.append(connection)

    @property
    def direction(self) -> Direction | None:
        """This level's own direction attribute, None when it has none."""
        for line in self.lines:
            if type(line) is Attribute and line.value is None:
                direction = _DIRECTION_BY_NAME.get(line.name)
                if direction is not None:
                    return direction
        return None

    def set_direction(self, direction: Direction | str | None) -> None:
        """Replace the direction attribute in place (or append it); None removes it."""

        def is_direction(line: SdpLine) -> bool:
            return type(line) is Attribute and line.value is None and line.name in _DIRECTION_BY_NAME

        if direction is None:
            self.lines[:] = [line for line in self.lines if not is_direction(line)]
        else:
            self._replace_first(is_direction, Attribute(Direction(direction).value))

    @property
    def bandwidths(self) -> list[Bandwidth]:
        return [line for line in self.lines if type(line) is Bandwidth]

    def _replace_first(self, matches: Callable[[SdpLine], bool], new: SdpLine) -> None:
        kept: list[SdpLine] = []
        placed = False
        for line in self.lines:
            if matches(line):
                if not placed:
                    kept.append(new)
                    placed = True
            else:
                kept.append(line)
        if not placed:
            kept.append(new)
        self.lines[:] = kept


@dataclass(slots=True)
class MediaDescription(_Section):
    """m=<media> <port>[/<count>] <proto> <fmt> ... and the lines that follow it."""

    media: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    lines: list[SdpLine] = field(default_factory=list)

    def m_value(self) -> str:
        port = str(self.port) if self.port_count is None else f"{self.port}/{self.port_count}"
        return " ".join((self.media, port, self.proto, *self.formats))

    def copy(self) -> MediaDescription:
        return MediaDescription(
            self.media,
            self.port,
            self.proto,
            list(self.formats),
            self.port_count,
            [line.copy() for line in self.lines],
        )

    @property
    def payload_types(self) -> list[int]:
        """The m= formats that are RTP payload type numbers, in order."""
        table = _PAYLOAD_TYPES_BY_TEXT
        return [table[fmt] for fmt in self.formats if fmt in table]

    def rtpmaps(self) -> dict[int, RtpMap]:
        """pt -> RtpMap from the a=rtpmap lines (malformed ones are skipped: they negotiate nothing)."""
        result: dict[int, RtpMap] = {}
        for line in self.lines:
            if type(line) is Attribute and line.name == "rtpmap" and line.value is not None:
                rtpmap = parse_rtpmap(line.value)
                if rtpmap is not None and rtpmap.payload_type not in result:
                    result[rtpmap.payload_type] = rtpmap
        return result

    def codecs(self) -> list[RtpMap]:
        """Every format that resolves to a codec (a=rtpmap, else the static table), in m= order."""
        rtpmaps = self.rtpmaps()
        result = []
        for pt in self.payload_types:
            rtpmap = rtpmaps.get(pt) or STATIC_PAYLOAD_TYPES.get(pt)
            if rtpmap is not None:
                result.append(rtpmap)
        return result

    def codec(self, payload_type: int) -> RtpMap | None:
        if str(payload_type) not in self.formats:
            return None
        return self.rtpmaps().get(payload_type) or STATIC_PAYLOAD_TYPES.get(payload_type)

    def fmtp(self) -> dict[int, str]:
        """pt -> format parameters (the text after `a=fmtp:<pt> `)."""
        result: dict[int, str] = {}
        for line in self.lines:
            if type(line) is Attribute and line.name == "fmtp" and line.value is not None:
                pt_text, _, params = line.value.partition(" ")
                pt = _PAYLOAD_TYPES_BY_TEXT.get(pt_text)
                if pt is not None and pt not in result:
                    result[pt] = params.strip()
        return result

    @property
    def telephone_event_pt(self) -> int | None:
        """The first telephone-event (RFC 4733) payload type listed, if any."""
        for rtpmap in self.codecs():
            if rtpmap.is_telephone_event:
                return rtpmap.payload_type
        return None

    @property
    def ptime(self) -> int | None:
        return self._int_attribute("ptime")

    @property
    def maxptime(self) -> int | None:
        return self._int_attribute("maxptime")

    @property
    def rtcp(self) -> Rtcp | None:
        attribute = self.find_attribute("rtcp")
        if attribute is None or attribute.value is None:
            return None
        parts = attribute.value.split()
        port = _uint(parts[0]) if parts else None
        if port is None or port > 65535:
            return None
        return Rtcp(port, parts[3] if len(parts) >= 4 else None)

    def _int_attribute(self, name: str) -> int | None:
        attribute = self.find_attribute(name)
        if attribute is None or attribute.value is None:
            return None
        return _uint(attribute.value.strip())


@dataclass(slots=True)
class SessionDescription(_Section):
    """A whole SDP body. Mutable; the helpers below return modified copies."""

    origin: Origin
    name: str = "-"
    lines: list[SdpLine] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview | str) -> SessionDescription:
        return parse_sdp(data)

    def to_str(self) -> str:
        out = ["v=0", "o=" + self.origin.text(), "s=" + self.name]
        out.extend([line.to_line() for line in self.lines])
        for media in self.media:
            out.append("m=" + media.m_value())
            out.extend([line.to_line() for line in media.lines])
        out.append("")
        text = "\r\n".join(out)
        # A value holding CR or LF would smuggle extra lines into the body.
        if text.count("\n") != len(out) - 1 or text.count("\r") != len(out) - 1:
            raise ValueError("SDP field value contains CR or LF")
        return text

    def to_bytes(self) -> bytes:
        return self.to_str().encode("utf-8")

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    def copy(self) -> SessionDescription:
        return SessionDescription(
            self.origin, self.name, [line.copy() for line in self.lines], [m.copy() for m in self.media]
        )

    @property
    def timing(self) -> Timing | None:
        for line in self.lines:
            if type(line) is Timing:
                return line
        return None

    def find_media(self, media: str = "audio") -> int | None:
        """Index of the first m= line of that type whose port is not 0."""
        for index, description in enumerate(self.media):
            if description.media == media and description.port != 0:
                return index
        return None

    def media_connection(self, index: int) -> Connection | None:
        """The c= that applies to a media description: its own, else the session's."""
        connection = self.media[index].connection
        return connection if connection is not None else self.connection

    def media_direction(self, index: int) -> Direction:
        """Media-level attribute, else session-level, else sendrecv (RFC 3264 §5.1)."""
        direction = self.media[index].direction
        if direction is None:
            direction = self.direction
        return Direction.SENDRECV if direction is None else direction

    def media_is_hold(self, index: int) -> bool:
        """The author asks not to receive on this stream: sendonly, inactive or c=0.0.0.0."""
        if self.media[index].port == 0:
            return False
        if not self.media_direction(index).receives:
            return True
        connection = self.media_connection(index)
        return connection is not None and connection.is_hold_address

    @property
    def is_hold(self) -> bool:
        """Held SDP (RFC 3264 §8.4): at least one active stream, and every active stream on hold."""
        active = [index for index, media in enumerate(self.media) if media.port != 0]
        return bool(active) and all(self.media_is_hold(index) for index in active)

    def with_direction(self, direction: Direction | str) -> SessionDescription:
        """A copy for a hold/unhold re-offer: every active stream set to `direction`.

        o= sess-version goes up by one when anything changed, and stays when
        the streams already had that direction (RFC 3264 §8). A legacy hold
        address (c=0.0.0.0) is not touched.
        """
        direction = Direction(direction)
        active = [index for index, media in enumerate(self.media) if media.port != 0]
        if all(self.media_direction(index) is direction for index in active):
            return self.copy()
        new = self.copy()
        new.set_direction(None)  # the media-level attributes below now say it all
        for index in active:
            new.media[index].set_direction(direction)
        return next_version(self, new)


# --- parsing -----------------------------------------------------------------


def _error(number: int, message: str, line: str) -> SdpParseError:
    return SdpParseError(f"SDP line {number}: {message}: {line[:60]!r}")


def _parse_origin(value: str, number: int) -> Origin:
    parts = value.split()
    if len(parts) != 6:
        raise _error(number, "o= needs 6 fields", value)
    version = _uint(parts[2])
    if version is None:
        raise _error(number, "o= sess-version is not a number", value)
    return Origin(parts[0], parts[1], version, parts[3], parts[4], parts[5])


def _parse_connection(value: str, number: int) -> Connection:
    parts = value.split()
    if len(parts) != 3:
        raise _error(number, "c= needs <nettype> <addrtype> <address>", value)
    return Connection(parts[0], parts[1], parts[2])


def _parse_bandwidth(value: str, number: int) -> Bandwidth:
    bwtype, colon, amount = value.partition(":")
    bandwidth = _uint(amount)
    if not colon or not bwtype or bandwidth is None:
        raise _error(number, "b= needs <bwtype>:<bandwidth>", value)
    return Bandwidth(bwtype, bandwidth)


def _parse_timing(value: str, number: int) -> Timing:
    parts = value.split()
    if len(parts) != 2:
        raise _error(number, "t= needs <start> <stop>", value)
    start, stop = _uint(parts[0]), _uint(parts[1])
    if start is None or stop is None:
        raise _error(number, "t= times are not numbers", value)
    return Timing(start, stop)


def _parse_media(value: str, number: int) -> MediaDescription:
    parts = value.split()
    if len(parts) < 3:
        raise _error(number, "m= needs <media> <port> <proto> <fmt>...", value)
    port_text, slash, count_text = parts[1].partition("/")
    port = _uint(port_text)
    if port is None or port > 65535:
        raise _error(number, "bad m= port", value)
    port_count = None
    if slash:
        port_count = _uint(count_text)
        if not port_count:
            raise _error(number, "bad m= port count", value)
    # A disabled stream (port 0) may come without formats; an active one may not.
    if len(parts) == 3 and port != 0:
        raise _error(number, "m= lists no formats", value)
    return MediaDescription(parts[0], port, parts[2], parts[3:], port_count)


def parse_sdp(data: bytes | bytearray | memoryview | str) -> SessionDescription:
    """Parse an SDP body (CRLF or bare LF line ends). Raises SdpParseError."""
    if isinstance(data, str):
        text = data
        if len(text) > MAX_SDP_SIZE:
            raise SdpParseError(f"SDP larger than {MAX_SDP_SIZE}")
    else:
        if len(data) > MAX_SDP_SIZE:
            raise SdpParseError(f"SDP larger than {MAX_SDP_SIZE} bytes")
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SdpParseError(f"SDP is not UTF-8 (byte {exc.start})") from None
    if "\x00" in text:
        raise SdpParseError("SDP contains NUL")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            raise SdpParseError("SDP contains a CR that does not end a line")
    raw_lines = text.split("\n")
    # The body's final line end (and stray blank lines after it) end no line.
    while raw_lines and not raw_lines[-1]:
        raw_lines.pop()
    if not raw_lines:
        raise SdpParseError("empty SDP")
    if len(raw_lines) > MAX_SDP_LINES:
        raise SdpParseError(f"SDP has more than {MAX_SDP_LINES} lines")
    if raw_lines[0] != "v=0":
        raise _error(1, "SDP must start with v=0", raw_lines[0])

    origin: Origin | None = None
    name: str | None = None
    session_lines: list[SdpLine] = []
    media: list[MediaDescription] = []
    lines = session_lines
    in_media = False
    for number, line in enumerate(raw_lines):
        if not number:
            continue
        if line[1:2] != "=" or line[0] not in _LINE_TYPES:
            raise _error(number + 1, "not <type>=<value>", line)
        kind = line[0]
        value = line[2:]
        # Branches ordered by how often each line type occurs.
        if kind == "a":
            name_, colon, attribute_value = value.partition(":")
            if not name_:
                raise _error(number + 1, "a= without a name", line)
            lines.append(Attribute(name_, attribute_value if colon else None))
        elif kind == "m":
            if len(media) >= MAX_MEDIA:
                raise _error(number + 1, f"more than {MAX_MEDIA} media descriptions", line)
            description = _parse_media(value, number + 1)
            media.append(description)
            lines = description.lines
            in_media = True
        elif kind == "c":
            lines.append(_parse_connection(value, number + 1))
        elif kind == "b":
            lines.append(_parse_bandwidth(value, number + 1))
        elif kind == "v" or (in_media and (kind == "o" or kind == "s")):
            raise _error(number + 1, "misplaced line", line)
        elif kind == "o":
            if origin is not None:
                raise _error(number + 1, "second o= line", line)
            origin = _parse_origin(value, number + 1)
        elif kind == "s":
            if name is not None:
                raise _error(number + 1, "second s= line", line)
            name = value
        elif kind == "t" and not in_media:
            lines.append(_parse_timing(value, number + 1))
        else:
            lines.append(RawLine(kind, value))
    if origin is None:
        raise SdpParseError("SDP has no o= line")
    if name is None:
        raise SdpParseError("SDP has no s= line")
    sdp = SessionDescription(origin, name, session_lines, media)
    if sdp.connection is None:
        # RFC 4566 §5.7: without a session c=, every (active) stream needs its own.
        for index, description in enumerate(media):
            if description.port != 0 and description.connection is None:
                raise SdpParseError(f"SDP media {index} ({description.media}) has no c= line")
    return sdp


# --- versions (RFC 3264 §8) ----------------------------------------------------


def next_version(previous: SessionDescription | None, sdp: SessionDescription) -> SessionDescription:
    """`sdp` ready to send after `previous` on the same dialog (RFC 3264 §8).

    The copy takes `previous`'s origin; its sess-version stays when nothing
    else differs (a refresh) and goes up by one otherwise.
    """
    new = sdp.copy()
    if previous is None:
        return new
    new.origin = previous.origin
    if new != previous:
        new.origin = previous.origin.next_version()
    return new

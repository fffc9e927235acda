"""SDP offer/answer (RFC 3264) over the ``sip.sdp`` model: offers, answers, the media facts.

Sans-I/O, like the model. What a UA does with SDPs, as opposed to what
they are: ``make_offer`` and ``make_answer`` (codec choice, direction
answers, §6.1), ``answer_direction``, ``rewrite_media_address`` (a B2BUA
anchoring the media at its own address), and ``negotiated_media``, the
facts of the agreed audio stream that the media plane needs. Versioning a
changed SDP (o= sess-version, §8) is ``sip.sdp.next_version``.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from sip.sdp import (
    STATIC_PAYLOAD_TYPES,
    Attribute,
    Connection,
    Direction,
    MediaDescription,
    Origin,
    RtpMap,
    SdpLine,
    SessionDescription,
    Timing,
    _uint,
)

logger = logging.getLogger(__name__)

ACCEPTED_PROTOS = frozenset({"RTP/AVP"})
# Payload formats that ride along with a voice codec but cannot carry a call alone.
AUXILIARY_ENCODINGS = frozenset({"telephone-event", "cn"})
DEFAULT_SUPPORTED: tuple[str, ...] = ("PCMU/8000", "PCMA/8000", "telephone-event/8000")
# Attributes that describe the sender's own transport; wrong once a B2BUA anchors the media
# (and rtcp-mux: the relay keeps RTP and RTCP on separate ports).
_TRANSPORT_ATTRIBUTES = frozenset(
    {
        "rtcp",
        "rtcp-mux",
        "candidate",
        "remote-candidates",
        "end-of-candidates",
        "ice-ufrag",
        "ice-pwd",
        "ice-options",
    }
)


def _new_origin(address: str) -> Origin:
    # Any unique number will do (RFC 4566 §5.2 suggests, but does not require, NTP time).
    return Origin("-", str(secrets.randbits(32)), 1, "IN", Connection.for_address(address).addrtype, address)


CodecSpec = tuple[str, int | None, int | None]


def _parse_codec_spec(spec: str) -> CodecSpec:
    """`PCMU`, `PCMA/8000`, `opus/48000/2` -> (lower-case name, clock or None, channels or None)."""
    parts = spec.split("/")
    clock = _uint(parts[1]) if len(parts) > 1 else None
    channels = _uint(parts[2]) if len(parts) > 2 else None
    if not parts[0] or (len(parts) > 1 and clock is None) or (len(parts) > 2 and not channels):
        raise ValueError(f"bad codec spec {spec!r} (want NAME[/CLOCK[/CHANNELS]])")
    return parts[0].lower(), clock, channels


def _spec_matches(spec: CodecSpec, rtpmap: RtpMap) -> bool:
    name, clock, channels = spec
    return (
        rtpmap.encoding.lower() == name
        and (clock is None or clock == rtpmap.clock_rate)
        and (channels is None or channels == rtpmap.channels)
    )


@functools.lru_cache(maxsize=64)
def _compile_supported(supported: tuple[str, ...]) -> dict[str, tuple[CodecSpec, ...]]:
    """Codec specs grouped by lower-case name; the same few lists are used for every call."""
    by_name: dict[str, list[CodecSpec]] = {}
    for spec in map(_parse_codec_spec, supported):
        by_name.setdefault(spec[0], []).append(spec)
    return {name: tuple(specs) for name, specs in by_name.items()}


def answer_direction(offered: Direction, wanted: Direction = Direction.SENDRECV) -> Direction:
    """RFC 3264 §6.1: the answer may only send what the offerer receives, and vice versa."""
    return Direction.from_flags(wanted.sends and offered.receives, wanted.receives and offered.sends)


def make_offer(
    address: str,
    port: int,
    codecs: Sequence[str | RtpMap] = ("PCMU", "PCMA"),
    telephone_event_pt: int | None = 101,
    direction: Direction | str = Direction.SENDRECV,
    *,
    ptime: int | None = 20,
    telephone_events: str = "0-16",
    fmtp: Mapping[int, str] | None = None,
    origin: Origin | None = None,
    session_name: str = "-",
) -> SessionDescription:
    """An audio offer. String codecs name a static PT (`PCMU`) or get a dynamic one (`opus/48000/2`).

    `telephone-event` entries in `codecs` are skipped: `telephone_event_pt` (96-127, or None for
    none) decides it, at 8000 Hz with `telephone_events` as its fmtp.
    """
    if not 0 < port <= 65535:
        raise ValueError(f"bad port {port}")
    if telephone_event_pt is not None and not 96 <= telephone_event_pt <= 127:
        raise ValueError(f"telephone-event payload type {telephone_event_pt} is not dynamic (96-127)")
    chosen: list[RtpMap] = []
    used = {telephone_event_pt}
    for item in codecs:
        if isinstance(item, RtpMap):
            rtpmap = item
        else:
            name, clock, channels = _parse_codec_spec(item)
            if name == "telephone-event":
                continue
            static = [
                rtp for rtp in STATIC_PAYLOAD_TYPES.values() if _spec_matches((name, clock, channels), rtp)
            ]
            if static:
                rtpmap = static[0]
            elif clock is None:
                raise ValueError(f"codec {item!r} is not static: give its clock rate")
            else:
                free = next((pt for pt in range(96, 128) if pt not in used), None)
                if free is None:
                    raise ValueError("no dynamic payload type left")
                rtpmap = RtpMap(free, item.split("/")[0], clock, channels or 1)
        if rtpmap.payload_type in used:
            raise ValueError(f"payload type {rtpmap.payload_type} used twice")
        used.add(rtpmap.payload_type)
        chosen.append(rtpmap)
    if not chosen:
        raise ValueError("an offer needs at least one codec")
    if telephone_event_pt is not None:
        chosen.append(RtpMap(telephone_event_pt, "telephone-event", 8000))
    lines: list[SdpLine] = [Attribute("rtpmap", rtpmap.value()) for rtpmap in chosen]
    parameters = dict(fmtp or {})
    if telephone_event_pt is not None:
        parameters.setdefault(telephone_event_pt, telephone_events)
    lines.extend(
        Attribute("fmtp", f"{rtp.payload_type} {parameters[rtp.payload_type]}")
        for rtp in chosen
        if rtp.payload_type in parameters
    )
    if ptime is not None:
        lines.append(Attribute("ptime", str(ptime)))
    lines.append(Attribute(Direction(direction).value))
    audio = MediaDescription("audio", port, "RTP/AVP", [str(r.payload_type) for r in chosen], None, lines)
    return SessionDescription(
        origin if origin is not None else _new_origin(address),
        session_name,
        [Connection.for_address(address), Timing(0, 0)],
        [audio],
    )


def _choose_codecs(
    offered: MediaDescription, supported: dict[str, tuple[CodecSpec, ...]], single_codec: bool
) -> list[RtpMap]:
    common = [
        rtp
        for rtp in offered.codecs()
        if any(_spec_matches(spec, rtp) for spec in supported.get(rtp.encoding.lower(), ()))
    ]
    voice = [rtp for rtp in common if rtp.encoding.lower() not in AUXILIARY_ENCODINGS]
    if not voice:
        return []
    if not single_codec:
        return common
    first = voice[0]
    return [
        rtp
        for rtp in common
        if rtp is first or (rtp.is_telephone_event and rtp.clock_rate == first.clock_rate)
    ]


def make_answer(
    offer: SessionDescription,
    *,
    address: str,
    port: int,
    supported: Iterable[str] = DEFAULT_SUPPORTED,
    direction: Direction | str = Direction.SENDRECV,
    ptime: int | None = 20,
    origin: Origin | None = None,
    session_name: str = "-",
    single_codec: bool = False,
) -> SessionDescription:
    """RFC 3264 §6 answer: one m= per offered m=, same order.

    The first active RTP/AVP audio stream with a common voice codec is
    accepted on `address`/`port` with the common formats in the offerer's
    order and numbering (its telephone-event PT included; `single_codec`
    keeps only the first voice codec and its telephone-event); every other
    stream is rejected with port 0. Check `find_media()` on the result: None
    means nothing was accepted (send 488). `direction` is what we want; the
    answer's is limited by the offer's (sendonly -> recvonly, inactive ->
    inactive; c=0.0.0.0 counts as "offerer does not receive").
    """
    if not 0 < port <= 65535:
        raise ValueError(f"bad port {port}")
    specs = _compile_supported(tuple(supported))
    wanted = Direction(direction)
    answer = SessionDescription(
        origin if origin is not None else _new_origin(address),
        session_name,
        [Connection.for_address(address), Timing(0, 0)],
        [],
    )
    accepted = False
    for index, offered in enumerate(offer.media):
        chosen: list[RtpMap] = []
        if (
            not accepted
            and offered.port != 0
            and offered.media == "audio"
            and offered.proto in ACCEPTED_PROTOS
        ):
            chosen = _choose_codecs(offered, specs, single_codec)
        if not chosen:
            if offered.port != 0:
                logger.debug("rejecting offered m=%s (index %d): nothing in common", offered.m_value(), index)
            answer.media.append(MediaDescription(offered.media, 0, offered.proto, list(offered.formats)))
            continue
        accepted = True
        lines: list[SdpLine] = [Attribute("rtpmap", rtpmap.value()) for rtpmap in chosen]
        offered_fmtp = offered.fmtp()
        lines.extend(
            Attribute("fmtp", f"{rtp.payload_type} {offered_fmtp[rtp.payload_type]}")
            for rtp in chosen
            if rtp.payload_type in offered_fmtp
        )
        if ptime is not None:
            lines.append(Attribute("ptime", str(ptime)))
        offered_direction = offer.media_direction(index)
        connection = offer.media_connection(index)
        if connection is not None and connection.is_hold_address:
            offered_direction = Direction.from_flags(offered_direction.sends, False)
        lines.append(Attribute(answer_direction(offered_direction, wanted).value))
        answer.media.append(
            MediaDescription(
                "audio", port, offered.proto, [str(rtp.payload_type) for rtp in chosen], None, lines
            )
        )
    return answer


def rewrite_media_address(
    sdp: SessionDescription, address: str, port: int, *, origin: Origin | None = None
) -> SessionDescription:
    """A copy of `sdp` that points its first active audio stream at `address`:`port`.

    For a B2BUA anchoring media: codecs, payload types, fmtp, ptime and
    direction are kept; the stream's transport attributes that described the
    original sender (a=rtcp, a=rtcp-mux, ICE) are dropped; the other active streams are
    disabled (port 0) since only one audio stream is relayed. A legacy hold
    address (c=0.0.0.0) is kept so the far end still sees the hold. o= gets
    `origin` when given (pair with next_version), else its address is ours.
    """
    if not 0 < port <= 65535:
        raise ValueError(f"bad port {port}")
    new = sdp.copy()
    index = sdp.find_media("audio")
    connection = Connection.for_address(address)
    if index is not None:
        current = sdp.media_connection(index)
        if current is not None and current.is_hold_address:
            connection = current
    new.connection = connection
    for position, media in enumerate(new.media):
        media.connection = None
        if position == index:
            media.port = port
            media.port_count = None
            media.lines[:] = [
                line
                for line in media.lines
                if not (type(line) is Attribute and line.name in _TRANSPORT_ATTRIBUTES)
            ]
        elif media.port != 0:
            media.port = 0
    if origin is not None:
        new.origin = origin
    else:
        own = Connection.for_address(address)
        new.origin = replace(sdp.origin, addrtype=own.addrtype, address=address)
    return new


# --- what the media plane needs -------------------------------------------------


@dataclass(slots=True, frozen=True)
class MediaFacts:
    """The negotiated audio stream, from our side's point of view."""

    index: int  # m= line index in both SDPs
    address: str  # remote RTP address
    port: int
    rtcp_address: str
    rtcp_port: int
    codecs: tuple[RtpMap, ...]  # common voice codecs numbered as the remote expects them (send these)
    receive_codecs: tuple[RtpMap, ...]  # the same codecs numbered as we offered/answered (expect these)
    telephone_event_pt: int | None  # send RFC 4733 events with this PT (the remote's)
    receive_telephone_event_pt: int | None  # expect them with this one (ours)
    ptime: int | None  # the remote's wish for what we send; None: use the codec default
    direction: Direction  # sends: we may send; receives: the remote may send to us

    @property
    def codec(self) -> RtpMap:
        """The codec to send: the first the remote listed among the common ones."""
        return self.codecs[0]


def negotiated_media(local: SessionDescription, remote: SessionDescription) -> MediaFacts | None:
    """Facts of the first audio stream both SDPs keep active and share a voice codec on."""
    for index, theirs in enumerate(remote.media):
        if theirs.media != "audio" or theirs.port == 0 or index >= len(local.media):
            continue
        ours = local.media[index]
        connection = remote.media_connection(index)
        if ours.media != "audio" or ours.port == 0 or connection is None:
            continue
        our_codecs: dict[tuple[str, int, int], RtpMap] = {}
        for rtpmap in ours.codecs():
            our_codecs.setdefault(rtpmap.key, rtpmap)
        send: list[RtpMap] = []
        receive: list[RtpMap] = []
        event_send: int | None = None
        event_receive: int | None = None
        for rtpmap in theirs.codecs():
            mine = our_codecs.get(rtpmap.key)
            if mine is None:
                continue
            if rtpmap.is_telephone_event:
                if event_send is None:
                    event_send, event_receive = rtpmap.payload_type, mine.payload_type
            elif rtpmap.encoding.lower() not in AUXILIARY_ENCODINGS:
                send.append(rtpmap)
                receive.append(mine)
        if not send:
            continue
        our_direction = local.media_direction(index)
        their_direction = remote.media_direction(index)
        our_connection = local.media_connection(index)
        we_are_held = our_connection is not None and our_connection.is_hold_address
        direction = Direction.from_flags(
            our_direction.sends and their_direction.receives and not connection.is_hold_address,
            our_direction.receives and their_direction.sends and not we_are_held,
        )
        rtcp = theirs.rtcp
        return MediaFacts(
            index=index,
            address=connection.host,
            port=theirs.port,
            rtcp_address=rtcp.address if rtcp is not None and rtcp.address else connection.host,
            rtcp_port=rtcp.port if rtcp is not None else theirs.port + 1,
            codecs=tuple(send),
            receive_codecs=tuple(receive),
            telephone_event_pt=event_send,
            receive_telephone_event_pt=event_receive,
            ptime=theirs.ptime,
            direction=direction,
        )
    return None

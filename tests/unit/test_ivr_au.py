from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.au import AU_MAGIC, AuEncoding, AuFormatError, read_au, write_au


def _header(
    offset: int = 24, size: int = 0xFFFFFFFF, encoding: int = 1, rate: int = 8000, channels: int = 1
) -> bytes:
    return struct.pack("!4sIIIII", AU_MAGIC, offset, size, encoding, rate, channels)


def test_write_layout() -> None:
    blob = write_au(b"\x01\x02\x03", AuEncoding.ULAW, annotation=b"hi")
    magic, offset, size, encoding, rate, channels = struct.unpack_from("!4sIIIII", blob)
    assert (magic, size, encoding, rate, channels) == (b".snd", 3, 1, 8000, 1)
    assert offset % 8 == 0 and offset >= 28
    assert blob[24:offset].startswith(b"hi\x00")
    assert blob[offset:] == b"\x01\x02\x03"


@settings(max_examples=100, deadline=None)
@given(
    data=st.binary(max_size=500),
    encoding=st.sampled_from([AuEncoding.ULAW, AuEncoding.ALAW]),
    note=st.binary(max_size=20).map(lambda b: b.replace(b"\x00", b"")),
)
def test_round_trip(data: bytes, encoding: AuEncoding, note: bytes) -> None:
    audio = read_au(write_au(data, encoding, annotation=note))
    assert audio.data == data
    assert audio.encoding == encoding
    assert audio.codec == ("PCMU" if encoding == AuEncoding.ULAW else "PCMA")
    assert (audio.sample_rate, audio.channels) == (8000, 1)
    assert audio.annotation == note


def test_unknown_size_and_minimal_header() -> None:
    audio = read_au(_header(24, 0xFFFFFFFF, 27) + b"abcd")
    assert audio.data == b"abcd" and audio.encoding is AuEncoding.ALAW
    assert audio.duration == pytest.approx(4 / 8000)


def test_declared_size_beyond_file_is_truncated_to_what_is_there() -> None:
    assert read_au(_header(24, 100) + b"xyz").data == b"xyz"
    assert read_au(_header(24, 2) + b"xyz").data == b"xy"


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b".snd", "shorter than"),
        (b"RIFF" + _header()[4:] + b"data", "magic"),
        (_header(offset=16) + b"x", "header size"),
        (_header(offset=400) + b"x", "header size"),
        (_header(encoding=3) + b"xx", "encoding 3 \\(LINEAR_16\\)"),
        (_header(encoding=2) + b"xx", "encoding 2"),
        (_header(encoding=99) + b"xx", "encoding 99 \\(unknown\\)"),
        (_header(rate=16000) + b"xx", "sample rate 16000"),
        (_header(channels=2) + b"xx", "channel count 2"),
    ],
)
def test_rejections_say_what_is_wrong(blob: bytes, message: str) -> None:
    with pytest.raises(AuFormatError, match=message):
        read_au(blob)

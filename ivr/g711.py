"""G.711 u-law (PCMU) and A-law (PCMA) through precomputed tables.

Every conversion is one table lookup per sample: decoding maps a byte to a signed
16-bit sample, encoding indexes a 65536-entry table with the sample itself (negative
samples index from the end, which is exactly where their two's-complement value puts
them), and u-law <-> A-law is a 256-byte ``bytes.translate`` table, so transcoding a
20 ms frame is a single C call.

The tables are built once at import from the bit-level G.711 companding rules
(the segment/mantissa formulation of the ITU-T reference, as in the classic Sun
``g711.c``); the 14-bit (u-law) and 13-bit (A-law) input resolution comes from there.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Iterable

logger = logging.getLogger(__name__)

ULAW_SILENCE = 0xFF  # encodes 0
ALAW_SILENCE = 0xD5  # encodes 0 (the smallest positive level)

_SEG_ULAW_END = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_SEG_ALAW_END = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for seg, end in enumerate(ends):
        if value <= end:
            return seg
    return len(ends)


def _encode_ulaw(sample: int) -> int:
    pcm = sample >> 2  # u-law works on 14 bits
    if pcm < 0:
        pcm = -pcm
        mask = 0x7F
    else:
        mask = 0xFF
    pcm = min(pcm, 8159)
    pcm += 0x21  # bias 33 on the 14-bit scale
    seg = _segment(pcm, _SEG_ULAW_END)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((pcm >> (seg + 1)) & 0x0F)) ^ mask


def _decode_ulaw(code: int) -> int:
    u = ~code & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - t if u & 0x80 else t - 0x84


def _encode_alaw(sample: int) -> int:
    pcm = sample >> 3  # A-law works on 13 bits
    if pcm >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        pcm = -pcm - 1
    seg = _segment(pcm, _SEG_ALAW_END)
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    aval |= (pcm >> 1) & 0x0F if seg < 2 else (pcm >> seg) & 0x0F
    return aval ^ mask


def _decode_alaw(code: int) -> int:
    a = code ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


def _signed16(index: int) -> int:
    return index - 0x10000 if index & 0x8000 else index


#: u-law byte -> signed 16-bit linear sample
ULAW_TO_LINEAR: tuple[int, ...] = tuple(_decode_ulaw(c) for c in range(256))
#: A-law byte -> signed 16-bit linear sample
ALAW_TO_LINEAR: tuple[int, ...] = tuple(_decode_alaw(c) for c in range(256))
#: indexed by a signed 16-bit sample (negative ones wrap from the end) -> u-law byte
LINEAR_TO_ULAW: bytes = bytes(_encode_ulaw(_signed16(i)) for i in range(0x10000))
#: indexed by a signed 16-bit sample (negative ones wrap from the end) -> A-law byte
LINEAR_TO_ALAW: bytes = bytes(_encode_alaw(_signed16(i)) for i in range(0x10000))
#: ``bytes.translate`` tables between the two laws (through the linear value)
ULAW_TO_ALAW: bytes = bytes(LINEAR_TO_ALAW[ULAW_TO_LINEAR[c]] for c in range(256))
ALAW_TO_ULAW: bytes = bytes(LINEAR_TO_ULAW[ALAW_TO_LINEAR[c]] for c in range(256))


def ulaw_encode(samples: Iterable[int]) -> bytes:
    """Signed 16-bit samples (any iterable of ints in -32768..32767) -> u-law bytes."""
    return bytes(map(LINEAR_TO_ULAW.__getitem__, samples))


def alaw_encode(samples: Iterable[int]) -> bytes:
    """Signed 16-bit samples -> A-law bytes."""
    return bytes(map(LINEAR_TO_ALAW.__getitem__, samples))


def ulaw_decode(data: bytes | bytearray | memoryview) -> array:
    """u-law bytes -> ``array('h')`` of signed 16-bit samples."""
    return array("h", map(ULAW_TO_LINEAR.__getitem__, data))


def alaw_decode(data: bytes | bytearray | memoryview) -> array:
    """A-law bytes -> ``array('h')`` of signed 16-bit samples."""
    return array("h", map(ALAW_TO_LINEAR.__getitem__, data))


def ulaw_to_alaw(data: bytes | bytearray) -> bytes:
    return bytes(data).translate(ULAW_TO_ALAW)


def alaw_to_ulaw(data: bytes | bytearray) -> bytes:
    return bytes(data).translate(ALAW_TO_ULAW)


def silence_byte(codec: str) -> int:
    """The byte that encodes a zero sample for ``"PCMU"`` or ``"PCMA"``."""
    name = codec.upper()
    if name == "PCMU":
        return ULAW_SILENCE
    if name == "PCMA":
        return ALAW_SILENCE
    raise ValueError(f"not a G.711 codec: {codec!r}")

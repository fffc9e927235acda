"""Sun/NeXT ``.au`` audio files, the format IVR prompts are fetched in.

Layout (all big-endian 32-bit): magic ``.snd``, data offset (header size), data size
(``0xFFFFFFFF`` = unknown, read to the end), encoding, sample rate, channels, then an
annotation up to the data offset.  Prompts must be 8 kHz mono G.711: encoding 1
(8-bit u-law) or 27 (8-bit A-law).  Anything else is an :class:`AuFormatError` that
says what was found and what is needed.
"""

from __future__ import annotations

import enum
import logging
import struct
from dataclasses import dataclass

logger = logging.getLogger(__name__)

AU_MAGIC = b".snd"
AU_HEADER_SIZE = 24
AU_UNKNOWN_SIZE = 0xFFFFFFFF
_HEADER = struct.Struct("!4sIIIII")


class AuEncoding(enum.IntEnum):
    ULAW = 1  # 8-bit ITU-T G.711 u-law
    LINEAR_8 = 2
    LINEAR_16 = 3
    LINEAR_24 = 4
    LINEAR_32 = 5
    FLOAT = 6
    DOUBLE = 7
    ADPCM_G721 = 23
    ADPCM_G722 = 24
    ADPCM_G723_3 = 25
    ADPCM_G723_5 = 26
    ALAW = 27  # 8-bit ITU-T G.711 A-law


#: the encodings a prompt may use, with their RTP codec names
G711_ENCODINGS = {AuEncoding.ULAW: "PCMU", AuEncoding.ALAW: "PCMA"}


class AuFormatError(ValueError):
    """The bytes are not a usable ``.au`` prompt (bad magic, truncated, or not 8 kHz mono G.711)."""


@dataclass(slots=True, frozen=True)
class AuAudio:
    encoding: AuEncoding
    sample_rate: int
    channels: int
    data: bytes
    annotation: bytes = b""

    @property
    def codec(self) -> str:
        """``"PCMU"`` or ``"PCMA"``."""
        return G711_ENCODINGS[self.encoding]

    @property
    def duration(self) -> float:
        return len(self.data) / (self.sample_rate * self.channels)


def _encoding_name(code: int) -> str:
    try:
        return AuEncoding(code).name
    except ValueError:
        return "unknown"


def read_au(blob: bytes | bytearray | memoryview, *, sample_rate: int = 8000, channels: int = 1) -> AuAudio:
    """Parse an ``.au`` file holding 8-bit G.711 at ``sample_rate`` with ``channels``."""
    size = len(blob)
    if size < AU_HEADER_SIZE:
        raise AuFormatError(f"not an .au file: {size} bytes is shorter than the 24-byte header")
    blob = bytes(blob)
    magic, offset, data_size, encoding, rate, chans = _HEADER.unpack_from(blob, 0)
    if magic != AU_MAGIC:
        raise AuFormatError(f"not an .au file: magic {magic!r}, expected {AU_MAGIC!r}")
    if offset < AU_HEADER_SIZE or offset > size:
        raise AuFormatError(f"bad .au header size {offset} for a {size}-byte file")
    if encoding not in G711_ENCODINGS:
        raise AuFormatError(
            f"unsupported .au encoding {encoding} ({_encoding_name(encoding)}); "
            "prompts must be 8-bit u-law (1) or 8-bit A-law (27)"
        )
    if rate != sample_rate:
        raise AuFormatError(f"unsupported .au sample rate {rate} Hz; prompts must be {sample_rate} Hz")
    if chans != channels:
        raise AuFormatError(f"unsupported .au channel count {chans}; prompts must have {channels}")
    available = size - offset
    if data_size == AU_UNKNOWN_SIZE:
        data_size = available
    elif data_size > available:
        # A truncated download or a writer that lied: play what is there.
        logger.debug(".au header claims %d data bytes, %d present", data_size, available)
        data_size = available
    annotation = blob[AU_HEADER_SIZE:offset].rstrip(b"\x00")
    return AuAudio(AuEncoding(encoding), rate, chans, blob[offset : offset + data_size], annotation)


def write_au(
    data: bytes | bytearray,
    encoding: AuEncoding = AuEncoding.ULAW,
    *,
    sample_rate: int = 8000,
    channels: int = 1,
    annotation: bytes = b"",
) -> bytes:
    """Serialise an ``.au`` file.  The annotation is NUL-terminated and padded so the
    header is a multiple of 8 bytes (so always at least the 4 annotation bytes the format asks)."""
    note = bytes(annotation) + b"\x00"
    note += b"\x00" * (-(AU_HEADER_SIZE + len(note)) % 8)
    offset = AU_HEADER_SIZE + len(note)
    header = _HEADER.pack(AU_MAGIC, offset, len(data), int(encoding), sample_rate, channels)
    return header + note + bytes(data)

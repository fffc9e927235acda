#!/usr/bin/env python3
"""Write a pcap of in-band DTMF for SIPp's ``<exec play_pcap_audio="..."/>``.

The capture is one RTP stream (PCMU, payload type 0, 20 ms = 160-byte packets, one SSRC,
consecutive sequence numbers, timestamps +160, the marker bit on the first packet) in
UDP/IPv4/Ethernet frames, the layout of sip-tester's own ``dtmf_2833_*.pcap`` (classic
pcap, microsecond timestamps, link type 1, the same MAC and IP addresses and UDP ports:
SIPp replaces addresses and ports with the call's media addresses when it plays the
file).  Packet times are 20 ms apart, which is how SIPp paces them.

Each digit is its two ITU-T Q.23 tones (row -8 dBm0, column -6 dBm0: 2 dB "reverse
twist", as phones send), ``--tone-ms`` long, followed by ``--gap-ms`` of silence; the
stream starts with ``--lead-ms`` of silence.  Deterministic: the same arguments give the
same bytes.

    python scripts/make_inband_dtmf_pcap.py 1593 --output sipp_scenarios/dtmf_inband_1593.pcap
"""

from __future__ import annotations

import argparse
import logging
import math
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.g711 import ULAW_SILENCE, ulaw_encode
from ivr.inband import DTMF_FREQUENCIES
from ivr.rtp import build_rtp

logger = logging.getLogger("make_inband_dtmf_pcap")

RATE = 8000
PTIME_MS = 20
SAMPLES_PER_PACKET = RATE * PTIME_MS // 1000
PAYLOAD_TYPE = 0  # PCMU

# What sip-tester's dtmf_2833_*.pcap carry (SIPp rewrites them when playing).
SRC_MAC = bytes.fromhex("000d8714ac24")
DST_MAC = bytes.fromhex("0050bf990336")
SRC_IP = bytes((192, 168, 0, 3))
DST_IP = bytes((192, 168, 0, 1))
SRC_PORT = 49176
DST_PORT = 10000
TTL = 64

SSRC = 0x0E05384E
FIRST_SEQUENCE = 0x1F30
FIRST_TIMESTAMP = 0x33E0
START_TIME = 1134424480.0  # capture time of the first packet (fixed: reproducible files)

# A full-scale u-law sine (peak 32124 on the 16-bit scale) is +3.17 dBm0 (G.711).
_DBM0_PEAK = 32124 / 10 ** (3.17 / 20)
ROW_DBM0 = -8.0
COLUMN_DBM0 = -6.0

LINKTYPE_ETHERNET = 1
_PCAP_HEADER = struct.Struct("<IHHiIII")
_RECORD_HEADER = struct.Struct("<IIII")


def peak(dbm0: float) -> float:
    return _DBM0_PEAK * 10 ** (dbm0 / 20)


def dtmf_samples(digits: str, tone_ms: int, gap_ms: int, lead_ms: int) -> list[int]:
    """16-bit linear samples: lead silence, then each digit's tone pair and a gap."""
    samples = [0] * (lead_ms * RATE // 1000)
    tone_len = tone_ms * RATE // 1000
    gap_len = gap_ms * RATE // 1000
    row_amp, col_amp = peak(ROW_DBM0), peak(COLUMN_DBM0)
    for digit in digits:
        low, high = DTMF_FREQUENCIES[digit.upper()]
        w1, w2 = 2 * math.pi * low / RATE, 2 * math.pi * high / RATE
        samples.extend(
            round(row_amp * math.sin(w1 * n) + col_amp * math.sin(w2 * n)) for n in range(tone_len)
        )
        samples.extend([0] * gap_len)
    return samples


def rtp_packets(digits: str, tone_ms: int, gap_ms: int, lead_ms: int) -> Iterator[bytes]:
    audio = ulaw_encode(dtmf_samples(digits, tone_ms, gap_ms, lead_ms))
    # pad the last packet to 20 ms with silence
    audio += bytes((ULAW_SILENCE,)) * (-len(audio) % SAMPLES_PER_PACKET)
    for index, start in enumerate(range(0, len(audio), SAMPLES_PER_PACKET)):
        yield build_rtp(
            PAYLOAD_TYPE,
            (FIRST_SEQUENCE + index) & 0xFFFF,
            (FIRST_TIMESTAMP + index * SAMPLES_PER_PACKET) & 0xFFFFFFFF,
            SSRC,
            audio[start : start + SAMPLES_PER_PACKET],
            marker=index == 0,
        )


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ethernet_frame(payload: bytes, ip_id: int) -> bytes:
    """``payload`` in UDP in IPv4 (with valid header and UDP checksums) in Ethernet II."""
    udp_len = 8 + len(payload)
    pseudo = SRC_IP + DST_IP + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", SRC_PORT, DST_PORT, udp_len, 0) + payload
    udp_sum = _checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", udp_sum) + udp[8:]
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, ip_id & 0xFFFF, 0, TTL, 17, 0, SRC_IP, DST_IP
    )
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return DST_MAC + SRC_MAC + b"\x08\x00" + header + udp


def build_pcap(digits: str, *, tone_ms: int = 100, gap_ms: int = 100, lead_ms: int = 100) -> bytes:
    out = [_PCAP_HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET)]
    start_us = round(START_TIME * 1_000_000)
    for index, packet in enumerate(rtp_packets(digits, tone_ms, gap_ms, lead_ms)):
        frame = ethernet_frame(packet, 0xF699 + index)
        when = start_us + index * PTIME_MS * 1000
        out.append(_RECORD_HEADER.pack(when // 1_000_000, when % 1_000_000, len(frame), len(frame)))
        out.append(frame)
    return b"".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("digits", help="the keys to send: 0-9 * # A-D")
    parser.add_argument(
        "--output", "-o", type=Path, help="pcap to write (default sipp_scenarios/dtmf_inband_DIGITS.pcap)"
    )
    parser.add_argument("--tone-ms", type=int, default=100, help="length of each tone (default 100)")
    parser.add_argument("--gap-ms", type=int, default=100, help="silence after each tone (default 100)")
    parser.add_argument(
        "--lead-ms", type=int, default=100, help="silence before the first tone (default 100)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    bad = [d for d in args.digits if d.upper() not in DTMF_FREQUENCIES]
    if bad or not args.digits:
        parser.error(f"digits must be 0-9 * # A-D, got {args.digits!r}")
    if args.tone_ms <= 0 or args.gap_ms < 0 or args.lead_ms < 0:
        parser.error("--tone-ms must be positive, --gap-ms and --lead-ms not negative")
    output = args.output
    if output is None:
        safe = args.digits.replace("*", "star").replace("#", "pound")
        output = ROOT / "sipp_scenarios" / f"dtmf_inband_{safe}.pcap"
    blob = build_pcap(args.digits, tone_ms=args.tone_ms, gap_ms=args.gap_ms, lead_ms=args.lead_ms)
    output.write_bytes(blob)
    packets = (len(blob) - _PCAP_HEADER.size) // (_RECORD_HEADER.size + 14 + 20 + 8 + 12 + SAMPLES_PER_PACKET)
    logger.info("wrote %s: digits %s, %d packets of 20 ms", output, args.digits, packets)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""sipp_scenarios/dtmf_inband_1593.pcap: its format (that of sip-tester's own DTMF pcaps),
its digits as our in-band detector hears them, and SIPp actually playing it to a leg."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from callcontrol.b2b.leg_media import LegMedia
from callcontrol.model.callinfo import CallInfo
from ivr.endpoint import MediaEndpoint
from ivr.inband import InbandDtmfDetector
from ivr.payload import PayloadFacts
from ivr.ports import PortPairAllocator
from ivr.prompts import PromptFetcher
from ivr.rtp import RtpPacket, parse_rtp
from tests.integration.harness import free_port, run_sipp, start_sipp_scenario
from tests.unit.test_leg_media import make_leg

ROOT = Path(__file__).resolve().parents[2]
PCAP = ROOT / "sipp_scenarios" / "dtmf_inband_1593.pcap"
SCRIPT = ROOT / "scripts" / "make_inband_dtmf_pcap.py"
SIPP_REFERENCE = Path("/usr/share/sip-tester/dtmf_2833_1.pcap")
DIGITS = "1593"
HOST = "127.0.0.1"
TIMEOUT = 5.0
PCMU = PayloadFacts(codec="PCMU", payload_type=0, payload_types={0: "PCMU"})


def read_pcap(blob: bytes) -> tuple[tuple[int, ...], list[tuple[float, bytes]]]:
    """(global header fields, [(time, frame)]) of a classic little-endian pcap."""
    header = struct.unpack_from("<IHHiIII", blob)
    records = []
    offset = 24
    while offset < len(blob):
        sec, usec, incl, orig = struct.unpack_from("<IIII", blob, offset)
        assert incl == orig
        records.append((sec + usec / 1e6, blob[offset + 16 : offset + 16 + incl]))
        offset += 16 + incl
    assert offset == len(blob)
    return header, records


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def frame_fields(frame: bytes) -> tuple[bytes, bytes, bytes, bytes, int, int, bytes]:
    """(dst MAC, src MAC, src IP, dst IP, src port, dst port, UDP payload), checking the
    Ethernet/IPv4/UDP framing and both checksums on the way."""
    assert frame[12:14] == b"\x08\x00"  # IPv4
    ip = frame[14:34]
    assert ip[0] == 0x45 and ip[9] == 17  # no options, UDP
    assert struct.unpack("!H", ip[2:4])[0] == len(frame) - 14
    assert checksum(ip) == 0xFFFF
    udp = frame[34:]
    src_port, dst_port, length, _ = struct.unpack("!HHHH", udp[:8])
    assert length == len(udp)
    pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, length)
    assert checksum(pseudo + udp) == 0xFFFF
    return frame[0:6], frame[6:12], ip[12:16], ip[16:20], src_port, dst_port, udp[8:]


def rtp_of(path: Path) -> list[RtpPacket]:
    _, records = read_pcap(path.read_bytes())
    return [parse_rtp(frame_fields(frame)[6]) for _, frame in records]


def test_script_reproduces_the_committed_pcap(tmp_path: Path) -> None:
    out = tmp_path / "dtmf.pcap"
    subprocess.run([sys.executable, str(SCRIPT), DIGITS, "--output", str(out)], check=True,
                   capture_output=True)
    assert out.read_bytes() == PCAP.read_bytes()


def test_pcap_is_one_pcmu_stream_in_20ms_packets() -> None:
    header, records = read_pcap(PCAP.read_bytes())
    assert header == (0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # pcap 2.4, microseconds, Ethernet
    packets = [parse_rtp(frame_fields(frame)[6]) for _, frame in records]
    assert len(packets) == 45  # 100 ms lead + 4 x (100 ms tone + 100 ms gap)
    assert {p.payload_type for p in packets} == {0}
    assert {len(p.payload) for p in packets} == {160}
    assert len({p.ssrc for p in packets}) == 1
    assert [p.marker for p in packets] == [True] + [False] * 44
    for (t1, _), (t2, _) in itertools.pairwise(records):
        assert round((t2 - t1) * 1000) == 20
    for a, b in itertools.pairwise(packets):
        assert b.sequence == (a.sequence + 1) & 0xFFFF
        assert b.timestamp == (a.timestamp + 160) & 0xFFFFFFFF


@pytest.mark.skipif(not SIPP_REFERENCE.exists(), reason="sip-tester's pcaps are not installed")
def test_pcap_framing_matches_sip_testers_own() -> None:
    ref_header, ref_records = read_pcap(SIPP_REFERENCE.read_bytes())
    header, records = read_pcap(PCAP.read_bytes())
    assert header == ref_header
    ref = frame_fields(ref_records[0][1])
    for _, frame in records:
        assert frame_fields(frame)[:6] == ref[:6]  # MACs, IP addresses, UDP ports


def test_our_detector_hears_exactly_the_digits() -> None:
    detector = InbandDtmfDetector()
    found = []
    for packet in rtp_of(PCAP):
        found.extend(detector.feed_ulaw(packet.payload))
    assert not detector.flush()  # every tone ended inside the capture
    assert "".join(d.digit for d in found) == DIGITS
    assert all(95 <= d.duration_ms <= 105 for d in found)
    starts = [d.start_ms for d in found]
    assert all(90 <= s - 200 * i <= 110 for i, s in enumerate(starts))


def test_other_digits_and_timings(tmp_path: Path) -> None:
    out = tmp_path / "keys.pcap"
    subprocess.run([sys.executable, str(SCRIPT), "*0#D7", "--tone-ms", "60", "--gap-ms", "60", "--output",
                    str(out)], check=True, capture_output=True)
    detector = InbandDtmfDetector()
    found = [d for p in rtp_of(out) for d in detector.feed_ulaw(p.payload)]
    assert "".join(d.digit for d in found) == "*0#D7"
    bad = subprocess.run([sys.executable, str(SCRIPT), "12E", "--output", str(out)], check=False,
                         capture_output=True)
    assert bad.returncode != 0


async def _leg_media() -> tuple[LegMedia, MediaEndpoint, asyncio.Queue[CallInfo], PromptFetcher]:
    endpoint = await MediaEndpoint.open(PortPairAllocator(46000, 46999), HOST)
    events: asyncio.Queue[CallInfo] = asyncio.Queue()
    fetcher = PromptFetcher()
    _, leg = make_leg()
    media = LegMedia(endpoint, leg, events.put_nowait, fetcher)
    return media, endpoint, events, fetcher


async def _expect_digits(events: asyncio.Queue[CallInfo]) -> None:
    got = []
    for _ in DIGITS:
        info = await asyncio.wait_for(events.get(), TIMEOUT)
        assert info.event == "dtmf_digit_detected" and info.dtmf_method == "inband"
        assert info.duration is not None and 95 <= info.duration <= 105
        got.append(info.digit)
    assert "".join(got) == DIGITS  # type: ignore[arg-type]


async def test_leg_media_reports_the_pcap_digits_as_inband() -> None:
    media, endpoint, events, fetcher = await _leg_media()
    loop = asyncio.get_running_loop()
    sender, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=(HOST, 0))
    try:
        endpoint.set_remote(HOST, sender.get_extra_info("sockname")[1], PCMU)
        media.start_dtmf()
        _, records = read_pcap(PCAP.read_bytes())
        for _, frame in records:
            sender.sendto(frame_fields(frame)[6], (HOST, endpoint.local_port))
        await _expect_digits(events)
    finally:
        sender.close()
        media.close()
        endpoint.close()
        await fetcher.close()


UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answer with the media of the leg under test">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=uas 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio @PORT@ RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"""

UAC = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="send in-band DTMF from a pcap">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=uac 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv response="200"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <nop><action><exec play_pcap_audio="@PCAP@"/></action></nop>
  <pause milliseconds="1200"/>
  <send retrans="500"><![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>
"""


@pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) is not installed")
async def test_sipp_plays_the_pcap_and_the_leg_reports_the_digits(tmp_path: Path) -> None:
    """A real SIPp UAC plays the pcap (play_pcap_audio) to the media address a SIPp UAS
    answered with: our endpoint, where LegMedia detects the tones."""
    media, endpoint, events, fetcher = await _leg_media()
    uas_file = tmp_path / "uas.xml"
    uac_file = tmp_path / "uac.xml"
    uas_file.write_text(UAS.replace("@PORT@", str(endpoint.local_port)))
    uac_file.write_text(UAC.replace("@PCAP@", str(PCAP)))
    uas_port = free_port()
    uas = start_sipp_scenario(uas_port, "u1", 1, uas_file)
    try:
        endpoint.set_remote(HOST, 9, PCMU)  # latches to where SIPp really sends from
        media.start_dtmf()
        uac = asyncio.ensure_future(asyncio.to_thread(
            run_sipp, ["-sf", str(uac_file), "-i", HOST, "-p", str(free_port()), "-mi", HOST,
                       "-mp", str(free_port()), f"{HOST}:{uas_port}", "-m", "1"], 30.0))
        await _expect_digits(events)
        result = await asyncio.wait_for(uac, 40.0)
        assert result.successful == 1, result.output[-2000:]
        assert endpoint.packets_in == 45
    finally:
        try:
            uas.wait(10)
        except subprocess.TimeoutExpired:
            uas.kill()
            uas.wait()
        media.close()
        endpoint.close()
        await fetcher.close()

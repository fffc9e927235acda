from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.au import AuEncoding, read_au
from ivr.g711 import ULAW_TO_ALAW, alaw_decode, ulaw_decode
from ivr.moh import MOH_ORDER, MohUnavailable, moh_audio, start_moh, stop_moh
from ivr.payload import PayloadFacts, PlayoutCodec
from ivr.player import PromptPlayer
from tests.unit.test_ivr_player import FakeClock, Sink, numbered_frames

ROOT = Path(__file__).resolve().parents[2]
MOH_FILE = ROOT / "ivr" / "sounds" / "moh.au"


def rms(samples) -> float:
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def test_bundled_file_is_a_short_audible_ulaw_loop() -> None:
    blob = MOH_FILE.read_bytes()
    audio = read_au(blob)
    assert audio.encoding is AuEncoding.ULAW and audio.sample_rate == 8000 and audio.channels == 1
    assert 8.0 <= audio.duration <= 10.0
    assert len(blob) < 100_000
    samples = ulaw_decode(audio.data)
    assert rms(samples) > 1000  # clearly not silence (full scale is 32768)
    assert max(abs(s) for s in samples) < 30000  # and not clipping
    # every second has sound in it: no dead air in the loop
    for second in range(int(audio.duration)):
        assert rms(samples[second * 8000 : (second + 1) * 8000]) > 300


def test_script_reproduces_the_committed_file(tmp_path: Path) -> None:
    out = tmp_path / "moh.au"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_moh.py"), "--output", str(out)], check=True)
    assert out.read_bytes() == MOH_FILE.read_bytes()


def test_moh_audio_in_both_laws() -> None:
    ulaw = moh_audio("PCMU")
    assert ulaw == read_au(MOH_FILE.read_bytes()).data
    alaw = moh_audio("pcma")
    assert alaw == ulaw.translate(ULAW_TO_ALAW)
    assert rms(alaw_decode(alaw)) == pytest.approx(rms(ulaw_decode(ulaw)), rel=0.05)
    with pytest.raises(MohUnavailable):
        moh_audio("G729")


def test_moh_loops_below_prompts() -> None:
    clock = FakeClock()
    sink = Sink(clock)
    completed: list[int] = []
    facts = PayloadFacts(codec="PCMA", payload_type=8)
    player = PromptPlayer(sink, PlayoutCodec.for_leg(facts), clock=clock, on_completed=completed.append)
    codec = start_moh(player, facts)
    assert codec.name == "PCMA" and player.playing_order == MOH_ORDER
    music = moh_audio("PCMA")
    frames = len(music) // 160
    clock.advance(frames * 0.02 + 0.5)  # past the end of the file: it loops
    payload = b"".join(p.payload for p in sink.packets)
    assert payload.startswith(music) and payload[len(music) :] == music[: len(payload) - len(music)]
    sent = len(sink.sent)
    player.play(numbered_frames(3, 5), order=2)  # a prompt to the held party interrupts
    clock.advance(0.2)
    assert [p.payload[:2] for p in sink.packets[sent : sent + 3]] == [bytes([5, n]) for n in range(3)]
    assert sink.packets[sent + 3].payload[:1] != b"\x05"  # music again
    assert completed == [2] and player.active
    assert stop_moh(player) is True
    assert not player.active


def test_moh_needs_g711() -> None:
    clock = FakeClock()
    facts = PayloadFacts(codec="G729", payload_type=18)
    player = PromptPlayer(Sink(clock), PlayoutCodec.for_leg(facts), clock=clock)
    with pytest.raises(MohUnavailable):
        start_moh(player, facts)
    both = PayloadFacts(codec="G729", payload_type=18, payload_types={18: "G729", 0: "PCMU"})
    assert start_moh(player, both).name == "PCMU"

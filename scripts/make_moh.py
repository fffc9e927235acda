#!/usr/bin/env python3
"""Generate ivr/sounds/moh.au: the bundled music on hold.

A gentle 8.4-second loop (8 kHz, 8-bit u-law, ~67 KB): a I-vi-IV-V progression in C
played as soft bell-like arpeggios over a quiet sustained bass, every note faded in and
out so the loop joins without a click.  Deterministic: running it again reproduces the
committed file byte for byte.

    python scripts/make_moh.py [--output PATH]
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.au import AuEncoding, write_au
from ivr.g711 import ulaw_encode

logger = logging.getLogger("make_moh")

RATE = 8000
BEAT = 0.35  # seconds per arpeggio note (about 86 notes a minute: unhurried)
PEAK = 11000  # on the 16-bit scale: clearly audible, far from clipping

# (bass MIDI note, arpeggio MIDI notes) per bar; each bar is six beats
PROGRESSION = [
    (48, [60, 64, 67, 72, 67, 64]),  # C
    (45, [57, 60, 64, 69, 64, 60]),  # Am
    (41, [53, 57, 60, 65, 60, 57]),  # F
    (43, [55, 59, 62, 67, 62, 59]),  # G
]


def midi_hz(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def add_note(buf: list[float], start: float, length: float, freq: float, level: float, decay: float) -> None:
    """A bell-ish note: fundamental plus two soft partials, 10 ms attack, exponential
    decay, and a 30 ms release to zero at the end (no clicks)."""
    first = int(start * RATE)
    count = int(length * RATE)
    attack = int(0.010 * RATE)
    release = int(0.030 * RATE)
    w = 2 * math.pi * freq / RATE
    for i in range(count):
        env = math.exp(-decay * i / RATE)
        if i < attack:
            env *= i / attack
        if i > count - release:
            env *= (count - i) / release
        s = math.sin(w * i) + 0.25 * math.sin(2 * w * i) + 0.08 * math.sin(3 * w * i)
        buf[(first + i) % len(buf)] += level * env * s


def render() -> list[float]:
    bar = BEAT * 6
    total = bar * len(PROGRESSION)
    buf = [0.0] * int(total * RATE)
    for index, (bass, arpeggio) in enumerate(PROGRESSION):
        t0 = index * bar
        add_note(buf, t0, bar, midi_hz(bass), 0.35, 0.9)
        for k, note in enumerate(arpeggio):
            add_note(buf, t0 + k * BEAT, BEAT * 1.8, midi_hz(note), 0.5, 3.0)
    peak = max(abs(v) for v in buf) or 1.0
    return [v * PEAK / peak for v in buf]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", type=Path, default=ROOT / "ivr" / "sounds" / "moh.au")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    samples = [max(-32768, min(32767, round(v))) for v in render()]
    data = ulaw_encode(samples)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(write_au(data, AuEncoding.ULAW, annotation=b"callcontrol music on hold"))
    rms = math.sqrt(sum(v * v for v in samples) / len(samples))
    logger.info("wrote %s: %.1f s, %d bytes, RMS %.0f", args.output, len(samples) / RATE, len(data), rms)
    return 0


if __name__ == "__main__":
    sys.exit(main())

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.g711 import alaw_encode, ulaw_encode
from ivr.inband import DTMF_FREQUENCIES, KEYPAD, InbandDigit, InbandDtmfDetector

RATE = 8000


def tone(
    digit: str,
    ms: float,
    *,
    amplitude: float = 6000.0,
    dev_row: float = 0.0,
    dev_col: float = 0.0,
    twist_db: float = 0.0,
    phases: tuple[float, float] = (0.0, 0.0),
) -> list[float]:
    """A DTMF tone; ``twist_db`` > 0 makes the row (low) tone louder ("normal" twist)."""
    f_row, f_col = DTMF_FREQUENCIES[digit]
    f_row *= 1 + dev_row
    f_col *= 1 + dev_col
    a_row = amplitude * 10 ** (twist_db / 40)
    a_col = amplitude * 10 ** (-twist_db / 40)
    w_row, w_col = 2 * math.pi * f_row / RATE, 2 * math.pi * f_col / RATE
    return [
        a_row * math.sin(w_row * i + phases[0]) + a_col * math.sin(w_col * i + phases[1])
        for i in range(round(ms * RATE / 1000))
    ]


def silence(ms: float) -> list[float]:
    return [0.0] * round(ms * RATE / 1000)


def with_noise(signal: list[float], snr_db: float, rng: random.Random, reference_power: float) -> list[float]:
    sigma = math.sqrt(reference_power / 10 ** (snr_db / 10))
    return [v + rng.gauss(0.0, sigma) for v in signal]


def pcm(signal: list[float]) -> list[int]:
    return [max(-32768, min(32767, round(v))) for v in signal]


def detect(samples: list[int], chunk: int = 160) -> list[InbandDigit]:
    detector = InbandDtmfDetector()
    found: list[InbandDigit] = []
    for i in range(0, len(samples), chunk):
        found += detector.feed(samples[i : i + chunk])
    found += detector.flush()
    return found


def two_tone_power(amplitude: float, twist_db: float) -> float:
    return amplitude**2 / 2 * (10 ** (twist_db / 20) + 10 ** (-twist_db / 20))


@pytest.mark.parametrize("digit", list(KEYPAD))
def test_each_digit_detected_once_with_its_duration(digit: str) -> None:
    found = detect(pcm(silence(23) + tone(digit, 80) + silence(60)))
    assert [d.digit for d in found] == [digit]
    assert abs(found[0].duration_ms - 80) <= 3
    assert abs(found[0].start_ms - 23) <= 10


tone_params = {
    "digit": st.sampled_from(KEYPAD),
    "amplitude": st.floats(800, 11000),
    "phases": st.tuples(st.floats(0, 2 * math.pi), st.floats(0, 2 * math.pi)),
    "lead_ms": st.floats(0, 40),
    "chunk": st.sampled_from([160, 80, 37, 240]),
}
within = st.floats(-0.015, 0.015)


@settings(max_examples=200, deadline=None)
@given(
    dev_row=within,
    dev_col=within,
    twist_db=st.floats(-3.0, 6.0),
    ms=st.floats(40, 120),
    **tone_params,
)
def test_accepts_within_q24_tolerances(
    digit: str,
    amplitude: float,
    phases: tuple[float, float],
    lead_ms: float,
    chunk: int,
    dev_row: float,
    dev_col: float,
    twist_db: float,
    ms: float,
) -> None:
    signal = silence(lead_ms) + tone(
        digit, ms, amplitude=amplitude, dev_row=dev_row, dev_col=dev_col, twist_db=twist_db, phases=phases
    )
    found = detect(pcm(signal + silence(50)), chunk)
    assert [d.digit for d in found] == [digit]
    assert abs(found[0].duration_ms - ms) <= 4


@settings(max_examples=200, deadline=None)
@given(
    off=st.floats(0.035, 0.06),
    sign=st.sampled_from([-1, 1]),
    which=st.sampled_from(["row", "col"]),
    other=within,
    twist_db=st.floats(-3.0, 6.0),
    **tone_params,
)
def test_rejects_beyond_3_5_percent(
    digit: str,
    amplitude: float,
    phases: tuple[float, float],
    lead_ms: float,
    chunk: int,
    off: float,
    sign: int,
    which: str,
    other: float,
    twist_db: float,
) -> None:
    dev_row, dev_col = (sign * off, other) if which == "row" else (other, sign * off)
    signal = silence(lead_ms) + tone(
        digit, 100, amplitude=amplitude, dev_row=dev_row, dev_col=dev_col, twist_db=twist_db, phases=phases
    )
    found = detect(pcm(signal + silence(50)), chunk)
    # a tone far enough off may land near another key's frequency: it must not be this key
    assert digit not in [d.digit for d in found]
    if off < 0.045:
        assert found == []


@settings(max_examples=150, deadline=None)
@given(
    twist_db=st.one_of(st.floats(10.0, 16.0), st.floats(-12.0, -6.0)),
    dev_row=within,
    dev_col=within,
    **tone_params,
)
def test_rejects_twist_outside_limits(
    digit: str,
    amplitude: float,
    phases: tuple[float, float],
    lead_ms: float,
    chunk: int,
    twist_db: float,
    dev_row: float,
    dev_col: float,
) -> None:
    signal = silence(lead_ms) + tone(
        digit, 100, amplitude=amplitude, dev_row=dev_row, dev_col=dev_col, twist_db=twist_db, phases=phases
    )
    assert detect(pcm(signal + silence(50)), chunk) == []


@settings(max_examples=150, deadline=None)
@given(
    snr_db=st.floats(12.0, 30.0),
    dev_row=within,
    dev_col=within,
    twist_db=st.floats(-3.0, 6.0),
    seed=st.integers(0, 2**32),
    **tone_params,
)
def test_detects_in_white_noise(
    digit: str,
    amplitude: float,
    phases: tuple[float, float],
    lead_ms: float,
    chunk: int,
    snr_db: float,
    dev_row: float,
    dev_col: float,
    twist_db: float,
    seed: int,
) -> None:
    rng = random.Random(seed)
    amplitude = max(amplitude, 2000.0)
    signal = silence(lead_ms) + tone(
        digit, 70, amplitude=amplitude, dev_row=dev_row, dev_col=dev_col, twist_db=twist_db, phases=phases
    )
    signal = with_noise(signal + silence(60), snr_db, rng, two_tone_power(amplitude, twist_db))
    found = detect(pcm(signal), chunk)
    assert [d.digit for d in found] == [digit]
    assert abs(found[0].duration_ms - 70) <= 5


@settings(max_examples=150, deadline=None)
@given(ms=st.floats(5, 32), **tone_params)
def test_rejects_tones_shorter_than_minimum(
    digit: str, amplitude: float, phases: tuple[float, float], lead_ms: float, chunk: int, ms: float
) -> None:
    signal = silence(lead_ms) + tone(digit, ms, amplitude=amplitude, phases=phases) + silence(60)
    assert detect(pcm(signal), chunk) == []


def test_digit_sequence_with_short_pauses() -> None:
    sequence = "1234567890*#ABCD"
    signal: list[float] = silence(10)
    for digit in sequence:
        signal += tone(digit, 50) + silence(45)
    found = detect(pcm(signal))
    assert "".join(d.digit for d in found) == sequence


def test_same_digit_twice_after_a_pause_is_two_presses() -> None:
    signal = tone("5", 60) + silence(40) + tone("5", 60) + silence(40)
    assert [d.digit for d in detect(pcm(signal))] == ["5", "5"]


def test_ten_ms_dropout_does_not_split_a_press() -> None:
    signal = tone("8", 60) + silence(10) + tone("8", 60) + silence(50)
    found = detect(pcm(signal))
    assert [d.digit for d in found] == ["8"]
    assert 115 <= found[0].duration_ms <= 135


def test_long_press_duration() -> None:
    found = detect(pcm(tone("0", 3000) + silence(40)))
    assert [d.digit for d in found] == ["0"]
    assert abs(found[0].duration_ms - 3000) <= 5


def test_flush_reports_a_tone_cut_by_end_of_stream() -> None:
    detector = InbandDtmfDetector()
    assert list(detector.feed(pcm(tone("9", 100)))) == []
    assert [d.digit for d in detector.flush()] == ["9"]


def test_non_dtmf_sounds_are_ignored() -> None:
    rng = random.Random(7)
    noise = [rng.gauss(0, 4000) for _ in range(8000)]
    single = [6000 * math.sin(2 * math.pi * 697 * i / RATE) for i in range(4000)]
    chord = [  # three "voices" including a row and a column frequency
        3000 * (math.sin(2 * math.pi * 697 * i / RATE) + math.sin(2 * math.pi * 1209 * i / RATE))
        + 3000 * math.sin(2 * math.pi * 440 * i / RATE)
        for i in range(4000)
    ]
    for signal in (noise, single, chord, silence(500)):
        assert detect(pcm(signal)) == []


def test_quiet_tone_below_floor_ignored_and_g711_paths() -> None:
    assert detect(pcm(tone("3", 100, amplitude=100) + silence(40))) == []
    samples = pcm(tone("4", 80, amplitude=8000) + silence(60))
    for encode, feed in ((ulaw_encode, "feed_ulaw"), (alaw_encode, "feed_alaw")):
        data = encode(samples)
        detector = InbandDtmfDetector()
        found = []
        for i in range(0, len(data), 160):
            found += getattr(detector, feed)(data[i : i + 160])
        assert [d.digit for d in found] == ["4"]

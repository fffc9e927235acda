from __future__ import annotations

import bisect
import itertools
import warnings
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop  # CPython's own G.711 (removed in 3.13): an independent reference
    except ImportError:  # pragma: no cover - Python >= 3.13
        audioop = None

ALL_SAMPLES = array("h", range(-32768, 32768))
ALL_CODES = bytes(range(256))


def reference_ulaw_decode(code: int) -> int:
    """G.711 Table 2a from its fields: sign, 3-bit segment, 4-bit step, bias 33 on 14 bits."""
    c = ~code & 0xFF
    segment = (c >> 4) & 0x07
    step = c & 0x0F
    magnitude = ((2 * step + 33) << segment) - 33  # 14-bit scale
    return (-magnitude if c & 0x80 else magnitude) * 4


def reference_alaw_decode(code: int) -> int:
    """G.711 Table 1a: even bits inverted, segment 0 linear, later segments doubling."""
    c = code ^ 0x55
    segment = (c >> 4) & 0x07
    step = c & 0x0F
    magnitude = 2 * step + 1 if segment == 0 else (2 * step + 33) << (segment - 1)  # 13-bit scale
    return (magnitude if c & 0x80 else -magnitude) * 8


def test_decode_tables_match_reference_formula() -> None:
    assert list(g711.ULAW_TO_LINEAR) == [reference_ulaw_decode(c) for c in range(256)]
    assert list(g711.ALAW_TO_LINEAR) == [reference_alaw_decode(c) for c in range(256)]


def test_known_levels() -> None:
    assert g711.ULAW_TO_LINEAR[0x80] == 32124 and g711.ULAW_TO_LINEAR[0x00] == -32124
    assert g711.ALAW_TO_LINEAR[0xAA] == 32256 and g711.ALAW_TO_LINEAR[0x2A] == -32256
    assert g711.ulaw_encode([0]) == bytes([g711.ULAW_SILENCE]) == b"\xff"
    assert g711.alaw_encode([0]) == bytes([g711.ALAW_SILENCE]) == b"\xd5"
    assert g711.silence_byte("pcmu") == 0xFF and g711.silence_byte("PCMA") == 0xD5
    with pytest.raises(ValueError):
        g711.silence_byte("G729")


def _bound(levels: list[int], x: int, truncation: int) -> float:
    """Half a quantisation step at ``x`` (the wider of the steps on either side: at a
    segment boundary the decision level is the boundary, not the midpoint), plus the input
    truncation; past the extreme levels, the distance to them (clipping)."""
    i = bisect.bisect_left(levels, x)
    if i == 0:
        return levels[0] - x + truncation
    if i == len(levels):
        return x - levels[-1] + truncation
    gaps = [levels[j + 1] - levels[j] for j in range(max(i - 2, 0), min(i + 1, len(levels) - 1))]
    return max(gaps) / 2 + truncation


def test_encoding_lands_within_half_a_step_of_every_sample() -> None:
    """Every 16-bit sample encodes to a level at most half a quantisation step away, plus
    what dropping the low bits costs (u-law keeps 14 bits, A-law 13)."""
    ulevels = sorted(set(g711.ULAW_TO_LINEAR))
    alevels = sorted(set(g711.ALAW_TO_LINEAR))
    for x in range(-32768, 32768):
        got_u = g711.ULAW_TO_LINEAR[g711.LINEAR_TO_ULAW[x]]
        got_a = g711.ALAW_TO_LINEAR[g711.LINEAR_TO_ALAW[x]]
        assert abs(got_u - x) <= _bound(ulevels, x, 4), x
        assert abs(got_a - x) <= _bound(alevels, x, 8), x


def test_decode_then_encode_is_identity() -> None:
    for code in range(256):
        if code == 0x7F:  # u-law "negative zero" decodes to 0, which encodes as 0xFF
            assert g711.ulaw_encode([g711.ULAW_TO_LINEAR[code]]) == b"\xff"
            continue
        assert g711.ulaw_encode([g711.ULAW_TO_LINEAR[code]])[0] == code
    for code in range(256):
        assert g711.alaw_encode([g711.ALAW_TO_LINEAR[code]])[0] == code


def test_encoding_is_monotonic() -> None:
    u = [g711.ULAW_TO_LINEAR[c] for c in g711.ulaw_encode(ALL_SAMPLES)]
    a = [g711.ALAW_TO_LINEAR[c] for c in g711.alaw_encode(ALL_SAMPLES)]
    assert all(p <= q for p, q in itertools.pairwise(u))
    assert all(p <= q for p, q in itertools.pairwise(a))


@pytest.mark.skipif(audioop is None, reason="audioop not available")
def test_matches_cpython_audioop_exactly() -> None:
    raw = ALL_SAMPLES.tobytes()
    assert g711.ulaw_encode(ALL_SAMPLES) == audioop.lin2ulaw(raw, 2)
    assert g711.alaw_encode(ALL_SAMPLES) == audioop.lin2alaw(raw, 2)
    assert g711.ulaw_decode(ALL_CODES).tobytes() == audioop.ulaw2lin(ALL_CODES, 2)
    assert g711.alaw_decode(ALL_CODES).tobytes() == audioop.alaw2lin(ALL_CODES, 2)


def test_law_translation_tables() -> None:
    assert g711.ulaw_to_alaw(ALL_CODES) == g711.alaw_encode(g711.ulaw_decode(ALL_CODES))
    assert g711.alaw_to_ulaw(ALL_CODES) == g711.ulaw_encode(g711.alaw_decode(ALL_CODES))
    assert g711.ulaw_to_alaw(b"\xff") == b"\xd5"
    assert g711.alaw_to_ulaw(b"\xd5") == b"\xfe"  # A-law's smallest level is 8, not 0
    # a round trip through the other law moves a level by at most one of its steps
    for code in range(256):
        back = g711.ALAW_TO_ULAW[g711.ULAW_TO_ALAW[code]]
        original = g711.ULAW_TO_LINEAR[code]
        assert abs(g711.ULAW_TO_LINEAR[back] - original) <= max(16, abs(original) // 8), code


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-32768, 32767), max_size=400))
def test_round_trip_error_bound(samples: list[int]) -> None:
    for encode, decode, floor in (
        (g711.ulaw_encode, g711.ulaw_decode, 8),
        (g711.alaw_encode, g711.alaw_decode, 16),
    ):
        data = encode(samples)
        assert len(data) == len(samples)
        back = decode(data)
        assert isinstance(back, array) and back.typecode == "h"
        for x, y in zip(samples, back, strict=True):
            limit = floor + abs(x) // 16 if abs(x) < 32000 else 800
            assert abs(x - y) <= limit

from __future__ import annotations

from ivr.dtmf_dedup import DtmfDeduplicator


def test_rfc2833_then_info_for_one_press_reported_once() -> None:
    dedup = DtmfDeduplicator()
    # INFO arrives when the key goes down, RFC 4733 reports at release 240 ms later
    assert dedup.accept("5", "info", now=10.00, duration_ms=240)
    assert not dedup.accept("5", "rfc2833", now=10.24, duration_ms=240)
    assert dedup.duplicates == 1


def test_info_after_rfc2833_within_tolerance() -> None:
    dedup = DtmfDeduplicator(tolerance=0.2)
    assert dedup.accept("1", "rfc2833", now=5.0, duration_ms=100)  # pressed 4.9 - 5.0
    assert not dedup.accept("1", "info", now=5.15, duration_ms=0)


def test_far_apart_reports_are_two_presses() -> None:
    dedup = DtmfDeduplicator(tolerance=0.2)
    assert dedup.accept("1", "rfc2833", now=5.0, duration_ms=100)
    assert dedup.accept("1", "info", now=5.5, duration_ms=100)


def test_same_method_never_deduplicated() -> None:
    dedup = DtmfDeduplicator()
    assert dedup.accept("7", "rfc2833", now=1.0, duration_ms=100)
    assert dedup.accept("7", "rfc2833", now=1.05, duration_ms=50)


def test_different_digits_not_deduplicated() -> None:
    dedup = DtmfDeduplicator()
    assert dedup.accept("7", "info", now=1.0, duration_ms=100)
    assert dedup.accept("8", "rfc2833", now=1.1, duration_ms=100)


def test_quick_double_press_by_two_methods_gives_two_digits() -> None:
    dedup = DtmfDeduplicator(tolerance=0.2)
    reported = [
        dedup.accept("5", "info", 0.00, 250),  # press 1 down
        dedup.accept("5", "rfc2833", 0.25, 250),  # press 1 up: duplicate
        dedup.accept("5", "info", 0.40, 250),  # press 2 down: 150 ms after press 1's end
        dedup.accept("5", "rfc2833", 0.65, 250),  # press 2 up: duplicate of press 2
    ]
    assert reported == [True, False, True, False]


def test_three_methods_one_press() -> None:
    dedup = DtmfDeduplicator()
    assert dedup.accept("#", "info", 2.0, 120)
    assert not dedup.accept("#", "rfc2833", 2.12, 120)
    assert not dedup.accept("#", "inband", 2.13, 110)


def test_old_reports_forgotten() -> None:
    dedup = DtmfDeduplicator(tolerance=0.2, memory=1.0)
    assert dedup.accept("2", "info", 0.0, 100)
    assert dedup.accept("3", "info", 5.0, 100)  # purges the first
    assert dedup.accept("2", "rfc2833", 5.1, 100)
    dedup.clear()
    assert dedup.accept("2", "info", 5.15, 100)

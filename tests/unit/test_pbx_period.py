"""PortaSIP time periods (docs/pbx.md, "Time periods"): the guide's examples and every error."""
from __future__ import annotations

from datetime import datetime

import pytest

from callcontrol.pbx.period import PeriodError, parse_period

# 2024-06-03 is a Monday; June 2024 starts on a Saturday.
MON, TUE, WED, THU, FRI, SAT, SUN = (datetime(2024, 6, d) for d in range(3, 10))


def at(day: datetime, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return day.replace(hour=hour, minute=minute, second=second)


def test_monday_to_friday_nine_to_five_as_the_brief_writes_it() -> None:
    period = parse_period("wd {mon-fri} hr {9am-5pm}")
    assert period.matches(at(MON, 9))
    assert period.matches(at(FRI, 17, 59, 59))  # v is discrete: 5pm is 17:00:00-17:59:59
    assert not period.matches(at(FRI, 18))
    assert not period.matches(at(MON, 8, 59, 59))
    assert not period.matches(at(SAT, 10))
    assert not period.matches(at(SUN, 10))


def test_guide_example_1_through_means_up_to_the_end_of_the_value() -> None:
    period = parse_period("wd {Mon-Fri} hr {9am-4pm}")
    assert period.matches(at(WED, 16, 59))
    assert not period.matches(at(WED, 17))


def test_guide_example_2_sub_periods_are_alternatives() -> None:
    period = parse_period("wd {Mon Wed Fri} hr {9am-4pm}, wd{Tue Thu} hr {9am-2pm}")
    assert period.matches(at(MON, 16))
    assert period.matches(at(TUE, 14))
    assert not period.matches(at(TUE, 15))
    assert period.matches(at(THU, 9))
    assert not period.matches(at(SAT, 12))


def test_guide_example_3_weeks_of_the_month() -> None:
    period = parse_period("wk {1 3 5} wd {Mon Wed Fri} hr {9am-4pm}")
    # June 2024: week 1 is Sat 1st only, week 2 is 2nd-8th, week 3 is 9th-15th.
    assert not period.matches(at(MON, 10))  # the 3rd: week 2
    assert period.matches(datetime(2024, 6, 10, 10))  # Monday 10th: week 3
    assert period.matches(datetime(2024, 6, 28, 10))  # Friday 28th: week 5


@pytest.mark.parametrize("text", ["mo {Nov-Feb}", "mo {Jan-Feb Nov-Dec}", "mo {jan feb nov dec}",
                                  "mo {Jan Feb}, mo {Nov Dec}", "month {november-february}"])
def test_guide_example_4_winter_written_five_ways(text: str) -> None:
    period = parse_period(text)
    assert [m for m in range(1, 13) if period.matches(datetime(2024, m, 15))] == [1, 2, 11, 12]


def test_ranges_wrap_around_except_years() -> None:
    night = parse_period("hr {10pm-5am}")
    assert night.matches(at(MON, 23)) and night.matches(at(MON, 0)) and night.matches(at(MON, 5, 59))
    assert not night.matches(at(MON, 6)) and not night.matches(at(MON, 21, 59))
    weekend = parse_period("wd {sa-su}")  # 7-1 wraps
    assert weekend.matches(at(SAT, 1)) and weekend.matches(at(SUN, 1)) and not weekend.matches(at(MON, 1))
    # 99-1972 is 1972-2099 in this century: years never wrap.
    years = parse_period("yr {99-1972}")
    assert years.matches(datetime(2024, 1, 1)) and years.matches(datetime(1972, 1, 1))
    assert not years.matches(datetime(1971, 12, 31))
    assert parse_period("year {24}").matches(datetime(2024, 5, 1))
    assert not parse_period("yr {2023}").matches(datetime(2024, 5, 1))


def test_other_scales_and_names() -> None:
    assert parse_period("md {1-5}").matches(datetime(2024, 6, 5)) and not parse_period("md {1-5}").matches(
        datetime(2024, 6, 6))
    assert parse_period("yd {366}").matches(datetime(2024, 12, 31))  # a leap year
    assert parse_period("min {0-14} sec {0-29}").matches(at(MON, 3, 14, 29))
    assert not parse_period("minute {0-14} second {0-29}").matches(at(MON, 3, 14, 30))
    assert parse_period("wday {Sunday}").matches(at(SUN, 3)) and parse_period("wd {1}").matches(at(SUN, 3))
    assert parse_period("hr {12am}").matches(at(MON, 0)) and parse_period("hr {12noon}").matches(at(MON, 12))
    assert parse_period("hr {12pm}").matches(at(MON, 12)) and parse_period("hr {11pm}").matches(at(MON, 23))


def test_white_space_anywhere_and_case_do_not_matter() -> None:
    period = parse_period("  WD{ MON - FRI }HR {9AM -  5PM}  ")
    assert period.matches(at(MON, 9)) and not period.matches(at(SAT, 9))
    assert period.text == "  WD{ MON - FRI }HR {9AM -  5PM}  "


def test_the_same_scale_twice_extends_its_ranges() -> None:
    period = parse_period("hr {9} hr {17}")
    assert period.matches(at(MON, 9)) and period.matches(at(MON, 17)) and not period.matches(at(MON, 12))


@pytest.mark.parametrize(("text", "reason"), [
    ("", "needs at least one scale"),
    ("   ", "needs at least one scale"),
    ("xx {1}", "unknown scale 'xx'"),
    ("wd {mon", "expected 'scale {ranges}'"),
    ("wd mon-fri", "expected 'scale {ranges}'"),
    ("wd {}", "wday {} has no range"),
    ("wd {1-}", "'1-' is not a range"),
    ("wd {1-2-3}", "'1-2-3' is not a range"),
    ("wd {8}", "wday 8 is out of range (1-7)"),
    ("mo {13}", "month 13 is out of range (1-12)"),
    ("mo {foo}", "'foo' is not a value of scale month"),
    ("hr {25}", "hour '25' is out of range"),
    ("hr {13pm}", "'13pm' is not an hour"),
    ("hr {0am}", "'0am' is not an hour"),
    ("hr {11noon}", "only 12noon exists"),
    ("hr {nine}", "'nine' is not an hour"),
    ("yr {1900}", "year 1900"),
    ("wd {mon},", "an empty sub-period"),
    ("md {0}", "mday 0 is out of range (1-31)"),
])
def test_bad_periods_say_what_is_wrong_in_one_line(text: str, reason: str) -> None:
    with pytest.raises(PeriodError) as info:
        parse_period(text)
    message = str(info.value)
    assert reason in message and "\n" not in message
    assert message.startswith(f"invalid period {text!r}")

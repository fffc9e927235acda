"""PortaSIP time periods (``wd {mon-fri} hr {9am-5pm}``): parsed once, matched against a local time.

The grammar is the one docs/pbx.md quotes from the PortaSIP guide ("How to Define a Time
Period"): a period is sub-periods separated by commas (any of them matching is a match);
a sub-period is one or more ``scale {range range ...}`` (all of its scales must match);
the same scale given twice in a sub-period extends its ranges. A range is ``v`` or
``v-v``; ``v`` is discrete in its scale (``hr {9}`` is 9:00:00 to 9:59:59) and a range
whose first value is larger than its second wraps around (``hr {22-5}``), except for
years. White space is allowed anywhere and case does not matter.

=========  ======  ====================================================================
scale      code    values
=========  ======  ====================================================================
year       yr      ``n``: 0-99 (the current century) or 1970 and later
month      mo      1-12 or jan ... dec (first three letters significant)
week       wk      1-6, the week of the month (weeks start on Sunday)
yday       yd      1-366, the day of the year
mday       md      1-31
wday       wd      1-7 (1 = Sunday) or su, mo, tu, we, th, fr, sa (first two letters)
hour       hr      0-23, or 12am 1am-11am 12noon 12pm 1pm-11pm
minute     min     0-59
second     sec     0-59
=========  ======  ====================================================================

Pure: :func:`parse_period` raises :class:`PeriodError` with a one-line reason;
:meth:`Period.matches` takes a ``datetime`` already in the customer's time zone.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Period", "PeriodError", "parse_period"]


class PeriodError(ValueError):
    """A time period that does not follow the grammar (the message says where)."""


_SCALES = {
    "year": "yr", "yr": "yr", "month": "mo", "mo": "mo", "week": "wk", "wk": "wk", "yday": "yd", "yd": "yd",
    "mday": "md", "md": "md", "wday": "wd", "wd": "wd", "hour": "hr", "hr": "hr", "minute": "min",
    "min": "min", "second": "sec", "sec": "sec",
}
_BOUNDS = {"mo": (1, 12), "wk": (1, 6), "yd": (1, 366), "md": (1, 31), "wd": (1, 7), "hr": (0, 23),
           "min": (0, 59), "sec": (0, 59)}
_MONTHS = {name: i for i, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_WEEKDAYS = {name: i for i, name in enumerate(("su", "mo", "tu", "we", "th", "fr", "sa"), start=1)}
_HOUR = re.compile(r"^(\d{1,2})(am|pm|noon)?$")
# One scale and its braces: the scale name, then everything up to the closing brace.
_TERM = re.compile(r"\s*([a-z]+)\s*\{([^{}]*)\}\s*")


@dataclass(frozen=True, slots=True)
class _Range:
    low: int
    high: int

    def holds(self, value: int) -> bool:
        if self.low <= self.high:
            return self.low <= value <= self.high
        return value >= self.low or value <= self.high  # wraps around (e.g. hr {22-5})


SubPeriod = tuple[tuple[str, tuple[_Range, ...]], ...]  # (scale code, its ranges), every scale must hold


@dataclass(frozen=True, slots=True)
class Period:
    """A parsed period: ``text`` as given, ``subperiods`` any of which matching is a match."""

    text: str
    subperiods: tuple[SubPeriod, ...]

    def matches(self, when: datetime) -> bool:
        """Whether ``when`` (a local time, in the zone the period is meant for) is in the period."""
        values: dict[str, int] = {}
        for sub in self.subperiods:
            for scale, ranges in sub:
                value = values.get(scale)
                if value is None:
                    value = values[scale] = _value(scale, when)
                if scale == "yr":
                    ranges = tuple(_Range(*sorted((_year(r.low, when.year), _year(r.high, when.year))))
                                   for r in ranges)
                    if not any(r.low <= value <= r.high for r in ranges):
                        break
                elif not any(r.holds(value) for r in ranges):
                    break
            else:
                return True
        return False


def _year(value: int, current: int) -> int:
    # Two-digit years take the current century's first two digits (the guide's rule).
    return value + current // 100 * 100 if value < 100 else value


def _value(scale: str, when: datetime) -> int:
    if scale == "yr":
        return when.year
    if scale == "mo":
        return when.month
    if scale == "wk":
        first_weekday = (when.replace(day=1).isoweekday()) % 7  # 0 = Sunday
        return (when.day - 1 + first_weekday) // 7 + 1
    if scale == "yd":
        return when.timetuple().tm_yday
    if scale == "md":
        return when.day
    if scale == "wd":
        return when.isoweekday() % 7 + 1  # 1 = Sunday
    if scale == "hr":
        return when.hour
    if scale == "min":
        return when.minute
    return when.second


def _number(scale: str, token: str, text: str) -> int:
    """One value of ``scale`` (a number or a name)."""
    if scale == "mo" and token[:3] in _MONTHS and token.isalpha():
        return _MONTHS[token[:3]]
    if scale == "wd" and token[:2] in _WEEKDAYS and token.isalpha():
        return _WEEKDAYS[token[:2]]
    if scale == "hr":
        match = _HOUR.match(token)
        if match is None:
            raise PeriodError(f"invalid period {text!r}: {token!r} is not an hour (0-23, 9am, 12noon, 5pm)")
        hour, suffix = int(match.group(1)), match.group(2)
        if suffix is None:
            value = hour
        elif suffix == "noon":
            if hour != 12:
                raise PeriodError(f"invalid period {text!r}: {token!r}: only 12noon exists")
            value = 12
        else:
            if not 1 <= hour <= 12:
                raise PeriodError(f"invalid period {text!r}: {token!r} is not an hour (1-12 before am/pm)")
            value = hour % 12 + (12 if suffix == "pm" else 0)
        if not 0 <= value <= 23:
            raise PeriodError(f"invalid period {text!r}: hour {token!r} is out of range (0-23)")
        return value
    if not token.isdigit():
        raise PeriodError(f"invalid period {text!r}: {token!r} is not a value of scale {_LONG[scale]}")
    value = int(token)
    if scale == "yr":
        if not (value <= 99 or value >= 1970):
            raise PeriodError(f"invalid period {text!r}: year {value} (0-99 or 1970 and later)")
        return value
    low, high = _BOUNDS[scale]
    if not low <= value <= high:
        raise PeriodError(f"invalid period {text!r}: {_LONG[scale]} {value} is out of range ({low}-{high})")
    return value


_LONG = {"yr": "year", "mo": "month", "wk": "week", "yd": "yday", "md": "mday", "wd": "wday", "hr": "hour",
         "min": "minute", "sec": "second"}


def _ranges(scale: str, body: str, text: str) -> list[_Range]:
    # "9am - 5pm" and "9am-5pm" are the same range: close the spaces around dashes first.
    tokens = re.sub(r"\s*-\s*", "-", body.strip()).split()
    if not tokens:
        raise PeriodError(f"invalid period {text!r}: {_LONG[scale]} {{}} has no range")
    out = []
    for token in tokens:
        low, dash, high = token.partition("-")
        if dash and (not low or not high or "-" in high):
            raise PeriodError(f"invalid period {text!r}: {token!r} is not a range (v or v-v)")
        first = _number(scale, low, text)
        out.append(_Range(first, _number(scale, high, text) if dash else first))
    return out


def parse_period(text: str) -> Period:
    """Parse a PortaSIP time period (see the module doc); :class:`PeriodError` when it is invalid."""
    if not text or not text.strip():
        raise PeriodError(f"invalid period {text!r}: a period needs at least one scale, e.g. wd {{mon-fri}}")
    lowered = text.lower()
    subperiods: list[SubPeriod] = []
    for part in lowered.split(","):
        if not part.strip():
            raise PeriodError(f"invalid period {text!r}: an empty sub-period between commas")
        scales: dict[str, list[_Range]] = {}
        pos = 0
        while pos < len(part):
            match = _TERM.match(part, pos)
            if match is None:
                rest = part[pos:].strip()
                raise PeriodError(f"invalid period {text!r}: expected 'scale {{ranges}}' at {rest!r}")
            name = match.group(1)
            scale = _SCALES.get(name)
            if scale is None:
                raise PeriodError(f"invalid period {text!r}: unknown scale {name!r} "
                                  "(year, month, week, yday, mday, wday, hour, minute, second)")
            scales.setdefault(scale, []).extend(_ranges(scale, match.group(2), text))
            pos = match.end()
        subperiods.append(tuple((scale, tuple(ranges)) for scale, ranges in scales.items()))
    return Period(text, tuple(subperiods))

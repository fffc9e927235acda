"""The export formats: CSV (a header line, then one line per CDR) and JSON (one array of
objects). Both stream: rows are written as they are read, whatever the size of the export."""
from __future__ import annotations

import csv
import logging
from collections.abc import Iterable
from typing import Literal, TextIO

import orjson

from callcontrol.cdr.records import FIELDS, cdr_record
from callcontrol.store.sqlite import Cdr

logger = logging.getLogger(__name__)

Format = Literal["csv", "json"]
FORMATS: tuple[Format, ...] = ("csv", "json")


def write_csv(cdrs: Iterable[Cdr], out: TextIO) -> int:
    """RFC 4180 CSV; an absent value is an empty cell, forwarders are comma-separated in one cell."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FIELDS)
    count = 0
    for cdr in cdrs:
        record = cdr_record(cdr)
        record["forwarders"] = ",".join(record["forwarders"])
        writer.writerow(["" if record[name] is None else record[name] for name in FIELDS])
        count += 1
    return count


def write_json(cdrs: Iterable[Cdr], out: TextIO) -> int:
    """A JSON array, one object per line inside it (``null`` for an absent value)."""
    count = 0
    out.write("[")
    for cdr in cdrs:
        out.write(",\n" if count else "\n")
        out.write(orjson.dumps(cdr_record(cdr)).decode())
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def write(fmt: Format, cdrs: Iterable[Cdr], out: TextIO) -> int:
    """Write ``cdrs`` to ``out`` in ``fmt``; returns how many."""
    return write_csv(cdrs, out) if fmt == "csv" else write_json(cdrs, out)

"""CDRs out: the store's CDR query, migration 2, the record's ISO times, CSV/JSON, ``callcontrol cdr``."""
from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from callcontrol.__main__ import _build_parser
from callcontrol.cdr import cli
from callcontrol.cdr.formats import write_csv, write_json
from callcontrol.cdr.records import FIELDS, cdr_record, iso_utc, parse_time
from callcontrol.store.migrations import MIGRATIONS
from callcontrol.store.sqlite import DB_FILENAME, Cdr, CdrQuery, Store

T0 = 1_796_601_600.0  # 2026-12-07T00:00:00Z
CDR_COLUMNS_MIGRATION = 3  # the one that added leg_id, sip_reason, hangup_side, route...
BEFORE_CDR_COLUMNS = tuple(m for m in MIGRATIONS if m.version < CDR_COLUMNS_MIGRATION)


def _cdr(n: int, *, start: float, i_customer: int | None = 1, i_account: int | None = 1,
         leg_tag: str | None = None) -> Cdr:
    return Cdr(call_id=f"call-{n}", leg_tag=leg_tag, caller="1001", callee="1002", start_time=start,
               end_time=start + 30.5, i_account=i_account, i_customer=i_customer, connect_time=start + 2.25,
               duration=28.25, disconnect_reason="caller hung up", sip_code=200, sip_reason="OK",
               hangup_side="caller", route="account", leg_id=f"call-{n}" if leg_tag else None,
               sip_call_id=f"sip-{n}" if leg_tag else None, leg_type="outgoing" if leg_tag else None)


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = await Store.open(tmp_path, cdr_flush_interval=None)
    s.add_cdr(_cdr(1, start=T0 - 1))  # the day before
    s.add_cdr(_cdr(2, start=T0))  # exactly at midnight
    s.add_cdr(_cdr(3, start=T0 + 3600, i_customer=3, i_account=5))  # another tenant
    s.add_cdr(_cdr(3, start=T0 + 3601, i_customer=3, i_account=5, leg_tag="a"))
    s.add_cdr(_cdr(4, start=T0 + 86400))  # the next midnight
    s.add_cdr(_cdr(5, start=T0 + 7200, i_customer=None, i_account=None))  # a trunk call: nobody's
    await s.flush()
    yield s
    await s.close()


def _ids(cdrs: list[Cdr]) -> list[tuple[str, str | None]]:
    return [(c.call_id, c.leg_tag) for c in cdrs]


# --------------------------------------------------------------------------- the query

async def test_window_is_since_included_until_excluded(store: Store) -> None:
    day = await store.query_cdrs(query=CdrQuery(since=T0, until=T0 + 86400))
    assert _ids(day) == [("call-2", None), ("call-3", None), ("call-3", "a"), ("call-5", None)]
    assert _ids(await store.query_cdrs(query=CdrQuery(until=T0))) == [("call-1", None)]
    assert _ids(await store.query_cdrs(query=CdrQuery(since=T0 + 86400))) == [("call-4", None)]


async def test_owner_filters(store: Store) -> None:
    assert {c.call_id for c in await store.query_cdrs(query=CdrQuery(i_customers=(3,)))} == {"call-3"}
    assert {c.call_id for c in await store.query_cdrs(query=CdrQuery(i_accounts=(1,)))} == {
        "call-1", "call-2", "call-4"}
    assert await store.query_cdrs(query=CdrQuery(i_customers=())) == []  # nothing covered: nothing
    assert await store.query_cdrs(query=CdrQuery(i_customers=(1,), i_accounts=(5,))) == []  # both apply
    assert len(await store.query_cdrs(query=CdrQuery())) == 6  # an administrator's: trunk calls too


async def test_limit_offset_and_order_written(store: Store) -> None:
    everything = await store.query_cdrs(query=CdrQuery())
    assert await store.query_cdrs(query=CdrQuery(limit=2, offset=1)) == everything[1:3]
    assert await store.query_cdrs(query=CdrQuery(offset=5)) == everything[5:]
    assert await store.query_cdrs("call-3") == everything[2:4]
    with pytest.raises(ValueError):
        await store.query_cdrs("call-3", query=CdrQuery())


async def test_a_row_round_trips_every_field(tmp_path: Path) -> None:
    row = Cdr("c", "t", "1001", "1002", T0, T0 + 9, 1, 1, T0 + 1, 8.0, "callee hung up", 200, "c~10", "sip-c",
              "incoming", "OK", "callee", "sip:1002@127.0.0.1:5062", "hg7", "1003,1004")
    async with _opened(tmp_path) as s:
        s.add_cdr(row)
        await s.flush()
        assert await s.query_cdrs() == [row]


class _opened:
    def __init__(self, path: Path) -> None:
        self.path = path

    async def __aenter__(self) -> Store:
        self.store = await Store.open(self.path)
        return self.store

    async def __aexit__(self, *exc: object) -> None:
        await self.store.close()


async def test_cdr_migration_adds_the_columns_and_backfills_answered_codes(tmp_path: Path) -> None:
    """A database from before the CDR columns (BYE-ended legs stored with sip_code NULL) opened now."""
    old = await Store.open(tmp_path, migrations=BEFORE_CDR_COLUMNS)
    await old.close()
    db = sqlite3.connect(tmp_path / DB_FILENAME)
    db.executemany(
        "INSERT INTO cdrs (call_id, leg_tag, caller, callee, start_time, connect_time, end_time, duration,"
        " disconnect_reason, sip_code) VALUES (?,?,?,?,?,?,?,?,?,?)",
        [("answered", None, "a", "b", T0, T0 + 1, T0 + 5, 4.0, "caller hung up", None),
         ("busy", None, "a", "b", T0, None, T0 + 1, 0.0, "Busy Here", 486)])
    db.commit()
    db.close()
    async with _opened(tmp_path) as s:
        assert s.schema_version == MIGRATIONS[-1].version >= CDR_COLUMNS_MIGRATION
        rows = {c.call_id: c for c in await s.query_cdrs()}
    assert (rows["answered"].sip_code, rows["busy"].sip_code) == (200, 486)
    assert rows["answered"].hangup_side is None  # not guessed for old rows


# --------------------------------------------------------------------------- records and formats

def test_times_are_iso_utc_with_milliseconds() -> None:
    assert iso_utc(T0) == "2026-12-07T00:00:00.000Z"
    assert iso_utc(T0 + 3723.25) == "2026-12-07T01:02:03.250Z"
    assert iso_utc(None) is None


@pytest.mark.parametrize(("text", "epoch"), [
    ("2026-12-07T00:00:00Z", T0),
    ("2026-12-07T00:00:00.500Z", T0 + 0.5),
    ("2026-12-07T02:00:00+02:00", T0),  # an offset is honoured
    ("2026-12-07T00:00:00", T0),  # no offset: UTC
    ("2026-12-07 00:00:00", T0),  # SPEC's notification format
    ("2026-12-07", T0),  # a date: its midnight UTC
])
def test_parse_time_accepts_iso_times_and_dates(text: str, epoch: float) -> None:
    assert parse_time(text) == epoch


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "1796601600", ""])
def test_parse_time_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="not an ISO-8601 time or date"):
        parse_time(text)


def test_record_fields() -> None:
    row = _cdr(7, start=T0, leg_tag="x")
    row.forwarders = "1003,1004"
    record = cdr_record(row)
    assert tuple(record) == FIELDS
    assert record == {
        "call_id": "call-7", "leg_tag": "x", "leg_id": "call-7", "sip_call_id": "sip-7", "leg_type": "outgoing",
        "caller": "1001", "callee": "1002", "i_account": 1, "i_customer": 1, "route": "account",
        "start_time": "2026-12-07T00:00:00.000Z", "connect_time": "2026-12-07T00:00:02.250Z",
        "disconnect_time": "2026-12-07T00:00:30.500Z", "duration": 28.25, "sip_code": 200, "sip_reason": "OK",
        "disconnect_reason": "caller hung up", "hangup_side": "caller", "huntgroup_id": None,
        "forwarders": ["1003", "1004"],
    }


def test_csv_has_a_header_and_empty_cells_for_absent_values() -> None:
    unanswered = _cdr(8, start=T0)
    unanswered.connect_time, unanswered.duration, unanswered.sip_code = None, 0.0, 486
    row = _cdr(9, start=T0)
    row.forwarders = "1003,1004"
    out = io.StringIO()
    assert write_csv([unanswered, row], out) == 2
    assert out.getvalue().startswith(",".join(FIELDS) + "\r\n")
    parsed = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert (parsed[0]["connect_time"], parsed[0]["sip_code"], parsed[0]["leg_tag"]) == ("", "486", "")
    assert parsed[1]["forwarders"] == "1003,1004"  # one cell
    assert parsed[1]["start_time"] == "2026-12-07T00:00:00.000Z"


def test_json_is_one_array_of_records() -> None:
    rows = [_cdr(1, start=T0), _cdr(2, start=T0 + 1)]
    out = io.StringIO()
    assert write_json(rows, out) == 2
    assert json.loads(out.getvalue()) == [cdr_record(r) for r in rows]
    empty = io.StringIO()
    assert write_json([], empty) == 0
    assert json.loads(empty.getvalue()) == []


# --------------------------------------------------------------------------- the command

def _run(*argv: str) -> tuple[int, str, str]:
    args = _build_parser().parse_args(["cdr", "export", *argv])
    out, err = io.StringIO(), io.StringIO()
    return cli.run(args, out=out, err=err), out.getvalue(), err.getvalue()


async def test_export_command_filters_and_formats(store: Store) -> None:
    data_dir = str(store.path.parent)
    status, out, err = _run("--data-dir", data_dir, "--since", "2026-12-07", "--until", "2026-12-08T00:00:00Z",
                            "--format", "json", "--customer", "3")
    assert (status, err) == (0, "")
    assert [(r["call_id"], r["leg_tag"]) for r in json.loads(out)] == [("call-3", None), ("call-3", "a")]
    status, out, _ = _run("--data-dir", data_dir, "--account", "1")
    assert status == 0
    assert [r["call_id"] for r in csv.DictReader(io.StringIO(out))] == ["call-1", "call-2", "call-4"]


@pytest.mark.parametrize(("argv", "message"), [
    (("--since", "yesterday"), "--since: not an ISO-8601 time or date: 'yesterday'"),
    (("--until", "2026-02-30"), "--until: not an ISO-8601 time or date"),
    (("--since", "2026-12-08", "--until", "2026-12-07"), "--until (2026-12-07) is before --since (2026-12-08)"),
])
def test_bad_times_are_one_line_naming_the_option(tmp_path: Path, argv: tuple[str, ...], message: str) -> None:
    status, out, err = _run("--data-dir", str(tmp_path), *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and message in err


def test_missing_database_names_the_path(tmp_path: Path) -> None:
    status, _, err = _run("--data-dir", str(tmp_path / "nowhere"))
    assert status == 1 and err.count("\n") == 1
    assert f"{tmp_path / 'nowhere' / DB_FILENAME}: no such database" in err


async def test_a_database_not_migrated_yet_is_refused(tmp_path: Path) -> None:
    old = await Store.open(tmp_path, migrations=BEFORE_CDR_COLUMNS)
    await old.close()
    status, _, err = _run("--data-dir", str(tmp_path))
    assert status == 1 and err.count("\n") == 1
    latest = MIGRATIONS[-1].version
    assert f"schema version {CDR_COLUMNS_MIGRATION - 1}, expected {latest} (older: start the server once to migrate it)" in err

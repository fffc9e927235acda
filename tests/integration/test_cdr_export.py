"""CDRs out of a running server: SIPp calls through ``callcontrol serve``, then ``callcontrol cdr
export`` (CSV and JSON) against its live data directory, and ``get_cdr_list`` over WebSocket.

Two tenants: SIPp phones registered as 1002 (customer 1, "Demo Corp") and 3001 (customer 3,
"Other Corp") each take one call from a trusted SIPp caller; a third call goes to a busy trunk.
CDRs are written in batches (within the store's flush interval): the test polls the database
read-only, under a deadline, until the rows are there, and never sleeps to synchronise.
"""
from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from callcontrol.cdr.records import FIELDS
from callcontrol.client import CallControlClient
from tests.integration.harness import (
    ROOT,
    SCENARIOS,
    Server,
    free_port,
    register,
    run_sipp,
    start_server,
    start_sipp_scenario,
    start_sipp_uas,
)

pytestmark = pytest.mark.integration


@dataclass
class Placed:
    """One SIPp call and the wall-clock window it ran in."""

    callee: str
    began: float
    ended: float
    contact: str | None = None  # the Request-URI the server sent leg B to


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, Placed]]]:
    server = start_server(tmp_path_factory.mktemp("cdr"))
    try:
        placed = {
            "1002": _call_registered(server, "1002"),
            "3001": _call_registered(server, "3001"),
            "busy": _call_busy_trunk(server),
        }
        _wait_for_cdrs(server.data_dir, 9)  # 3 calls: one row each and one per leg
        yield server, placed
    finally:
        server.proc.stop()


def _call_registered(server: Server, account: str) -> Placed:
    phone_port = free_port()
    reply = register(server.sip_port, phone_port, account)
    assert reply.startswith("SIP/2.0 200 "), reply
    uas = start_sipp_uas(phone_port, "u1", 1)
    began = time.time()
    try:
        result = run_sipp([f"127.0.0.1:{server.sip_port}", "-sn", "uac", "-s", account, "-d", "500", "-m", "1",
                           "-p", str(free_port())], timeout=30)
        assert (result.returncode, result.successful) == (0, 1), result.output[-3000:]
        assert uas.wait(30) == 0
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait()
    return Placed(account, began, time.time(), contact=f"sip:{account}@127.0.0.1:{phone_port}")


def _call_busy_trunk(server: Server) -> Placed:
    uas = start_sipp_scenario(server.trunk_port, "u1", 1, SCENARIOS / "uas_busy.xml")
    began = time.time()
    try:
        result = run_sipp([f"127.0.0.1:{server.sip_port}", "-sf", str(SCENARIOS / "uac_busy.xml"), "-s", "5551234",
                           "-m", "1", "-p", str(free_port())], timeout=30)
        assert (result.returncode, result.successful) == (0, 1), result.output[-3000:]
        assert uas.wait(30) == 0
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait()
    return Placed("5551234", began, time.time(), contact=f"sip:5551234@127.0.0.1:{server.trunk_port}")


def _wait_for_cdrs(data_dir: Path, count: int, timeout: float = 15.0) -> None:
    """Until the server's store holds ``count`` CDRs (its batch is flushed), bounded."""
    deadline = time.monotonic() + timeout
    db = sqlite3.connect(f"{(data_dir / 'callcontrol.sqlite3').as_uri()}?mode=ro", uri=True)
    try:
        while True:
            (written,) = db.execute("SELECT COUNT(*) FROM cdrs").fetchone()
            if written >= count:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{written} CDRs written within {timeout}s, expected {count}")
            time.sleep(0.02)  # polling a condition under a deadline, not a blind wait
    finally:
        db.close()


def _export(server: Server, fmt: str, *extra: str) -> str:
    out = subprocess.run(["callcontrol", "cdr", "export", "--data-dir", str(server.data_dir), "--format", fmt,
                          *extra], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
    assert (out.returncode, out.stderr) == (0, ""), out
    return out.stdout


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _as_csv(row: dict[str, Any]) -> dict[str, str]:
    """A JSON record as its CSV line says it."""
    out = {}
    for key, value in row.items():
        if value is None:
            out[key] = ""
        elif isinstance(value, list):
            out[key] = ",".join(value)
        else:
            out[key] = str(value)
    return out


def _in_window(text: str | None, call: Placed) -> bool:
    assert text is not None and text.endswith("Z"), text
    # Exported times are truncated to the millisecond.
    return math.floor(call.began * 1000) / 1000 <= _epoch(text) <= call.ended


def _by_call(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each call's rows (its own, then its legs'), by the number it called."""
    calls: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        calls.setdefault(row["call_id"], []).append(row)
    return {group[0]["callee"]: group for group in calls.values()}


def test_export_in_both_formats_field_by_field(calls: tuple[Server, dict[str, Placed]]) -> None:
    server, placed = calls
    records = json.loads(_export(server, "json"))
    csv_rows = list(csv.DictReader(io.StringIO(_export(server, "csv"))))
    assert csv_rows == [_as_csv(r) for r in records]  # the same records, field by field
    assert list(csv_rows[0]) == list(records[0])  # the same columns, in order
    by_callee = _by_call(records)
    assert set(by_callee) == {"1002", "3001", "5551234"}

    for account, i_account, i_customer in (("1002", 2, 1), ("3001", 5, 3)):
        call = placed[account]
        whole, leg_a, leg_b = by_callee[account]
        call_id = whole["call_id"]
        assert (whole["leg_tag"], leg_a["leg_type"], leg_b["leg_type"]) == (None, "outgoing", "incoming")
        for row in (whole, leg_a, leg_b):
            assert (row["caller"], row["callee"]) == ("sipp", account)
            assert (row["sip_code"], row["sip_reason"]) == (200, "OK")
            assert (row["disconnect_reason"], row["hangup_side"]) == ("caller hung up", "caller")
            assert all(_in_window(row[k], call) for k in ("start_time", "connect_time", "disconnect_time"))
            assert row["start_time"] <= row["connect_time"] <= row["disconnect_time"]
            connected = _epoch(row["disconnect_time"]) - _epoch(row["connect_time"])
            assert row["duration"] == pytest.approx(connected, abs=0.002) and row["duration"] > 0
            assert (row["huntgroup_id"], row["forwarders"]) == (None, [])
        # The call is billed to the account called (the trusted caller is nobody's); so is leg B.
        assert (whole["i_account"], whole["i_customer"]) == (i_account, i_customer)
        assert (leg_b["i_account"], leg_b["i_customer"]) == (i_account, i_customer)
        assert (leg_a["i_account"], leg_a["i_customer"]) == (None, None)
        assert whole["route"] == leg_a["route"] == "account"
        assert leg_b["route"] == call.contact
        assert leg_a["leg_id"] == leg_a["sip_call_id"] == call_id == leg_b["leg_id"]
        assert leg_b["sip_call_id"] != call_id and leg_a["leg_tag"] != leg_b["leg_tag"]

    busy = placed["busy"]
    whole, leg_a, leg_b = by_callee["5551234"]
    for row in (whole, leg_a, leg_b):
        assert (row["sip_code"], row["sip_reason"], row["disconnect_reason"]) == (486, "Busy Here", "Busy Here")
        assert (row["hangup_side"], row["connect_time"], row["duration"]) == ("callee", None, 0.0)
        assert _in_window(row["start_time"], busy) and _in_window(row["disconnect_time"], busy)
        assert (row["i_account"], row["i_customer"]) == (None, None)
    assert (whole["route"], leg_a["route"], leg_b["route"]) == ("trunk", "trunk", busy.contact)


def test_export_window_and_tenant_filters(calls: tuple[Server, dict[str, Placed]]) -> None:
    server, placed = calls
    other = json.loads(_export(server, "json", "--customer", "3"))
    assert {r["callee"] for r in other} == {"3001"} and len(other) == 2  # its call's row and leg B
    # A window that starts after the first call's legs began leaves that call out.
    since = datetime.fromtimestamp(placed["1002"].ended).astimezone().isoformat()
    later = json.loads(_export(server, "json", "--since", since))
    assert {r["callee"] for r in later} == {"3001", "5551234"}
    assert json.loads(_export(server, "json", "--until", "2000-01-01")) == []
    # Dates are midnight UTC: the day after the last call holds none of them and ends after all.
    tomorrow = (datetime.fromtimestamp(placed["busy"].ended, UTC).date() + timedelta(days=1)).isoformat()
    assert len(json.loads(_export(server, "json", "--until", tomorrow))) == 9
    assert _export(server, "csv", "--since", tomorrow).splitlines() == [",".join(FIELDS)]


async def test_api_gives_each_tenant_its_own_cdrs(calls: tuple[Server, dict[str, Placed]]) -> None:
    server, _ = calls

    async def cdrs(login: str, password: str, **params: Any) -> list[dict[str, Any]]:
        async with CallControlClient.connect(f"ws://127.0.0.1:{server.ws_port}/ws") as client:
            await client.login(login, password)
            return await client.get_cdr_list(**params)

    exported = {(r["call_id"], r["leg_tag"]): r for r in json.loads(_export(server, "json"))}
    demo = await cdrs("demo-corp", "demo-corp-pass")
    other = await cdrs("other-corp", "other-corp-pass")
    assert {r["callee"] for r in demo} == {"1002"} and len(demo) == 2
    assert {r["callee"] for r in other} == {"3001"} and len(other) == 2
    for row in demo + other:  # the API says what the export says
        assert row == exported[(row["call_id"], row["leg_tag"])]
    # Neither tenant can ask for the other's: as if it did not exist.
    assert await cdrs("other-corp", "other-corp-pass", i_customer=1) == []
    assert await cdrs("demo-corp", "demo-corp-pass", i_account=5) == []
    # An account reads its own; another account of the same customer reads nothing of it.
    assert [r["callee"] for r in await cdrs("1002", "secret1002")] == ["1002", "1002"]
    assert await cdrs("1003", "secret1003") == []
    assert len(await cdrs("admin", "admin-pass")) == 9  # every row, the trunk call's too

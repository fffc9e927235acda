"""PBX provisioning (docs/pbx.md): the exact ``callcontrol directory`` forms of issue 13, what the
store keeps, what a reload sees, and one clear line for every refusal."""
from __future__ import annotations

import argparse
import asyncio
import io
import sqlite3
import sys
from pathlib import Path

import pytest

from callcontrol.directory import cli as directory_cli
from callcontrol.directory.service import Directory, DirectoryError
from callcontrol.pbx.model import AccountForwarding, HuntList, Member, Menu, RingGroup, TimeRule


def _run(argv: list[str], data_dir: Path, stdin: str = "") -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="callcontrol")
    directory_cli.add_arguments(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["directory", "--data-dir", str(data_dir), *argv])
    out, err = io.StringIO(), io.StringIO()
    saved, sys.stdin = sys.stdin, io.StringIO(stdin)
    try:
        return directory_cli.run(args, out=out, err=err), out.getvalue(), err.getvalue()
    finally:
        sys.stdin = saved


def ok(data_dir: Path, *argv: str) -> str:
    code, out, err = _run(list(argv), data_dir)
    assert (code, err) == (0, ""), err
    return out


def cells(table: str) -> list[dict[str, str]]:
    """A printed table as dicts (columns found from the dashed rule, so values may hold spaces)."""
    lines = table.splitlines()
    spans, pos = [], 0
    for dashes in lines[1].split("  "):
        spans.append((pos, pos + len(dashes)))
        pos += len(dashes) + 2
    header = [lines[0][a:b].strip() for a, b in spans]
    return [dict(zip(header, (line[a:b].strip() if i < len(spans) - 1 else line[a:].strip()
                              for i, (a, b) in enumerate(spans)), strict=True)) for line in lines[2:]]


async def _opened(data_dir: Path) -> Directory:
    return await Directory.open(data_dir)


def reopen(data_dir: Path) -> Directory:
    return asyncio.run(_opened(data_dir))


def test_the_issue_forms_add_list_and_remove(data_dir: Path) -> None:
    out = ok(data_dir, "add", "ringgroup", "--customer", "1", "--number", "600", "--name", "Sales",
             "--members", "1001,1002", "--ring-time", "20")
    assert cells(out) == [{"number": "600", "customer": "1", "name": "Sales", "members": "1001,1002",
                           "ring_time": "20", "failover": "-"}]
    out = ok(data_dir, "add", "hunt", "--customer", "1", "--number", "610", "--name", "Night", "--members",
             "1001,1002", "--order", "random", "--ring-time", "15")
    assert cells(out)[0]["order"] == "random"
    ok(data_dir, "add", "hunt", "--customer", "1", "--number", "611", "--name", "Day", "--members", "1002,1001",
       "--order", "follow")
    out = ok(data_dir, "add", "forwarding", "--account", "1003", "--when", "always", "--to", "1001")
    assert cells(out) == [{"i_forwarding": "1", "account": "1003", "when": "always", "to": "1001", "after": "-"}]
    out = ok(data_dir, "add", "forwarding", "--account", "1002", "--when", "noanswer", "--to", "600", "--after", "15")
    assert cells(out)[0]["after"] == "15"
    out = ok(data_dir, "add", "timerule", "--customer", "1", "--number", "650", "--period", "wd {mon-fri} hr {9am-5pm}",
             "--match", "600", "--nomatch", "800")
    assert cells(out) == [{"number": "650", "customer": "1", "name": "time rule 650", "match": "600",
                           "nomatch": "800", "zone": "UTC", "period": "wd {mon-fri} hr {9am-5pm}"}]
    out = ok(data_dir, "add", "menu", "--customer", "1", "--number", "660", "--prompt", "http://127.0.0.1/menu.wav",
             "--choices", "1=1002;2=800", "--timeout", "5", "--default", "600")
    assert cells(out)[0] == {"number": "660", "customer": "1", "name": "IVR menu 660", "choices": "1=1002;2=800",
                             "timeout": "5", "default": "600", "prompt": "http://127.0.0.1/menu.wav"}

    assert [r["number"] for r in cells(ok(data_dir, "list", "hunts"))] == ["610", "611"]
    assert [r["number"] for r in cells(ok(data_dir, "list", "ringgroup", "--customer", "1"))] == ["600"]
    assert cells(ok(data_dir, "list", "ringgroups", "--customer", "3")) == []
    assert [r["account"] for r in cells(ok(data_dir, "list", "forwardings"))] == ["1003", "1002"]
    assert [r["account"] for r in cells(ok(data_dir, "list", "forwardings", "--account", "1002"))] == ["1002"]
    assert [r["number"] for r in cells(ok(data_dir, "list", "timerules"))] == ["650"]
    assert [r["number"] for r in cells(ok(data_dir, "list", "menus"))] == ["660"]

    # What the store keeps is what a fresh process loads.
    directory = reopen(data_dir)
    try:
        assert directory.pbx_number("600") == RingGroup("600", 1, "Sales", (Member("1001"), Member("1002")), 20)
        hunt = directory.pbx_number("610")
        assert isinstance(hunt, HuntList) and hunt.order == "random" and hunt.ring_time == 15
        rule = directory.pbx_number("650")
        assert isinstance(rule, TimeRule) and (rule.match, rule.nomatch) == ("600", "800")
        menu = directory.pbx_number("660")
        assert isinstance(menu, Menu) and menu.choice("2") == "800" and menu.default == "600"
        assert directory.dialplan.forwarding("1003") == AccountForwarding(always="1001")
        assert directory.dialplan.forwarding("1002") == AccountForwarding(noanswer="600", noanswer_after=15)
        assert "4 PBX numbers" not in directory.summary() and "5 PBX numbers, 2 forwardings" in directory.summary()
    finally:
        asyncio.run(directory.close())

    assert ok(data_dir, "remove", "hunt", "610") == "hunt list 610 removed\n"
    assert ok(data_dir, "remove", "forwarding", "--account", "1002", "--when", "noanswer") == \
        "1 forwarding of 1002 removed\n"
    assert ok(data_dir, "remove", "forwarding", "--account", "1003") == "1 forwarding of 1003 removed\n"
    for kind, number in (("ringgroup", "600"), ("timerule", "650"), ("menu", "660"), ("hunt", "611")):
        ok(data_dir, "remove", kind, number)
    assert cells(ok(data_dir, "list", "hunts")) == [] and cells(ok(data_dir, "list", "forwardings")) == []


def test_the_issue_form_of_a_queue(data_dir: Path) -> None:
    out = ok(data_dir, "add", "queue", "--customer", "1", "--number", "800", "--name", "Support",
             "--agents", "1001,1002", "--max-wait", "300", "--max-callers", "10", "--join-when-empty", "yes",
             "--announce-every", "30", "--on-noanswer", "1002")
    assert cells(out) == [{"number": "800", "customer": "1", "name": "Support", "agents": "1001,1002",
                           "strategy": "ringall", "max_wait": "300", "max_callers": "10", "join_when_empty": "yes",
                           "announce_every": "30", "failover": "noanswer=1002"}]
    queue = reopen(data_dir).pbx_numbers("queue", 1)[0]
    assert dict(queue.settings) == {"agents": "1001,1002", "max_wait": 300, "max_callers": 10,
                                    "join_when_empty": "yes", "announce_every": 30}
    assert [r["number"] for r in cells(ok(data_dir, "list", "queues", "--customer", "1"))] == ["800"]
    assert ok(data_dir, "remove", "queue", "800") == "call queue 800 removed\n"
    assert cells(ok(data_dir, "list", "queues")) == []


def test_failover_flags_and_member_ring_times(data_dir: Path) -> None:
    ok(data_dir, "add", "hunt", "--customer", "1", "--number", "610", "--members", "1003", "--order", "follow")
    out = ok(data_dir, "add", "ringgroup", "--customer", "1", "--number", "600", "--members", "1001/30,1002",
             "--on-busy", "sys:busy", "--on-noanswer", "grp:610", "--on-unreachable", "1003")
    assert cells(out)[0]["members"] == "1001/30,1002"
    assert cells(out)[0]["failover"] == "busy=sys:busy,noanswer=grp:610,unreachable=1003"


def test_time_zone_of_a_customer(data_dir: Path) -> None:
    ok(data_dir, "add", "timerule", "--customer", "1", "--number", "650", "--period", "hr {9-17}", "--match", "1001",
       "--nomatch", "1002")
    assert ok(data_dir, "set", "customer", "1", "--time-zone", "America/New_York") == \
        "customer 1 time zone America/New_York\n"
    assert cells(ok(data_dir, "list", "timerules"))[0]["zone"] == "America/New_York"
    directory = reopen(data_dir)
    try:
        assert str(directory.dialplan.zone(1)) == "America/New_York" and directory.customer(1).time_zone == \
            "America/New_York"
    finally:
        asyncio.run(directory.close())
    assert ok(data_dir, "set", "customer", "1", "--time-zone", "UTC") == "customer 1 time zone UTC\n"
    out = ok(data_dir, "add", "customer", "--name", "Far Away", "--time-zone", "Asia/Tokyo")
    directory = reopen(data_dir)
    try:
        assert directory.customer(int(cells(out)[0]["i_customer"])).time_zone == "Asia/Tokyo"
    finally:
        asyncio.run(directory.close())


@pytest.mark.parametrize(("argv", "message"), [
    (["add", "ringgroup", "--customer", "9", "--number", "600", "--members", "1001"], "no customer 9"),
    (["add", "ringgroup", "--customer", "1", "--number", "1001", "--members", "1002"], "'1001' is already an account id"),
    (["add", "ringgroup", "--customer", "1", "--number", "7000", "--members", "1002"], "already an IVR access number"),
    (["add", "ringgroup", "--customer", "1", "--number", "6x0", "--members", "1002"], "invalid ringgroup number '6x0'"),
    (["add", "ringgroup", "--customer", "1", "--number", "600", "--members", "3001"],
     "member 3001 is an account of customer 3, not of customer 1"),
    (["add", "ringgroup", "--customer", "1", "--number", "600", "--members", "5551234"],
     "member 5551234 is not an account or a ring group of customer 1"),
    (["add", "ringgroup", "--customer", "1", "--number", "600", "--members", "1001,1001"], "listed twice"),
    (["add", "ringgroup", "--customer", "1", "--number", "600", "--members", "1001", "--ring-time", "0"],
     "invalid ring time 0: 1-600 seconds"),
    (["add", "ringgroup", "--customer", "1", "--number", "600", "--members", "1001", "--on-busy", "vm:101"],
     "routing headers are"),
    (["add", "ringgroup", "--customer", "1", "--number", "600", "--members", "1001", "--on-busy", "600"],
     "600 cannot send calls to itself"),
    (["add", "ringgroup", "--customer", "1", "--number", "600", "--members", "1001", "--on-busy", "queue:800"],
     "queue:800: 800 is not in the directory"),
    (["add", "hunt", "--customer", "1", "--number", "610", "--members", "1001", "--order", "follow",
      "--on-noanswer", "grp:1002"], "grp:1002: 1002 is an account id"),
    (["add", "timerule", "--customer", "1", "--number", "650", "--period", "wd {mon-fry", "--match", "1", "--nomatch",
      "2"], "invalid period 'wd {mon-fry'"),
    (["add", "timerule", "--customer", "1", "--number", "650", "--period", "hr {9}", "--match", "sys:nap",
      "--nomatch", "2"], "sys: is one of busy, hangup, echo"),
    (["add", "menu", "--customer", "1", "--number", "660", "--prompt", "p", "--choices", "1"], "DIGIT=TARGET"),
    (["add", "menu", "--customer", "1", "--number", "660", "--prompt", " ", "--choices", "1=1002"], "needs a prompt"),
    (["add", "menu", "--customer", "1", "--number", "660", "--prompt", "p", "--choices", "1=1002", "--timeout", "99"],
     "invalid menu timeout 99: 1-60 seconds"),
    (["add", "queue", "--customer", "1", "--number", "800", "--agents", "3001"],
     "agent 3001 is not an account of customer 1"),
    (["add", "queue", "--customer", "1", "--number", "800", "--agents", "1001", "--max-callers", "0"],
     "queue setting max_callers: 0 is not a whole number >= 1"),
    (["add", "queue", "--customer", "1", "--number", "800", "--agents", "1001", "--on-noanswer", "queue:801"],
     "queue:801: 801 is not in the directory"),
    (["remove", "queue", "800"], "no queue 800"),
    (["add", "forwarding", "--account", "1999", "--when", "always", "--to", "1001"], "no account '1999'"),
    (["add", "forwarding", "--account", "1003", "--when", "always", "--to", "1003"], "1003 cannot send calls to itself"),
    (["add", "forwarding", "--account", "1003", "--when", "busy", "--to", "1001", "--after", "5"],
     "--after applies to noanswer forwarding only"),
    (["add", "forwarding", "--account", "1003", "--when", "noanswer", "--to", "1001", "--after", "0"],
     "invalid noanswer time 0"),
    (["set", "customer", "1", "--time-zone", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
    (["set", "customer", "9", "--time-zone", "UTC"], "no customer 9"),
    (["add", "customer", "--name", "X", "--time-zone", "Nowhere"], "unknown time zone 'Nowhere'"),
    (["remove", "ringgroup", "600"], "no ringgroup 600"),
    (["remove", "forwarding", "--account", "1003"], "account 1003 has no forwarding"),
    (["remove", "forwarding", "--account", "1003", "--when", "busy"], "account 1003 has no busy forwarding"),
])
def test_refusals_are_one_line_and_change_nothing(data_dir: Path, argv: list[str], message: str) -> None:
    before = _dump(data_dir)
    code, out, err = _run(argv, data_dir)
    assert code == 1 and out == ""
    assert err.startswith("callcontrol directory: error: ") and err.count("\n") == 1
    assert message in err, err
    assert _dump(data_dir) == before


def _dump(data_dir: Path) -> list[tuple]:
    db = sqlite3.connect(data_dir / "callcontrol.sqlite3")
    try:
        return [*db.execute("SELECT * FROM pbx_numbers"), *db.execute("SELECT * FROM forwardings"),
                *db.execute("SELECT i_customer, time_zone FROM customers")]
    finally:
        db.close()


def test_one_forwarding_per_condition_and_the_number_space_is_shared(data_dir: Path) -> None:
    ok(data_dir, "add", "forwarding", "--account", "1003", "--when", "busy", "--to", "1001")
    code, _out, err = _run(["add", "forwarding", "--account", "1003", "--when", "busy", "--to", "1002"], data_dir)
    assert code == 1 and "account 1003 already forwards on busy (remove it first)" in err
    ok(data_dir, "add", "ringgroup", "--customer", "1", "--number", "600", "--members", "1001")
    for argv, message in ((["add", "hunt", "--customer", "1", "--number", "600", "--members", "1001", "--order",
                            "follow"], "'600' is already a ringgroup"),
                          (["add", "ivr", "--number", "600", "--customer", "1"], "'600' is a ringgroup"),
                          (["add", "account", "--customer", "1", "--id", "600", "--password-stdin"],
                           "'600' is a ringgroup")):
        code, _out, err = _run(argv, data_dir, stdin="pw\n")
        assert code == 1 and message in err, err


async def test_nested_groups_cannot_make_a_loop(data_dir: Path) -> None:
    async with await Directory.open(data_dir) as directory:
        await directory.add_pbx_number("ringgroup", 1, "600", "A", {"members": "1001"})
        await directory.add_pbx_number("ringgroup", 1, "601", "B", {"members": "1002,600"})
        await directory.remove_pbx_number("600")
        with pytest.raises(DirectoryError, match="member 601 contains 600: a loop"):
            await directory.add_pbx_number("ringgroup", 1, "600", "A", {"members": "1001,601"})


async def test_removing_things_takes_their_pbx_with_them(data_dir: Path) -> None:
    async with await Directory.open(data_dir) as directory:
        await directory.add_forwarding("1003", "always", "1001")
        await directory.add_pbx_number("ringgroup", 2, "620", "Branch", {"members": "2001"})
        await directory.remove_account(3)  # 1003: its forwarding goes (ON DELETE CASCADE)
        assert directory.forwardings() == [] and directory.dialplan.forwarding("1003") is None
        with pytest.raises(DirectoryError, match="PBX numbers"):
            await directory.remove_customer(2)
        await directory.remove_customer(2, cascade=True)
        assert directory.pbx_number("620") is None
    async with await Directory.open(data_dir) as directory:
        assert directory.pbx_number("620") is None and directory.forwardings() == []


async def test_another_process_writing_is_seen_by_reload_if_changed(data_dir: Path) -> None:
    """The running server's directory watch (server.py) sees the CLI's PBX edits without a restart."""
    async with await Directory.open(data_dir) as server_side:
        assert await server_side.reload_if_changed() is None
        code = await asyncio.to_thread(lambda: _run(["add", "ringgroup", "--customer", "1", "--number", "600",
                                                     "--members", "1001,1002"], data_dir)[0])
        assert code == 0
        assert await server_side.reload_if_changed() is not None
        assert isinstance(server_side.dialplan.number("600"), RingGroup)


async def test_a_bad_stored_row_is_skipped_with_a_warning(data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = sqlite3.connect(data_dir / "callcontrol.sqlite3")
    db.execute("INSERT INTO pbx_numbers VALUES ('650', 'timerule', 1, 'x', '{\"period\": \"wd {\"}')")
    db.execute("INSERT INTO pbx_numbers VALUES ('600', 'ringgroup', 1, 'ok', '{\"members\": [\"1001\"]}')")
    db.commit()
    db.close()
    async with await Directory.open(data_dir) as directory:
        assert directory.pbx_number("650") is None and directory.pbx_number("600") is not None
    assert any("stored timerule 650" in r.getMessage() for r in caplog.records)

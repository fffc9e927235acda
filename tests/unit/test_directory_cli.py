"""callcontrol.directory.cli: parse real argv, run on a tmp data dir, check tables and the store."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from callcontrol.directory import cli as directory_cli
from callcontrol.directory.service import Directory, Principal

REPO = Path(__file__).resolve().parents[2]


def _parser(top_level_data_dir: bool = False) -> argparse.ArgumentParser:
    """A main parser shaped like callcontrol.__main__'s."""
    parser = argparse.ArgumentParser(prog="callcontrol")
    if top_level_data_dir:
        parser.add_argument("--data-dir", type=Path)
    sub = parser.add_subparsers(dest="command", required=True)
    directory_cli.add_arguments(sub)
    return parser


def _run(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = _parser().parse_args(argv)
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = directory_cli.run(args, out=out, err=err)
    finally:
        sys.stdin = saved
    return code, out.getvalue(), err.getvalue()


def _rows(table: str) -> list[list[str]]:
    """Split a printed table into cells (header first, the dashed rule dropped)."""
    lines = table.splitlines()
    assert set(lines[1].replace(" ", "")) == {"-"}
    return [line.split() for line in [lines[0], *lines[2:]]]


def _open(data_dir: Path) -> Directory:
    async def go() -> Directory:
        return await Directory.open(data_dir)

    return asyncio.run(go())


def _check(data_dir: Path, login: str, password: str) -> Principal | None:
    async def go() -> Principal | None:
        async with await Directory.open(data_dir) as d:
            return await d.authenticate(login, password)

    return asyncio.run(go())


def test_list_customers_table(data_dir: Path) -> None:
    code, out, err = _run(["directory", "list", "customers", "--data-dir", str(data_dir)])
    assert (code, err) == (0, "")
    assert _rows(out) == [
        ["i_customer", "name", "office", "main_office", "reseller", "login"],
        ["1", "Demo", "Corp", "main", "-", "-", "demo-corp"],
        ["2", "Demo", "Branch", "branch", "1", "-", "-"],
        ["3", "Other", "Corp", "none", "-", "-", "other-corp"],
    ]
    # Columns line up: every row starts its second column where the header's does.
    lines = out.splitlines()
    assert {line.index(line.split()[1]) for line in (lines[0], *lines[2:])} == {len("i_customer  ")}


def test_list_accounts_ivr_admins_resellers(data_dir: Path) -> None:
    dd = ["--data-dir", str(data_dir)]
    code, out, _ = _run(["directory", "list", "accounts", *dd])
    assert code == 0
    assert [r[:3] for r in _rows(out)[1:]] == [
        ["1", "1001", "1"],
        ["2", "1002", "1"],
        ["3", "1003", "1"],
        ["4", "2001", "2"],
        ["5", "3001", "3"],
    ]
    code, out, _ = _run(["directory", "list", "accounts", "--customer", "3", *dd])
    assert [r[1] for r in _rows(out)[1:]] == ["3001"]
    code, out, _ = _run(["directory", "list", "ivr", *dd])
    assert _rows(out) == [["i_ivr_an", "number", "customer", "account"], ["1", "7000", "1", "-"]]
    code, out, _ = _run(["directory", "list", "admins", *dd])
    assert _rows(out) == [["login"], ["admin"]]
    code, out, _ = _run(["directory", "list", "resellers", *dd])
    assert _rows(out) == [["i_reseller", "name", "login"]]


def test_add_account_with_password_on_stdin(data_dir: Path) -> None:
    argv = ["directory", "add", "account", "--data-dir", str(data_dir), "--customer", "1", "--id", "1004"]
    argv += ["--extension", "104", "--display-name", "Front Desk", "--static-contact", "sip:1004@10.0.0.4"]
    code, out, err = _run([*argv, "--password-stdin"], stdin="s3cret-1004\n")
    assert (code, err) == (0, "")
    assert _rows(out)[1] == ["6", "1004", "1", "104", "Front", "Desk", "sip:1004@10.0.0.4"]
    assert _check(data_dir, "1004", "s3cret-1004") == Principal("account", "1004", i_customer=1, i_account=6)
    assert _check(data_dir, "1004", "s3cret-1004\n") is None  # the newline is not part of it

    async def ha1() -> str | None:
        async with await Directory.open(data_dir) as d:
            return d.sip_ha1("1004", "callcontrol", "MD5")

    assert asyncio.run(ha1()) == hashlib.md5(b"1004:callcontrol:s3cret-1004").hexdigest()
    assert b"s3cret-1004" not in b"".join(p.read_bytes() for p in data_dir.iterdir())


def test_add_account_prompts_with_getpass(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["typed-pw", "typed-pw"])
    monkeypatch.setattr(directory_cli.getpass, "getpass", lambda prompt="": next(answers))
    code, _, err = _run(
        ["directory", "add", "account", "--data-dir", str(data_dir), "--customer", "3", "--id", "3002"]
    )
    assert (code, err) == (0, "")
    assert _check(data_dir, "3002", "typed-pw") is not None


def test_prompted_passwords_must_match(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["one", "two"])
    monkeypatch.setattr(directory_cli.getpass, "getpass", lambda prompt="": next(answers))
    code, out, err = _run(["directory", "add", "admin", "--data-dir", str(data_dir), "--login", "ops"])
    assert code == 1 and out == ""
    assert "do not match" in err


def test_no_terminal_and_no_password_stdin_is_a_clear_error(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_terminal(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr(directory_cli.getpass, "getpass", no_terminal)
    code, out, err = _run(["directory", "add", "admin", "--data-dir", str(data_dir), "--login", "ops"])
    assert (code, out) == (1, "")
    assert "use --password-stdin" in err and "Traceback" not in err


def test_add_customer_branch_ivr_admin_reseller(data_dir: Path) -> None:
    dd = ["--data-dir", str(data_dir)]
    code, out, err = _run(
        ["directory", "add", "reseller", *dd, "--name", "Resale", "--login", "resale", "--password-stdin"],
        stdin="resale-pw\n",
    )
    assert (code, err) == (0, "")
    assert _rows(out)[1] == ["1", "Resale", "resale"]
    argv = "directory add customer --name Acme --office-type main --reseller 1 --login acme --password-stdin"
    code, out, err = _run([*argv.split(), *dd], stdin="acme-pw\n")
    assert (code, err) == (0, "")
    assert _rows(out)[1] == ["4", "Acme", "main", "-", "1", "acme"]
    code, out, err = _run(["directory", "add", "customer", *dd, "--name", "Acme-East", "--main-office", "4"])
    assert (code, err) == (0, "")
    assert _rows(out)[1] == ["5", "Acme-East", "branch", "4", "1", "-"]
    code, out, err = _run(["directory", "add", "ivr", *dd, "--number", "7001", "--customer", "1"])
    assert (code, err) == (0, "")
    assert _rows(out)[1] == ["2", "7001", "1", "-"]
    code, out, err = _run(
        ["directory", "add", "admin", *dd, "--login", "ops", "--password-stdin"], stdin="ops-pw\n"
    )
    assert (code, err) == (0, "")

    d = _open(data_dir)
    try:
        assert [c.i_customer for c in d.customers_of_reseller(1)] == [4, 5]
        assert [c.i_customer for c in d.branches_of(4)] == [5]
        assert d.ivr_an_by_number("7001") is not None
        assert d.administrators() == ["admin", "ops"]
    finally:
        asyncio.run(d.close())
    assert _check(data_dir, "acme", "acme-pw") == Principal("customer", "acme", i_reseller=1, i_customer=4)
    assert _check(data_dir, "resale", "resale-pw") == Principal("reseller", "resale", i_reseller=1)
    assert _check(data_dir, "ops", "ops-pw") == Principal("administrator", "ops")


def test_remove_commands(data_dir: Path) -> None:
    dd = ["--data-dir", str(data_dir)]
    assert _run(["directory", "remove", "account", "2", *dd])[:2] == (0, "account 2 removed\n")
    code, out, err = _run(["directory", "remove", "customer", "3", *dd])
    assert code == 1 and "still has" in err
    assert _run(["directory", "remove", "customer", "3", "--cascade", *dd])[0] == 0
    assert _run(["directory", "remove", "ivr", "1", *dd])[0] == 0
    code, out, _ = _run(["directory", "list", "accounts", *dd])
    assert [r[1] for r in _rows(out)[1:]] == ["1001", "1003", "2001"]
    code, out, _ = _run(["directory", "list", "customers", *dd])
    assert [r[0] for r in _rows(out)[1:]] == ["1", "2"]
    code, out, _ = _run(["directory", "list", "ivr", *dd])
    assert _rows(out)[1:] == []


def test_passwd(data_dir: Path) -> None:
    code, out, err = _run(
        ["directory", "passwd", "admin", "--data-dir", str(data_dir), "--password-stdin"],
        stdin="better-admin-pass\n",
    )
    assert (code, out, err) == (0, "password of admin changed\n", "")
    assert _check(data_dir, "admin", "admin-pass") is None
    assert _check(data_dir, "admin", "better-admin-pass") == Principal("administrator", "admin")


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["add", "account", "--customer", "9", "--id", "9001", "--password-stdin"], "pw\n", "no customer 9"),
        (["add", "account", "--customer", "1", "--id", "1001", "--password-stdin"], "pw\n", "taken"),
        (["add", "account", "--customer", "1", "--id", "1005", "--password-stdin"], "", "no password"),
        (["add", "customer", "--name", "X", "--password-stdin"], "pw\n", "needs --login"),
        (["add", "customer", "--name", "X", "--main-office", "3"], "", "not a main office"),
        (["add", "ivr", "--number", "7000", "--customer", "1"], "", "already exists"),
        (["remove", "account", "42"], "", "no account 42"),
        (["remove", "customer", "1", "--cascade"], "", "branches"),
        (["passwd", "ghost", "--password-stdin"], "pw\n", "no login"),
    ],
)
def test_errors_exit_1_with_one_line(data_dir: Path, argv: list[str], stdin: str, message: str) -> None:
    code, out, err = _run(["directory", *argv, "--data-dir", str(data_dir)], stdin=stdin)
    assert code == 1 and out == ""
    assert err.startswith("callcontrol directory: error: ") and err.count("\n") == 1
    assert message in err


def test_data_dir_accepted_at_every_level_and_from_the_main_parser(data_dir: Path, tmp_path: Path) -> None:
    for argv in (
        ["directory", "--data-dir", str(data_dir), "list", "admins"],
        ["directory", "list", "--data-dir", str(data_dir), "admins"],
        ["directory", "list", "admins", "--data-dir", str(data_dir)],
    ):
        assert _parser().parse_args(argv).data_dir == data_dir
    # A --data-dir the main parser owns is not overwritten by the sub-command's default.
    args = _parser(top_level_data_dir=True).parse_args(
        ["--data-dir", str(data_dir), "directory", "list", "admins"]
    )
    assert args.data_dir == data_dir
    out = io.StringIO()
    assert directory_cli.run(args, out=out, err=io.StringIO()) == 0
    assert _rows(out.getvalue()) == [["login"], ["admin"]]


def test_default_data_dir_and_no_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run(["directory", "list", "customers", "--no-demo"])
    assert code == 0 and _rows(out) == [["i_customer", "name", "office", "main_office", "reseller", "login"]]
    assert (tmp_path / "callcontrol-data" / "callcontrol.sqlite3").is_file()
    code, out, _ = _run(["directory", "add", "customer", "--name", "Solo", "--no-demo"])
    assert code == 0
    # The store is no longer empty, so a later run (or the server) does not seed the demo.
    code, out, _ = _run(["directory", "list", "customers"])
    assert [r[1] for r in _rows(out)[1:]] == ["Solo"]


def test_missing_subcommand_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(["directory", "list", "phones"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        _parser().parse_args(["directory", "add"])


@pytest.mark.skipif(
    not (REPO / "callcontrol" / "__main__.py").exists(), reason="callcontrol.__main__ not there yet"
)
def test_through_python_m_callcontrol(data_dir: Path) -> None:
    def callcontrol(*argv: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        command = [sys.executable, "-m", "callcontrol", *argv, "--data-dir", str(data_dir)]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)

    add = callcontrol("directory", "add", "ivr", "--number", "7002", "--customer", "3")
    assert add.returncode == 0, add.stderr
    listing = callcontrol("directory", "list", "ivr")
    assert listing.returncode == 0, listing.stderr
    assert _rows(listing.stdout)[1:] == [["1", "7000", "1", "-"], ["2", "7002", "3", "-"]]

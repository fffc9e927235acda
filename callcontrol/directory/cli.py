"""``callcontrol directory ...``: list and edit the directory in the data dir.

Registered on the main parser by ``callcontrol.__main__`` through
``add_arguments(subparsers)``; ``run(args)`` executes the parsed command.

The server loads the directory at start, so edits made here while it runs
take effect when it restarts (or reloads the directory).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from callcontrol.directory.service import Directory, DirectoryError, OfficeType
from callcontrol.store.sqlite import StoreError

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path("./callcontrol-data")
COMMAND = "directory"

_OFFICE_NAMES = {OfficeType.NONE: "none", OfficeType.BRANCH: "branch", OfficeType.MAIN: "main"}
_OFFICE_BY_NAME = {name: office for office, name in _OFFICE_NAMES.items()}


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


def add_arguments(subparsers: Any) -> None:
    """Register the ``directory`` command on an ``argparse`` sub-parsers object."""
    # SUPPRESS: a value given at any level (or by the main parser) is not
    # overwritten by a lower level's default; run() applies the default.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        type=Path,
        default=argparse.SUPPRESS,
        help=f"directory holding callcontrol.sqlite3 (default {DEFAULT_DATA_DIR})",
    )
    common.add_argument(
        "--no-demo",
        action="store_true",
        default=argparse.SUPPRESS,
        help="do not seed the demo directory into an empty store (the server seeds it otherwise)",
    )
    directory = subparsers.add_parser(
        COMMAND,
        parents=[common],
        help="list and edit customers, accounts, IVR access numbers and administrators",
        description="List and edit the directory. A running server sees the changes when it restarts.",
    )
    directory.set_defaults(func=run)
    actions = directory.add_subparsers(dest="directory_action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", parents=[common], help="show a table")
    listing.add_argument("what", choices=("customers", "accounts", "ivr", "admins", "resellers"))
    listing.add_argument("--customer", type=int, help="only this customer's accounts or IVR numbers")

    add = actions.add_parser("add", parents=[common], help="add an entry")
    add_kinds = add.add_subparsers(dest="directory_kind", metavar="KIND", required=True)

    customer = add_kinds.add_parser("customer", parents=[common], help="add a customer")
    customer.add_argument("--name", required=True)
    customer.add_argument("--main-office", type=int, metavar="N", help="make it a branch of customer N")
    customer.add_argument(
        "--office-type",
        choices=tuple(_OFFICE_BY_NAME),
        help="none, branch or main (default: branch with --main-office, else none)",
    )
    customer.add_argument("--reseller", type=int, metavar="N", help="i_reseller owning the customer")
    customer.add_argument("--login", help="customer-realm API login")
    customer.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    customer.add_argument("--i-customer", type=int, metavar="N", help="fixed id (default: next free)")

    account = add_kinds.add_parser("account", parents=[common], help="add an account (phone line)")
    account.add_argument("--customer", type=int, required=True, metavar="N")
    account.add_argument("--id", dest="account_id", required=True, help="account id, SIP user and API login")
    account.add_argument("--extension", help="extension inside the customer (default: the id)")
    account.add_argument("--display-name", help="caller name (default: the id)")
    account.add_argument("--static-contact", metavar="URI", help="sip: URI to call instead of registrations")
    account.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    account.add_argument("--i-account", type=int, metavar="N", help="fixed id (default: next free)")

    ivr = add_kinds.add_parser("ivr", parents=[common], help="add an IVR access number")
    ivr.add_argument("--number", required=True)
    ivr.add_argument("--customer", type=int, required=True, metavar="N")
    ivr.add_argument("--account", type=int, metavar="N", help="i_account the IVR acts as")
    ivr.add_argument("--i-ivr-an", type=int, metavar="N", help="fixed id (default: next free)")

    admin = add_kinds.add_parser("admin", parents=[common], help="add an administrator")
    admin.add_argument("--login", required=True)
    admin.add_argument("--password-stdin", action="store_true", help="read the password from stdin")

    reseller = add_kinds.add_parser("reseller", parents=[common], help="add a reseller")
    reseller.add_argument("--name", required=True)
    reseller.add_argument("--login", help="reseller-realm API login")
    reseller.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    reseller.add_argument("--i-reseller", type=int, metavar="N", help="fixed id (default: next free)")

    remove = actions.add_parser("remove", parents=[common], help="remove an entry")
    remove_kinds = remove.add_subparsers(dest="directory_kind", metavar="KIND", required=True)
    rm_customer = remove_kinds.add_parser("customer", parents=[common], help="remove a customer")
    rm_customer.add_argument("i_customer", type=int)
    rm_customer.add_argument(
        "--cascade", action="store_true", help="also remove its accounts and IVR numbers"
    )
    rm_account = remove_kinds.add_parser("account", parents=[common], help="remove an account")
    rm_account.add_argument("i_account", type=int)
    rm_ivr = remove_kinds.add_parser("ivr", parents=[common], help="remove an IVR access number")
    rm_ivr.add_argument("i_ivr_an", type=int)
    rm_admin = remove_kinds.add_parser("admin", parents=[common], help="remove an administrator")
    rm_admin.add_argument("login")

    passwd = actions.add_parser("passwd", parents=[common], help="change the password of any login")
    passwd.add_argument("login", help="administrator, reseller or customer login, or account id")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from stdin")


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Execute a parsed ``directory`` command; returns the process exit status."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        return asyncio.run(_run(args, out))
    except (CliError, DirectoryError, StoreError) as exc:
        err.write(f"callcontrol {COMMAND}: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        err.write(f"callcontrol {COMMAND}: interrupted\n")
        return 130


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    data_dir = Path(getattr(args, "data_dir", None) or DEFAULT_DATA_DIR)
    seed_demo = not getattr(args, "no_demo", False)
    action = args.directory_action
    # Passwords are read before opening the store so a prompt never holds the database open.
    password = _password_for(args)
    async with await Directory.open(data_dir, seed_demo=seed_demo) as directory:
        if action == "list":
            _list(directory, args.what, args.customer, out)
        elif action == "add":
            await _add(directory, args, password, out)
        elif action == "remove":
            await _remove(directory, args, out)
        elif action == "passwd":
            assert password is not None
            await directory.set_password(args.login, password)
            out.write(f"password of {args.login} changed\n")
        else:
            raise CliError(f"unknown action {action!r}")
    return 0


def _password_for(args: argparse.Namespace) -> str | None:
    action, kind = args.directory_action, getattr(args, "directory_kind", None)
    if action == "passwd" or (action == "add" and kind in ("account", "admin")):
        return _read_password(args)
    if action == "add" and kind in ("customer", "reseller"):
        if args.login is not None:
            return _read_password(args)
        if args.password_stdin:
            raise CliError("--password-stdin needs --login")
    return None


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError("no password on stdin")
        return password
    try:
        password = getpass.getpass("password: ")
        if not password:
            raise CliError("empty password")
        again = getpass.getpass("password again: ")
    except EOFError:  # no terminal and nothing on stdin
        raise CliError("no password given: use --password-stdin") from None
    if again != password:
        raise CliError("the passwords do not match")
    return password


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces, a dashed rule under the header."""
    cells = [list(headers)] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def _office_name(i_office_type: int) -> str:
    try:
        return _OFFICE_NAMES[OfficeType(i_office_type)]
    except ValueError:
        return str(i_office_type)


def _customer_rows(directory: Directory, ids: Sequence[int]) -> str:
    rows = []
    for i in ids:
        c = directory.customer(i)
        if c is not None:
            office = _office_name(c.i_office_type)
            rows.append((c.i_customer, c.name, office, c.i_main_office, c.i_reseller, c.login))
    return format_table(("i_customer", "name", "office", "main_office", "reseller", "login"), rows)


def _account_rows(directory: Directory, ids: Sequence[int]) -> str:
    rows = []
    for i in ids:
        a = directory.account(i)
        if a is not None:
            rows.append((a.i_account, a.id, a.i_customer, a.extension, a.display_name, a.static_contact))
    return format_table(("i_account", "id", "customer", "extension", "display_name", "static_contact"), rows)


def _ivr_rows(directory: Directory, ids: Sequence[int]) -> str:
    rows = []
    for i in ids:
        n = directory.ivr_an(i)
        if n is not None:
            rows.append((n.i_ivr_an, n.number, n.i_customer, n.i_account))
    return format_table(("i_ivr_an", "number", "customer", "account"), rows)


def _list(directory: Directory, what: str, i_customer: int | None, out: TextIO) -> None:
    if what == "customers":
        out.write(_customer_rows(directory, [c.i_customer for c in directory.customers()]))
    elif what == "accounts":
        accounts = directory.accounts() if i_customer is None else directory.accounts_of_customer(i_customer)
        out.write(_account_rows(directory, [a.i_account for a in accounts]))
    elif what == "ivr":
        numbers = (
            directory.ivr_access_numbers()
            if i_customer is None
            else directory.ivr_ans_of_customer(i_customer)
        )
        out.write(_ivr_rows(directory, [n.i_ivr_an for n in numbers]))
    elif what == "admins":
        out.write(format_table(("login",), [(login,) for login in directory.administrators()]))
    else:
        rows = [(r.i_reseller, r.name, r.login) for r in directory.resellers()]
        out.write(format_table(("i_reseller", "name", "login"), rows))


async def _add(directory: Directory, args: argparse.Namespace, password: str | None, out: TextIO) -> None:
    kind = args.directory_kind
    if kind == "customer":
        office = _OFFICE_BY_NAME[args.office_type] if args.office_type else None
        customer = await directory.add_customer(
            args.name,
            i_office_type=office,
            i_main_office=args.main_office,
            i_reseller=args.reseller,
            login=args.login,
            password=password,
            i_customer=args.i_customer,
        )
        out.write(_customer_rows(directory, [customer.i_customer]))
    elif kind == "account":
        assert password is not None
        account = await directory.add_account(
            args.customer,
            args.account_id,
            password,
            extension=args.extension,
            display_name=args.display_name,
            static_contact=args.static_contact,
            i_account=args.i_account,
        )
        out.write(_account_rows(directory, [account.i_account]))
    elif kind == "ivr":
        number = await directory.add_ivr_an(
            args.number, args.customer, i_account=args.account, i_ivr_an=args.i_ivr_an
        )
        out.write(_ivr_rows(directory, [number.i_ivr_an]))
    elif kind == "admin":
        assert password is not None
        await directory.add_administrator(args.login, password)
        out.write(format_table(("login",), [(args.login,)]))
    elif kind == "reseller":
        reseller = await directory.add_reseller(
            args.name, login=args.login, password=password, i_reseller=args.i_reseller
        )
        out.write(
            format_table(
                ("i_reseller", "name", "login"), [(reseller.i_reseller, reseller.name, reseller.login)]
            )
        )
    else:
        raise CliError(f"cannot add {kind!r}")


async def _remove(directory: Directory, args: argparse.Namespace, out: TextIO) -> None:
    kind = args.directory_kind
    if kind == "customer":
        await directory.remove_customer(args.i_customer, cascade=args.cascade)
        out.write(f"customer {args.i_customer} removed\n")
    elif kind == "account":
        await directory.remove_account(args.i_account)
        out.write(f"account {args.i_account} removed\n")
    elif kind == "ivr":
        await directory.remove_ivr_an(args.i_ivr_an)
        out.write(f"IVR access number {args.i_ivr_an} removed\n")
    elif kind == "admin":
        await directory.remove_administrator(args.login)
        out.write(f"administrator {args.login} removed\n")
    else:
        raise CliError(f"cannot remove {kind!r}")

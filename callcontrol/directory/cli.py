"""``callcontrol directory ...``: list and edit the directory in the data dir.

Registered on the main parser by ``callcontrol.__main__`` through
``add_arguments(subparsers)``; ``run(args)`` executes the parsed command.

A running server on the same data dir notices a commit within about a second and
reloads the directory (accounts, PBX numbers, forwardings: docs/pbx.md), no restart.
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

from callcontrol.config import default_data_dir
from callcontrol.directory.service import Directory, DirectoryError, OfficeType
from callcontrol.pbx.model import CallQueue, Failover, Forwarding, HuntList, Menu, PbxKind, RingGroup, TimeRule
from callcontrol.store.sqlite import StoreError

logger = logging.getLogger(__name__)

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
        help="directory holding callcontrol.sqlite3 (default: $CALLCONTROL_STORE__DATA_DIR or ./callcontrol-data)",
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
        help="list and edit customers, accounts, IVR access numbers, administrators and the PBX",
        description="List and edit the directory. A running server on the same data dir picks the "
        "changes up within about a second.",
    )
    directory.set_defaults(func=run)
    actions = directory.add_subparsers(dest="directory_action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", parents=[common], help="show a table")
    listing.add_argument("what", choices=("customers", "accounts", "ivr", "admins", "resellers", *_PBX_LISTS))
    listing.add_argument("--customer", type=int, help="only this customer's accounts, IVR or PBX numbers")
    listing.add_argument("--account", metavar="ID", help="forwardings: only this account's")

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
    customer.add_argument("--time-zone", metavar="ZONE", help="IANA zone its time rules use (default UTC)")

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

    _add_pbx_arguments(add_kinds, common)

    set_ = actions.add_parser("set", parents=[common], help="change a setting of an entry")
    set_kinds = set_.add_subparsers(dest="directory_kind", metavar="KIND", required=True)
    set_customer = set_kinds.add_parser("customer", parents=[common], help="change a customer")
    set_customer.add_argument("i_customer", type=int)
    set_customer.add_argument("--time-zone", metavar="ZONE", required=True,
                              help="IANA zone its time rules use, e.g. Europe/Prague (UTC to reset)")

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
    for kind, what in _PBX_KINDS.items():
        rm_pbx = remove_kinds.add_parser(kind, parents=[common], help=f"remove a {what}")
        rm_pbx.add_argument("number")
    rm_fwd = remove_kinds.add_parser("forwarding", parents=[common], help="remove an account's forwarding")
    rm_fwd.add_argument("--account", metavar="ID", required=True, help="the account id, e.g. 1003")
    rm_fwd.add_argument("--when", choices=_WHEN, help="only this condition (default: every one)")

    passwd = actions.add_parser("passwd", parents=[common], help="change the password of any login")
    passwd.add_argument("login", help="administrator, reseller or customer login, or account id")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from stdin")


_PBX_KINDS = {"ringgroup": "ring group", "hunt": "hunt list", "timerule": "time rule", "menu": "IVR menu",
              "queue": "call queue"}
_PBX_LISTS = ("ringgroups", "hunts", "timerules", "menus", "queues", "forwardings",
              "ringgroup", "hunt", "timerule", "menu", "queue", "forwarding")
# add queue's optional flags: (flag dest, the setting's key in pbx_numbers.spec)
_QUEUE_FLAGS = ("max_wait", "max_callers", "join_when_empty", "leave_when_empty", "announce_every",
                "announce_url", "strategy", "agent_ring_time", "wrapup", "retry")
_WHEN = ("always", "busy", "noanswer", "unreachable")


def _add_pbx_arguments(add_kinds: Any, common: argparse.ArgumentParser) -> None:
    """``add ringgroup|hunt|forwarding|timerule|menu``: the forms docs/pbx.md lists."""

    def numbered(kind: str, help_: str) -> argparse.ArgumentParser:
        parser = add_kinds.add_parser(kind, parents=[common], help=help_)
        parser.add_argument("--customer", type=int, required=True, metavar="N")
        parser.add_argument("--number", required=True, help="the number callers dial")
        parser.add_argument("--name", help="a label (default: the kind and number)")
        return parser

    def failover(parser: argparse.ArgumentParser) -> None:
        for outcome in ("busy", "noanswer", "unreachable"):
            parser.add_argument(f"--on-{outcome}", metavar="TARGET", help=f"where calls go on {outcome}")

    members_help = "accounts (or ring groups), in order: 1001,1002; NUMBER/SECONDS gives one its own ring time"
    ring = numbered("ringgroup", "add a ring group: every member rings at once")
    ring.add_argument("--members", required=True, help=members_help)
    ring.add_argument("--ring-time", type=int, metavar="S", help="seconds each member rings (default 20)")
    failover(ring)
    hunt = numbered("hunt", "add a hunt list: members ring one after the other")
    hunt.add_argument("--members", required=True, help=members_help)
    hunt.add_argument("--order", choices=("follow", "random"), required=True)
    hunt.add_argument("--ring-time", type=int, metavar="S", help="seconds each member rings (default 15)")
    failover(hunt)
    rule = numbered("timerule", "add a time rule: one target in a period, another outside it")
    rule.add_argument("--period", required=True, help='PortaSIP time period, e.g. "wd {mon-fri} hr {9am-5pm}"')
    rule.add_argument("--match", required=True, metavar="TARGET", help="where calls go in the period")
    rule.add_argument("--nomatch", required=True, metavar="TARGET", help="where calls go outside it")
    menu = numbered("menu", "add an IVR menu the server plays itself")
    menu.add_argument("--prompt", required=True, metavar="URL",
                      help="what callers hear: an HTTP URL without its .au suffix")
    menu.add_argument("--choices", required=True, help='DIGIT=TARGET;...: "1=1002;2=800"')
    menu.add_argument("--timeout", type=int, metavar="S", help="seconds to wait for a digit (default 5)")
    menu.add_argument("--default", metavar="TARGET", help="where calls go without a digit")
    menu.add_argument("--invalid-prompt", metavar="URL", help="what a caller hears after an unknown digit")
    queue = numbered("queue", "add a call queue: callers wait in line for the agents")
    queue.add_argument("--agents", required=True, help="the agents' accounts: 1001,1002")
    queue.add_argument("--max-wait", type=int, metavar="S", help="seconds a caller may wait (default: no limit)")
    queue.add_argument("--max-callers", type=int, metavar="N", help="callers that may wait (default: no limit)")
    queue.add_argument("--join-when-empty", choices=("yes", "no", "strict"), help="default yes")
    queue.add_argument("--leave-when-empty", choices=("yes", "no", "strict"), help="default no")
    queue.add_argument("--announce-every", type=int, metavar="S", help="seconds between position announcements")
    queue.add_argument("--announce-url", metavar="URL",
                       help="an HTTP prompt ({position} replaced) instead of the bundled beeps")
    queue.add_argument("--strategy", choices=("ringall", "roundrobin", "longestidle"), help="default ringall")
    queue.add_argument("--agent-ring-time", type=int, metavar="S", help="seconds an agent rings (default 15)")
    queue.add_argument("--wrapup", type=int, metavar="S", help="seconds after a call before an agent's next")
    queue.add_argument("--retry", type=int, metavar="S", help="seconds before an agent that did not answer "
                       "rings again (default 5)")
    queue.add_argument("--on-busy", metavar="TARGET", help="where callers go when the queue is full")
    queue.add_argument("--on-noanswer", metavar="TARGET", help="where callers go after the maximum wait")
    queue.add_argument("--on-unreachable", metavar="TARGET", help="where callers go when the queue is empty")
    fwd = add_kinds.add_parser("forwarding", parents=[common], help="forward an account's calls")
    fwd.add_argument("--account", metavar="ID", required=True, help="the account id, e.g. 1003")
    fwd.add_argument("--when", choices=_WHEN, required=True)
    fwd.add_argument("--to", required=True, metavar="NUMBER", help="any routable number or target")
    fwd.add_argument("--after", type=int, metavar="S", help="noanswer: seconds of ringing first (default 20)")


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
    data_dir = Path(getattr(args, "data_dir", None) or default_data_dir())
    seed_demo = not getattr(args, "no_demo", False)
    action = args.directory_action
    # Passwords are read before opening the store so a prompt never holds the database open.
    password = _password_for(args)
    async with await Directory.open(data_dir, seed_demo=seed_demo) as directory:
        if action == "list":
            if args.what in _PBX_LISTS:
                _list_pbx(directory, args.what.rstrip("s"), args.customer, args.account, out)
            else:
                _list(directory, args.what, args.customer, out)
        elif action == "add":
            await _add(directory, args, password, out)
        elif action == "set":
            customer = await directory.set_time_zone(args.i_customer,
                                                     None if args.time_zone.upper() == "UTC" else args.time_zone)
            out.write(f"customer {customer.i_customer} time zone {customer.time_zone or 'UTC'}\n")
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
            time_zone=args.time_zone,
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
    elif kind in _PBX_KINDS:
        entry = await directory.add_pbx_number(kind, args.customer, args.number,
                                               args.name or f"{_PBX_KINDS[kind]} {args.number}", _pbx_spec(args))
        out.write(_pbx_table(directory, kind, [entry]))
    elif kind == "forwarding":
        rule = await directory.add_forwarding(args.account, args.when, args.to, after=args.after)
        out.write(_forwarding_table([rule]))
    else:
        raise CliError(f"cannot add {kind!r}")


def _pbx_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The settings of a PBX number as ``callcontrol.pbx.model.build`` takes them, from the flags."""
    kind = args.directory_kind
    spec: dict[str, Any] = {}
    if kind in ("ringgroup", "hunt"):
        spec["members"] = args.members
        if args.ring_time is not None:
            spec["ring_time"] = args.ring_time
        if kind == "hunt":
            spec["order"] = args.order
        spec["failover"] = {outcome: target for outcome in ("busy", "noanswer", "unreachable")
                            if (target := getattr(args, f"on_{outcome}")) is not None}
    elif kind == "timerule":
        spec.update(period=args.period, match=args.match, nomatch=args.nomatch)
    elif kind == "queue":
        spec["agents"] = args.agents
        for name in _QUEUE_FLAGS:
            if getattr(args, name) is not None:
                spec[name] = getattr(args, name)
        spec["failover"] = {outcome: target for outcome in ("busy", "noanswer", "unreachable")
                            if (target := getattr(args, f"on_{outcome}")) is not None}
    elif kind == "menu":
        spec.update(prompt=args.prompt, choices=args.choices)
        for name in ("timeout", "default", "invalid_prompt"):
            if getattr(args, name) is not None:
                spec[name] = getattr(args, name)
    return spec


def _failover_cell(failover: Failover) -> str | None:
    spec = failover.to_spec()
    return ",".join(f"{k}={v}" for k, v in spec.items()) or None


def _pbx_table(directory: Directory, kind: str, entries: Sequence[object]) -> str:
    if kind == PbxKind.RINGGROUP:
        rows = [(e.number, e.i_customer, e.name, ",".join(map(str, e.members)), e.ring_time,
                 _failover_cell(e.failover)) for e in entries if isinstance(e, RingGroup)]
        return format_table(("number", "customer", "name", "members", "ring_time", "failover"), rows)
    if kind == PbxKind.HUNT:
        rows = [(e.number, e.i_customer, e.name, e.order, ",".join(map(str, e.members)), e.ring_time,
                 _failover_cell(e.failover)) for e in entries if isinstance(e, HuntList)]
        return format_table(("number", "customer", "name", "order", "members", "ring_time", "failover"), rows)
    if kind == PbxKind.TIMERULE:
        def zone(i_customer: int) -> str:
            customer = directory.customer(i_customer)
            return (customer.time_zone if customer is not None else None) or "UTC"

        rows = [(e.number, e.i_customer, e.name, e.match, e.nomatch, zone(e.i_customer), e.period.text)
                for e in entries if isinstance(e, TimeRule)]
        return format_table(("number", "customer", "name", "match", "nomatch", "zone", "period"), rows)
    if kind == PbxKind.MENU:
        rows = [(e.number, e.i_customer, e.name, e.spec()["choices"], e.timeout, e.default, e.prompt)
                for e in entries if isinstance(e, Menu)]
        return format_table(("number", "customer", "name", "choices", "timeout", "default", "prompt"), rows)
    rows = []
    for e in entries:
        if isinstance(e, CallQueue):
            q = e.settings
            rows.append((e.number, e.i_customer, e.name, q.get("agents"), q.get("strategy", "ringall"),
                         q.get("max_wait"), q.get("max_callers"), q.get("join_when_empty", "yes"),
                         q.get("announce_every"), _failover_cell(e.failover)))
    return format_table(("number", "customer", "name", "agents", "strategy", "max_wait", "max_callers",
                         "join_when_empty", "announce_every", "failover"), rows)


def _forwarding_table(rules: Sequence[Forwarding]) -> str:
    rows = [(f.i_forwarding, f.account_id, f.when, f.to, f.after) for f in rules]
    return format_table(("i_forwarding", "account", "when", "to", "after"), rows)


def _list_pbx(directory: Directory, kind: str, i_customer: int | None, account: str | None, out: TextIO) -> None:
    if kind == "forwarding":
        rules = directory.forwardings(account)
        if i_customer is not None:
            ids = {a.id for a in directory.accounts_of_customer(i_customer)}
            rules = [f for f in rules if f.account_id in ids]
        out.write(_forwarding_table(rules))
        return
    out.write(_pbx_table(directory, kind, directory.pbx_numbers(kind, i_customer)))


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
    elif kind in _PBX_KINDS:
        await directory.remove_pbx_number(args.number, kind)
        out.write(f"{_PBX_KINDS[kind]} {args.number} removed\n")
    elif kind == "forwarding":
        count = await directory.remove_forwardings(args.account, args.when)
        out.write(f"{count} forwarding{'s' if count != 1 else ''} of {args.account} removed\n")
    else:
        raise CliError(f"cannot remove {kind!r}")

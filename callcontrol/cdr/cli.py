"""``callcontrol cdr export``: the CDRs of a time window as CSV or JSON on standard output.

Registered on the main parser by ``callcontrol.__main__`` through ``add_arguments(subparsers)``;
``run(args)`` executes the parsed command. It reads the data directory over a read-only
SQLite connection, so it runs beside a live server (WAL: readers never block its writer) and
sees every CDR the server has flushed (CDRs are written in batches, within
``DEFAULT_CDR_FLUSH_INTERVAL`` seconds of the call's end).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, TextIO

from callcontrol.cdr.formats import FORMATS, write
from callcontrol.config import default_data_dir
from callcontrol.cdr.records import TIME_EXAMPLE, parse_time
from callcontrol.store.sqlite import CdrQuery, StoreError, connect_read_only, iter_cdrs

logger = logging.getLogger(__name__)

COMMAND = "cdr"


class CliError(Exception):
    """A user-facing error: printed as one line."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def add_arguments(subparsers: Any) -> None:
    """Register the ``cdr`` command on an ``argparse`` sub-parsers object."""
    cdr = subparsers.add_parser(COMMAND, help="export call detail records",
                                description="Read the CDRs the server wrote to its data directory.")
    actions = cdr.add_subparsers(dest="cdr_action", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export", help="CDRs of a time window as CSV or JSON on stdout",
        description="CDRs whose start time is in [--since, --until), in the order written: one row "
                    "per call (leg_tag empty) and one per leg. Times in and out are ISO-8601 UTC.")
    export.add_argument("--since", metavar="TIME", help=f"from this time, included ({TIME_EXAMPLE}; "
                                                        "default: the first CDR)")
    export.add_argument("--until", metavar="TIME", help="up to this time, excluded (default: now and on)")
    export.add_argument("--format", choices=FORMATS, default="csv", help="default: csv")
    export.add_argument("--data-dir", type=Path, default=default_data_dir(), metavar="DIR",
                        help="the server's data directory (default: $CALLCONTROL_STORE__DATA_DIR or ./callcontrol-data)")
    export.add_argument("--customer", type=int, metavar="N",
                        help="only rows billed to customer N (i_customer)")
    export.add_argument("--account", type=int, metavar="N", help="only rows billed to account N (i_account)")


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Execute a parsed ``cdr`` command; returns the process exit status."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        if args.cdr_action != "export":
            raise CliError(f"unknown action {args.cdr_action!r}", 2)
        _export(args, out)
    except CliError as exc:
        err.write(f"callcontrol {COMMAND} {args.cdr_action}: error: {exc}\n")
        return exc.status
    except StoreError as exc:
        err.write(f"callcontrol {COMMAND} {args.cdr_action}: error: {exc}\n")
        return 1
    except BrokenPipeError:  # `... | head`: the reader has all it wanted
        return 0
    return 0


def query_from_args(args: argparse.Namespace) -> CdrQuery:
    """The query the options ask for (CliError, status 2, naming the option, when one is wrong)."""
    since = _time(args.since, "--since")
    until = _time(args.until, "--until")
    if since is not None and until is not None and until < since:
        raise CliError(f"--until ({args.until}) is before --since ({args.since})", 2)
    return CdrQuery(since=since, until=until,
                    i_customers=None if args.customer is None else (args.customer,),
                    i_accounts=None if args.account is None else (args.account,))


def _time(value: str | None, option: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise CliError(f"{option}: {exc}", 2) from None


def _export(args: argparse.Namespace, out: TextIO) -> None:
    query = query_from_args(args)
    conn = connect_read_only(args.data_dir)
    try:
        # One read transaction: the export is one consistent snapshot while the server writes on.
        conn.execute("BEGIN")
        count = write(args.format, iter_cdrs(conn, query), out)
        conn.execute("COMMIT")
    finally:
        conn.close()
    out.flush()
    logger.info("exported %d CDRs from %s", count, args.data_dir)

"""Embedded SQLite store: directory, registrar bindings and CDRs.

One file, ``<data_dir>/callcontrol.sqlite3``, in WAL mode. The schema is
created and migrated by the server itself (``callcontrol.store.migrations``).

Every blocking call runs on one dedicated thread (a single-thread executor),
so the event loop never waits on disk and the sqlite3 connection is only
ever touched by the thread that created it. The public API is ``async``,
except ``add_cdr``, which only appends to an in-memory batch.

Times are wall-clock UNIX seconds (``float``), since they outlive the process.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import operator
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from callcontrol.store.migrations import MIGRATIONS, Migration, StoreError, schema_version
from callcontrol.store.migrations import migrate as apply_migrations

logger = logging.getLogger(__name__)

DB_FILENAME = "callcontrol.sqlite3"
DEFAULT_CDR_BATCH_SIZE = 100
DEFAULT_CDR_FLUSH_INTERVAL = 1.0

T = TypeVar("T")


class IntegrityConflict(StoreError):
    """A write broke a uniqueness or reference constraint."""


# --- records -----------------------------------------------------------------
# Storage rows. They carry the secrets (hashes); the directory turns them into
# its public, secret-free types. An id of None means "let the database assign".


@dataclass(slots=True)
class ResellerRecord:
    i_reseller: int | None
    name: str
    login: str | None = None
    password_hash: str | None = None


@dataclass(slots=True)
class CustomerRecord:
    i_customer: int | None
    name: str
    i_office_type: int
    i_main_office: int | None = None
    i_reseller: int | None = None
    login: str | None = None
    password_hash: str | None = None
    time_zone: str | None = None  # IANA name; None: UTC


@dataclass(slots=True)
class AccountRecord:
    i_account: int | None
    id: str
    i_customer: int
    extension: str
    display_name: str
    password_hash: str
    sip_realm: str
    ha1_md5: str
    ha1_sha256: str
    static_contact: str | None = None


@dataclass(slots=True)
class IvrAccessNumberRecord:
    i_ivr_an: int | None
    number: str
    i_customer: int
    i_account: int | None = None


@dataclass(slots=True)
class AdministratorRecord:
    login: str
    password_hash: str


@dataclass(slots=True)
class PbxNumberRecord:
    """A ring group, hunt list, time rule, menu or queue; ``spec`` is its settings as JSON."""

    number: str
    kind: str
    i_customer: int
    name: str
    spec: str


@dataclass(slots=True)
class ForwardingRecord:
    i_forwarding: int | None
    i_account: int
    condition: str  # always, busy, noanswer, unreachable
    target: str
    after_s: int | None = None


@dataclass(slots=True)
class DirectoryRecords:
    resellers: list[ResellerRecord] = field(default_factory=list)
    customers: list[CustomerRecord] = field(default_factory=list)
    accounts: list[AccountRecord] = field(default_factory=list)
    ivr_access_numbers: list[IvrAccessNumberRecord] = field(default_factory=list)
    administrators: list[AdministratorRecord] = field(default_factory=list)
    pbx_numbers: list[PbxNumberRecord] = field(default_factory=list)
    forwardings: list[ForwardingRecord] = field(default_factory=list)


@dataclass(slots=True)
class Binding:
    """One registrar contact of an address-of-record (the account id, e.g. "1001")."""

    aor: str
    contact: str
    expires_at: float
    call_id: str
    cseq: int
    q: float = 1.0
    source: str = ""  # "IP:port" the REGISTER came from
    transport: str = "udp"
    instance: str | None = None  # +sip.instance (RFC 5626)
    # Requests for this contact go to ``source`` (NAT detected, an RFC 5626 flow, a stream
    # connection), else to the Contact's own address: the registrar decides (docs/sip.md).
    reach_source: bool = True


@dataclass(slots=True)
class Cdr:
    """A call detail record: the call's own row has ``leg_tag`` None, each leg has its tag.

    Times are UNIX seconds; ``duration`` is seconds connected. ``sip_code``/``sip_reason``:
    the leg's final SIP status (docs/operations.md, "CDRs"); ``hangup_side``: ``caller``,
    ``callee`` or ``server``; ``forwarders``: the forwarder ids, comma-separated.
    """

    call_id: str
    leg_tag: str | None
    caller: str
    callee: str
    start_time: float
    end_time: float
    i_account: int | None = None
    i_customer: int | None = None
    connect_time: float | None = None
    duration: float = 0.0
    disconnect_reason: str = ""
    sip_code: int | None = None
    leg_id: str | None = None  # the id the leg shows in the API (originate's leg B: id~10)
    sip_call_id: str | None = None  # the Call-ID of the leg's own dialog
    leg_type: str | None = None  # SIPCallInfo.type: "outgoing" (the phone called) or "incoming"
    sip_reason: str | None = None
    hangup_side: str | None = None
    route: str | None = None  # the call: account, ivr or trunk; a leg the server called: its Request-URI
    huntgroup_id: str | None = None
    forwarders: str | None = None


@dataclass(frozen=True, slots=True)
class CdrQuery:
    """Which CDRs to read: rows whose ``start_time`` is in ``[since, until)`` (None: open), billed
    to one of ``i_customers`` and one of ``i_accounts`` (None: any; empty: none), in the order
    they were written; at most ``limit`` rows after skipping ``offset``."""

    since: float | None = None
    until: float | None = None
    i_customers: tuple[int, ...] | None = None
    i_accounts: tuple[int, ...] | None = None
    call_id: str | None = None
    limit: int | None = None
    offset: int = 0


_CDR_FIELDS: tuple[str, ...] = tuple(Cdr.__dataclass_fields__)
_CDR_COLUMNS = ", ".join(_CDR_FIELDS)
_CDR_INSERT = f"INSERT INTO cdrs ({_CDR_COLUMNS}) VALUES ({','.join('?' * len(_CDR_FIELDS))})"
_BINDING_COLUMNS = "aor, contact, expires_at, call_id, cseq, q, source, transport, instance, reach_source"
_DIRECTORY_TABLES = ("resellers", "customers", "accounts", "ivr_access_numbers", "administrators")
_SEEDED_KEY = "directory_seeded"


# One C-level call per row: CDR writes are on the store thread's busy path under load.
_cdr_row: Callable[[Cdr], tuple[Any, ...]] = operator.attrgetter(*_CDR_FIELDS)


def select_cdrs(conn: sqlite3.Connection, query: CdrQuery) -> list[Cdr]:
    """The CDRs ``query`` selects (any connection: the store's, or a read-only one of the CLI)."""
    return list(iter_cdrs(conn, query))


def iter_cdrs(conn: sqlite3.Connection, query: CdrQuery) -> Iterator[Cdr]:
    """:func:`select_cdrs` row by row, for exports of any size."""
    where: list[str] = []
    params: list[Any] = []
    if query.since is not None:
        where.append("start_time >= ?")
        params.append(query.since)
    if query.until is not None:
        where.append("start_time < ?")
        params.append(query.until)
    for column, values in (("i_customer", query.i_customers), ("i_account", query.i_accounts)):
        if values is None:
            continue
        if not values:
            return
        where.append(f"{column} IN ({','.join('?' * len(values))})")
        params.extend(values)
    if query.call_id is not None:
        where.append("call_id = ?")
        params.append(query.call_id)
    sql = f"SELECT {_CDR_COLUMNS} FROM cdrs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id"
    if query.limit is not None or query.offset:
        sql += " LIMIT ? OFFSET ?"
        params += [query.limit if query.limit is not None else -1, query.offset]
    for row in conn.execute(sql, params):
        yield Cdr(*row)


# --- synchronous core (runs only on the store thread) --------------------------


def _connect(path: Path) -> sqlite3.Connection:
    if not path.exists():
        # The file holds password hashes: create it private before SQLite opens it.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 5000")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() != "wal":
        logger.warning("SQLite refused WAL mode (journal_mode=%s) for %s", mode, path)
    # NORMAL is durable across process crashes in WAL mode; only an OS crash can
    # lose the last commits, which is the usual trade for write throughput.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def connect_read_only(data_dir: Path, migrations: Sequence[Migration] = MIGRATIONS) -> sqlite3.Connection:
    """A read-only connection to ``<data_dir>/callcontrol.sqlite3`` (a running server's store is
    fine: WAL readers never block its writer), refused unless the schema is the one this code reads."""
    path = Path(data_dir) / DB_FILENAME
    if not path.is_file():
        raise StoreError(f"{path}: no such database (is --data-dir the server's data directory?)")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        conn.execute("PRAGMA busy_timeout = 5000")
        version = schema_version(conn)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot read the database: {exc}") from exc
    latest = migrations[-1].version if migrations else 0
    if version != latest:
        conn.close()
        newer = "newer than this software" if version > latest else "older: start the server once to migrate it"
        raise StoreError(f"{path}: schema version {version}, expected {latest} ({newer})")
    return conn


class _Transaction:
    """``with _Transaction(conn):`` — BEGIN IMMEDIATE, COMMIT or ROLLBACK."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        elif self._conn.in_transaction:  # some errors (disk full) already rolled back
            self._conn.execute("ROLLBACK")


def _insert_reseller(conn: sqlite3.Connection, r: ResellerRecord) -> int:
    cur = conn.execute(
        "INSERT INTO resellers (i_reseller, name, login, password_hash) VALUES (?,?,?,?)",
        (r.i_reseller, r.name, r.login, r.password_hash),
    )
    return int(cur.lastrowid or 0) if r.i_reseller is None else r.i_reseller


def _insert_customer(conn: sqlite3.Connection, c: CustomerRecord) -> int:
    cur = conn.execute(
        "INSERT INTO customers (i_customer, name, i_office_type, i_main_office, i_reseller, login,"
        " password_hash, time_zone) VALUES (?,?,?,?,?,?,?,?)",
        (c.i_customer, c.name, c.i_office_type, c.i_main_office, c.i_reseller, c.login, c.password_hash,
         c.time_zone),
    )
    return int(cur.lastrowid or 0) if c.i_customer is None else c.i_customer


def _insert_account(conn: sqlite3.Connection, a: AccountRecord) -> int:
    cur = conn.execute(
        "INSERT INTO accounts (i_account, id, i_customer, extension, display_name, password_hash,"
        " sip_realm, ha1_md5, ha1_sha256, static_contact) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            a.i_account,
            a.id,
            a.i_customer,
            a.extension,
            a.display_name,
            a.password_hash,
            a.sip_realm,
            a.ha1_md5,
            a.ha1_sha256,
            a.static_contact,
        ),
    )
    return int(cur.lastrowid or 0) if a.i_account is None else a.i_account


def _insert_ivr_an(conn: sqlite3.Connection, n: IvrAccessNumberRecord) -> int:
    cur = conn.execute(
        "INSERT INTO ivr_access_numbers (i_ivr_an, number, i_customer, i_account) VALUES (?,?,?,?)",
        (n.i_ivr_an, n.number, n.i_customer, n.i_account),
    )
    return int(cur.lastrowid or 0) if n.i_ivr_an is None else n.i_ivr_an


def _insert_administrator(conn: sqlite3.Connection, a: AdministratorRecord) -> None:
    conn.execute("INSERT INTO administrators (login, password_hash) VALUES (?,?)", (a.login, a.password_hash))


def _insert_pbx_number(conn: sqlite3.Connection, n: PbxNumberRecord) -> None:
    conn.execute("INSERT INTO pbx_numbers (number, kind, i_customer, name, spec) VALUES (?,?,?,?,?)",
                 (n.number, n.kind, n.i_customer, n.name, n.spec))


def _insert_forwarding(conn: sqlite3.Connection, f: ForwardingRecord) -> int:
    cur = conn.execute(
        "INSERT INTO forwardings (i_forwarding, i_account, condition, target, after_s) VALUES (?,?,?,?,?)",
        (f.i_forwarding, f.i_account, f.condition, f.target, f.after_s),
    )
    return int(cur.lastrowid or 0) if f.i_forwarding is None else f.i_forwarding


def _insert_directory(conn: sqlite3.Connection, records: DirectoryRecords) -> None:
    for r in records.resellers:
        _insert_reseller(conn, r)
    # Main offices before their branches, whatever order the caller gave.
    for c in sorted(records.customers, key=lambda c: c.i_main_office is not None):
        _insert_customer(conn, c)
    for a in records.accounts:
        _insert_account(conn, a)
    for n in records.ivr_access_numbers:
        _insert_ivr_an(conn, n)
    for adm in records.administrators:
        _insert_administrator(conn, adm)
    for n in records.pbx_numbers:
        _insert_pbx_number(conn, n)
    for f in records.forwardings:
        _insert_forwarding(conn, f)


def _directory_empty(conn: sqlite3.Connection) -> bool:
    return all(conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() is None for t in _DIRECTORY_TABLES)


def _needs_seed(conn: sqlite3.Connection) -> bool:
    seeded = conn.execute("SELECT 1 FROM meta WHERE key = ?", (_SEEDED_KEY,)).fetchone()
    return seeded is None and _directory_empty(conn)


# --- the store ------------------------------------------------------------------


class Store:
    """Async façade over one SQLite connection owned by one worker thread."""

    def __init__(
        self,
        path: Path,
        executor: ThreadPoolExecutor,
        conn: sqlite3.Connection,
        schema_version: int,
        cdr_batch_size: int,
        cdr_flush_interval: float | None,
    ) -> None:
        self.path = path
        self.schema_version = schema_version
        self._executor = executor
        self._conn: sqlite3.Connection | None = conn
        self._cdr_batch_size = cdr_batch_size
        self._cdr_flush_interval = cdr_flush_interval
        self._cdr_buffer: list[Cdr] = []
        self._cdr_timer: asyncio.TimerHandle | None = None
        self._cdr_writes: set[asyncio.Future[None]] = set()
        self._closing = False
        self.cdr_write_error: str | None = None  # the last CDR write's failure; None once one succeeds

    @classmethod
    async def open(
        cls,
        data_dir: Path,
        *,
        migrations: Sequence[Migration] = MIGRATIONS,
        cdr_batch_size: int = DEFAULT_CDR_BATCH_SIZE,
        cdr_flush_interval: float | None = DEFAULT_CDR_FLUSH_INTERVAL,
    ) -> Store:
        """Open (creating and migrating as needed) ``<data_dir>/callcontrol.sqlite3``.

        ``cdr_batch_size`` buffered CDRs trigger a write; ``cdr_flush_interval``
        seconds after the first buffered CDR a partial batch is written anyway
        (None: only on size, ``flush()`` and ``close()``).
        """
        if cdr_batch_size < 1:
            raise ValueError("cdr_batch_size must be at least 1")
        data_dir = Path(data_dir)
        path = data_dir / DB_FILENAME
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="callcontrol-store")
        loop = asyncio.get_running_loop()

        def setup() -> tuple[sqlite3.Connection, int]:
            data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            conn = _connect(path)
            try:
                return conn, apply_migrations(conn, migrations)
            except BaseException:
                conn.close()
                raise

        try:
            conn, version = await loop.run_in_executor(executor, setup)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        logger.info("store open: %s (schema version %d)", path, version)
        return cls(path, executor, conn, version, cdr_batch_size, cdr_flush_interval)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise StoreError("store is closed")

        def call() -> T:
            try:
                return fn(conn)
            except sqlite3.IntegrityError as exc:
                raise IntegrityConflict(str(exc)) from exc

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    # --- schema / meta ---

    async def migrate(self, migrations: Sequence[Migration] = MIGRATIONS) -> int:
        """Apply pending migrations again (idempotent); returns the schema version."""
        version = await self._run(lambda conn: apply_migrations(conn, migrations))
        self.schema_version = version
        return version

    async def applied_migrations(self) -> list[int]:
        return await self._run(
            lambda conn: [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")]
        )

    async def table_names(self) -> set[str]:
        return await self._run(
            lambda conn: {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        )

    async def ping(self) -> None:
        """A cheap read of the database (the health check): raises when the store cannot answer."""
        await self._run(lambda conn: conn.execute("SELECT version FROM schema_version LIMIT 1").fetchone())

    async def journal_mode(self) -> str:
        return await self._run(lambda conn: str(conn.execute("PRAGMA journal_mode").fetchone()[0]))

    async def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version``: it changes when *another* connection (a
        ``callcontrol directory`` command on the same data dir) commits; this connection's
        own writes (bindings, CDRs) leave it alone. Polling it costs one tiny query."""
        return await self._run(lambda conn: int(conn.execute("PRAGMA data_version").fetchone()[0]))

    # --- directory ---

    async def needs_seed(self) -> bool:
        """True when the directory is empty and was never seeded."""
        return await self._run(_needs_seed)

    async def seed_if_empty(self, records: DirectoryRecords) -> bool:
        """Insert ``records`` atomically if the directory is still empty and unseeded."""

        def seed(conn: sqlite3.Connection) -> bool:
            with _Transaction(conn):
                # Checked again under the write lock: a CLI may be seeding the same file.
                if not _needs_seed(conn):
                    return False
                _insert_directory(conn, records)
                conn.execute("INSERT INTO meta (key, value) VALUES (?, datetime('now'))", (_SEEDED_KEY,))
            return True

        return await self._run(seed)

    async def load_directory(self) -> DirectoryRecords:
        def load(conn: sqlite3.Connection) -> DirectoryRecords:
            return DirectoryRecords(
                resellers=[
                    ResellerRecord(*row)
                    for row in conn.execute(
                        "SELECT i_reseller, name, login, password_hash FROM resellers ORDER BY i_reseller"
                    )
                ],
                customers=[
                    CustomerRecord(*row)
                    for row in conn.execute(
                        "SELECT i_customer, name, i_office_type, i_main_office, i_reseller, login,"
                        " password_hash, time_zone FROM customers ORDER BY i_customer"
                    )
                ],
                accounts=[
                    AccountRecord(*row)
                    for row in conn.execute(
                        "SELECT i_account, id, i_customer, extension, display_name, password_hash,"
                        " sip_realm, ha1_md5, ha1_sha256, static_contact FROM accounts ORDER BY i_account"
                    )
                ],
                ivr_access_numbers=[
                    IvrAccessNumberRecord(*row)
                    for row in conn.execute(
                        "SELECT i_ivr_an, number, i_customer, i_account FROM ivr_access_numbers"
                        " ORDER BY i_ivr_an"
                    )
                ],
                administrators=[
                    AdministratorRecord(*row)
                    for row in conn.execute("SELECT login, password_hash FROM administrators ORDER BY login")
                ],
                pbx_numbers=[
                    PbxNumberRecord(*row)
                    for row in conn.execute(
                        "SELECT number, kind, i_customer, name, spec FROM pbx_numbers ORDER BY number"
                    )
                ],
                forwardings=[
                    ForwardingRecord(*row)
                    for row in conn.execute(
                        "SELECT i_forwarding, i_account, condition, target, after_s FROM forwardings"
                        " ORDER BY i_forwarding"
                    )
                ],
            )

        return await self._run(load)

    async def insert_reseller(self, record: ResellerRecord) -> int:
        return await self._run(lambda conn: _insert_reseller(conn, record))

    async def insert_customer(self, record: CustomerRecord) -> int:
        return await self._run(lambda conn: _insert_customer(conn, record))

    async def insert_account(self, record: AccountRecord) -> int:
        return await self._run(lambda conn: _insert_account(conn, record))

    async def insert_ivr_an(self, record: IvrAccessNumberRecord) -> int:
        return await self._run(lambda conn: _insert_ivr_an(conn, record))

    async def insert_administrator(self, record: AdministratorRecord) -> None:
        await self._run(lambda conn: _insert_administrator(conn, record))

    async def delete_customer(self, i_customer: int, *, cascade: bool = False) -> bool:
        """Delete a customer; with ``cascade`` also its accounts, their bindings and its IVR numbers."""

        def delete(conn: sqlite3.Connection) -> bool:
            with _Transaction(conn):
                if cascade:
                    conn.execute(
                        "DELETE FROM registrar_bindings WHERE aor IN"
                        " (SELECT id FROM accounts WHERE i_customer = ?)",
                        (i_customer,),
                    )
                    conn.execute("DELETE FROM ivr_access_numbers WHERE i_customer = ?", (i_customer,))
                    conn.execute("DELETE FROM pbx_numbers WHERE i_customer = ?", (i_customer,))
                    conn.execute("DELETE FROM accounts WHERE i_customer = ?", (i_customer,))
                cur = conn.execute("DELETE FROM customers WHERE i_customer = ?", (i_customer,))
                return cur.rowcount > 0

        return await self._run(delete)

    async def delete_account(self, i_account: int) -> bool:
        """Delete an account and its registrar bindings (IVR numbers pointing at it keep existing)."""

        def delete(conn: sqlite3.Connection) -> bool:
            with _Transaction(conn):
                conn.execute(
                    "DELETE FROM registrar_bindings WHERE aor IN (SELECT id FROM accounts WHERE i_account = ?)",
                    (i_account,),
                )
                cur = conn.execute("DELETE FROM accounts WHERE i_account = ?", (i_account,))
                return cur.rowcount > 0

        return await self._run(delete)

    async def delete_ivr_an(self, i_ivr_an: int) -> bool:
        return await self._run(
            lambda conn: (
                conn.execute("DELETE FROM ivr_access_numbers WHERE i_ivr_an = ?", (i_ivr_an,)).rowcount > 0
            )
        )

    async def delete_administrator(self, login: str) -> bool:
        return await self._run(
            lambda conn: conn.execute("DELETE FROM administrators WHERE login = ?", (login,)).rowcount > 0
        )

    async def delete_reseller(self, i_reseller: int) -> bool:
        return await self._run(
            lambda conn: (
                conn.execute("DELETE FROM resellers WHERE i_reseller = ?", (i_reseller,)).rowcount > 0
            )
        )

    # --- the PBX ---

    async def insert_pbx_number(self, record: PbxNumberRecord) -> None:
        await self._run(lambda conn: _insert_pbx_number(conn, record))

    async def delete_pbx_number(self, number: str) -> bool:
        return await self._run(
            lambda conn: conn.execute("DELETE FROM pbx_numbers WHERE number = ?", (number,)).rowcount > 0
        )

    async def insert_forwarding(self, record: ForwardingRecord) -> int:
        return await self._run(lambda conn: _insert_forwarding(conn, record))

    async def delete_forwardings(self, i_account: int, condition: str | None = None) -> int:
        """Delete an account's forwarding for ``condition`` (every one of them when None)."""
        if condition is None:
            return await self._run(
                lambda conn: conn.execute("DELETE FROM forwardings WHERE i_account = ?", (i_account,)).rowcount
            )
        return await self._run(
            lambda conn: conn.execute("DELETE FROM forwardings WHERE i_account = ? AND condition = ?",
                                      (i_account, condition)).rowcount
        )

    async def update_customer_time_zone(self, i_customer: int, time_zone: str | None) -> bool:
        return await self._run(
            lambda conn: conn.execute("UPDATE customers SET time_zone = ? WHERE i_customer = ?",
                                      (time_zone, i_customer)).rowcount > 0
        )

    async def update_password_hash(
        self, table: str, key_column: str, key: object, password_hash: str
    ) -> bool:
        """Replace the scrypt hash of an administrator, reseller or customer."""
        allowed = {("administrators", "login"), ("resellers", "i_reseller"), ("customers", "i_customer")}
        if (table, key_column) not in allowed:
            raise ValueError(f"no password column for {table}.{key_column}")
        sql = f"UPDATE {table} SET password_hash = ? WHERE {key_column} = ?"
        return await self._run(lambda conn: conn.execute(sql, (password_hash, key)).rowcount > 0)

    async def update_account_credentials(
        self, i_account: int, password_hash: str, sip_realm: str, ha1_md5: str, ha1_sha256: str
    ) -> bool:
        """Replace an account's API hash and SIP HA1s together (one statement, so atomically)."""
        return await self._run(
            lambda conn: (
                conn.execute(
                    "UPDATE accounts SET password_hash = ?, sip_realm = ?, ha1_md5 = ?, ha1_sha256 = ?"
                    " WHERE i_account = ?",
                    (password_hash, sip_realm, ha1_md5, ha1_sha256, i_account),
                ).rowcount
                > 0
            )
        )

    # --- registrar bindings ---

    async def save_binding(self, binding: Binding) -> None:
        """Insert or replace the binding keyed by (aor, contact)."""
        b = binding
        row = (b.aor, b.contact, b.expires_at, b.call_id, b.cseq, b.q, b.source, b.transport, b.instance,
               int(b.reach_source))
        await self._run(
            lambda conn: conn.execute(
                f"INSERT OR REPLACE INTO registrar_bindings ({_BINDING_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                row,
            )
        )

    async def delete_binding(self, aor: str, contact: str) -> bool:
        return await self._run(
            lambda conn: (
                conn.execute(
                    "DELETE FROM registrar_bindings WHERE aor = ? AND contact = ?", (aor, contact)
                ).rowcount
                > 0
            )
        )

    async def delete_bindings(self, aor: str) -> int:
        """Delete every binding of ``aor`` (REGISTER with ``Contact: *``); returns how many."""
        return await self._run(
            lambda conn: conn.execute("DELETE FROM registrar_bindings WHERE aor = ?", (aor,)).rowcount
        )

    async def load_bindings(self) -> list[Binding]:
        return await self._run(
            lambda conn: [
                Binding(*row[:-1], reach_source=bool(row[-1]))
                for row in conn.execute(
                    f"SELECT {_BINDING_COLUMNS} FROM registrar_bindings ORDER BY aor, contact"
                )
            ]
        )

    async def purge_expired_bindings(self, now: float) -> int:
        """Delete bindings with ``expires_at <= now``; returns how many."""
        return await self._run(
            lambda conn: conn.execute("DELETE FROM registrar_bindings WHERE expires_at <= ?", (now,)).rowcount
        )

    # --- CDRs ---

    def add_cdr(self, cdr: Cdr) -> None:
        """Buffer one CDR; a full batch (or the flush interval) writes it in the background.

        Must be called from the event loop thread. Never blocks.
        """
        if self._closing:
            raise StoreError("store is closing")
        self._cdr_buffer.append(cdr)
        if len(self._cdr_buffer) >= self._cdr_batch_size:
            self._start_cdr_write()
        elif self._cdr_timer is None and self._cdr_flush_interval is not None:
            self._cdr_timer = asyncio.get_running_loop().call_later(
                self._cdr_flush_interval, self._start_cdr_write
            )

    @property
    def pending_cdrs(self) -> int:
        """CDRs buffered in memory, not yet handed to the writer."""
        return len(self._cdr_buffer)

    def _start_cdr_write(self) -> None:
        if self._cdr_timer is not None:
            self._cdr_timer.cancel()
            self._cdr_timer = None
        if not self._cdr_buffer or self._conn is None:
            return
        batch, self._cdr_buffer = self._cdr_buffer, []
        rows = [_cdr_row(c) for c in batch]
        conn = self._conn

        def write() -> None:
            with _Transaction(conn):
                conn.executemany(_CDR_INSERT, rows)

        # Submitted now, not from a task: the single store thread then runs the
        # batch before any store call made after this point (FIFO), so a later
        # query sees it.
        future = asyncio.get_running_loop().run_in_executor(self._executor, write)
        self._cdr_writes.add(future)
        future.add_done_callback(functools.partial(self._cdr_write_done, batch))

    def _cdr_write_done(self, batch: list[Cdr], future: asyncio.Future[None]) -> None:
        self._cdr_writes.discard(future)
        exc = None if future.cancelled() else future.exception()
        if future.cancelled() or exc is not None:
            # Keep the rows for the next flush rather than lose billing data.
            logger.error("writing %d CDRs failed (%r); they stay buffered", len(batch), exc)
            self._cdr_buffer[:0] = batch
            self.cdr_write_error = str(exc) if exc is not None else "cancelled"
        else:
            self.cdr_write_error = None

    async def flush(self) -> None:
        """Write every buffered CDR and wait until all pending CDR writes are done."""
        self._start_cdr_write()
        while self._cdr_writes:
            await asyncio.gather(*tuple(self._cdr_writes), return_exceptions=True)
        if self._cdr_buffer:
            raise StoreError(f"{len(self._cdr_buffer)} CDRs could not be written")

    async def query_cdrs(self, call_id: str | None = None, *, query: CdrQuery | None = None) -> list[Cdr]:
        """Written CDRs in insertion order: of one call, or those ``query`` selects (buffered
        ones are not included: ``flush()`` first)."""
        if query is None:
            query = CdrQuery(call_id=call_id)
        elif call_id is not None:
            raise ValueError("give call_id or query, not both")
        return await self._run(lambda conn: select_cdrs(conn, query))

    async def count_cdrs(self) -> int:
        return await self._run(lambda conn: int(conn.execute("SELECT COUNT(*) FROM cdrs").fetchone()[0]))

    # --- lifecycle ---

    @property
    def closed(self) -> bool:
        return self._conn is None

    async def close(self) -> None:
        """Flush CDRs, close the database (checkpointing the WAL) and stop the store thread."""
        if self._conn is None:
            return
        self._closing = True
        try:
            await self.flush()
        finally:
            conn, self._conn = self._conn, None

            def shutdown() -> None:
                try:
                    conn.execute("PRAGMA optimize")
                finally:
                    conn.close()

            try:
                await asyncio.get_running_loop().run_in_executor(self._executor, shutdown)
            finally:
                self._executor.shutdown(wait=True)
            logger.info("store closed: %s", self.path)

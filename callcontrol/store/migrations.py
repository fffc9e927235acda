"""The store's SQLite schema: the ordered migrations and the code that applies them.

``schema_version`` holds one row per migration applied. A migration is a
tuple of statements run in one transaction with its ``schema_version`` row,
so a failed migration leaves the database at the previous version. Add new
migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)


class StoreError(Exception):
    """The store cannot be used (schema from a newer version, closed store, ...)."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "directory, registrar bindings, CDRs",
        (
            """CREATE TABLE meta (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            ) WITHOUT ROWID""",
            """CREATE TABLE resellers (
                i_reseller INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                login TEXT UNIQUE,
                password_hash TEXT
            )""",
            """CREATE TABLE customers (
                i_customer INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                i_office_type INTEGER NOT NULL CHECK (i_office_type IN (1, 2, 3)),
                i_main_office INTEGER REFERENCES customers(i_customer) ON DELETE RESTRICT,
                i_reseller INTEGER REFERENCES resellers(i_reseller) ON DELETE RESTRICT,
                login TEXT UNIQUE,
                password_hash TEXT,
                CHECK ((i_office_type = 2) = (i_main_office IS NOT NULL))
            )""",
            "CREATE INDEX customers_main_office ON customers(i_main_office)",
            "CREATE INDEX customers_reseller ON customers(i_reseller)",
            """CREATE TABLE accounts (
                i_account INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                i_customer INTEGER NOT NULL REFERENCES customers(i_customer) ON DELETE RESTRICT,
                extension TEXT NOT NULL,
                display_name TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                sip_realm TEXT NOT NULL,
                ha1_md5 TEXT NOT NULL,
                ha1_sha256 TEXT NOT NULL,
                static_contact TEXT,
                UNIQUE (i_customer, extension)
            )""",
            """CREATE TABLE ivr_access_numbers (
                i_ivr_an INTEGER PRIMARY KEY,
                number TEXT NOT NULL UNIQUE,
                i_customer INTEGER NOT NULL REFERENCES customers(i_customer) ON DELETE RESTRICT,
                i_account INTEGER REFERENCES accounts(i_account) ON DELETE SET NULL
            )""",
            """CREATE TABLE administrators (
                login TEXT PRIMARY KEY,
                password_hash TEXT NOT NULL
            ) WITHOUT ROWID""",
            """CREATE TABLE registrar_bindings (
                aor TEXT NOT NULL,
                contact TEXT NOT NULL,
                expires_at REAL NOT NULL,
                call_id TEXT NOT NULL,
                cseq INTEGER NOT NULL,
                q REAL NOT NULL,
                source TEXT NOT NULL,
                transport TEXT NOT NULL,
                instance TEXT,
                PRIMARY KEY (aor, contact)
            ) WITHOUT ROWID""",
            "CREATE INDEX registrar_bindings_expires ON registrar_bindings(expires_at)",
            """CREATE TABLE cdrs (
                id INTEGER PRIMARY KEY,
                call_id TEXT NOT NULL,
                leg_tag TEXT,
                caller TEXT NOT NULL,
                callee TEXT NOT NULL,
                i_account INTEGER,
                i_customer INTEGER,
                start_time REAL NOT NULL,
                connect_time REAL,
                end_time REAL NOT NULL,
                duration REAL NOT NULL,
                disconnect_reason TEXT NOT NULL,
                sip_code INTEGER
            )""",
            "CREATE INDEX cdrs_call_id ON cdrs(call_id)",
            "CREATE INDEX cdrs_start_time ON cdrs(start_time)",
        ),
    ),
    Migration(
        2,
        "PBX: numbers (ring groups, hunt lists, time rules, menus, queues), forwardings, customer time zones",
        (
            "ALTER TABLE customers ADD COLUMN time_zone TEXT",
            # One row per PBX number; ``spec`` is the kind's settings as JSON (callcontrol.pbx.model),
            # so a new kind or setting needs no migration.
            """CREATE TABLE pbx_numbers (
                number TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                i_customer INTEGER NOT NULL REFERENCES customers(i_customer) ON DELETE RESTRICT,
                name TEXT NOT NULL,
                spec TEXT NOT NULL
            ) WITHOUT ROWID""",
            "CREATE INDEX pbx_numbers_customer ON pbx_numbers(i_customer)",
            """CREATE TABLE forwardings (
                i_forwarding INTEGER PRIMARY KEY,
                i_account INTEGER NOT NULL REFERENCES accounts(i_account) ON DELETE CASCADE,
                condition TEXT NOT NULL CHECK (condition IN ('always', 'busy', 'noanswer', 'unreachable')),
                target TEXT NOT NULL,
                after_s INTEGER,
                UNIQUE (i_account, condition)
            )""",
        ),
    ),
    Migration(
        3,
        "CDRs: leg identity, final SIP status and reason, hangup side, route, hunt group and forwarders",
        (
            "ALTER TABLE cdrs ADD COLUMN leg_id TEXT",
            "ALTER TABLE cdrs ADD COLUMN sip_call_id TEXT",
            "ALTER TABLE cdrs ADD COLUMN leg_type TEXT",
            "ALTER TABLE cdrs ADD COLUMN sip_reason TEXT",
            "ALTER TABLE cdrs ADD COLUMN hangup_side TEXT",
            "ALTER TABLE cdrs ADD COLUMN route TEXT",
            "ALTER TABLE cdrs ADD COLUMN huntgroup_id TEXT",
            "ALTER TABLE cdrs ADD COLUMN forwarders TEXT",
            # A tenant's CDRs of a time window (the API and `cdr export --customer`).
            "CREATE INDEX cdrs_customer_start ON cdrs(i_customer, start_time)",
            "CREATE INDEX cdrs_account_start ON cdrs(i_account, start_time)",
            # Rows written before version 3 have no code for an answered leg that ended with a
            # BYE; its INVITE was answered 200 (the rule the engine applies from now on).
            "UPDATE cdrs SET sip_code = 200 WHERE sip_code IS NULL AND connect_time IS NOT NULL",
        ),
    ),
    Migration(
        4,
        "registrar bindings: whether calls go to the REGISTER's source (NAT, an RFC 5626 flow) or the Contact",
        (
            # Rows bound before version 4 keep the path they were reached by: the source.
            "ALTER TABLE registrar_bindings ADD COLUMN reach_source INTEGER NOT NULL DEFAULT 1",
        ),
    ),
)


def schema_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> int:
    """Apply every migration newer than the database; returns the resulting version."""
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)) or (versions and versions[0] < 1):
        raise StoreError("migrations must have unique, ascending, positive versions")
    latest = versions[-1] if versions else 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Read inside the write lock: another process may be migrating the same file.
        current = schema_version(conn)
        if current > latest:
            raise StoreError(
                f"database schema version {current} is newer than this software supports ({latest})"
            )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
            " applied_at TEXT NOT NULL DEFAULT (datetime('now')))"
        )
        for migration in migrations:
            if migration.version <= current:
                continue
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, description) VALUES (?, ?)",
                (migration.version, migration.description),
            )
            logger.info("store schema migrated to version %d (%s)", migration.version, migration.description)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return max(current, latest)

"""callcontrol.store.sqlite and callcontrol.store.migrations: schema, migrations, bindings, CDR batching."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from pathlib import Path

import pytest

from callcontrol.store.migrations import MIGRATIONS, Migration, StoreError
from callcontrol.store.sqlite import (
    DB_FILENAME,
    Binding,
    Cdr,
    CustomerRecord,
    DirectoryRecords,
    IntegrityConflict,
    Store,
)

EXPECTED_TABLES = {
    "schema_version",
    "meta",
    "resellers",
    "customers",
    "accounts",
    "ivr_access_numbers",
    "administrators",
    "registrar_bindings",
    "cdrs",
}

EXTRA_MIGRATION = Migration(
    MIGRATIONS[-1].version + 1,
    "test: an extra table",
    ("CREATE TABLE test_extra (x INTEGER PRIMARY KEY, note TEXT NOT NULL)",),
)


def _cdr(n: int, leg_tag: str | None = "a") -> Cdr:
    return Cdr(
        call_id=f"call-{n}",
        leg_tag=leg_tag,
        caller="1001",
        callee="1002",
        start_time=1_700_000_000.0 + n,
        end_time=1_700_000_030.5 + n,
        i_account=1,
        i_customer=1,
        connect_time=1_700_000_002.25 + n,
        duration=28.25,
        disconnect_reason="normal clearing",
        sip_code=200,
    )


def _raw_query(data_dir: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(data_dir / DB_FILENAME)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_schema_created_on_empty_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "nested"
    store = await Store.open(data_dir)
    try:
        assert (data_dir / DB_FILENAME).is_file()
        assert EXPECTED_TABLES <= await store.table_names()
        assert await store.applied_migrations() == [m.version for m in MIGRATIONS]
        assert store.schema_version == MIGRATIONS[-1].version
        assert (await store.journal_mode()).lower() == "wal"
        # The file holds password hashes: private to the owner.
        assert stat.S_IMODE((data_dir / DB_FILENAME).stat().st_mode) == 0o600
    finally:
        await store.close()


async def test_migrations_idempotent(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    try:
        assert await store.migrate() == MIGRATIONS[-1].version
        assert await store.migrate() == MIGRATIONS[-1].version
        assert await store.applied_migrations() == [m.version for m in MIGRATIONS]
    finally:
        await store.close()
    store = await Store.open(tmp_path)
    try:
        assert await store.applied_migrations() == [m.version for m in MIGRATIONS]
    finally:
        await store.close()
    rows = _raw_query(tmp_path, "SELECT COUNT(*) FROM schema_version")
    assert rows == [(len(MIGRATIONS),)]


async def test_upgrade_keeps_data_and_applies_only_new_migrations(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    await store.save_binding(Binding("1001", "sip:1001@127.0.0.1:5070", 2000.0, "cid", 1))
    await store.close()

    store = await Store.open(tmp_path, migrations=(*MIGRATIONS, EXTRA_MIGRATION))
    try:
        assert store.schema_version == EXTRA_MIGRATION.version
        assert "test_extra" in await store.table_names()
        assert [b.aor for b in await store.load_bindings()] == ["1001"]
    finally:
        await store.close()


async def test_database_newer_than_software_is_refused(tmp_path: Path) -> None:
    store = await Store.open(tmp_path, migrations=(*MIGRATIONS, EXTRA_MIGRATION))
    await store.close()
    with pytest.raises(StoreError, match="newer"):
        await Store.open(tmp_path)


async def test_failed_migration_rolls_back_whole_migration(tmp_path: Path) -> None:
    broken = Migration(
        MIGRATIONS[-1].version + 1,
        "test: fails halfway",
        ("CREATE TABLE half_done (x INTEGER)", "CREATE TABLE syntax error here"),
    )
    await (await Store.open(tmp_path)).close()
    with pytest.raises(sqlite3.OperationalError):
        await Store.open(tmp_path, migrations=(*MIGRATIONS, broken))
    store = await Store.open(tmp_path)
    try:
        assert store.schema_version == MIGRATIONS[-1].version
        assert "half_done" not in await store.table_names()
    finally:
        await store.close()


async def test_migrations_must_be_ordered(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="ascending"):
        await Store.open(tmp_path, migrations=(EXTRA_MIGRATION, *MIGRATIONS))


async def test_bindings_save_replace_delete_purge_and_persist(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    a1 = Binding("1001", "sip:1001@10.0.0.1:5060", 1000.0, "call-a", 1, 1.0, "10.0.0.1:5060", "udp")
    a2 = Binding(
        "1001",
        "sip:1001@10.0.0.2:5060;transport=tcp",
        3000.0,
        "call-b",
        7,
        0.5,
        "10.0.0.2:40001",
        "tcp",
        "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>",
    )
    b1 = Binding("1002", "sip:1002@10.0.0.3:5062", 2000.0, "call-c", 3, 1.0, "10.0.0.3:5062", "udp",
                 reach_source=False)
    for binding in (a1, a2, b1):
        await store.save_binding(binding)
    # Same (aor, contact): a refresh replaces the row.
    a1_refreshed = Binding(a1.aor, a1.contact, 4000.0, "call-a", 2, 1.0, a1.source, a1.transport)
    await store.save_binding(a1_refreshed)
    await store.close()

    store = await Store.open(tmp_path)
    try:
        assert await store.load_bindings() == [a1_refreshed, a2, b1]
        assert await store.purge_expired_bindings(now=2000.0) == 1  # b1 expires exactly now
        assert await store.load_bindings() == [a1_refreshed, a2]
        assert await store.delete_binding("1001", a2.contact) is True
        assert await store.delete_binding("1001", a2.contact) is False
        await store.save_binding(b1)
        assert await store.delete_bindings("1001") == 1
        assert await store.load_bindings() == [b1]
    finally:
        await store.close()


async def test_bindings_stored_before_version_4_keep_the_source_path(tmp_path: Path) -> None:
    before = tuple(m for m in MIGRATIONS if m.version < 4)
    await (await Store.open(tmp_path, migrations=before)).close()
    db = sqlite3.connect(tmp_path / DB_FILENAME)
    with db:
        db.execute("INSERT INTO registrar_bindings (aor, contact, expires_at, call_id, cseq, q, source, transport)"
                   " VALUES ('1001', 'sip:1001@127.0.0.1:5080', 2000.0, 'c', 1, 1.0, '127.0.0.1:5070', 'udp')")
    db.close()
    store = await Store.open(tmp_path)
    try:
        (b,) = await store.load_bindings()
        assert (b.contact, b.source, b.reach_source) == ("sip:1001@127.0.0.1:5080", "127.0.0.1:5070", True)
    finally:
        await store.close()


async def test_cdrs_are_batched_and_written_in_order(tmp_path: Path) -> None:
    store = await Store.open(tmp_path, cdr_batch_size=3, cdr_flush_interval=None)
    try:
        store.add_cdr(_cdr(1, None))
        store.add_cdr(_cdr(1, "a"))
        assert store.pending_cdrs == 2
        assert await store.count_cdrs() == 0  # below the batch size: still buffered
        store.add_cdr(_cdr(1, "b"))
        # The full batch went to the store thread before this query was queued behind it.
        assert store.pending_cdrs == 0
        assert await store.count_cdrs() == 3
        store.add_cdr(_cdr(2))
        assert await store.count_cdrs() == 3
        await store.flush()
        assert store.pending_cdrs == 0
        assert await store.count_cdrs() == 4
        assert [c.leg_tag for c in await store.query_cdrs("call-1")] == [None, "a", "b"]
        assert await store.query_cdrs("call-2") == [_cdr(2)]
    finally:
        await store.close()


async def test_close_flushes_buffered_cdrs(tmp_path: Path) -> None:
    store = await Store.open(tmp_path, cdr_batch_size=1000, cdr_flush_interval=None)
    written = [_cdr(n, tag) for n in range(5) for tag in (None, "x", "y")]
    for cdr in written:
        store.add_cdr(cdr)
    assert store.pending_cdrs == 15
    await store.close()
    assert _raw_query(tmp_path, "SELECT COUNT(*) FROM cdrs") == [(15,)]
    store = await Store.open(tmp_path)
    try:
        assert await store.query_cdrs() == written
    finally:
        await store.close()


async def test_cdr_flush_interval_writes_a_partial_batch(tmp_path: Path) -> None:
    store = await Store.open(tmp_path, cdr_batch_size=1000, cdr_flush_interval=0.01)
    try:
        store.add_cdr(_cdr(1))

        async def written() -> None:
            while await store.count_cdrs() < 1:
                await asyncio.sleep(0.005)

        await asyncio.wait_for(written(), timeout=5.0)
        assert store.pending_cdrs == 0
    finally:
        await store.close()


async def test_many_cdrs_in_many_batches(tmp_path: Path) -> None:
    store = await Store.open(tmp_path, cdr_batch_size=50, cdr_flush_interval=None)
    for n in range(1234):
        store.add_cdr(_cdr(n))
    await store.close()
    assert _raw_query(tmp_path, "SELECT COUNT(*), COUNT(DISTINCT call_id) FROM cdrs") == [(1234, 1234)]


async def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    await store.close()
    assert store.closed
    await store.close()  # closing twice is harmless
    with pytest.raises(StoreError):
        await store.load_bindings()
    with pytest.raises(StoreError):
        store.add_cdr(_cdr(1))


async def test_seed_if_empty_runs_once(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    try:
        records = DirectoryRecords(customers=[CustomerRecord(1, "Only", 1)])
        assert await store.needs_seed()
        assert await store.seed_if_empty(records) is True
        assert not await store.needs_seed()
        assert await store.seed_if_empty(records) is False
        assert [c.name for c in (await store.load_directory()).customers] == ["Only"]
        # Emptied later, still not seeded again: the seed is recorded in meta.
        assert await store.delete_customer(1)
        assert not await store.needs_seed()
    finally:
        await store.close()


async def test_constraints_surface_as_integrity_conflict(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    try:
        await store.insert_customer(CustomerRecord(1, "Main", 3))
        with pytest.raises(IntegrityConflict):
            await store.insert_customer(CustomerRecord(1, "Duplicate id", 1))
        with pytest.raises(IntegrityConflict):  # branch of a customer that does not exist
            await store.insert_customer(CustomerRecord(None, "Orphan", 2, i_main_office=99))
        with pytest.raises(IntegrityConflict):  # branch without a main office
            await store.insert_customer(CustomerRecord(None, "Bad", 2))
        assert await store.insert_customer(CustomerRecord(None, "Next", 1)) == 2
    finally:
        await store.close()


async def test_concurrent_store_calls_do_not_interleave(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    try:
        bindings = [Binding(f"{n}", f"sip:{n}@127.0.0.1", 10.0 + n, f"c{n}", n) for n in range(200)]
        await asyncio.gather(*(store.save_binding(b) for b in bindings))
        assert sorted(await store.load_bindings(), key=lambda b: b.cseq) == bindings
    finally:
        await store.close()

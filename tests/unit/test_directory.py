"""callcontrol.directory.service: demo seed, authentication, SIP HA1, look-ups and writes."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callcontrol.directory import service as directory_module
from callcontrol.directory.service import (
    Account,
    Customer,
    Directory,
    DirectoryError,
    IvrAccessNumber,
    Principal,
)
from callcontrol.store.sqlite import DB_FILENAME, Binding


@pytest.fixture
async def directory(data_dir: Path) -> AsyncIterator[Directory]:
    d = await Directory.open(data_dir)
    yield d
    await d.close()


def _count(data_dir: Path, table: str) -> int:
    conn = sqlite3.connect(data_dir / DB_FILENAME)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def _all_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.iterdir()) if p.is_file())


# --- seeding ---


async def test_empty_dir_is_seeded_with_exactly_the_spec_demo(tmp_path: Path) -> None:
    d = await Directory.open(tmp_path / "fresh")
    try:
        assert d.administrators() == ["admin"]
        assert d.resellers() == []
        assert d.customers() == [
            Customer(1, "Demo Corp", 3, None, None, "demo-corp"),
            Customer(2, "Demo Branch", 2, 1, None, None),
            Customer(3, "Other Corp", 1, None, None, "other-corp"),
        ]
        assert [(a.i_account, a.id, a.i_customer) for a in d.accounts()] == [
            (1, "1001", 1),
            (2, "1002", 1),
            (3, "1003", 1),
            (4, "2001", 2),
            (5, "3001", 3),
        ]
        assert d.ivr_access_numbers() == [IvrAccessNumber(1, "7000", 1, None)]
        assert await d.uses_demo_credentials() is True
    finally:
        await d.close()


async def test_reopen_does_not_seed_again(data_dir: Path) -> None:
    before = {
        t: _count(data_dir, t) for t in ("customers", "accounts", "ivr_access_numbers", "administrators")
    }
    assert before == {"customers": 3, "accounts": 5, "ivr_access_numbers": 1, "administrators": 1}
    for _ in range(2):
        await (await Directory.open(data_dir)).close()
    after = {t: _count(data_dir, t) for t in before}
    assert after == before


async def test_emptied_directory_is_not_reseeded(data_dir: Path) -> None:
    d = await Directory.open(data_dir)
    await d.remove_customer(2, cascade=True)
    for i_customer in (1, 3):
        await d.remove_customer(i_customer, cascade=True)
    await d.remove_administrator("admin")
    assert d.customers() == [] and d.accounts() == [] and d.administrators() == []
    await d.close()
    d = await Directory.open(data_dir)
    try:
        assert d.customers() == [] and d.accounts() == [] and d.ivr_access_numbers() == []
        assert await d.uses_demo_credentials() is False
    finally:
        await d.close()


async def test_no_seed_when_asked(tmp_path: Path) -> None:
    d = await Directory.open(tmp_path, seed_demo=False)
    try:
        assert d.customers() == [] and d.accounts() == [] and d.administrators() == []
        assert await d.authenticate("admin", "admin-pass") is None
    finally:
        await d.close()


# --- authentication ---


@pytest.mark.parametrize(
    ("login", "password", "expected"),
    [
        ("admin", "admin-pass", Principal("administrator", "admin")),
        ("demo-corp", "demo-corp-pass", Principal("customer", "demo-corp", i_customer=1)),
        ("other-corp", "other-corp-pass", Principal("customer", "other-corp", i_customer=3)),
        ("1001", "secret1001", Principal("account", "1001", i_customer=1, i_account=1)),
        ("2001", "secret2001", Principal("account", "2001", i_customer=2, i_account=4)),
        ("3001", "secret3001", Principal("account", "3001", i_customer=3, i_account=5)),
    ],
)
async def test_authenticate_each_demo_realm(
    directory: Directory, login: str, password: str, expected: Principal
) -> None:
    assert await directory.authenticate(login, password) == expected
    # domain does not change the outcome either way
    assert await directory.authenticate(login, password, domain="pbx.example.com") == expected
    assert await directory.authenticate(login, password + "x", domain="pbx.example.com") is None


@pytest.mark.parametrize(
    ("login", "password"),
    [
        ("admin", "wrong"),
        ("admin", ""),
        ("1001", "secret1002"),  # another account's password
        ("demo-corp", "other-corp-pass"),
        ("nobody", "admin-pass"),
        ("", ""),
        ("Admin", "admin-pass"),  # logins are case-sensitive
    ],
)
async def test_authenticate_rejects(directory: Directory, login: str, password: str) -> None:
    assert await directory.authenticate(login, password) is None


async def test_unknown_login_costs_one_scrypt_like_a_known_one(
    directory: Directory, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[str] = []
    real_verify = directory_module.verify_password

    def counting_verify(password: str, encoded: str) -> bool:
        verified.append(encoded)
        return real_verify(password, encoded)

    monkeypatch.setattr(directory_module, "verify_password", counting_verify)
    assert await directory.authenticate("no-such-login", "whatever") is None
    assert await directory.authenticate("admin", "wrong") is None
    assert len(verified) == 2
    # Both were real scrypt verifications with the same cost parameters.
    assert all(e.startswith("scrypt$16384$8$1$") for e in verified)


async def test_reseller_realm_and_reseller_lookups(directory: Directory) -> None:
    reseller = await directory.add_reseller("Resale Ltd", login="resale", password="resale-pass")
    main = await directory.add_customer(
        "Resold Main", i_office_type=3, i_reseller=reseller.i_reseller, login="resold", password="resold-pw"
    )
    branch = await directory.add_customer("Resold Branch", i_main_office=main.i_customer)
    account = await directory.add_account(branch.i_customer, "4001", "secret4001")

    assert branch.i_office_type == 2 and branch.i_reseller == reseller.i_reseller  # inherited
    assert directory.customers_of_reseller(reseller.i_reseller) == [main, branch]
    assert directory.customers_of_reseller(999) == []
    assert directory.branches_of(main.i_customer) == [branch]
    assert await directory.authenticate("resale", "resale-pass") == Principal(
        "reseller", "resale", i_reseller=reseller.i_reseller
    )
    assert await directory.authenticate("resold", "resold-pw") == Principal(
        "customer", "resold", i_reseller=reseller.i_reseller, i_customer=main.i_customer
    )
    assert await directory.authenticate("4001", "secret4001") == Principal(
        "account",
        "4001",
        i_reseller=reseller.i_reseller,
        i_customer=branch.i_customer,
        i_account=account.i_account,
    )


# --- secrets at rest ---


async def test_no_cleartext_password_in_the_database_files(data_dir: Path) -> None:
    d = await Directory.open(data_dir)
    await d.add_account(1, "1004", "hunter2-unique-cleartext")
    await d.add_customer("Extra", login="extra", password="extra-unique-cleartext")
    raw_while_open = _all_bytes(data_dir)  # includes the WAL file
    await d.close()
    raw_after_close = _all_bytes(data_dir)
    for raw in (raw_while_open, raw_after_close):
        for cleartext in (
            b"secret1001",
            b"secret3001",
            b"admin-pass",
            b"demo-corp-pass",
            b"other-corp-pass",
            b"hunter2-unique-cleartext",
            b"extra-unique-cleartext",
        ):
            assert cleartext not in raw
    assert b"scrypt$16384$8$1$" in raw_after_close
    assert hashlib.md5(b"1001:callcontrol:secret1001").hexdigest().encode() in raw_after_close


# --- SIP digest HA1 ---


def test_sip_ha1_md5_and_sha256(directory: Directory) -> None:
    md5 = hashlib.md5(b"1001:callcontrol:secret1001").hexdigest()
    sha = hashlib.sha256(b"1001:callcontrol:secret1001").hexdigest()
    assert directory.sip_ha1("1001", "callcontrol", "MD5") == md5
    assert directory.sip_ha1("1001", "callcontrol", "md5") == md5
    assert directory.sip_ha1("1001", "callcontrol", "MD5-sess") == md5
    assert directory.sip_ha1("1001", "callcontrol", "SHA-256") == sha
    assert directory.sip_ha1("1001", "callcontrol", "SHA-256-sess") == sha
    assert (
        directory.sip_ha1("3001", "callcontrol", "MD5")
        == hashlib.md5(b"3001:callcontrol:secret3001").hexdigest()
    )


def test_sip_ha1_unknowns(directory: Directory) -> None:
    assert directory.sip_ha1("9999", "callcontrol", "MD5") is None
    assert directory.sip_ha1("1001", "other-realm", "MD5") is None
    assert directory.sip_ha1("1001", "callcontrol", "SHA-512-256") is None
    assert directory.sip_ha1("admin", "callcontrol", "MD5") is None  # only accounts speak SIP


async def test_sip_realm_is_configurable(tmp_path: Path) -> None:
    d = await Directory.open(tmp_path, sip_realm="pbx.example.com")
    try:
        assert (
            d.sip_ha1("1002", "pbx.example.com", "MD5")
            == hashlib.md5(b"1002:pbx.example.com:secret1002").hexdigest()
        )
        assert d.sip_ha1("1002", "callcontrol", "MD5") is None
    finally:
        await d.close()


async def test_realm_change_needs_new_password(data_dir: Path) -> None:
    d = await Directory.open(data_dir, sip_realm="new.example")
    try:
        assert d.sip_ha1("1001", "new.example", "MD5") is None  # HA1 is bound to the old realm
        await d.set_password("1001", "fresh-1001")
        assert (
            d.sip_ha1("1001", "new.example", "SHA-256")
            == hashlib.sha256(b"1001:new.example:fresh-1001").hexdigest()
        )
        assert await d.authenticate("1001", "fresh-1001") is not None
        assert await d.authenticate("1001", "secret1001") is None
    finally:
        await d.close()
    d = await Directory.open(data_dir, sip_realm="new.example")
    try:
        assert (
            d.sip_ha1("1001", "new.example", "MD5") == hashlib.md5(b"1001:new.example:fresh-1001").hexdigest()
        )
    finally:
        await d.close()


# --- look-ups ---


def test_lookups(directory: Directory) -> None:
    assert directory.account(1) == Account(1, "1001", 1, "1001", "1001", None)
    assert directory.account(99) is None
    assert directory.account_by_id("2001") == directory.account(4)
    assert directory.account_by_id("9999") is None
    assert directory.account_by_extension(1, "1003") == directory.account(3)
    assert directory.account_by_extension(3, "1003") is None  # extensions are per customer
    assert directory.customer(2) == Customer(2, "Demo Branch", 2, 1, None, None)
    assert directory.customer(4) is None
    assert directory.ivr_an(1) == IvrAccessNumber(1, "7000", 1, None)
    assert directory.ivr_an_by_number("7000") == directory.ivr_an(1)
    assert directory.ivr_an_by_number("7001") is None
    assert directory.branches_of(1) == [directory.customer(2)]
    assert directory.branches_of(3) == []
    assert directory.customers_of_reseller(1) == []
    assert [a.id for a in directory.accounts_of_customer(1)] == ["1001", "1002", "1003"]
    assert directory.accounts_of_customer(42) == []
    assert directory.ivr_ans_of_customer(1) == [directory.ivr_an(1)]
    # Returned lists are copies: a caller cannot corrupt the directory.
    directory.branches_of(1).clear()
    assert directory.branches_of(1) == [directory.customer(2)]


# --- writes ---


async def test_add_account_persists_and_authenticates(data_dir: Path) -> None:
    d = await Directory.open(data_dir)
    account = await d.add_account(
        1,
        "1004",
        "pw-1004",
        extension="104",
        display_name="Reception",
        static_contact="sip:1004@10.1.1.1:5060",
    )
    assert account == Account(6, "1004", 1, "104", "Reception", "sip:1004@10.1.1.1:5060")
    await d.close()
    d = await Directory.open(data_dir)
    try:
        assert d.account_by_id("1004") == account
        assert d.account_by_extension(1, "104") == account
        assert await d.authenticate("1004", "pw-1004") == Principal(
            "account", "1004", i_customer=1, i_account=6
        )
        assert d.sip_ha1("1004", "callcontrol", "MD5") == hashlib.md5(b"1004:callcontrol:pw-1004").hexdigest()
    finally:
        await d.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"i_customer": 1, "account_id": "1001", "password": "x"}, "taken"),
        ({"i_customer": 1, "account_id": "admin", "password": "x"}, "taken"),
        ({"i_customer": 1, "account_id": "demo-corp", "password": "x"}, "taken"),
        ({"i_customer": 1, "account_id": "7000", "password": "x"}, "IVR"),
        ({"i_customer": 9, "account_id": "1005", "password": "x"}, "no customer"),
        ({"i_customer": 1, "account_id": "1005", "password": "x", "extension": "1001"}, "extension"),
        ({"i_customer": 1, "account_id": "1005", "password": ""}, "password"),
        ({"i_customer": 1, "account_id": "10 05", "password": "x"}, "account id"),
        ({"i_customer": 1, "account_id": "1005:x", "password": "x"}, "account id"),
        (
            {"i_customer": 1, "account_id": "1005", "password": "x", "display_name": "a\r\nVia: evil"},
            "display",
        ),
        ({"i_customer": 1, "account_id": "1005", "password": "x", "static_contact": "http://x"}, "contact"),
        ({"i_customer": 1, "account_id": "1005", "password": "x", "static_contact": "sip:a\r\nb"}, "contact"),
        ({"i_customer": 1, "account_id": "1005", "password": "x", "i_account": 1}, "exists"),
    ],
)
async def test_add_account_refusals(directory: Directory, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DirectoryError, match=message):
        await directory.add_account(**kwargs)  # type: ignore[arg-type]
    assert len(directory.accounts()) == 5


async def test_concurrent_duplicate_adds_admit_one(directory: Directory) -> None:
    results = await asyncio.gather(
        directory.add_account(1, "1010", "a"), directory.add_account(3, "1010", "b"), return_exceptions=True
    )
    assert sum(isinstance(r, Account) for r in results) == 1
    assert sum(isinstance(r, DirectoryError) for r in results) == 1


async def test_add_customer_rules(directory: Directory) -> None:
    with pytest.raises(DirectoryError, match="not a main office"):
        await directory.add_customer("Branch of a non-main", i_main_office=3)
    with pytest.raises(DirectoryError, match="no customer"):
        await directory.add_customer("Branch of nothing", i_main_office=77)
    with pytest.raises(DirectoryError, match="main office"):
        await directory.add_customer("Branch without main", i_office_type=2)
    with pytest.raises(DirectoryError, match="password"):
        await directory.add_customer("Login only", login="lonely")
    with pytest.raises(DirectoryError, match="taken"):
        await directory.add_customer("Clash", login="1001", password="pw")
    with pytest.raises(DirectoryError, match="no reseller"):
        await directory.add_customer("Ghost reseller", i_reseller=5)
    with pytest.raises(DirectoryError, match="i_office_type"):
        await directory.add_customer("Odd", i_office_type=7)
    with pytest.raises(DirectoryError, match="name"):
        await directory.add_customer("   ")
    branch = await directory.add_customer("Second Branch", i_main_office=1)
    assert branch == Customer(4, "Second Branch", 2, 1, None, None)
    assert directory.branches_of(1) == [directory.customer(2), branch]
    plain = await directory.add_customer("Plain", i_customer=50, login="plain", password="plain-pw")
    assert plain.i_customer == 50 and plain.i_office_type == 1
    assert await directory.authenticate("plain", "plain-pw") == Principal("customer", "plain", i_customer=50)


async def test_add_ivr_access_number(directory: Directory) -> None:
    number = await directory.add_ivr_an("7001", 1, i_account=2)
    assert number == IvrAccessNumber(2, "7001", 1, 2)
    assert directory.ivr_an_by_number("7001") == number
    with pytest.raises(DirectoryError, match="already exists"):
        await directory.add_ivr_an("7001", 3)
    with pytest.raises(DirectoryError, match="account id"):
        await directory.add_ivr_an("1001", 1)
    with pytest.raises(DirectoryError, match="no account"):
        await directory.add_ivr_an("7002", 3, i_account=1)  # account of another customer
    with pytest.raises(DirectoryError, match="IVR access number"):
        await directory.add_ivr_an("70a", 1)


async def test_add_administrator(directory: Directory) -> None:
    await directory.add_administrator("ops", "ops-pass")
    assert directory.administrators() == ["admin", "ops"]
    assert await directory.authenticate("ops", "ops-pass") == Principal("administrator", "ops")
    with pytest.raises(DirectoryError, match="taken"):
        await directory.add_administrator("demo-corp", "x")
    with pytest.raises(DirectoryError, match="login"):
        await directory.add_administrator("two words", "x")


async def test_remove_customer_rules(data_dir: Path) -> None:
    d = await Directory.open(data_dir)
    await d.store.save_binding(Binding("3001", "sip:3001@127.0.0.1:5080", 9e9, "reg", 1))
    await d.store.save_binding(Binding("1001", "sip:1001@127.0.0.1:5070", 9e9, "reg", 1))
    with pytest.raises(DirectoryError, match="branches"):
        await d.remove_customer(1, cascade=True)
    with pytest.raises(DirectoryError, match="still has"):
        await d.remove_customer(3)
    with pytest.raises(DirectoryError, match="no customer"):
        await d.remove_customer(99)
    await d.remove_customer(3, cascade=True)
    assert d.customer(3) is None and d.account(5) is None and d.account_by_id("3001") is None
    assert await d.authenticate("3001", "secret3001") is None
    assert await d.authenticate("other-corp", "other-corp-pass") is None
    assert [b.aor for b in await d.store.load_bindings()] == ["1001"]
    await d.close()
    d = await Directory.open(data_dir)
    try:
        assert [c.i_customer for c in d.customers()] == [1, 2]
        assert [a.i_account for a in d.accounts()] == [1, 2, 3, 4]
    finally:
        await d.close()


async def test_remove_account_detaches_ivr_and_drops_bindings(data_dir: Path) -> None:
    d = await Directory.open(data_dir)
    await d.add_ivr_an("7001", 1, i_account=2)
    await d.store.save_binding(Binding("1002", "sip:1002@127.0.0.1:5072", 9e9, "reg", 1))
    await d.remove_account(2)
    assert d.account(2) is None and d.account_by_extension(1, "1002") is None
    assert d.ivr_an_by_number("7001") == IvrAccessNumber(2, "7001", 1, None)
    assert d.sip_ha1("1002", "callcontrol", "MD5") is None
    assert await d.store.load_bindings() == []
    with pytest.raises(DirectoryError, match="no account"):
        await d.remove_account(2)
    await d.close()
    d = await Directory.open(data_dir)
    try:
        assert d.ivr_an(2) == IvrAccessNumber(2, "7001", 1, None)
        assert d.account(2) is None
    finally:
        await d.close()


async def test_remove_ivr_and_admin(directory: Directory) -> None:
    await directory.remove_ivr_an(1)
    assert directory.ivr_an_by_number("7000") is None
    with pytest.raises(DirectoryError):
        await directory.remove_ivr_an(1)
    await directory.remove_administrator("admin")
    assert await directory.authenticate("admin", "admin-pass") is None
    with pytest.raises(DirectoryError):
        await directory.remove_administrator("admin")


async def test_set_password_for_each_realm_and_demo_detection(directory: Directory) -> None:
    assert await directory.uses_demo_credentials()
    await directory.add_reseller("R", login="res", password="old-res")
    for login in ("admin", "demo-corp", "other-corp", "1001", "1002", "1003", "2001", "3001", "res"):
        await directory.set_password(login, f"new-{login}")
    assert not await directory.uses_demo_credentials()
    assert (await directory.authenticate("admin", "new-admin")) == Principal("administrator", "admin")
    assert (await directory.authenticate("res", "new-res")) is not None
    assert (await directory.authenticate("demo-corp", "new-demo-corp")) is not None
    assert (await directory.authenticate("demo-corp", "demo-corp-pass")) is None
    with pytest.raises(DirectoryError, match="no login"):
        await directory.set_password("ghost", "x")


async def test_cdrs_flushed_when_directory_closes(data_dir: Path) -> None:
    from callcontrol.store.sqlite import Cdr

    d = await Directory.open(data_dir)
    d.store.add_cdr(Cdr("c1", None, "1001", "1002", 1.0, 2.0))
    await d.close()
    assert _count(data_dir, "cdrs") == 1


async def test_invalid_sip_realm_refused(tmp_path: Path) -> None:
    with pytest.raises(DirectoryError, match="realm"):
        await Directory.open(tmp_path, sip_realm='bad"realm')


# --- another process edits the store (``callcontrol directory`` while the server runs) ---


async def test_reload_if_changed_sees_only_other_connections_writes(data_dir: Path) -> None:
    server = await Directory.open(data_dir)
    cli = await Directory.open(data_dir)
    try:
        assert await server.reload_if_changed() is None  # nothing changed since it loaded
        await server.set_password("1002", "new-password-1002")  # its own write: no reload needed
        assert await server.reload_if_changed() is None

        await cli.add_account(i_customer=1, account_id="1004", password="secret1004")
        await cli.set_password("1001", "changed-1001")
        await cli.remove_account(3)
        change = await server.reload_if_changed()
        assert change is not None
        assert change.accounts_added == {"1004"} and change.accounts_removed == {"1003"}
        # 1001: another password; 1003: gone. 1002's own change was already in memory.
        assert change.logins_revoked == {"1001", "1003"}
        assert server.account_by_id("1004") is not None and server.account_by_id("1003") is None
        assert await server.authenticate("1004", "secret1004") is not None
        assert await server.authenticate("1001", "secret1001") is None
        assert await server.reload_if_changed() is None  # and only once
    finally:
        await cli.close()
        await server.close()


async def test_revoked_logins_lose_their_sessions_and_cached_checks(directory: Directory) -> None:
    from callcontrol.api.models import SessionExpired
    from callcontrol.api.sessions import SessionService

    clock = [0.0]
    sessions = SessionService(directory, clock=lambda: clock[0])
    s1001 = await sessions.login("1001", "secret1001", None, "127.0.0.1")
    s1002 = await sessions.login("1002", "secret1002", None, "127.0.0.1")
    await directory.set_password("1002", "other-1002")  # as a reload would see it
    assert sessions.revoke({"1001"}) == 1
    with pytest.raises(SessionExpired):
        sessions.lookup(s1001.id)
    assert sessions.lookup(s1002.id) is s1002
    # The cached check of 1002's old password is gone: the old password fails at once.
    from callcontrol.api.models import AuthFailed

    with pytest.raises(AuthFailed):
        await sessions.authenticate("1002", "secret1002", None, "127.0.0.1")

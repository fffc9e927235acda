"""The directory: administrators, resellers, customers, accounts, IVR access numbers, and the
PBX of the customers (ring groups, hunt lists, time rules, menus, queues, account forwarding).

It is small, so it lives in memory: look-ups are synchronous dict reads, safe
on the SIP and API hot paths. Writes go to the store first and reach memory
only once persisted. Secrets (scrypt hashes, SIP HA1) stay inside this module;
the public types carry none.

Every login is unique across realms (an account's login is its id, e.g.
"1001"), so ``authenticate`` costs exactly one scrypt whatever the outcome.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callcontrol.directory.demo import DEMO_CREDENTIALS, demo_records
from callcontrol.directory.model import (
    EXTENSION_CHARS,
    ID_CHARS,
    MAX_LOGIN,
    NUMBER_CHARS,
    Account,
    Customer,
    DirectoryError,
    IvrAccessNumber,
    OfficeType,
    Principal,
    Realm,
    Reseller,
    check_chars,
    check_contact,
    check_id,
    check_login,
    check_name,
    check_office_type,
    check_password,
    has_control,
)
from callcontrol.directory.passwords import (
    dummy_hash,
    hash_password,
    sip_ha1_md5,
    sip_ha1_sha256,
    verify_password,
)
from callcontrol.pbx.model import (
    CallQueue,
    AccountForwarding,
    Dialplan,
    Forwarding,
    ForwardWhen,
    HuntList,
    PbxError,
    PbxKind,
    PbxNumber,
    RingGroup,
    build,
    check_seconds,
    check_target,
    check_zone,
    forwarding_of,
    from_stored,
    split_target,
    to_json,
)
from callcontrol.pbx.queue import QueueSettings
from callcontrol.store.sqlite import (
    AccountRecord,
    AdministratorRecord,
    CustomerRecord,
    DirectoryRecords,
    ForwardingRecord,
    IntegrityConflict,
    IvrAccessNumberRecord,
    PbxNumberRecord,
    ResellerRecord,
    Store,
)

__all__ = [
    "DEFAULT_SIP_REALM",
    "Account",
    "Customer",
    "Directory",
    "DirectoryChange",
    "DirectoryError",
    "IvrAccessNumber",
    "OfficeType",
    "Principal",
    "Realm",
    "Reseller",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_SIP_REALM = "callcontrol"


@dataclass(frozen=True, slots=True)
class _Credential:
    principal: Principal
    password_hash: str


@dataclass(frozen=True, slots=True)
class DirectoryChange:
    """What a reload changed that the running server must act on (no secret in it)."""

    logins_revoked: frozenset[str]  # gone, or now another principal or another password
    accounts_added: frozenset[str]  # account ids
    accounts_removed: frozenset[str]


# --- the directory -----------------------------------------------------------------


class Directory:
    """In-memory directory backed by the store."""

    store: Store

    def __init__(self, store: Store, sip_realm: str, hasher: ThreadPoolExecutor, dummy_hash: str) -> None:
        self.store = store
        self.sip_realm = sip_realm
        self._hasher = hasher
        self._dummy_hash = dummy_hash
        self._write_lock = asyncio.Lock()
        self._records = DirectoryRecords()
        self._data_version = -1  # the store's data_version when the records were read
        self._resellers: dict[int, Reseller] = {}
        self._customers: dict[int, Customer] = {}
        self._accounts: dict[int, Account] = {}
        self._accounts_by_id: dict[str, Account] = {}
        self._accounts_by_extension: dict[tuple[int, str], Account] = {}
        self._accounts_of_customer: dict[int, tuple[Account, ...]] = {}
        self._branches: dict[int, tuple[Customer, ...]] = {}
        self._customers_of_reseller: dict[int, tuple[Customer, ...]] = {}
        self._ivr: dict[int, IvrAccessNumber] = {}
        self._ivr_by_number: dict[str, IvrAccessNumber] = {}
        self._ivr_of_customer: dict[int, tuple[IvrAccessNumber, ...]] = {}
        self._administrators: tuple[str, ...] = ()
        self._credentials: dict[str, _Credential] = {}
        self._ha1: dict[str, tuple[str, str, str]] = {}  # account id -> (realm, md5, sha-256)
        self._dialplan = Dialplan()
        self._pbx_of_customer: dict[int, tuple[PbxNumber, ...]] = {}
        self._forwardings: tuple[Forwarding, ...] = ()

    @classmethod
    async def open(
        cls, data_dir: Path, *, sip_realm: str = DEFAULT_SIP_REALM, seed_demo: bool = True
    ) -> Directory:
        """Open the store in ``data_dir``, seed the demo directory if it is empty, load it."""
        if not sip_realm or has_control(sip_realm) or '"' in sip_realm:
            raise DirectoryError(f"invalid SIP realm {sip_realm!r}")
        store = await Store.open(Path(data_dir))
        hasher = ThreadPoolExecutor(
            max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="callcontrol-hash"
        )
        try:
            loop = asyncio.get_running_loop()
            # Verified against when a login is unknown, so that failure costs one scrypt too.
            dummy = await loop.run_in_executor(hasher, dummy_hash)
            directory = cls(store, sip_realm, hasher, dummy)
            # needs_seed() first: the demo hashes cost scrypt time that is wasted once seeded.
            seeded = (
                seed_demo
                and await store.needs_seed()
                and await store.seed_if_empty(await demo_records(directory._hash, sip_realm))
            )
            if seeded:
                logger.info("directory was empty: seeded the demo directory (see README)")
            await directory.reload()
        except BaseException:
            hasher.shutdown(wait=False)
            await store.close()
            raise
        return directory

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self.store.close()
        self._hasher.shutdown(wait=True)

    # --- hashing (in the executor) ---

    async def _hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._hasher, hash_password, password)

    async def _verify(self, password: str, encoded: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(
            self._hasher, verify_password, password, encoded
        )

    def _account_record(
        self,
        i_account: int | None,
        account_id: str,
        i_customer: int,
        extension: str,
        display_name: str,
        password: str,
        password_hash: str,
        static_contact: str | None,
    ) -> AccountRecord:
        return AccountRecord(
            i_account=i_account,
            id=account_id,
            i_customer=i_customer,
            extension=extension,
            display_name=display_name,
            password_hash=password_hash,
            sip_realm=self.sip_realm,
            ha1_md5=sip_ha1_md5(account_id, self.sip_realm, password),
            ha1_sha256=sip_ha1_sha256(account_id, self.sip_realm, password),
            static_contact=static_contact,
        )

    # --- loading and indexing ---

    async def reload(self) -> DirectoryChange:
        """Re-read everything from the store (e.g. after ``callcontrol directory`` edited it)."""
        async with self._write_lock:
            before_credentials, before_accounts = self._credentials, self._accounts_by_id
            # Read before loading: a write landing in between makes the next check reload again.
            self._data_version = await self.store.data_version()
            self._records = await self.store.load_directory()
            self._index()
            after = self._credentials
            change = DirectoryChange(
                logins_revoked=frozenset(
                    login for login, old in before_credentials.items()
                    if (new := after.get(login)) is None or new != old),
                accounts_added=frozenset(self._accounts_by_id.keys() - before_accounts.keys()),
                accounts_removed=frozenset(before_accounts.keys() - self._accounts_by_id.keys()))
        stale = sum(1 for a in self._records.accounts if a.sip_realm != self.sip_realm)
        if stale:
            logger.warning(
                "%d accounts have SIP credentials for another realm than %r; set their passwords again",
                stale,
                self.sip_realm,
            )
        return change

    async def reload_if_changed(self) -> DirectoryChange | None:
        """Reload when another process (``callcontrol directory ...``) committed to the store
        since the last load; None when nothing did."""
        if await self.store.data_version() == self._data_version:
            return None
        return await self.reload()

    def summary(self) -> str:
        """What the directory holds, for the operator's log lines."""
        return (f"{len(self._customers)} customers, {len(self._accounts)} accounts, "
                f"{len(self._ivr)} IVR numbers, {len(self._dialplan.numbers)} PBX numbers, "
                f"{len(self._forwardings)} forwardings")

    def _index(self) -> None:
        """Rebuild every look-up table from ``self._records`` (writes are rare; reads are hot)."""
        recs = self._records
        # Keep every list in id order, whatever order writes appended records in.
        recs.resellers.sort(key=lambda r: r.i_reseller or 0)
        recs.customers.sort(key=lambda c: c.i_customer or 0)
        recs.accounts.sort(key=lambda a: a.i_account or 0)
        recs.ivr_access_numbers.sort(key=lambda n: n.i_ivr_an or 0)
        resellers = {
            r.i_reseller: Reseller(r.i_reseller, r.name, r.login) for r in recs.resellers if r.i_reseller
        }
        customers = {
            c.i_customer: Customer(
                c.i_customer, c.name, c.i_office_type, c.i_main_office, c.i_reseller, c.login, c.time_zone
            )
            for c in recs.customers
            if c.i_customer
        }
        accounts = {
            a.i_account: Account(
                a.i_account, a.id, a.i_customer, a.extension, a.display_name, a.static_contact
            )
            for a in recs.accounts
            if a.i_account
        }
        ivr = {
            n.i_ivr_an: IvrAccessNumber(n.i_ivr_an, n.number, n.i_customer, n.i_account)
            for n in recs.ivr_access_numbers
            if n.i_ivr_an
        }
        branches: dict[int, list[Customer]] = {}
        of_reseller: dict[int, list[Customer]] = {}
        for c in customers.values():
            if c.i_main_office is not None:
                branches.setdefault(c.i_main_office, []).append(c)
            if c.i_reseller is not None:
                of_reseller.setdefault(c.i_reseller, []).append(c)
        of_customer: dict[int, list[Account]] = {}
        for a in accounts.values():
            of_customer.setdefault(a.i_customer, []).append(a)
        ivr_of_customer: dict[int, list[IvrAccessNumber]] = {}
        for n in ivr.values():
            ivr_of_customer.setdefault(n.i_customer, []).append(n)

        credentials: dict[str, _Credential] = {}

        def credential(login: str, principal: Principal, password_hash: str) -> None:
            # Writes keep logins unique across realms; a store edited by hand may not.
            if login in credentials:
                logger.warning("login %r exists in two realms; the %s one is used", login, principal.realm)
            credentials[login] = _Credential(principal, password_hash)

        for adm in recs.administrators:
            credential(adm.login, Principal("administrator", adm.login), adm.password_hash)
        for r in recs.resellers:
            if r.login and r.password_hash:
                credential(r.login, Principal("reseller", r.login, i_reseller=r.i_reseller), r.password_hash)
        for c in recs.customers:
            if c.login and c.password_hash:
                principal = Principal("customer", c.login, i_reseller=c.i_reseller, i_customer=c.i_customer)
                credential(c.login, principal, c.password_hash)
        for a in recs.accounts:
            owner = customers.get(a.i_customer)
            principal = Principal(
                "account",
                a.id,
                i_reseller=owner.i_reseller if owner else None,
                i_customer=a.i_customer,
                i_account=a.i_account,
            )
            credential(a.id, principal, a.password_hash)

        self._resellers = resellers
        self._customers = customers
        self._accounts = accounts
        self._accounts_by_id = {a.id: a for a in accounts.values()}
        self._accounts_by_extension = {(a.i_customer, a.extension): a for a in accounts.values()}
        self._accounts_of_customer = {k: tuple(v) for k, v in of_customer.items()}
        self._branches = {k: tuple(v) for k, v in branches.items()}
        self._customers_of_reseller = {k: tuple(v) for k, v in of_reseller.items()}
        self._ivr = ivr
        self._ivr_by_number = {n.number: n for n in ivr.values()}
        self._ivr_of_customer = {k: tuple(v) for k, v in ivr_of_customer.items()}
        self._administrators = tuple(sorted(adm.login for adm in recs.administrators))
        self._credentials = credentials
        self._ha1 = {a.id: (a.sip_realm, a.ha1_md5, a.ha1_sha256) for a in recs.accounts}
        self._index_pbx(customers, accounts)

    def _index_pbx(self, customers: dict[int, Customer], accounts: dict[int, Account]) -> None:
        """The dialplan snapshot routing reads: swapped whole, so a call routes against one version."""
        recs = self._records
        numbers: dict[str, PbxNumber] = {}
        for row in recs.pbx_numbers:
            try:
                numbers[row.number] = from_stored(row.kind, row.number, row.i_customer, row.name, row.spec)
            except PbxError as exc:
                # A row edited by hand (or by a newer version): the rest of the dialplan still works.
                logger.warning("%s; the number is not routed", exc)
        of_customer: dict[int, list[PbxNumber]] = {}
        for entry in numbers.values():
            of_customer.setdefault(entry.i_customer, []).append(entry)
        rules: list[Forwarding] = []
        for f in recs.forwardings:
            account = accounts.get(f.i_account)
            if account is None or f.i_forwarding is None:
                continue
            rules.append(Forwarding(f.i_forwarding, account.id, ForwardWhen(f.condition), f.target, f.after_s))
        by_account: dict[str, list[Forwarding]] = {}
        for rule in rules:
            by_account.setdefault(rule.account_id, []).append(rule)
        zones = {}
        for c in customers.values():
            if c.time_zone:
                try:
                    zones[c.i_customer] = ZoneInfo(c.time_zone)
                except (ZoneInfoNotFoundError, ValueError):
                    logger.warning("customer %d: unknown time zone %r; its time rules use UTC",
                                   c.i_customer, c.time_zone)
        self._dialplan = Dialplan(numbers, {k: forwarding_of(v) for k, v in by_account.items()}, zones)
        self._pbx_of_customer = {k: tuple(sorted(v, key=lambda e: e.number)) for k, v in of_customer.items()}
        self._forwardings = tuple(rules)

    # --- authentication ---

    async def authenticate(self, login: str, password: str, domain: str | None = None) -> Principal | None:
        """The principal whose login and password match, else None.

        ``domain`` is accepted for PortaSIP compatibility and ignored: one
        server is one environment, and logins are unique across realms.
        Unknown logins cost the same scrypt as wrong passwords.
        """
        credential = self._credentials.get(login)
        encoded = credential.password_hash if credential is not None else self._dummy_hash
        matches = await self._verify(password, encoded)
        if credential is None or not matches:
            logger.info("login failed for %r", login[:MAX_LOGIN])
            return None
        return credential.principal

    def sip_ha1(self, username: str, realm: str, algorithm: str) -> str | None:
        """Stored HA1 = H(username:realm:password) for digest "MD5" or "SHA-256".

        The "-sess" variants return the same base HA1 (the digest code derives
        the session HA1 from it). None for an unknown user, another realm or
        an unsupported algorithm.
        """
        entry = self._ha1.get(username)
        if entry is None or entry[0] != realm:
            return None
        alg = algorithm.upper()
        if alg == "MD5" or alg == "MD5-SESS":
            return entry[1]
        if alg == "SHA-256" or alg == "SHA-256-SESS":
            return entry[2]
        return None

    async def uses_demo_credentials(self) -> bool:
        """True while any demo login still accepts its published demo password."""
        present = [
            (self._credentials[login].password_hash, password)
            for login, password in DEMO_CREDENTIALS
            if login in self._credentials
        ]
        results = await asyncio.gather(*(self._verify(pw, encoded) for encoded, pw in present))
        return any(results)

    # --- look-ups (synchronous) ---

    def reseller(self, i_reseller: int) -> Reseller | None:
        return self._resellers.get(i_reseller)

    def customer(self, i_customer: int) -> Customer | None:
        return self._customers.get(i_customer)

    def account(self, i_account: int) -> Account | None:
        return self._accounts.get(i_account)

    def account_by_id(self, account_id: str) -> Account | None:
        return self._accounts_by_id.get(account_id)

    def account_by_extension(self, i_customer: int, extension: str) -> Account | None:
        return self._accounts_by_extension.get((i_customer, extension))

    def ivr_an(self, i_ivr_an: int) -> IvrAccessNumber | None:
        return self._ivr.get(i_ivr_an)

    def ivr_an_by_number(self, number: str) -> IvrAccessNumber | None:
        return self._ivr_by_number.get(number)

    def branches_of(self, i_main_office: int) -> list[Customer]:
        return list(self._branches.get(i_main_office, ()))

    def customers_of_reseller(self, i_reseller: int) -> list[Customer]:
        return list(self._customers_of_reseller.get(i_reseller, ()))

    def accounts_of_customer(self, i_customer: int) -> list[Account]:
        return list(self._accounts_of_customer.get(i_customer, ()))

    def ivr_ans_of_customer(self, i_customer: int) -> list[IvrAccessNumber]:
        return list(self._ivr_of_customer.get(i_customer, ()))

    def resellers(self) -> list[Reseller]:
        return list(self._resellers.values())

    def customers(self) -> list[Customer]:
        return list(self._customers.values())

    def accounts(self) -> list[Account]:
        return list(self._accounts.values())

    def ivr_access_numbers(self) -> list[IvrAccessNumber]:
        return list(self._ivr.values())

    def administrators(self) -> list[str]:
        return list(self._administrators)

    @property
    def dialplan(self) -> Dialplan:
        """The PBX as loaded (ring groups ... forwardings, time zones), for routing."""
        return self._dialplan

    def pbx_number(self, number: str) -> PbxNumber | None:
        return self._dialplan.number(number)

    def pbx_numbers(self, kind: str | None = None, i_customer: int | None = None) -> list[PbxNumber]:
        entries = (self._pbx_of_customer.get(i_customer, ()) if i_customer is not None
                   else sorted(self._dialplan.numbers.values(), key=lambda e: e.number))
        return [e for e in entries if kind is None or e.KIND == kind]

    def forwardings(self, account_id: str | None = None) -> list[Forwarding]:
        return [f for f in self._forwardings if account_id is None or f.account_id == account_id]

    def forwarding_of(self, account_id: str) -> AccountForwarding | None:
        return self._dialplan.forwarding(account_id)

    # --- writes ---

    def _require_free_login(self, login: str) -> None:
        if login in self._credentials:
            raise DirectoryError(f"login {login!r} is already taken")

    def _require_customer(self, i_customer: int) -> Customer:
        customer = self._customers.get(i_customer)
        if customer is None:
            raise DirectoryError(f"no customer {i_customer}")
        return customer

    async def add_reseller(
        self,
        name: str,
        *,
        login: str | None = None,
        password: str | None = None,
        i_reseller: int | None = None,
    ) -> Reseller:
        name = check_name(name, "reseller name")
        check_id(i_reseller, "i_reseller")
        if (login is None) != (password is None):
            raise DirectoryError("a login needs a password and a password needs a login")
        async with self._write_lock:
            if login is not None and password is not None:
                self._require_free_login(check_login(login))
                password_hash: str | None = await self._hash(check_password(password))
            else:
                password_hash = None
            record = ResellerRecord(i_reseller, name, login, password_hash)
            record.i_reseller = await self._insert(self.store.insert_reseller(record), "reseller")
            self._records.resellers.append(record)
            self._index()
            return self._resellers[record.i_reseller]

    async def add_customer(
        self,
        name: str,
        *,
        i_office_type: int | None = None,
        i_main_office: int | None = None,
        i_reseller: int | None = None,
        login: str | None = None,
        password: str | None = None,
        i_customer: int | None = None,
        time_zone: str | None = None,
    ) -> Customer:
        """Add a customer; a branch (type 2) needs ``i_main_office`` naming a main office (type 3).

        ``i_office_type`` defaults to branch when ``i_main_office`` is given, else none.
        A branch without ``i_reseller`` belongs to its main office's reseller.
        """
        name = check_name(name, "customer name")
        check_id(i_customer, "i_customer")
        office_type = check_office_type(
            i_office_type
            if i_office_type is not None
            else (OfficeType.BRANCH if i_main_office is not None else OfficeType.NONE)
        )
        if (office_type == OfficeType.BRANCH) != (i_main_office is not None):
            raise DirectoryError("a branch office (type 2) needs a main office, and only a branch has one")
        if (login is None) != (password is None):
            raise DirectoryError("a login needs a password and a password needs a login")
        if time_zone is not None:
            try:
                check_zone(time_zone)
            except PbxError as exc:
                raise DirectoryError(str(exc)) from None
        async with self._write_lock:
            if i_main_office is not None:
                main = self._require_customer(i_main_office)
                if main.i_office_type != OfficeType.MAIN:
                    raise DirectoryError(f"customer {i_main_office} is not a main office (type 3)")
                if i_reseller is None:
                    i_reseller = main.i_reseller
                elif i_reseller != main.i_reseller:
                    raise DirectoryError("a branch must belong to its main office's reseller")
            if i_reseller is not None and i_reseller not in self._resellers:
                raise DirectoryError(f"no reseller {i_reseller}")
            if i_customer is not None and i_customer in self._customers:
                raise DirectoryError(f"customer {i_customer} already exists")
            password_hash: str | None = None
            if login is not None and password is not None:
                self._require_free_login(check_login(login))
                password_hash = await self._hash(check_password(password))
            record = CustomerRecord(
                i_customer, name, int(office_type), i_main_office, i_reseller, login, password_hash, time_zone
            )
            record.i_customer = await self._insert(self.store.insert_customer(record), "customer")
            self._records.customers.append(record)
            self._index()
            return self._customers[record.i_customer]

    async def add_account(
        self,
        i_customer: int,
        account_id: str,
        password: str,
        *,
        extension: str | None = None,
        display_name: str | None = None,
        static_contact: str | None = None,
        i_account: int | None = None,
    ) -> Account:
        """Add an account; ``extension`` and ``display_name`` default to the account id."""
        check_chars(account_id, ID_CHARS, "account id")
        extension = check_chars(
            extension if extension is not None else account_id, EXTENSION_CHARS, "extension"
        )
        display_name = check_name(display_name if display_name is not None else account_id, "display name")
        if static_contact is not None:
            check_contact(static_contact)
        check_password(password)
        check_id(i_account, "i_account")
        async with self._write_lock:
            self._require_customer(i_customer)
            self._require_free_login(account_id)
            if account_id in self._ivr_by_number:
                raise DirectoryError(f"{account_id!r} is an IVR access number")
            if (entry := self._dialplan.number(account_id)) is not None:
                raise DirectoryError(f"{account_id!r} is a {entry.KIND}")
            if (i_customer, extension) in self._accounts_by_extension:
                raise DirectoryError(f"customer {i_customer} already has extension {extension!r}")
            if i_account is not None and i_account in self._accounts:
                raise DirectoryError(f"account {i_account} already exists")
            record = self._account_record(
                i_account,
                account_id,
                i_customer,
                extension,
                display_name,
                password,
                await self._hash(password),
                static_contact,
            )
            record.i_account = await self._insert(self.store.insert_account(record), "account")
            self._records.accounts.append(record)
            self._index()
            return self._accounts[record.i_account]

    async def add_ivr_an(
        self, number: str, i_customer: int, *, i_account: int | None = None, i_ivr_an: int | None = None
    ) -> IvrAccessNumber:
        """Add an IVR access number of a customer (``i_account``: the account the IVR acts as)."""
        check_chars(number, NUMBER_CHARS, "IVR access number", 32)
        check_id(i_ivr_an, "i_ivr_an")
        async with self._write_lock:
            self._require_customer(i_customer)
            if number in self._ivr_by_number:
                raise DirectoryError(f"IVR access number {number!r} already exists")
            if number in self._accounts_by_id:
                raise DirectoryError(f"{number!r} is an account id")
            if (entry := self._dialplan.number(number)) is not None:
                raise DirectoryError(f"{number!r} is a {entry.KIND}")
            if i_account is not None:
                account = self._accounts.get(i_account)
                if account is None or account.i_customer != i_customer:
                    raise DirectoryError(f"customer {i_customer} has no account {i_account}")
            if i_ivr_an is not None and i_ivr_an in self._ivr:
                raise DirectoryError(f"IVR access number {i_ivr_an} already exists")
            record = IvrAccessNumberRecord(i_ivr_an, number, i_customer, i_account)
            record.i_ivr_an = await self._insert(self.store.insert_ivr_an(record), "IVR access number")
            self._records.ivr_access_numbers.append(record)
            self._index()
            return self._ivr[record.i_ivr_an]

    async def add_administrator(self, login: str, password: str) -> None:
        check_login(login)
        check_password(password)
        async with self._write_lock:
            self._require_free_login(login)
            record = AdministratorRecord(login, await self._hash(password))
            await self._insert(self.store.insert_administrator(record), "administrator")
            self._records.administrators.append(record)
            self._index()

    async def remove_customer(self, i_customer: int, *, cascade: bool = False) -> None:
        """Remove a customer; ``cascade`` also removes its accounts and IVR numbers.

        A main office with branches is never removed: remove the branches first.
        """
        async with self._write_lock:
            self._require_customer(i_customer)
            if self._branches.get(i_customer):
                raise DirectoryError(f"customer {i_customer} has branches; remove them first")
            owned = len(self._accounts_of_customer.get(i_customer, ())) + len(
                self._ivr_of_customer.get(i_customer, ())
            ) + len(self._pbx_of_customer.get(i_customer, ()))
            if owned and not cascade:
                raise DirectoryError(
                    f"customer {i_customer} still has accounts, IVR access numbers or PBX numbers (use cascade)"
                )
            await self._insert(self.store.delete_customer(i_customer, cascade=cascade), "customer")
            recs = self._records
            recs.customers = [c for c in recs.customers if c.i_customer != i_customer]
            gone = {a.i_account for a in recs.accounts if a.i_customer == i_customer}
            recs.accounts = [a for a in recs.accounts if a.i_customer != i_customer]
            recs.ivr_access_numbers = [n for n in recs.ivr_access_numbers if n.i_customer != i_customer]
            recs.pbx_numbers = [n for n in recs.pbx_numbers if n.i_customer != i_customer]
            recs.forwardings = [f for f in recs.forwardings if f.i_account not in gone]
            self._index()

    async def remove_account(self, i_account: int) -> None:
        """Remove an account and its registrations; IVR numbers that acted as it keep no account."""
        async with self._write_lock:
            if i_account not in self._accounts:
                raise DirectoryError(f"no account {i_account}")
            await self.store.delete_account(i_account)
            recs = self._records
            recs.accounts = [a for a in recs.accounts if a.i_account != i_account]
            recs.forwardings = [f for f in recs.forwardings if f.i_account != i_account]  # ON DELETE CASCADE
            for n in recs.ivr_access_numbers:
                if n.i_account == i_account:
                    n.i_account = None
            self._index()

    async def remove_ivr_an(self, i_ivr_an: int) -> None:
        async with self._write_lock:
            if i_ivr_an not in self._ivr:
                raise DirectoryError(f"no IVR access number {i_ivr_an}")
            await self.store.delete_ivr_an(i_ivr_an)
            recs = self._records
            recs.ivr_access_numbers = [n for n in recs.ivr_access_numbers if n.i_ivr_an != i_ivr_an]
            self._index()

    async def remove_administrator(self, login: str) -> None:
        async with self._write_lock:
            if login not in self._administrators:
                raise DirectoryError(f"no administrator {login!r}")
            await self.store.delete_administrator(login)
            recs = self._records
            recs.administrators = [a for a in recs.administrators if a.login != login]
            self._index()

    async def set_password(self, login: str, password: str) -> None:
        """Change the password of any principal (for an account: API and SIP credentials)."""
        check_password(password)
        async with self._write_lock:
            credential = self._credentials.get(login)
            if credential is None:
                raise DirectoryError(f"no login {login!r}")
            new_hash = await self._hash(password)
            principal = credential.principal
            recs = self._records
            if principal.realm == "administrator":
                await self.store.update_password_hash("administrators", "login", login, new_hash)
                for adm in recs.administrators:
                    if adm.login == login:
                        adm.password_hash = new_hash
            elif principal.realm == "reseller":
                await self.store.update_password_hash(
                    "resellers", "i_reseller", principal.i_reseller, new_hash
                )
                for r in recs.resellers:
                    if r.i_reseller == principal.i_reseller:
                        r.password_hash = new_hash
            elif principal.realm == "customer":
                await self.store.update_password_hash(
                    "customers", "i_customer", principal.i_customer, new_hash
                )
                for c in recs.customers:
                    if c.i_customer == principal.i_customer:
                        c.password_hash = new_hash
            else:
                assert principal.i_account is not None
                md5 = sip_ha1_md5(login, self.sip_realm, password)
                sha256 = sip_ha1_sha256(login, self.sip_realm, password)
                await self.store.update_account_credentials(
                    principal.i_account, new_hash, self.sip_realm, md5, sha256
                )
                for a in recs.accounts:
                    if a.i_account == principal.i_account:
                        a.password_hash, a.sip_realm, a.ha1_md5, a.ha1_sha256 = (
                            new_hash,
                            self.sip_realm,
                            md5,
                            sha256,
                        )
            self._index()

    # --- PBX writes ---

    def _number_taken(self, number: str) -> str | None:
        if number in self._accounts_by_id:
            return "an account id"
        if number in self._ivr_by_number:
            return "an IVR access number"
        entry = self._dialplan.number(number)
        if entry is not None:
            return f"a {entry.KIND}"
        return None

    async def add_pbx_number(self, kind: str, i_customer: int, number: str, name: str,
                             spec: dict[str, Any]) -> PbxNumber:
        """Add a ring group, hunt list, time rule, menu or queue of a customer (settings: see
        ``callcontrol.pbx.model.build``). Members are the customer's accounts or ring groups;
        a target with a routing header (``grp:600``) must name a number of that kind."""
        name = check_name(name, f"{kind} name")
        try:
            entry = build(kind, number, i_customer, name, spec)
        except PbxError as exc:
            raise DirectoryError(str(exc)) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise DirectoryError(f"invalid {kind} {number}: {exc}") from None
        async with self._write_lock:
            self._require_customer(i_customer)
            taken = self._number_taken(number)
            if taken is not None:
                raise DirectoryError(f"{number!r} is already {taken}")
            if isinstance(entry, RingGroup | HuntList):
                for member in entry.members:
                    self._check_member(entry, member.number)
            if isinstance(entry, CallQueue):
                for agent in QueueSettings.from_spec(entry.settings).agents:
                    account = self._accounts_by_id.get(agent)
                    if account is None or account.i_customer != i_customer:
                        raise DirectoryError(f"agent {agent} is not an account of customer {i_customer}")
            for target in entry.targets():
                self._check_target(number, target)
            record = PbxNumberRecord(number, str(entry.KIND), i_customer, name, to_json(entry))
            await self._insert(self.store.insert_pbx_number(record), str(entry.KIND))
            self._records.pbx_numbers.append(record)
            self._index()
            added = self._dialplan.number(number)
            assert added is not None
            return added

    def _check_member(self, group: RingGroup | HuntList, member: str) -> None:
        account = self._accounts_by_id.get(member)
        if account is not None:
            if account.i_customer != group.i_customer:
                raise DirectoryError(f"member {member} is an account of customer {account.i_customer}, "
                                     f"not of customer {group.i_customer}")
            return
        nested = self._dialplan.number(member)
        if isinstance(nested, RingGroup) and nested.i_customer == group.i_customer:
            if self._contains(nested, group.number, set()):
                # A group removed and made again may be named by the groups it now contains.
                raise DirectoryError(f"member {member} contains {group.number}: a loop")
            return
        raise DirectoryError(f"member {member} is not an account or a ring group of customer {group.i_customer}")

    def _contains(self, group: RingGroup, number: str, seen: set[str]) -> bool:
        """Whether ``number`` is a member of ``group`` or of a ring group inside it."""
        seen.add(group.number)
        for member in group.members:
            if member.number == number:
                return True
            nested = self._dialplan.number(member.number)
            if isinstance(nested, RingGroup) and nested.number not in seen and self._contains(nested, number, seen):
                return True
        return False

    def _check_target(self, number: str, target: str) -> None:
        header, value = split_target(target)
        if header == "sys":
            return
        if value == number:
            raise DirectoryError(f"{number} cannot send calls to itself ({target})")
        if header is None:
            return  # any number: an account, a PBX number, an IVR number, or the trunk's
        what = self._number_taken(value)
        ok = {"account": what == "an account id", "ivr": what in ("an IVR access number", "a menu"),
              "grp": what in ("a ringgroup", "a hunt"), "queue": what == "a queue", "tc": what == "a timerule"}
        if not ok.get(header, False):
            raise DirectoryError(f"{target}: {value} is {what or 'not in the directory'}")

    async def remove_pbx_number(self, number: str, kind: str | None = None) -> PbxNumber:
        """Remove a PBX number (of ``kind``, when given). Targets naming it route elsewhere from
        then on (the trunk, or 404)."""
        async with self._write_lock:
            entry = self._dialplan.number(number)
            if entry is None or (kind is not None and entry.KIND != kind):
                raise DirectoryError(f"no {kind or 'PBX number'} {number}")
            await self.store.delete_pbx_number(number)
            self._records.pbx_numbers = [n for n in self._records.pbx_numbers if n.number != number]
            self._index()
            return entry

    async def add_forwarding(self, account_id: str, when: str, to: str, *, after: int | None = None) -> Forwarding:
        """Forward calls to an account ``when`` (always, busy, noanswer after ``after`` s,
        unreachable) to any routable number ``to``. One forwarding per condition."""
        try:
            condition = ForwardWhen(when)
        except ValueError:
            raise DirectoryError(f"invalid forwarding condition {when!r}: always, busy, noanswer or "
                                 "unreachable") from None
        try:
            target = check_target(to, "forwarding target")
            if after is not None:
                if condition is not ForwardWhen.NOANSWER:
                    raise PbxError("--after applies to noanswer forwarding only")
                check_seconds(after, "noanswer time")
        except PbxError as exc:
            raise DirectoryError(str(exc)) from None
        async with self._write_lock:
            account = self._accounts_by_id.get(account_id)
            if account is None:
                raise DirectoryError(f"no account {account_id!r}")
            self._check_target(account_id, target)
            if any(f.account_id == account_id and f.when is condition for f in self._forwardings):
                raise DirectoryError(f"account {account_id} already forwards on {condition} (remove it first)")
            record = ForwardingRecord(None, account.i_account, str(condition), target, after)
            record.i_forwarding = await self._insert(self.store.insert_forwarding(record), "forwarding")
            self._records.forwardings.append(record)
            self._index()
            return next(f for f in self._forwardings if f.i_forwarding == record.i_forwarding)

    async def remove_forwardings(self, account_id: str, when: str | None = None) -> int:
        """Remove an account's forwarding for ``when`` (all of them when None); how many."""
        async with self._write_lock:
            account = self._accounts_by_id.get(account_id)
            if account is None:
                raise DirectoryError(f"no account {account_id!r}")
            gone = [f for f in self._forwardings
                    if f.account_id == account_id and (when is None or str(f.when) == when)]
            if not gone:
                raise DirectoryError(f"account {account_id} has no {when + ' ' if when else ''}forwarding")
            await self.store.delete_forwardings(account.i_account, when)
            ids = {f.i_forwarding for f in gone}
            self._records.forwardings = [f for f in self._records.forwardings if f.i_forwarding not in ids]
            self._index()
            return len(gone)

    async def set_time_zone(self, i_customer: int, time_zone: str | None) -> Customer:
        """The IANA zone a customer's time rules are evaluated in (None: UTC)."""
        if time_zone is not None:
            try:
                check_zone(time_zone)
            except PbxError as exc:
                raise DirectoryError(str(exc)) from None
        async with self._write_lock:
            self._require_customer(i_customer)
            await self.store.update_customer_time_zone(i_customer, time_zone)
            for c in self._records.customers:
                if c.i_customer == i_customer:
                    c.time_zone = time_zone
            self._index()
            return self._customers[i_customer]

    @staticmethod
    async def _insert(write: Awaitable[T], what: str) -> T:
        """Await a store write, turning constraint failures into DirectoryError."""
        try:
            return await write
        except IntegrityConflict as exc:
            raise DirectoryError(f"{what} conflicts with existing data: {exc}") from exc

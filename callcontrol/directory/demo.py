"""The demo directory of docs/spec.md ("Operating the server"), seeded into an empty store.

Its ids and credentials are fixed so that examples, SIPp scenarios and tests
can rely on them; they are public, so the server binds only to loopback
while any of them still works (``Directory.uses_demo_credentials``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from callcontrol.directory.passwords import sip_ha1_md5, sip_ha1_sha256
from callcontrol.store.sqlite import (
    AccountRecord,
    AdministratorRecord,
    CustomerRecord,
    DirectoryRecords,
    IvrAccessNumberRecord,
)

# i_office_type: 1 none, 2 branch, 3 main office.
DEMO_ADMINISTRATOR = ("admin", "admin-pass")
# (i_customer, name, i_office_type, i_main_office, login, password)
DEMO_CUSTOMERS: tuple[tuple[int, str, int, int | None, str | None, str | None], ...] = (
    (1, "Demo Corp", 3, None, "demo-corp", "demo-corp-pass"),
    (2, "Demo Branch", 2, 1, None, None),
    (3, "Other Corp", 1, None, "other-corp", "other-corp-pass"),
)
# (i_account, id, i_customer); extension and display name are the id.
DEMO_ACCOUNTS: tuple[tuple[int, str, int], ...] = (
    (1, "1001", 1),
    (2, "1002", 1),
    (3, "1003", 1),
    (4, "2001", 2),
    (5, "3001", 3),
)
# (i_ivr_an, number, i_customer)
DEMO_IVR_ACCESS_NUMBERS: tuple[tuple[int, str, int], ...] = ((1, "7000", 1),)


def demo_account_password(account_id: str) -> str:
    return "secret" + account_id


# Every demo login with its published password.
DEMO_CREDENTIALS: tuple[tuple[str, str], ...] = (
    DEMO_ADMINISTRATOR,
    *((login, password) for *_, login, password in DEMO_CUSTOMERS if login and password),
    *((account_id, demo_account_password(account_id)) for _, account_id, _ in DEMO_ACCOUNTS),
)


async def demo_records(hash_password: Callable[[str], Awaitable[str]], sip_realm: str) -> DirectoryRecords:
    """The demo directory as store records, with API passwords hashed by ``hash_password``."""
    passwords = [DEMO_ADMINISTRATOR[1]]
    passwords += [pw for *_, pw in DEMO_CUSTOMERS if pw is not None]
    passwords += [demo_account_password(account_id) for _, account_id, _ in DEMO_ACCOUNTS]
    hashes = iter(await asyncio.gather(*(hash_password(pw) for pw in passwords)))
    records = DirectoryRecords()
    records.administrators.append(AdministratorRecord(DEMO_ADMINISTRATOR[0], next(hashes)))
    for i_customer, name, office_type, main, login, password in DEMO_CUSTOMERS:
        password_hash = next(hashes) if password is not None else None
        records.customers.append(
            CustomerRecord(
                i_customer, name, office_type, i_main_office=main, login=login, password_hash=password_hash
            )
        )
    for i_account, account_id, i_customer in DEMO_ACCOUNTS:
        password = demo_account_password(account_id)
        records.accounts.append(
            AccountRecord(
                i_account=i_account,
                id=account_id,
                i_customer=i_customer,
                extension=account_id,
                display_name=account_id,
                password_hash=next(hashes),
                sip_realm=sip_realm,
                ha1_md5=sip_ha1_md5(account_id, sip_realm, password),
                ha1_sha256=sip_ha1_sha256(account_id, sip_realm, password),
            )
        )
    for i_ivr_an, number, i_customer in DEMO_IVR_ACCESS_NUMBERS:
        records.ivr_access_numbers.append(IvrAccessNumberRecord(i_ivr_an, number, i_customer))
    return records

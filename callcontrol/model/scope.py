"""Realms and what each principal covers.

| realm         | covers                                                          |
| administrator | everything                                                      |
| reseller      | its customers (and their branches) and their accounts           |
| customer      | itself and its accounts; a main office also its branches        |
| account       | itself (its own legs)                                           |

A leg is covered when either party of it is covered: an extension sees the
calls it takes part in, including the far party's details. Anything not
covered behaves as if it did not exist; a routing key that names nothing in
the directory is not covered by anyone.

The directory is read through ``callcontrol.directory.model.DirectoryView`` (the lookups of
``callcontrol.directory.service.Directory``); lookups are in-memory and synchronous.
"""
from __future__ import annotations

import logging
from typing import Any, Literal, Protocol

from callcontrol.directory.model import DirectoryView, main_office_of
from callcontrol.model.callinfo import CallInfo, Party

logger = logging.getLogger(__name__)

Realm = Literal["administrator", "reseller", "customer", "account"]


class PrincipalLike(Protocol):
    @property
    def realm(self) -> Realm: ...
    @property
    def login(self) -> str: ...
    @property
    def i_reseller(self) -> int | None: ...
    @property
    def i_customer(self) -> int | None: ...
    @property
    def i_account(self) -> int | None: ...


class Scope:
    """What one principal may see and control; built once per session."""

    __slots__ = ("_dir", "_is_main_office", "_own_account", "_own_customer", "principal", "realm")

    def __init__(self, principal: PrincipalLike, directory: DirectoryView) -> None:
        self.principal = principal
        self.realm: Realm = principal.realm
        self._dir = directory
        self._own_customer = principal.i_customer
        self._own_account = principal.i_account
        own = directory.customer(principal.i_customer) if principal.i_customer is not None else None
        self._is_main_office = own is not None and main_office_of(own) == own.i_customer

    @property
    def is_admin(self) -> bool:
        return self.realm == "administrator"

    # ------------------------------------------------------------------ directory entities

    def covers_customer(self, i_customer: int) -> bool:
        customer = self._dir.customer(i_customer)
        if customer is None:
            return False
        realm = self.realm
        if realm == "administrator":
            return True
        if realm == "reseller":
            return self._reseller_owns(customer)
        if realm == "customer":
            own = self._own_customer
            return i_customer == own or (self._is_main_office and main_office_of(customer) == own)
        return False

    def covers_account(self, i_account: int) -> bool:
        account = self._dir.account(i_account)
        if account is None:
            return False
        if self.realm == "account":
            return i_account == self._own_account
        return self.covers_customer(account.i_customer)

    def covers_main_office(self, i_main_office: int) -> bool:
        customer = self._dir.customer(i_main_office)
        if customer is None or main_office_of(customer) != i_main_office:
            return False
        if self.realm == "customer":
            # A branch does not see its main office's other branches.
            return i_main_office == self._own_customer
        return self.covers_customer(i_main_office)

    def covers_ivr_an(self, i_ivr_an: int) -> bool:
        an = self._dir.ivr_an(i_ivr_an)
        if an is None:
            return False
        if self.realm == "account":
            return an.i_account is not None and an.i_account == self._own_account
        return self.covers_customer(an.i_customer)

    def covers_key(self, kind: str, value: int) -> bool:
        if kind == "i_account":
            return self.covers_account(value)
        if kind == "i_customer":
            return self.covers_customer(value)
        if kind == "i_main_office":
            return self.covers_main_office(value)
        if kind == "i_ivr_an":
            return self.covers_ivr_an(value)
        return False

    def covers_bill_account(self, account_id: str) -> Any:
        """The directory account ``account_id`` if this principal may bill calls to it, else None."""
        account = self._dir.account_by_id(account_id)
        if account is None or not self.covers_account(account.i_account):
            return None
        return account

    # ------------------------------------------------------------------ CDRs

    def cdr_owners(self, i_account: int | None = None, i_customer: int | None = None
                   ) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
        """``(i_customers, i_accounts)``: the billing owners whose CDRs this principal reads (None:
        any; empty: none). A CDR row belongs to the account and customer it is billed to, so a
        tenant reads its own rows only. Keys given narrow to them when covered, else to nothing."""
        if i_account is not None or i_customer is not None:
            if (i_account is not None and not self.covers_account(i_account)) or \
                    (i_customer is not None and not self.covers_customer(i_customer)):
                return (), ()
            return (None if i_customer is None else (i_customer,),
                    None if i_account is None else (i_account,))
        realm = self.realm
        if realm == "administrator":
            return None, None
        if realm == "account":
            own = self._own_account
            return None, () if own is None else (own,)
        return tuple(c.i_customer for c in self._dir.customers() if self.covers_customer(c.i_customer)), None

    # ------------------------------------------------------------------ legs

    def covers_party(self, party: Party) -> bool:
        realm = self.realm
        if realm == "administrator":
            return True
        if realm == "account":
            return party.i_account is not None and party.i_account == self._own_account
        if realm == "customer":
            own = self._own_customer
            if party.i_customer is not None and party.i_customer == own:
                return True
            return self._is_main_office and party.i_main_office == own
        if realm == "reseller":
            if party.i_customer is None:
                return False
            customer = self._dir.customer(party.i_customer)
            return customer is not None and self._reseller_owns(customer)
        return False

    def covers_call(self, info: CallInfo) -> bool:
        return self.covers_party(info.caller) or self.covers_party(info.callee)

    # ------------------------------------------------------------------ helpers

    def _reseller_owns(self, customer: Any) -> bool:
        r = self.principal.i_reseller
        if r is None:
            return False
        if customer.i_reseller == r:
            return True
        # A branch may be recorded without its own reseller: it belongs to its main office's.
        main = main_office_of(customer)
        if main is not None and main != customer.i_customer:
            parent = self._dir.customer(main)
            return parent is not None and parent.i_reseller == r
        return False


def key_matches(info: CallInfo, keys: list[tuple[str, int]]) -> bool:
    """True when the leg carries any of ``keys``."""
    own = info.routing_keys()
    return any(k in own for k in keys)

"""The directory's public types and the rules its values must follow.

Kept apart from ``callcontrol.directory.service`` (which re-exports them) so that the
types are importable without the store, and the validation is one place.
None of these types carries a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal, Protocol

Realm = Literal["administrator", "reseller", "customer", "account"]


class OfficeType(IntEnum):
    """PortaBilling ``i_office_type``."""

    NONE = 1
    BRANCH = 2
    MAIN = 3


class DirectoryError(ValueError):
    """A directory write was refused (unknown reference, duplicate, invalid value)."""


@dataclass(frozen=True, slots=True)
class Reseller:
    i_reseller: int
    name: str
    login: str | None


@dataclass(frozen=True, slots=True)
class Customer:
    i_customer: int
    name: str
    i_office_type: int
    i_main_office: int | None
    i_reseller: int | None
    login: str | None
    time_zone: str | None = None  # IANA name its time rules are evaluated in; None: UTC


@dataclass(frozen=True, slots=True)
class Account:
    i_account: int
    id: str
    i_customer: int
    extension: str
    display_name: str
    static_contact: str | None


@dataclass(frozen=True, slots=True)
class IvrAccessNumber:
    i_ivr_an: int
    number: str
    i_customer: int
    i_account: int | None


@dataclass(frozen=True, slots=True)
class Principal:
    realm: Realm
    login: str
    i_reseller: int | None = None
    i_customer: int | None = None
    i_account: int | None = None


class DirectoryView(Protocol):
    """The directory's synchronous, in-memory lookups (those of ``service.Directory``).

    What the call model (routing keys, scopes) and the API read the directory through.
    """

    async def authenticate(self, login: str, password: str, domain: str | None = None) -> Any: ...
    def customer(self, i_customer: int) -> Any: ...
    def account(self, i_account: int) -> Any: ...
    def account_by_id(self, id: str) -> Any: ...
    def ivr_an(self, i_ivr_an: int) -> Any: ...
    def customers(self) -> list[Any]: ...


def main_office_of(customer: Any) -> int | None:
    """The main office a customer belongs to: itself (type 3), its main office (type 2), or None."""
    if customer.i_office_type == OfficeType.MAIN:
        return customer.i_customer
    if customer.i_office_type == OfficeType.BRANCH:
        return customer.i_main_office
    return None


# --- validation ------------------------------------------------------------------

MAX_LOGIN = 64
_MAX_NAME = 200
_MAX_PASSWORD = 1024
ID_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._-+")
EXTENSION_CHARS = ID_CHARS | frozenset("*#")
NUMBER_CHARS = frozenset("0123456789*#+")


def has_control(value: str) -> bool:
    # CR/LF/NUL in a value that ends up in a SIP header would be header injection.
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)


def check_login(login: str) -> str:
    if not login or len(login) > MAX_LOGIN or has_control(login) or any(ch.isspace() for ch in login):
        raise DirectoryError(f"invalid login {login!r}: 1-{MAX_LOGIN} characters, no spaces")
    return login


def check_password(password: str) -> str:
    if not password or len(password) > _MAX_PASSWORD:
        raise DirectoryError(f"a password must be 1-{_MAX_PASSWORD} characters")
    return password


def check_name(name: str, what: str) -> str:
    name = name.strip()
    if not name or len(name) > _MAX_NAME or has_control(name):
        raise DirectoryError(f"invalid {what} {name!r}: 1-{_MAX_NAME} printable characters")
    return name


def check_chars(value: str, allowed: frozenset[str], what: str, max_len: int = MAX_LOGIN) -> str:
    if not value or len(value) > max_len or not set(value) <= allowed:
        raise DirectoryError(f"invalid {what} {value!r}")
    return value


def check_contact(uri: str) -> str:
    lowered = uri.lower()
    if not (lowered.startswith(("sip:", "sips:"))) or has_control(uri) or " " in uri:
        raise DirectoryError(f"invalid static contact {uri!r}: a sip: or sips: URI")
    return uri


def check_id(value: int | None, what: str) -> None:
    if value is not None and value < 1:
        raise DirectoryError(f"{what} must be a positive integer")


def check_office_type(value: int) -> OfficeType:
    try:
        return OfficeType(value)
    except ValueError:
        raise DirectoryError(f"invalid i_office_type {value}: 1 none, 2 branch, 3 main") from None

"""Who a request from a trusted source is: not challenged, but identified.

A trusted source (``[sip] trusted``, 127.0.0.1 in the README's default setup) is never
digest-challenged. Its requests used to carry no account at all, so an extension's phone on
a trusted network placed calls that belonged to nobody: no ``i_account`` on the caller, and
the extension's console (``get_sip_calls_list {"i_account": ...}``, its subscription) never
saw them. :class:`TrustedIdentity` attributes such a request to a directory account when
(docs/portasip-compat.md, "Who a call belongs to"):

1. it comes from an address a live registration of that account names: the source its
   REGISTER came from, or the host:port of its Contact (a phone that registers from one
   port and calls from its listening port, as a SIPp register scenario beside its UAS does);
2. else its From user is the id of an account that is registered (has a live binding).

Otherwise the request stays "trusted" (a trunk, a load generator): its caller is the From
user and belongs to no account. Identifying by From gives a trusted source nothing it did
not have: it may already REGISTER any account without credentials (the registrar), so
``trusted`` must list only peers allowed to speak for every account.

Sans-I/O: the registrar's bindings and the directory are read, nothing is sent.
"""
from __future__ import annotations

import logging
from typing import Protocol

from callcontrol.access.sip_auth import request_user
from callcontrol.directory.model import Account
from callcontrol.store.sqlite import Binding
from sip.message import Request
from sip.peer import Peer

logger = logging.getLogger(__name__)

__all__ = ["AccountLookup", "BindingLookup", "TrustedIdentity"]


class AccountLookup(Protocol):
    def account_by_id(self, account_id: str) -> Account | None: ...


class BindingLookup(Protocol):
    """What identification reads of the registrar (``callcontrol.access.registrar.Registrar``)."""

    def contacts(self, account_id: str) -> list[Binding]: ...

    def account_at(self, host: str, port: int) -> str | None: ...


class TrustedIdentity:
    """The account a request from a trusted source speaks for, if any (see the module doc)."""

    __slots__ = ("_bindings", "_directory")

    def __init__(self, directory: AccountLookup, bindings: BindingLookup) -> None:
        self._directory = directory
        self._bindings = bindings

    def identify(self, request: Request, peer: Peer) -> Account | None:
        bindings = self._bindings
        aor = bindings.account_at(peer.host, peer.port)
        if aor is None:
            user = request_user(request.from_.uri)
            if user is None or not bindings.contacts(user):
                return None
            aor = user
        account = self._directory.account_by_id(aor)
        if account is not None:
            logger.debug("trusted %s from %s:%d is account %s", request.method, peer.host, peer.port, aor)
        return account

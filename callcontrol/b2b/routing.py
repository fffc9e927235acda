"""Where a call goes (SPEC "Routing"): an account's contacts, the IVR, the trunk, or nowhere.

Pure decision: the number dialled, the directory, the registrar's bindings and the
trunk URI in; a :class:`Route` out. No I/O.

- a directory account: its registered contacts (forked in parallel when several),
  else its static contact; neither: 480 (not reachable now);
- an IVR access number (``7000`` in the demo): answered by the server for the IVR
  application;
- anything else: the configured trunk, or 404 when there is none.
"""
from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from sip.errors import SipParseError
from sip.peer import Peer
from sip.uri import SipUri, TelUri, parse_uri

logger = logging.getLogger(__name__)


class RouteKind(enum.Enum):
    ACCOUNT = "account"
    IVR = "ivr"
    TRUNK = "trunk"
    REJECT = "reject"


@dataclass(slots=True, frozen=True)
class Target:
    """One destination of leg B: the Request-URI to send and the next hop."""

    uri: str
    peer: Peer


@dataclass(slots=True, frozen=True)
class Route:
    kind: RouteKind
    number: str
    targets: tuple[Target, ...] = ()
    account: Any = None  # the callee's directory Account (ACCOUNT)
    ivr_an: Any = None  # the IvrAccessNumber (IVR)
    status: int = 0  # REJECT: the SIP status to answer
    reason: str = ""


def dialled_number(request_uri: str) -> str | None:
    """The user part of a sip:/sips: Request-URI or a tel: number (None when there is none),
    %-escapes decoded (§19.1.4) and user parameters (``;phone-context=``) dropped."""
    try:
        uri = parse_uri(request_uri)
    except SipParseError:
        return None
    if isinstance(uri, SipUri):
        user = uri.user
    elif isinstance(uri, TelUri):
        user = uri.number
    else:
        return None
    if not user:
        return None
    user = user.split(";", 1)[0]
    if "%" in user:
        user = unquote(user)
    return user or None


def target_for_uri(uri_text: str, *, user: str | None = None) -> Target | None:
    """A target from a URI (a static contact, a trunk, a registered contact); ``user``
    replaces the URI's user part (the trunk gets the dialled number). No DNS: IPs and localhost."""
    try:
        uri = parse_uri(uri_text)
    except SipParseError:
        return None
    if not isinstance(uri, SipUri):
        return None
    host, port = uri.address()
    if host == "localhost":
        host = "127.0.0.1"
    transport = (uri.transport or ("tls" if uri.scheme == "sips" else "udp")).upper()
    if transport not in ("UDP", "TCP", "TLS"):
        return None
    if user is not None:
        uri.user = user
    return Target(str(uri), Peer(transport, host, port))


def target_for_binding(binding: Any) -> Target | None:
    """A registered contact: the Request-URI is the contact; the next hop is where its
    REGISTER came from when the registrar recorded it (a NATed phone is reachable only
    there), else the contact's own address."""
    contact = getattr(binding, "contact", None) or getattr(binding, "contact_uri", None)
    if not contact:
        return None
    target = target_for_uri(str(contact))
    if target is None:
        return None
    host = getattr(binding, "source_host", None)
    port = getattr(binding, "source_port", None)
    source = getattr(binding, "source", None)
    if (host is None or port is None) and isinstance(source, str) and ":" in source:
        h, _, p = source.rpartition(":")
        if p.isdigit():
            host, port = h.strip("[]"), int(p)
    if host and port:
        transport = str(getattr(binding, "source_transport", None) or getattr(binding, "transport", None)
                        or target.peer.transport).upper()
        return Target(target.uri, Peer(transport, str(host), int(port)))
    return target


ContactsOf = Callable[[str], Sequence[Any]]


def route(number: str | None, *, directory: Any, contacts: ContactsOf | None, trunk_uri: str | None) -> Route:
    """Decide where a call to ``number`` goes (see the module doc)."""
    if not number:
        return Route(RouteKind.REJECT, "", status=404, reason="Not Found")
    account = directory.account_by_id(number)
    if account is not None:
        targets: list[Target] = []
        seen: set[str] = set()
        for binding in contacts(account.id) if contacts is not None else ():
            target = target_for_binding(binding)
            if target is not None and target.uri not in seen:
                seen.add(target.uri)
                targets.append(target)
        if not targets and account.static_contact:
            target = target_for_uri(account.static_contact)
            if target is not None:
                targets.append(target)
        if not targets:
            return Route(RouteKind.REJECT, number, account=account, status=480,
                         reason="Temporarily Unavailable")
        return Route(RouteKind.ACCOUNT, number, tuple(targets), account=account)
    ivr_an = directory.ivr_an_by_number(number)
    if ivr_an is not None:
        return Route(RouteKind.IVR, number, ivr_an=ivr_an)
    if trunk_uri:
        target = target_for_uri(trunk_uri, user=number)
        if target is None:
            logger.error("trunk URI %r is not a usable sip: URI", trunk_uri)
            return Route(RouteKind.REJECT, number, status=503, reason="Service Unavailable")
        return Route(RouteKind.TRUNK, number, (target,))
    return Route(RouteKind.REJECT, number, status=404, reason="Not Found")

"""SIP dialogs (RFC 3261 §12-§15): state, in-dialog request building and checks.

Sans-I/O: nothing here sends, sleeps or reads the clock. The UA core feeds a
dialog the requests and responses that belong to it and asks it to build the
next request; time arrives as ``now`` and randomness through an injectable
``random.Random``.

Requests built here carry **no Via**. The UA core prepends its own top Via
with a fresh branch (``request.push_via``) when it hands the request to a
client transaction, or for the ACK of a 2xx straight to the transport
(§13.2.2.4).
"""
from __future__ import annotations

import enum
import logging
import os
import random as _random_module
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from sip.errors import SipParseError
from sip.headers import NameAddr, parse_name_addr, quote
from sip.message import Headers, Request, Response
from sip.uri import SipUri, parse_uri

logger = logging.getLogger(__name__)

MAX_FORWARDS = "70"

# Requests whose Contact replaces the remote target (§12.2, RFC 3311, RFC 6665 §4.3).
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY"})
# Table 2 of §20 and RFC 3262: Contact is not applicable to these.
_NO_CONTACT_METHODS = frozenset({"BYE", "CANCEL", "ACK", "PRACK"})

_SIPFRAG = "message/sipfrag;version=2.0"


class DialogError(RuntimeError):
    """An operation the dialog's state forbids (the caller's bug or a race to handle)."""


class DialogState(enum.Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class DialogRole(enum.Enum):
    UAC = "uac"  # sent the request that created the dialog: owner of the Call-ID (§14.1)
    UAS = "uas"


# The only place where dialog states change (see Dialog._move). Self-loops make
# retransmitted 2xx and repeated terminate() harmless.
_TRANSITIONS: dict[DialogState, frozenset[DialogState]] = {
    DialogState.EARLY: frozenset({DialogState.EARLY, DialogState.CONFIRMED, DialogState.TERMINATED}),
    DialogState.CONFIRMED: frozenset({DialogState.CONFIRMED, DialogState.TERMINATED}),
    DialogState.TERMINATED: frozenset({DialogState.TERMINATED}),
}


class DialogId(NamedTuple):
    call_id: str
    local_tag: str
    remote_tag: str


# -- identifiers ----------------------------------------------------------------------
# One getrandom() per 4 KiB instead of one per identifier: os.urandom costs ~1 µs a call.
_POOL_SIZE = 4096
_pool = b""
_pool_pos = 0


def _reset_pool() -> None:
    global _pool, _pool_pos
    _pool = b""
    _pool_pos = 0


# A forked child must not hand out the parent's remaining random bytes again.
os.register_at_fork(after_in_child=_reset_pool)


def _random_hex(nbytes: int) -> str:
    global _pool, _pool_pos
    pos = _pool_pos
    end = pos + nbytes
    if end > len(_pool):
        _pool = os.urandom(_POOL_SIZE)
        pos, end = 0, nbytes
    _pool_pos = end
    return _pool[pos:end].hex()


def new_tag() -> str:
    """A From/To tag: 64 random bits (§19.3 asks for at least 32, cryptographically random)."""
    return _random_hex(8)


def new_call_id(host: str) -> str:
    """A Call-ID ``<128 random bits>@host`` (§8.1.1.4: cryptographically random)."""
    return f"{_random_hex(16)}@{host}"


_rng = _random_module.Random(os.urandom(16))


def glare_retry_delay(call_id_owner: bool, rng: _random_module.Random | None = None) -> float:
    """Seconds to wait before retrying a re-INVITE that got 491 (§14.1), in 10 ms units."""
    r = rng or _rng
    return (r.randint(210, 400) if call_id_owner else r.randint(0, 200)) / 100


# -- helpers -------------------------------------------------------------------------
def _without_tag(value: str) -> str:
    na = parse_name_addr(value)
    na.params.pop("tag", None)
    return str(na)


def _name_addr_without_tag(na: NameAddr) -> str:
    """``str(na)`` minus its tag, leaving ``na`` (a message's cached parse) untouched."""
    if "tag" not in na.params:
        return str(na)
    params = {k: v for k, v in na.params.items() if k != "tag"}
    return str(NameAddr(na.display_name, na.uri, params))


def _is_loose(route: str) -> bool:
    # Any value counts (";lr=on" from Kamailio is loose routing too).
    uri = parse_uri(parse_name_addr(route).uri)
    return isinstance(uri, SipUri) and "lr" in uri.params


def _request_uri_from_route(route: str) -> str:
    """The URI of a strict router's Route value, without what a Request-URI may not carry (§19.1.1)."""
    text = parse_name_addr(route).uri
    uri = parse_uri(text)
    if isinstance(uri, SipUri) and (uri.headers or "method" in uri.params):
        uri.headers = {}
        uri.params.pop("method", None)
        return str(uri)
    return text


def _as_name_addr(value: str) -> str:
    """Wrap a bare URI in <>: a URI with '?' headers or ';' params must be (§20.10)."""
    v = value.strip()
    return v if v.startswith(("<", '"')) or "<" in v else f"<{v}>"


@dataclass(slots=True, eq=False)
class Dialog:
    """One dialog's state (§12): identity, sequence numbers, target and route set.

    ``local_uri``/``remote_uri`` are the From/To name-addrs of in-dialog
    requests without their tags; ``local_contact`` is the Contact value we
    send; ``remote_target`` is the URI of the peer's Contact. ``route_set`` is
    a list of Route values (name-addr strings); change it with
    ``set_route_set`` so strict-router detection follows.
    """

    id: DialogId
    role: DialogRole
    state: DialogState
    local_uri: str
    remote_uri: str
    local_seq: int
    remote_seq: int | None
    remote_target: str
    route_set: list[str]
    local_contact: str
    secure: bool = False
    created_at: float = 0.0
    updated_at: float = 0.0
    # Glare bookkeeping (§14): our INVITE awaiting its final response / theirs awaiting ours.
    local_invite_in_progress: bool = False
    remote_invite_in_progress: bool = False
    # Set when receive_request answers 500 to an overlapping INVITE: the Retry-After to send.
    retry_after: int | None = None
    _strict_ruri: str | None = field(default=None, repr=False)
    _local_invite_cseq: int | None = field(default=None, repr=False)
    _remote_invite_cseq: int | None = field(default=None, repr=False)

    # -- construction ---------------------------------------------------------------
    @classmethod
    def from_uac(cls, request: Request, response: Response, now: float, *,
                 secure: bool | None = None) -> Dialog:
        """The dialog a 1xx-with-To-tag (early) or 2xx (confirmed) to our INVITE creates (§12.1.2).

        ``secure`` defaults to "the Request-URI is SIPS"; pass False when it was not sent over TLS.
        """
        status = response.status
        if not 100 < status < 300:
            raise ValueError(f"a {status} response creates no dialog")
        local_tag = request.from_tag
        if not local_tag:
            raise ValueError("our request has no From tag")
        remote_tag = response.to_tag
        if remote_tag is None:
            if status < 200:
                raise ValueError("a provisional response without To tag creates no dialog")
            remote_tag = ""  # RFC 2543 peer (§12.1.2: remote tag null)
        contacts = request.headers.get_all("contact")
        if not contacts:
            raise ValueError("our request has no Contact")
        remote_contacts = response.contacts
        dialog = cls(
            id=DialogId(request.call_id, local_tag, remote_tag),
            role=DialogRole.UAC,
            state=DialogState.EARLY if status < 200 else DialogState.CONFIRMED,
            local_uri=_without_tag(request.headers.get("from") or ""),
            remote_uri=_without_tag(response.headers.get("to") or ""),
            local_seq=request.cseq,
            remote_seq=None,
            # A peer omitting Contact is broken, but the Request-URI still reaches it.
            remote_target=remote_contacts[0].uri if remote_contacts else request.uri,
            route_set=[],
            local_contact=contacts[0],
            secure=request.uri[:5].lower() == "sips:" if secure is None else secure,
            created_at=now,
            updated_at=now,
        )
        dialog.set_route_set(response.headers.get_all("record-route")[::-1])
        if request.method == "INVITE" and status < 200:
            dialog.local_invite_in_progress = True
            dialog._local_invite_cseq = request.cseq
        logger.debug("dialog %s created as UAC (%s)", dialog.id, dialog.state.value)
        return dialog

    @classmethod
    def from_uas(cls, request: Request, local_tag: str, local_contact: str, *, now: float = 0.0,
                 secure: bool | None = None) -> Dialog:
        """The early dialog of a request we answer with a To tag (§12.1.1); confirm() on our 2xx.

        ``local_contact`` is the Contact value (name-addr) we put in our responses and requests.
        Raises SipParseError (answer 400) when the request has no usable Contact.
        """
        contacts = request.contacts
        if not contacts:
            raise SipParseError.bad("Missing Contact header")
        remote_tag = request.from_tag or ""  # "" only for RFC 2543 peers
        dialog = cls(
            id=DialogId(request.call_id, local_tag, remote_tag),
            role=DialogRole.UAS,
            state=DialogState.EARLY,
            local_uri=_name_addr_without_tag(request.to),
            remote_uri=_name_addr_without_tag(request.from_),
            local_seq=0,  # §12.1.1: empty; our first request then carries CSeq 1
            remote_seq=request.cseq,
            remote_target=contacts[0].uri,
            route_set=[],
            local_contact=local_contact,
            secure=request.uri[:5].lower() == "sips:" if secure is None else secure,
            created_at=now,
            updated_at=now,
        )
        dialog.set_route_set(request.headers.get_all("record-route"))
        if request.method == "INVITE":
            dialog.remote_invite_in_progress = True
            dialog._remote_invite_cseq = request.cseq
        logger.debug("dialog %s created as UAS", dialog.id)
        return dialog

    # -- identity shortcuts ---------------------------------------------------------
    @property
    def call_id(self) -> str:
        return self.id.call_id

    @property
    def local_tag(self) -> str:
        return self.id.local_tag

    @property
    def remote_tag(self) -> str:
        return self.id.remote_tag

    @property
    def can_reinvite(self) -> bool:
        """Whether a re-INVITE may start now (§14.1: none in progress in either direction)."""
        return (self.state is DialogState.CONFIRMED and not self.local_invite_in_progress
                and not self.remote_invite_in_progress)

    # -- state ----------------------------------------------------------------------
    def _move(self, new: DialogState) -> None:
        old = self.state
        if new not in _TRANSITIONS[old]:
            raise DialogError(f"dialog {self.id}: {old.value} -> {new.value} is not a transition")
        if new is not old:
            self.state = new
            logger.debug("dialog %s: %s -> %s", self.id, old.value, new.value)

    def set_route_set(self, routes: list[str]) -> None:
        """Replace the route set; decides once whether the first hop is a strict router."""
        self.route_set = routes
        self._strict_ruri = None
        if routes and not _is_loose(routes[0]):
            self._strict_ruri = _request_uri_from_route(routes[0])

    def confirm(self, response: Response) -> None:
        """Move to CONFIRMED on a 2xx to the dialog-creating request.

        UAC: the 2xx refreshes the remote target from its Contact and recomputes
        the route set from its Record-Route (§13.2.2.4). UAS: ``response`` is the
        2xx we sent. A retransmitted 2xx on a confirmed dialog changes nothing.
        """
        if not 200 <= response.status < 300:
            raise ValueError(f"confirm() needs a 2xx, got {response.status}")
        if self.role is DialogRole.UAC:
            if response.to_tag is not None and response.to_tag != self.id.remote_tag:
                raise ValueError("2xx of another dialog (different To tag)")
            if self.state is DialogState.EARLY:
                self.set_route_set(response.headers.get_all("record-route")[::-1])
                contacts = response.contacts
                if contacts:
                    self.remote_target = contacts[0].uri
            if response.cseq_method == "INVITE" and response.cseq == self._local_invite_cseq:
                self.local_invite_in_progress = False
        elif response.cseq_method == "INVITE" and response.cseq == self._remote_invite_cseq:
            self.remote_invite_in_progress = False
        self._move(DialogState.CONFIRMED)

    def terminate(self) -> None:
        self._move(DialogState.TERMINATED)
        self.local_invite_in_progress = False
        self.remote_invite_in_progress = False

    # -- building requests ----------------------------------------------------------
    def create_request(self, method: str, *, headers: Iterable[tuple[str, str]] = (), body: bytes = b"",
                       content_type: str | None = None) -> Request:
        """A new in-dialog request (§12.2.1.1) with CSeq = ++local_seq. **No Via**: see module doc.

        Request-URI is the remote target, or the first Route's URI when that hop
        is a strict router (then the remote target becomes the last Route).
        Contact is added except for BYE/PRACK. ACK: use create_ack. CANCEL is
        built from the request it cancels (§9.1), not here.
        """
        if method == "ACK" or method == "CANCEL":
            raise ValueError(f"{method} is not built by create_request")
        state = self.state
        if state is DialogState.TERMINATED:
            raise DialogError(f"dialog {self.id} is terminated")
        if method == "INVITE":
            if self.local_invite_in_progress or self.remote_invite_in_progress:
                raise DialogError("an INVITE is in progress on this dialog (§14.1)")
            if state is DialogState.EARLY:
                raise DialogError("no re-INVITE on an early dialog")
        elif method == "BYE" and state is DialogState.EARLY and self.role is DialogRole.UAS:
            raise DialogError("the callee must not send BYE on an early dialog (§15)")
        self.local_seq += 1
        request = self._build(method, self.local_seq, headers, body, content_type)
        if method == "INVITE":
            self.local_invite_in_progress = True
            self._local_invite_cseq = self.local_seq
        return request

    def create_ack(self, invite_request_cseq: int, body: bytes = b"", content_type: str | None = None, *,
                   headers: Iterable[tuple[str, str]] = ()) -> Request:
        """The ACK of a 2xx to our INVITE (§13.2.2.4): the INVITE's CSeq number, method ACK.

        Works in any state: a 2xx is ACKed even if the dialog is being torn down.
        ``headers`` is where the UA passes the INVITE's credentials, if any.
        """
        return self._build("ACK", invite_request_cseq, headers, body, content_type)

    def create_bye(self, reason: tuple[int, str] | None = None, *, protocol: str = "SIP",
                   headers: Iterable[tuple[str, str]] = ()) -> Request:
        """BYE, with ``Reason: SIP;cause=<code>;text="<text>"`` (RFC 3326) when ``reason`` is given."""
        extra = list(headers)
        if reason is not None:
            cause, text = reason
            extra.append(("Reason", f"{protocol};cause={int(cause)};text={quote(text)}"))
        return self.create_request("BYE", headers=extra)

    def create_reinvite(self, sdp: bytes, *, headers: Iterable[tuple[str, str]] = ()) -> Request:
        return self.create_request("INVITE", headers=headers, body=sdp, content_type="application/sdp")

    def create_info(self, body: bytes, content_type: str, *,
                    headers: Iterable[tuple[str, str]] = ()) -> Request:
        return self.create_request("INFO", headers=headers, body=body, content_type=content_type)

    def create_notify(self, event: str, body: bytes = b"", content_type: str | None = None,
                      subscription_state: str = "active", *,
                      headers: Iterable[tuple[str, str]] = ()) -> Request:
        """NOTIFY (RFC 6665 §4.2.2): ``event`` and ``subscription_state`` go verbatim
        (e.g. ``"refer;id=7"``, ``"terminated;reason=noresource"``)."""
        extra = [("Event", event), ("Subscription-State", subscription_state), *headers]
        return self.create_request("NOTIFY", headers=extra, body=body, content_type=content_type)

    def create_refer_notify(self, status: int, reason: str, *, event_id: str | None = None,
                            expires: int = 60) -> Request:
        """NOTIFY of a REFER's implicit subscription (RFC 3515 §2.4.5): a sipfrag status line;
        a final status terminates the subscription."""
        state = f"active;expires={expires}" if status < 200 else "terminated;reason=noresource"
        event = "refer" if event_id is None else f"refer;id={event_id}"
        return self.create_notify(event, f"SIP/2.0 {status} {reason}".encode(), _SIPFRAG, state)

    def create_refer(self, refer_to: str, referred_by: str | None = None, *,
                     headers: Iterable[tuple[str, str]] = ()) -> Request:
        """REFER (RFC 3515); bare URIs are wrapped in <> (a Replaces header needs it)."""
        extra = [("Refer-To", _as_name_addr(refer_to))]
        if referred_by is not None:
            extra.append(("Referred-By", _as_name_addr(referred_by)))
        extra.extend(headers)
        return self.create_request("REFER", headers=extra)

    def _build(self, method: str, cseq: int, extra: Iterable[tuple[str, str]], body: bytes,
               content_type: str | None) -> Request:
        if body and content_type is None:
            raise ValueError("a body needs a Content-Type")
        routes = self.route_set
        strict = self._strict_ruri
        if strict is not None:
            ruri = strict
            routes = [*routes[1:], f"<{self.remote_target}>"]
        else:
            ruri = self.remote_target
        did = self.id
        items = [("route", "Route", r) for r in routes]
        items.append(("max-forwards", "Max-Forwards", MAX_FORWARDS))
        items.append(("from", "From", f"{self.local_uri};tag={did.local_tag}"))
        items.append(("to", "To", f"{self.remote_uri};tag={did.remote_tag}" if did.remote_tag
                      else self.remote_uri))
        items.append(("call-id", "Call-ID", did.call_id))
        items.append(("cseq", "CSeq", f"{cseq} {method}"))
        if method not in _NO_CONTACT_METHODS:
            items.append(("contact", "Contact", self.local_contact))
        headers = Headers(items)
        for name, value in extra:  # caller-supplied: add() rejects CR/LF
            headers.add(name, value)
        if content_type is not None:
            headers.add("Content-Type", content_type)
        return Request(method, ruri, headers, body)

    # -- receiving ------------------------------------------------------------------
    def receive_request(self, request: Request, *, rng: _random_module.Random | None = None) -> int | None:
        """Check an in-dialog request (§12.2.2, §14.2); None = go on, else the status to answer.

        481 on a terminated dialog; 500 when the CSeq is not above the last one
        (ACK and CANCEL exempt); for INVITE, 500 while their previous INVITE is
        unanswered (then ``self.retry_after`` holds the Retry-After seconds to
        send) and 491 while ours is in progress; 400 for a malformed Contact in
        a target refresh. An accepted target refresh replaces the remote
        target; an accepted BYE terminates the dialog.
        """
        self.retry_after = None
        if self.state is DialogState.TERMINATED:
            return 481
        method = request.method
        if method == "ACK" or method == "CANCEL":
            return None
        cseq = request.cseq
        remote_seq = self.remote_seq
        if remote_seq is not None and cseq <= remote_seq:
            return 500
        self.remote_seq = cseq
        if method == "INVITE":
            if self.remote_invite_in_progress:
                self.retry_after = (rng or _rng).randint(0, 10)
                return 500
            if self.local_invite_in_progress:
                return 491
        if method in TARGET_REFRESH_METHODS:
            try:
                contacts = request.contacts
            except SipParseError:
                return 400
            if contacts:
                self.remote_target = contacts[0].uri
        if method == "INVITE":
            self.remote_invite_in_progress = True
            self._remote_invite_cseq = cseq
        elif method == "BYE":
            self.terminate()
        return None

    def response_sent(self, request: Request, response: Response) -> None:
        """Tell the dialog about our response to one of its incoming requests (UAS side of §14.2)."""
        status = response.status
        if status < 200 or request.method != "INVITE":
            return
        if request.cseq == self._remote_invite_cseq:
            self.remote_invite_in_progress = False
        if self.state is DialogState.EARLY:
            if status < 300:
                self.confirm(response)
            else:
                self.terminate()

    def receive_response(self, request: Request, response: Response, now: float, *,
                         rng: _random_module.Random | None = None) -> float | None:
        """Apply a response to one of our in-dialog requests (or to the creating INVITE).

        2xx to a target refresh replaces the remote target (a 2xx to the creating
        INVITE confirms); a non-2xx final to the creating INVITE, 481 or 408
        (§12.2.1.2) and any final answer to BYE but 401/407 terminate. Returns
        the glare retry delay in seconds for a 491 to our re-INVITE (§14.1), else None.
        """
        self.updated_at = now
        if self.state is DialogState.TERMINATED:
            return None
        status = response.status
        method = request.method
        if status < 200:
            # A later 1xx of the same early dialog may move the target (reliable 1xx, PRACK).
            if (self.state is DialogState.EARLY and method == "INVITE" and self.role is DialogRole.UAC
                    and status > 100):
                contacts = response.contacts
                if contacts:
                    self.remote_target = contacts[0].uri
            return None
        is_invite = method == "INVITE"
        if is_invite and request.cseq == self._local_invite_cseq:
            self.local_invite_in_progress = False
        if status < 300:
            if is_invite and self.state is DialogState.EARLY:
                self.confirm(response)
            elif method in TARGET_REFRESH_METHODS:
                contacts = response.contacts
                if contacts:
                    self.remote_target = contacts[0].uri
            if method == "BYE":
                self.terminate()
            return None
        if status == 481 or status == 408:
            self.terminate()
            return None
        if is_invite:
            if self.state is DialogState.EARLY:
                self.terminate()  # the creating INVITE failed: its early dialogs end
                return None
            if status == 491:
                return glare_retry_delay(self.role is DialogRole.UAC, rng)
            return None
        if method == "BYE" and status != 401 and status != 407:
            self.terminate()
        return None


class DialogTable:
    """Dialogs by id, plus the early dialogs one INVITE forked into (§12.1.2, §13.2.2.4).

    Keys are (Call-ID, local tag, remote tag): for an incoming request the
    local tag is its To tag and the remote tag its From tag; for a response
    to our request it is the other way round.
    """

    __slots__ = ("_by_id", "_by_local")

    def __init__(self) -> None:
        self._by_id: dict[tuple[str, str, str], Dialog] = {}
        self._by_local: dict[tuple[str, str], list[Dialog]] = {}

    def add(self, dialog: Dialog) -> None:
        did = dialog.id
        old = self._by_id.get(did)
        if old is dialog:
            return
        if old is not None:
            raise ValueError(f"dialog {did} already exists")
        self._by_id[did] = dialog
        self._by_local.setdefault((did.call_id, did.local_tag), []).append(dialog)

    def remove(self, dialog: Dialog) -> None:
        did = dialog.id
        if self._by_id.get(did) is not dialog:
            return
        del self._by_id[did]
        key = (did.call_id, did.local_tag)
        siblings = self._by_local[key]
        siblings.remove(dialog)
        if not siblings:
            del self._by_local[key]

    def find(self, call_id: str, local_tag: str, remote_tag: str) -> Dialog | None:
        return self._by_id.get((call_id, local_tag, remote_tag))

    def find_early(self, call_id: str, local_tag: str) -> list[Dialog]:
        """The early dialogs sharing one Call-ID and local tag (forks of one INVITE)."""
        siblings = self._by_local.get((call_id, local_tag))
        if not siblings:
            return []
        return [d for d in siblings if d.state is DialogState.EARLY]

    def match_request(self, request: Request) -> Dialog | None:
        if request.to_tag is None:
            return None
        return self._by_id.get((request.call_id, request.to_tag, request.from_tag or ""))

    def match_response(self, response: Response) -> Dialog | None:
        if response.from_tag is None:
            return None
        return self._by_id.get((response.call_id, response.from_tag, response.to_tag or ""))

    def apply_invite_response(self, request: Request, response: Response, now: float) -> Dialog | None:
        """Create or advance the UAC dialog a response to our dialog-creating INVITE belongs to.

        1xx with To tag: an early dialog per remote tag (forking). 2xx: confirms
        its early dialog or creates a confirmed one (a second 2xx from another
        fork gets its own dialog: the UA ACKs and BYEs it). A non-2xx final
        terminates and removes every early dialog of the INVITE. Returns the
        dialog the response belongs to, or None.
        """
        status = response.status
        if status >= 300:
            self.terminate_early(request.call_id, request.from_tag or "")
            return None
        if status == 100 or (status < 200 and response.to_tag is None):
            return None
        dialog = self.match_response(response)
        if dialog is None:
            dialog = Dialog.from_uac(request, response, now)
            self.add(dialog)
        else:
            dialog.receive_response(request, response, now)
        return dialog

    def terminate_early(self, call_id: str, local_tag: str) -> list[Dialog]:
        """Terminate and drop the still-early dialogs of one INVITE (its final answer came,
        or 64*T1 passed after the first 2xx, §13.2.2.4). Returns them."""
        ended = self.find_early(call_id, local_tag)
        for dialog in ended:
            dialog.terminate()
            self.remove(dialog)
        return ended

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Dialog]:
        return iter(list(self._by_id.values()))

    def __contains__(self, dialog: object) -> bool:
        return isinstance(dialog, Dialog) and self._by_id.get(dialog.id) is dialog

"""Client library for the call-control WebSocket API (typed; docs/client.md has an example per method).

    async with CallControlClient.connect("ws://127.0.0.1:8445/ws") as c:
        await c.login("demo-corp", "demo-corp-pass")
        await c.enable_api_notifications(i_customer=1)
        calls = await c.get_sip_calls_list(i_customer=1)    # list[CallInfo]
        async for n in c.notifications():
            if n.call_info is not None:
                print(n.seq, n.call_info.state, n.call_info.phone.id)

One awaitable per API method (each method's service comes from the server's
method table, ``callcontrol.api.methods``). Notifications and results are typed objects
(``callcontrol.client_types``: the API's own pydantic models, which also read like the
wire's dicts: ``info["state"]``, ``"event" in info``). Responses are matched by ``cseq``; an error
answer raises a :class:`CallControlError` subclass carrying ``code``,
``message`` and ``details``. When the connection drops, requests in flight
fail with :class:`ConnectionLost` and the client reconnects (exponential
backoff) and sends ``Session.resume`` with the last ``seq`` it saw, so the
missed notifications arrive in order. If the server can no longer replay
them, or the session is gone (then the client logs in again with the
credentials it was given and re-subscribes), the notification stream yields
a ``Notification(action="resync")``: call ``get_sip_calls_list`` again.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl as ssl_module
from collections.abc import AsyncIterator, Generator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from callcontrol.api.methods import METHODS
from callcontrol.client_types import CallInfo, CallRef, Cdr, OriginatedCall, Party, ResumeResult, WireObject

__all__ = [
    "AuthFailedError", "CallControlClient", "CallControlDisabledError", "CallControlError", "CallInfo",
    "CallNotFoundError", "CallRef", "Cdr", "ConnectionLost", "EnvelopeError", "ForbiddenError",
    "InternalServerError", "Notification", "OriginatedCall", "Party", "ResumeResult", "ResyncRequiredError",
    "SessionExpiredError", "UnsupportedMethodError", "WrongParametersError",
]

logger = logging.getLogger(__name__)

EVENT = "sip.call_control_notifications"
# The service of each API method, from the server's method table (the names are unique).
SERVICE_OF: dict[str, str] = {name: service for service, name in METHODS}
assert len(SERVICE_OF) == len(METHODS), "method names are unique across services"
CallRefLike = CallRef | CallInfo | Mapping[str, Any]  # a CallRef, a whole CallInfo (its .call), or {"id", "tag"}
Keys = dict[str, int]
# orjson 3.8 overflows the C stack on very deep nesting (see callcontrol.api.dispatcher); a
# server's frames nest a few levels, however long a calls_list is.
_MAX_DEPTH = 64
_CHEAP_BRACKETS = 1000


def _too_deep(frame: str) -> bool:
    if frame.count("{") + frame.count("[") <= _CHEAP_BRACKETS:
        return False
    depth = 0
    in_string = escaped = False
    for ch in frame:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
            if depth > _MAX_DEPTH:
                return True
        elif ch in "}]":
            depth -= 1
    return False


# --------------------------------------------------------------------------- errors


class CallControlError(Exception):
    """An error answer from the server."""

    code = "error"

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{code}: {message}" + (f" ({details})" if details is not None else ""))
        self.code = code
        self.message = message
        self.details = details


class UnsupportedMethodError(CallControlError):
    pass


class WrongParametersError(CallControlError):
    pass


class InternalServerError(CallControlError):
    pass


class CallNotFoundError(CallControlError):
    pass


class CallControlDisabledError(CallControlError):
    pass


class EnvelopeError(CallControlError):
    pass


class AuthFailedError(CallControlError):
    pass


class SessionExpiredError(CallControlError):
    pass


class ForbiddenError(CallControlError):
    pass


class ResyncRequiredError(CallControlError):
    pass


_ERRORS: dict[str, type[CallControlError]] = {
    "sip.unsupported_method": UnsupportedMethodError,
    "sip.wrong_parameters": WrongParametersError,
    "sip.internal_server_error": InternalServerError,
    "sip.call_not_found": CallNotFoundError,
    "sip.call_control_disabled": CallControlDisabledError,
    "internal_error": EnvelopeError,
    "auth.failed": AuthFailedError,
    "auth.session_expired": SessionExpiredError,
    "auth.forbidden": ForbiddenError,
    "session.resync_required": ResyncRequiredError,
}


def error_from_wire(error: Mapping[str, Any]) -> CallControlError:
    code = str(error.get("code", "error"))
    return _ERRORS.get(code, CallControlError)(code, str(error.get("message", "")), error.get("details"))


class ConnectionLost(ConnectionError):
    """The connection dropped before the answer arrived (the request may or may not have run)."""


# --------------------------------------------------------------------------- notifications


@dataclass(slots=True, frozen=True)
class Notification:
    """One item of the notification stream.

    ``action`` is "update" (a leg changed: ``call_info`` is its :class:`CallInfo`), "overflow"
    (the server cut us off; the client reconnects and resumes by itself) or "resync"
    (notifications were lost: list the calls again). ``seq`` is the server's per-connection
    number (None for the markers); ``raw`` the frame as decoded JSON."""

    action: Literal["update", "overflow", "resync"] | str
    seq: int | None
    call_info: CallInfo | None
    raw: dict[str, Any]

    @property
    def state(self) -> str | None:
        """The leg's state ("ringing", "connected", ...), None for the markers."""
        return self.call_info.state if self.call_info is not None else None


def _resync_marker(reason: str) -> Notification:
    return Notification("resync", None, None, {"action": "resync", "reason": reason})


# --------------------------------------------------------------------------- the client


class CallControlClient:
    """A connection to the API (``connect``), with one awaitable per API method.

    ``ssl``: for wss://; ``reconnect``: reconnect and resume when the connection drops;
    ``request_timeout``/``open_timeout``: seconds; ``reconnect_delay``: (first, max) seconds
    of the backoff; ``notification_buffer``: notifications kept unread before a "resync";
    ``max_size``: the largest frame accepted. ``session_id`` and ``last_seq`` are the state
    a resume needs."""

    def __init__(self, url: str, *, ssl: ssl_module.SSLContext | None = None, reconnect: bool = True,
                 request_timeout: float = 10.0, open_timeout: float = 10.0,
                 reconnect_delay: tuple[float, float] = (0.05, 5.0), notification_buffer: int = 10_000,
                 max_size: int = 16 << 20) -> None:
        self.url = url
        self.ssl = ssl
        self.reconnect = reconnect
        self.request_timeout = request_timeout
        self.open_timeout = open_timeout
        self.reconnect_delay = reconnect_delay
        self.max_size = max_size
        self.session_id: str | None = None
        self.last_seq = 0
        self.reconnects = 0
        self._credentials: tuple[str, str, str | None] | None = None
        self._auth_info: dict[str, Any] | None = None
        self._subscriptions: set[tuple[str, int]] = set()
        self._ws: ClientConnection | None = None
        self._ready = asyncio.Event()
        self._closing = False
        self._cseq = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._queue: asyncio.Queue[Notification] = asyncio.Queue(maxsize=notification_buffer)
        self._runner: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def connect(cls, url: str, **kwargs: Any) -> _Connect:
        """``async with CallControlClient.connect(url) as c`` (or ``c = await ...connect(url)``);
        ``kwargs`` are the constructor's (ssl, reconnect, request_timeout, ...)."""
        return _Connect(cls(url, **kwargs))

    async def open(self) -> None:
        """Open the WebSocket connection (``connect`` does it)."""
        self._ws = await self._dial()
        self._ready.set()
        self._runner = asyncio.create_task(self._run(), name="callcontrol-client")

    async def close(self) -> None:
        """Close for good: no reconnect; requests in flight fail with :class:`ConnectionLost`."""
        self._closing = True
        self._ready.clear()
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        self._fail_pending(ConnectionLost("client closed"))

    @property
    def connected(self) -> bool:
        """Whether requests can be sent now (False while reconnecting)."""
        return self._ready.is_set()

    async def _dial(self) -> ClientConnection:
        return await ws_connect(self.url, ssl=self.ssl, open_timeout=self.open_timeout, compression=None,
                                max_size=self.max_size, ping_interval=20.0, ping_timeout=20.0)

    async def _run(self) -> None:
        assert self._ws is not None
        reader: asyncio.Task[None] | None = asyncio.create_task(self._read_until_closed(self._ws))
        while reader is not None:
            await reader
            self._ready.clear()
            if self._closing or not self.reconnect:
                return
            reader = await self._reconnect()

    async def _reconnect(self) -> asyncio.Task[None] | None:
        """Dial with backoff and restore the session; returns the new reader (None: closing)."""
        delay, delay_max = self.reconnect_delay
        while True:
            await asyncio.sleep(delay)
            delay = min(delay_max, delay * 2)
            if self._closing:
                return None
            try:
                ws = await self._dial()
            except Exception as exc:  # noqa: BLE001 - any failure to dial means "try again later"
                logger.info("reconnect to %s failed: %s", self.url, exc)
                continue
            self._ws = ws
            # Read the answers to our own resume/login before callers may send again.
            reader = asyncio.create_task(self._read_until_closed(ws))
            try:
                await self._restore()
            except (ConnectionLost, CallControlError, TimeoutError) as exc:
                logger.info("restoring the session on %s failed: %s", self.url, exc)
                await ws.close()
                await reader
                continue
            self.reconnects += 1
            self._ready.set()
            return reader

    async def _read_until_closed(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                self._on_frame(frame)
        except ConnectionClosed:
            pass
        finally:
            self._fail_pending(ConnectionLost(f"connection closed ({ws.close_code} {ws.close_reason or ''})"))

    async def _restore(self) -> None:
        """After a reconnect: resume the session's stream, or log in again and re-subscribe."""
        if self.session_id is None:
            return
        try:
            await self._call("Session", "resume", {"session_id": self.session_id, "last_seq": self.last_seq},
                             auth_info=None, ready=False)
            return
        except ResyncRequiredError as exc:
            details = exc.details if isinstance(exc.details, dict) else {}
            self.last_seq = int(details.get("last_seq", self.last_seq))
            self._emit(_resync_marker("the server no longer had the missed notifications"))
            return
        except WrongParametersError:
            return  # never subscribed on that session: nothing to resume
        except SessionExpiredError:
            pass
        if self._credentials is None:
            self.session_id = None
            self._emit(_resync_marker("session expired"))
            return
        login, password, domain = self._credentials
        params: dict[str, Any] = {"login": login, "password": password}
        if domain is not None:
            params["domain"] = domain
        result = await self._call("Session", "login", params, auth_info=None, ready=False)
        self.session_id = result["session_id"]
        self.last_seq = 0
        for kind, value in sorted(self._subscriptions):
            await self._call("CallControl", "enable_api_notifications", {"event": EVENT, kind: value},
                             auth_info={"session_id": self.session_id}, ready=False)
        self._emit(_resync_marker("session expired; logged in again"))

    # ------------------------------------------------------------------ frames

    def _on_frame(self, frame: str | bytes) -> None:
        if isinstance(frame, (bytes, bytearray)):
            frame = bytes(frame).decode("utf-8", "replace")
        if _too_deep(frame):
            logger.warning("dropping a frame nested too deeply")
            return
        try:
            msg = orjson.loads(frame)
        except orjson.JSONDecodeError:
            logger.warning("dropping a frame that is not JSON")
            return
        if not isinstance(msg, dict):
            return
        action = msg.get("action")
        if action is None:
            fut = self._pending.pop(msg.get("cseq"), None)  # type: ignore[arg-type]
            if fut is not None and not fut.done():
                fut.set_result(msg)
            return
        seq = msg.get("seq")
        if isinstance(seq, int):
            if seq <= self.last_seq and action == "update":
                return  # already seen (replayed twice)
            self.last_seq = seq
        result = msg.get("result")
        wire = result.get("call_info") if isinstance(result, dict) else None
        call_info = CallInfo.from_wire(wire) if isinstance(wire, dict) else None
        self._emit(Notification(str(action), seq if isinstance(seq, int) else None, call_info, msg))

    def _emit(self, n: Notification) -> None:
        try:
            self._queue.put_nowait(n)
        except asyncio.QueueFull:
            # The application does not keep up: drop what it has not read and tell it to resync.
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(_resync_marker("local notification buffer overflowed"))

    def _fail_pending(self, exc: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(exc)

    async def notifications(self) -> AsyncIterator[Notification]:
        """Notifications as they arrive (including "overflow" and "resync" markers)."""
        while True:
            yield await self._queue.get()

    async def next_notification(self, timeout: float | None = None) -> Notification:
        """The next notification (or marker); TimeoutError after ``timeout`` seconds."""
        return await asyncio.wait_for(self._queue.get(), timeout)

    # ------------------------------------------------------------------ requests

    async def _call(self, service: str, method: str, params: Mapping[str, Any] | None, *,
                    auth_info: Mapping[str, Any] | None, dry_run: bool = False, ready: bool = True,
                    timeout: float | None = None) -> dict[str, Any]:
        timeout = self.request_timeout if timeout is None else timeout
        async with asyncio.timeout(timeout):
            if ready:
                await self._ready.wait()
            ws = self._ws
            if ws is None:
                raise ConnectionLost("not connected")
            cseq = next(self._cseq)
            msg: dict[str, Any] = {"cseq": cseq, "service": service, "method": method, "params": params or {}}
            if auth_info is not None:
                msg["auth_info"] = auth_info
            if dry_run:
                msg["aux_info"] = {"dry_run": 1}
            fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._pending[cseq] = fut
            try:
                await ws.send(orjson.dumps(msg), text=True)
                response = await fut
            except ConnectionClosed as exc:
                raise ConnectionLost(str(exc)) from None
            finally:
                self._pending.pop(cseq, None)
        if response.get("success") == 1:
            result = response.get("result")
            return result if isinstance(result, dict) else {}
        raise error_from_wire(response.get("error") or {})

    def _auth(self) -> dict[str, Any] | None:
        if self.session_id is not None:
            return {"session_id": self.session_id}
        return self._auth_info

    async def request(self, service: str, method: str, params: Mapping[str, Any] | None = None, *,
                      dry_run: bool = False, timeout: float | None = None) -> dict[str, Any]:
        """Any method; returns the ``result`` object or raises CallControlError."""
        return await self._call(service, method, params, auth_info=self._auth(), dry_run=dry_run,
                                timeout=timeout)

    async def send_without_cseq(self, service: str, method: str, params: Mapping[str, Any] | None = None) -> None:
        """Fire and forget: the server runs it and answers nothing."""
        await asyncio.wait_for(self._ready.wait(), self.request_timeout)
        assert self._ws is not None
        msg: dict[str, Any] = {"service": service, "method": method, "params": params or {}}
        auth = self._auth()
        if auth is not None:
            msg["auth_info"] = auth
        await self._ws.send(orjson.dumps(msg), text=True)

    # ------------------------------------------------------------------ Session

    async def login(self, login: str, password: str, domain: str | None = None, *,
                    remember: bool = True) -> str:
        """Start a session; with ``remember`` the client logs in again by itself if it expires."""
        params: dict[str, Any] = {"login": login, "password": password}
        if domain is not None:
            params["domain"] = domain
        result = await self._call("Session", "login", params, auth_info=None)
        self.session_id = result["session_id"]
        self._credentials = (login, password, domain) if remember else None
        return self.session_id

    def use_credentials(self, login: str, password: str, domain: str | None = None) -> None:
        """Authenticate every request with ``auth_info {login, password}`` instead of a session."""
        self._auth_info = {"login": login, "password": password}
        if domain is not None:
            self._auth_info["domain"] = domain

    async def logout(self) -> None:
        """End the session and its subscriptions (and forget the credentials)."""
        await self.request("Session", "logout")
        self.session_id = None
        self._credentials = None
        self._subscriptions.clear()

    async def resume(self, session_id: str | None = None, last_seq: int | None = None) -> ResumeResult:
        """Take over a session's notification stream on this connection (done by itself on reconnect):
        the notifications after ``last_seq`` (default: the last one seen) are replayed behind the answer."""
        sid = session_id or self.session_id
        result = await self._call("Session", "resume",
                                  {"session_id": sid, "last_seq": self.last_seq if last_seq is None else last_seq},
                                  auth_info=None)
        self.session_id = sid
        return ResumeResult.from_wire(result)

    # ------------------------------------------------------------------ CallControl

    async def _method(self, name: str, **params: Any) -> dict[str, Any]:
        """Call the API method ``name`` (its service from the server's method table) with ``params``:
        ``None`` values are left out, call references are sent as ``{id, tag}``."""
        return await self.request(SERVICE_OF[name], name, _wire_params(params))

    async def enable_api_notifications(self, *, i_account: int | None = None, i_customer: int | None = None,
                                       i_main_office: int | None = None, i_ivr_an: int | None = None) -> None:
        """Subscribe this connection to the call state notifications of an extension (``i_account``),
        a customer (``i_customer``), a main office and its branches (``i_main_office``) or an IVR
        access number (``i_ivr_an``); at least one. Remembered for re-subscribing after a re-login."""
        keys = _wire_params({"i_account": i_account, "i_customer": i_customer, "i_main_office": i_main_office,
                             "i_ivr_an": i_ivr_an})
        await self._method("enable_api_notifications", event=EVENT, **keys)
        self._subscriptions.update(keys.items())

    async def disable_api_notifications(self, *, i_account: int | None = None, i_customer: int | None = None,
                                        i_main_office: int | None = None, i_ivr_an: int | None = None) -> None:
        """Unsubscribe what :meth:`enable_api_notifications` subscribed (the same keys)."""
        keys = _wire_params({"i_account": i_account, "i_customer": i_customer, "i_main_office": i_main_office,
                             "i_ivr_an": i_ivr_an})
        await self._method("disable_api_notifications", event=EVENT, **keys)
        self._subscriptions.difference_update(keys.items())

    async def get_sip_calls_list(self, *, i_account: int | None = None, i_customer: int | None = None,
                                 i_main_office: int | None = None, i_ivr_an: int | None = None
                                 ) -> list[CallInfo]:
        """The legs in progress for the keys given (no subscription needed)."""
        result = await self._method("get_sip_calls_list", i_account=i_account, i_customer=i_customer,
                                    i_main_office=i_main_office, i_ivr_an=i_ivr_an)
        return [CallInfo.from_wire(c) for c in result.get("calls_list", [])]

    async def get_cdr_list(self, *, i_account: int | None = None, i_customer: int | None = None,
                           from_date: str | None = None, to_date: str | None = None, limit: int | None = None,
                           offset: int | None = None) -> list[Cdr]:
        """CDRs billed to what this session may see; ``from_date``/``to_date``: ISO-8601 or dates."""
        result = await self._method("get_cdr_list", i_account=i_account, i_customer=i_customer,
                                    from_date=from_date, to_date=to_date, limit=limit, offset=offset)
        return [Cdr.from_wire(c) for c in result.get("cdr_list", [])]

    async def originate_advanced_call(self, bill_id: str, caller_id: str, callee_id: str, *,
                                      callee_auto_pickup: bool = False) -> OriginatedCall:
        """Call ``caller_id`` (leg A; it answers by itself with ``callee_auto_pickup``), then, once it
        answers, ``callee_id`` (leg B), billed to ``bill_id``. Returns the new call (its ``id``)."""
        result = await self._method("originate_advanced_call", bill_id=bill_id, caller_id=caller_id,
                                    callee_id=callee_id, callee_auto_pickup="Y" if callee_auto_pickup else "N")
        return OriginatedCall.from_wire(result["call"])

    async def answer_call(self, call: CallRefLike, transport_id: str | None = None, *,
                          callee_answer_mode: Literal["Notify", "Invite"] | None = None) -> None:
        """Answer a ringing leg from the application (Notify: NOTIFY Event: talk; Invite: a new
        INVITE with auto-answer headers; default: Notify when the phone supports it)."""
        await self._method("answer_call", call=call, transport_id=transport_id,
                           callee_answer_mode=callee_answer_mode)

    async def terminate_call(self, call: CallRefLike, transport_id: str | None = None) -> None:
        """Hang up the leg and end its call (without a tag: the whole call)."""
        await self._method("terminate_call", call=call, transport_id=transport_id)

    async def hold_call(self, call: CallRefLike, transport_id: str | None = None) -> None:
        """Put the leg's call on hold (the leg shows holding, the other held); returns once it happened."""
        await self._method("hold_call", call=call, transport_id=transport_id)

    async def unhold_call(self, call: CallRefLike, transport_id: str | None = None) -> None:
        """Take the call off hold: both legs back to connected."""
        await self._method("unhold_call", call=call, transport_id=transport_id)

    async def transfer_call(self, call: CallRefLike, cld: str, transport_id: str | None = None) -> None:
        """Blind transfer: ``call`` (the transferor's leg) ends, its far party is connected to ``cld``."""
        await self._method("transfer_call", call=call, transport_id=transport_id, cld=cld)

    async def join_calls(self, call: CallRefLike, to_call: CallRefLike, transport_id: str | None = None) -> None:
        """Attended transfer: ``call`` and ``to_call`` are the transferor's two legs; they end and their
        far parties are bridged."""
        await self._method("join_calls", call=call, transport_id=transport_id, to_call=to_call)

    async def play_prompt(self, call: CallRefLike, url: str, *, order: Literal[2, 3] = 2, repeat: int = 1,
                          transport_id: str | None = None) -> None:
        """Play ``url``.au (or .g729) to the leg in slot ``order`` (3 plays over 2), ``repeat`` times
        (-1: forever); a play_prompt_completed notification follows."""
        await self._method("play_prompt", call=call, transport_id=transport_id, url=url, order=order,
                           repeat=repeat)

    async def stop_play_prompt(self, call: CallRefLike, *, order: Literal[2, 3] = 2,
                               transport_id: str | None = None) -> None:
        """Stop the prompt in slot ``order``."""
        await self._method("stop_play_prompt", call=call, transport_id=transport_id, order=order)

    async def start_dtmf_detect(self, call: CallRefLike, transport_id: str | None = None) -> None:
        """Report each DTMF digit of the leg as a dtmf_digit_detected notification."""
        await self._method("start_dtmf_detect", call=call, transport_id=transport_id)

    async def stop_dtmf_detect(self, call: CallRefLike, transport_id: str | None = None) -> None:
        """Stop reporting DTMF digits."""
        await self._method("stop_dtmf_detect", call=call, transport_id=transport_id)


def _wire_params(params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, CallInfo):  # a whole leg: its reference
            value = value.call
        if isinstance(value, Mapping) and "id" in value:  # a call reference: {id, tag} and nothing else
            value = {"id": value["id"], **({"tag": value["tag"]} if value.get("tag") is not None else {})}
        out[name] = value.to_wire() if isinstance(value, WireObject) else value
    return out


class _Connect:
    """What :meth:`CallControlClient.connect` returns: awaitable and an async context manager."""

    def __init__(self, client: CallControlClient) -> None:
        self.client = client

    async def _open(self) -> CallControlClient:
        await self.client.open()
        return self.client

    def __await__(self) -> Generator[Any, None, CallControlClient]:
        return self._open().__await__()

    async def __aenter__(self) -> CallControlClient:
        return await self._open()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.client.close()

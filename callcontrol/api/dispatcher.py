"""JSON-RPC request handling: envelope, authentication, validation, dispatch, encoding.

One call of :meth:`Dispatcher.serve` handles one frame from one connection
and returns nothing: responses are queued on the connection (none when the
request has no ``cseq``). Order of checks: envelope -> method -> auth ->
params -> dry_run -> scope/backend. A command's notifications are held back
by the connection's barrier until its response is queued (see
``callcontrol.api.ordering``).
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import ValidationError

from callcontrol.api import models as api
from callcontrol.api.models import (
    ApiError,
    AuthFailed,
    CallControlDisabled,
    EnvelopeError,
    Forbidden,
    InternalServerError,
    MethodSpec,
    ResyncRequired,
    UnsupportedMethod,
    WrongParameters,
)
from callcontrol.api.ordering import current_command
from callcontrol.api.sessions import Session
from callcontrol.model.callinfo import CallId

if TYPE_CHECKING:
    from callcontrol.ws.hub import Connection, Hub

logger = logging.getLogger(__name__)

_MISSING = object()
# orjson 3.8 recurses without a limit and overflows the C stack (a crash, not an
# exception) on a few hundred thousand nested brackets, which fit in one frame.
# A request has a handful; counting is C-speed and bounds the depth.
MAX_BRACKETS = 1000
_DRY_RUN_TRUE = (1, True, "1", "Y", "y", "true")


@dataclass(slots=True)
class Envelope:
    cseq: Any  # _MISSING when absent: no response
    service: Any
    method: Any
    params: Any
    auth_info: Any
    aux_info: Any


def parse_envelope(frame: str | bytes) -> Envelope:
    """Strict JSON, one object per frame; raises EnvelopeError otherwise."""
    if isinstance(frame, (bytes, bytearray, memoryview)):
        raise EnvelopeError({"reason": "binary frames are not accepted; send JSON in a text frame"})
    if len(frame) > MAX_BRACKETS and frame.count("{") + frame.count("[") > MAX_BRACKETS:
        raise EnvelopeError({"reason": "frame nests too many objects or arrays"})
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError({"reason": f"frame is not valid JSON: {exc}"}) from None
    if not isinstance(obj, dict):
        raise EnvelopeError({"reason": f"frame is a JSON {type(obj).__name__}, not an object"})
    cseq = obj.get("cseq", _MISSING)
    if cseq is None:
        cseq = _MISSING
    return Envelope(cseq, obj.get("service"), obj.get("method"), obj.get("params", _MISSING),
                    obj.get("auth_info"), obj.get("aux_info"))


def _dump_cseq(cseq: Any) -> bytes:
    return orjson.dumps(None if cseq is _MISSING else cseq)


def encode_success(cseq: Any, result: dict[str, Any]) -> bytes:
    result["success"] = 1
    return orjson.dumps({"cseq": None if cseq is _MISSING else cseq, "result": result, "success": 1})


def encode_error(cseq: Any, error: ApiError) -> bytes:
    return orjson.dumps({"cseq": None if cseq is _MISSING else cseq, "error": error.to_wire(), "success": 0})


def encode_calls_list(cseq: Any, encoded_calls: list[bytes]) -> bytes:
    # Each CallInfo is already encoded (and shared with the notification path): splice.
    return b"".join((b'{"cseq":', _dump_cseq(cseq), b',"result":{"calls_list":[', b",".join(encoded_calls),
                     b'],"success":1},"success":1}'))


@dataclass(slots=True)
class Outcome:
    """What a handler produced: a result object or pre-encoded response, and frames to send after it."""

    result: dict[str, Any] | None = None
    encoded: bytes | None = None  # full response frame, cseq included
    after: list[bytes] | None = None


Handler = Callable[["Connection", Session | None, Any, Any], Awaitable[Outcome]]


class Dispatcher:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._handlers: dict[str, Handler] = {
            "Session.login": self._login,
            "Session.logout": self._logout,
            "Session.resume": self._resume,
            "CallControl.enable_api_notifications": self._enable,
            "CallControl.disable_api_notifications": self._disable,
            "CallControl.get_sip_calls_list": self._calls_list,
            "CallControl.originate_advanced_call": self._originate,
            "CallControl.answer_call": self._leg_command("answer"),
            "CallControl.terminate_call": self._leg_command("terminate"),
            "CallControl.hold_call": self._leg_command("hold"),
            "CallControl.unhold_call": self._leg_command("unhold"),
            "CallControl.transfer_call": self._leg_command("transfer"),
            "CallControl.join_calls": self._leg_command("join"),
            "CallControl.play_prompt": self._leg_command("play_prompt"),
            "CallControl.stop_play_prompt": self._leg_command("stop_play_prompt"),
            "CallControl.start_dtmf_detect": self._leg_command("start_dtmf_detect"),
            "CallControl.stop_dtmf_detect": self._leg_command("stop_dtmf_detect"),
        }
        missing = {s.full_name for s in api.METHODS.values()} - set(self._handlers)
        assert not missing, f"methods without handlers: {missing}"

    # ------------------------------------------------------------------ the pipeline

    async def serve(self, conn: Connection, frame: str | bytes) -> None:
        self.hub.counters["requests"] += 1
        try:
            env = parse_envelope(frame)
        except EnvelopeError as exc:
            self.hub.counters["errors"] += 1
            conn.enqueue(encode_error(_MISSING, exc))
            return
        cseq = env.cseq
        spec: MethodSpec | None = None
        cmd = None
        try:
            if cseq is not _MISSING and (isinstance(cseq, bool) or not isinstance(cseq, (int, float, str))):
                raise EnvelopeError([{"field": "cseq", "message": "cseq must be a number or a string"}])
            spec = self._spec(env)
            session = await self._authenticate(conn, env) if spec.auth else None
            params = self._params(spec, env.params)
            if self._dry_run(env.aux_info):
                outcome = Outcome({"dry_run": 1, "params": params.model_dump(mode="json")})
            else:
                if spec.command:
                    if spec.name in self.hub.disabled_methods:
                        raise CallControlDisabled({"method": spec.name})
                    cmd = conn.barrier.begin(_base_ids(params), spec.creates_call)
                    token = current_command.set(cmd)
                    try:
                        outcome = await self._handlers[spec.full_name](conn, session, params, cseq)
                    finally:
                        current_command.reset(token)
                else:
                    outcome = await self._handlers[spec.full_name](conn, session, params, cseq)
            if cseq is not _MISSING:
                conn.enqueue(outcome.encoded if outcome.encoded is not None
                             else encode_success(cseq, outcome.result or {}))
            if outcome.after:
                conn.enqueue_many(outcome.after)
        except ApiError as exc:
            self.hub.counters["errors"] += 1
            if cseq is not _MISSING:
                conn.enqueue(encode_error(cseq, exc))
        except Exception:
            self.hub.counters["errors"] += 1
            correlation_id = secrets.token_hex(8)
            logger.exception("internal error %s serving %s", correlation_id,
                             spec.full_name if spec is not None else "request")
            if cseq is not _MISSING:
                conn.enqueue(encode_error(cseq, InternalServerError({"correlation_id": correlation_id})))
        finally:
            if cmd is not None:
                conn.finish_command(cmd)

    def _spec(self, env: Envelope) -> MethodSpec:
        service, method = env.service, env.method
        spec = api.METHODS.get((service, method)) if isinstance(service, str) and isinstance(method, str) \
            else None
        if spec is None:
            raise UnsupportedMethod({"service": service if isinstance(service, str) else None,
                                     "method": method if isinstance(method, str) else None})
        return spec

    def _params(self, spec: MethodSpec, raw: Any) -> Any:
        if raw is _MISSING or raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise WrongParameters.field("params", "params must be an object")
        try:
            return spec.params.model_validate(raw)
        except ValidationError as exc:
            raise WrongParameters(api.validation_details(exc)) from None

    @staticmethod
    def _dry_run(aux: Any) -> bool:
        if aux is None:
            return False
        if not isinstance(aux, dict):
            raise WrongParameters.field("aux_info", "aux_info must be an object")
        return aux.get("dry_run") in _DRY_RUN_TRUE

    async def _authenticate(self, conn: Connection, env: Envelope) -> Session:
        ai = env.auth_info
        if ai is None:
            raise AuthFailed({"reason": "auth_info is required (session_id, or login and password)"})
        if not isinstance(ai, dict):
            raise AuthFailed({"reason": "auth_info must be an object"})
        sid = ai.get("session_id")
        if sid is not None:
            if not isinstance(sid, str):
                raise AuthFailed({"reason": "auth_info.session_id must be a string"})
            session = self.hub.sessions.lookup(sid)
            conn.use_session(session)
            return session
        login, password, domain = ai.get("login"), ai.get("password"), ai.get("domain")
        if not isinstance(login, str) or not login or not isinstance(password, str) \
                or (domain is not None and not isinstance(domain, str)):
            raise AuthFailed({"reason": "auth_info needs session_id, or login and password strings"})
        principal = await self.hub.sessions.authenticate(login, password, domain, conn.remote_ip)
        return conn.credential_session(principal)

    # ------------------------------------------------------------------ Session

    async def _login(self, conn: Connection, _: Session | None, p: api.LoginParams, cseq: Any) -> Outcome:
        session = await self.hub.sessions.login(p.login, p.password, p.domain, conn.remote_ip)
        conn.use_session(session)
        return Outcome({"session_id": session.id})

    async def _logout(self, conn: Connection, session: Session | None, p: Any, cseq: Any) -> Outcome:
        assert session is not None
        if not session.ephemeral:
            self.hub.sessions.end(session)
        return Outcome({})

    async def _resume(self, conn: Connection, _: Session | None, p: api.ResumeParams, cseq: Any) -> Outcome:
        session = self.hub.sessions.lookup(p.session_id)
        conn.use_session(session)
        feed = conn.take_feed(session)
        frames = feed.replay_after(p.last_seq)
        if frames is None:
            raise ResyncRequired({
                "reason": "missed notifications are no longer buffered",
                "last_seq": feed.seq, "oldest_seq": feed.oldest_seq,
                "resync_with": "CallControl.get_sip_calls_list",
                "subscriptions": "active on this connection",
            })
        return Outcome({"replayed": len(frames), "last_seq": feed.seq}, after=frames)

    # ------------------------------------------------------------------ subscriptions

    async def _enable(self, conn: Connection, session: Session | None,
                      p: api.EnableApiNotificationsParams, cseq: Any) -> Outcome:
        assert session is not None
        keys = p.routing_keys()
        denied = [{"field": f"params.{kind}", "message": "not found or not in your scope"}
                  for kind, value in keys if not session.scope.covers_key(kind, value)]
        if denied:
            raise Forbidden(denied)
        feed = conn.ensure_feed()
        self.hub.router.subscribe(feed, session.id, keys)
        session.feeds.add(feed)
        return Outcome({})

    async def _disable(self, conn: Connection, session: Session | None,
                       p: api.DisableApiNotificationsParams, cseq: Any) -> Outcome:
        assert session is not None
        feed = conn.feed
        if feed is not None:
            self.hub.router.unsubscribe(feed, session.id, p.routing_keys())
        return Outcome({})

    async def _calls_list(self, conn: Connection, session: Session | None,
                          p: api.GetSipCallsListParams, cseq: Any) -> Outcome:
        assert session is not None
        scope = session.scope
        keys = [k for k in p.routing_keys() if scope.covers_key(*k)]
        if not keys:
            return Outcome(encoded=encode_calls_list(cseq, []))
        offset = self.hub.time_offset
        encoded = []
        for info in await self.hub.backend.list_calls(p, scope):
            own = info.routing_keys()
            if any(k in own for k in keys) and scope.covers_call(info):
                encoded.append(info.encoded(offset))
        return Outcome(encoded=encode_calls_list(cseq, encoded))

    # ------------------------------------------------------------------ commands

    async def _originate(self, conn: Connection, session: Session | None,
                         p: api.OriginateAdvancedCallParams, cseq: Any) -> Outcome:
        assert session is not None
        if session.scope.covers_bill_account(p.bill_id) is None:
            raise WrongParameters.field("params.bill_id", "unknown account")
        call: CallId = await self.hub.backend.originate(p, session.scope)
        return Outcome({"call": {"id": call.id}})

    def _leg_command(self, backend_method: str) -> Handler:
        async def handle(conn: Connection, session: Session | None, p: Any, cseq: Any) -> Outcome:
            assert session is not None
            scope = session.scope
            self.hub.check_leg(p.call, p.transport_id, scope)
            to_call = getattr(p, "to_call", None)
            if to_call is not None:
                self.hub.check_leg(to_call, p.transport_id, scope)
            await getattr(self.hub.backend, backend_method)(p, scope)
            return Outcome({})

        handle.__name__ = f"_{backend_method}"
        return handle


def _base_ids(params: Any) -> list[str]:
    ids = []
    for name in ("call", "to_call"):
        ref = getattr(params, name, None)
        if ref is not None:
            ids.append(CallId(ref.id).base_id)
    return ids


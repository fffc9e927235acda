"""JSON-RPC request handling: envelope, authentication, validation, dispatch, encoding.

One call of :meth:`Dispatcher.serve` handles one frame from one connection (its
:class:`~callcontrol.api.client_context.ClientContext`) and returns a :class:`Reply`:
the encoded response (None when the request has no ``cseq``) and the frames to
send right behind it. It sends nothing itself and knows no transport. Order of
checks: envelope -> method -> auth -> params -> dry_run -> handler (which finds
the leg, checks scope and calls the engine). The handler comes from the method
table (``callcontrol.api.methods``); engine refusals are mapped in
``callcontrol.api.action_errors``.

Response before notifications: while a command's handler runs, the connection's
barrier holds back the notifications it causes (``callcontrol.api.ordering``);
when it is done they are numbered and returned in ``Reply.after``, so the
transport, sending the reply in order without awaiting in between, puts the
response first.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import ValidationError

from callcontrol.actions.errors import ActionError
from callcontrol.api import models as api
from callcontrol.api.action_errors import api_error
from callcontrol.api.methods import METHODS, MethodSpec, Outcome, Request
from callcontrol.api.models import (
    ApiError,
    AuthFailed,
    CallControlDisabled,
    EnvelopeError,
    InternalServerError,
    UnsupportedMethod,
    WrongParameters,
)
from callcontrol.api.ordering import current_command
from callcontrol.api.sessions import Session
from callcontrol.model.callinfo import CallId

if TYPE_CHECKING:
    from callcontrol.api.client_context import ClientContext
    from callcontrol.api.service import CallControlApi

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
class Reply:
    """What to send for one request, in this order: ``response`` (None: no cseq), then ``after``."""

    response: bytes | None = None
    after: list[bytes] = field(default_factory=list)  # replayed or held-back notifications


class Dispatcher:
    def __init__(self, api: CallControlApi) -> None:
        self.api = api

    # ------------------------------------------------------------------ the pipeline

    async def serve(self, client: ClientContext, frame: str | bytes) -> Reply:
        counters = self.api.counters
        counters["requests"] += 1
        try:
            env = parse_envelope(frame)
        except EnvelopeError as exc:
            counters["errors"] += 1
            return Reply(encode_error(_MISSING, exc))
        cseq = env.cseq
        answer = cseq is not _MISSING
        spec: MethodSpec | None = None
        cmd = None
        session = None
        result = "ok"
        reply = Reply()
        try:
            if answer and (isinstance(cseq, bool) or not isinstance(cseq, (int, float, str))):
                raise EnvelopeError([{"field": "cseq", "message": "cseq must be a number or a string"}])
            spec = self._spec(env)
            session = await self._authenticate(client, env) if spec.auth else None
            params = self._params(spec, env.params)
            if self._dry_run(env.aux_info):
                raw = env.params if isinstance(env.params, dict) else {}
                outcome: Outcome | None = Outcome({"dry_run": 1, "params": params.model_dump(mode="json"),
                                                   "ignored": api.ignored_keys(spec.params, raw)})
            elif spec.command:
                if spec.name in self.api.disabled_methods:
                    raise CallControlDisabled({"method": spec.name})
                cmd = client.begin_command(_base_ids(params), spec.creates_call)
                token = current_command.set(cmd)
                try:
                    outcome = await self._run(spec, Request(self.api, client, session), params)
                finally:
                    current_command.reset(token)
            else:
                outcome = await self._run(spec, Request(self.api, client, session), params)
            if outcome is None:
                outcome = Outcome()
            if answer:
                reply.response = (encode_calls_list(cseq, outcome.calls_list) if outcome.calls_list is not None
                                  else encode_success(cseq, outcome.result or {}))
            if outcome.after:
                reply.after = outcome.after
        except ApiError as exc:
            counters["errors"] += 1
            result = str(exc.code)
            if answer:
                reply.response = encode_error(cseq, exc)
        except Exception:
            counters["errors"] += 1
            result = str(InternalServerError.code)
            correlation_id = secrets.token_hex(8)
            logger.exception("internal error %s serving %s", correlation_id,
                             spec.full_name if spec is not None else "request")
            if answer:
                reply.response = encode_error(cseq, InternalServerError({"correlation_id": correlation_id}))
        finally:
            if cmd is not None:
                # The response is decided: what the command held back goes right behind it.
                reply.after.extend(client.finish_command(cmd))
            name = spec.full_name if spec is not None else "unknown"
            key = (name, result)
            by_method = self.api.requests_by_method
            by_method[key] = by_method.get(key, 0) + 1
            if spec is not None and spec.command and logger.isEnabledFor(logging.INFO):
                login = session.principal.login if session is not None else "-"
                logger.info("API %s by %s from %s: %s", name, login, client.remote_ip or "-", result,
                            extra={"event": "api_command", "method": name, "login": login,
                                   "source": client.remote_ip, "outcome": result})
        return reply

    @staticmethod
    async def _run(spec: MethodSpec, req: Request, params: Any) -> Outcome | None:
        try:
            return await spec.handler(req, params)
        except ActionError as exc:
            logger.info("%s refused: %s", spec.full_name, exc.message)
            raise api_error(exc, params) from exc

    @staticmethod
    def _spec(env: Envelope) -> MethodSpec:
        service, method = env.service, env.method
        spec = METHODS.get((service, method)) if isinstance(service, str) and isinstance(method, str) else None
        if spec is None:
            raise UnsupportedMethod({"service": service if isinstance(service, str) else None,
                                     "method": method if isinstance(method, str) else None})
        return spec

    @staticmethod
    def _params(spec: MethodSpec, raw: Any) -> Any:
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

    async def _authenticate(self, client: ClientContext, env: Envelope) -> Session:
        ai = env.auth_info
        if ai is None:
            raise AuthFailed({"reason": "auth_info is required (session_id, or login and password)"})
        if not isinstance(ai, dict):
            raise AuthFailed({"reason": "auth_info must be an object"})
        sessions = self.api.sessions
        sid = ai.get("session_id")
        if sid is not None:
            if not isinstance(sid, str):
                raise AuthFailed({"reason": "auth_info.session_id must be a string"})
            session = sessions.lookup(sid)
            client.use_session(session)
            return session
        login, password, domain = ai.get("login"), ai.get("password"), ai.get("domain")
        if not isinstance(login, str) or not login or not isinstance(password, str) \
                or (domain is not None and not isinstance(domain, str)):
            raise AuthFailed({"reason": "auth_info needs session_id, or login and password strings"})
        principal = await sessions.authenticate(login, password, domain, client.remote_ip)
        return client.credential_session(principal)


def _base_ids(params: Any) -> list[str]:
    ids = []
    for name in ("call", "to_call"):
        ref = getattr(params, name, None)
        if ref is not None:
            ids.append(CallId(ref.id).base_id)
    return ids

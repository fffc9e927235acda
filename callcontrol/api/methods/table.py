"""The method table: one entry per API method, made by registering its handler.

A handler is registered with :func:`method` (its service, name, params and result
models, flags); the entry *is* the handler, so there is no method without one. The
dispatcher looks methods up here, :func:`api_schema` exports the same table as JSON
Schema, and ``callcontrol.client`` finds each method's service here.

A handler gets a :class:`Request` (the API, the connection's context, the session)
and the validated params, and returns an :class:`Outcome` (None: ``{"success": 1}``).
It raises :class:`~callcontrol.api.models.ApiError` or lets an engine's
:class:`~callcontrol.actions.errors.ActionError` through; the dispatcher maps the
latter (``callcontrol.api.action_errors``).
"""
from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from callcontrol.api.legs import one_leg, visible_legs
from callcontrol.api.ordering import current_command
from callcontrol.api.models import (
    ERROR_MESSAGES,
    CallControlDisabled,
    CallRef,
    DryRunResult,
    ErrorResponse,
    Notification,
    OverflowNotice,
    RequestEnvelope,
    SuccessResult,
)

if TYPE_CHECKING:
    from callcontrol.actions.engine import CallEngine
    from callcontrol.api.client_context import ClientContext
    from callcontrol.api.service import CallControlApi
    from callcontrol.api.sessions import Session
    from callcontrol.model.calls import Leg
    from callcontrol.model.scope import Scope

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Outcome:
    """What a handler produced: a result object (or already encoded calls) and frames to send after it."""

    result: dict[str, Any] | None = None
    calls_list: list[bytes] | None = None  # encoded SIPCallInfo objects, spliced into the response
    after: list[bytes] | None = None  # e.g. the notifications a resume replays


@dataclass(slots=True)
class Request:
    """What a handler may use: the API, the connection's API state, the caller's session."""

    api: CallControlApi
    client: ClientContext
    session: Session | None  # None only for methods registered with auth=False

    @property
    def scope(self) -> Scope:
        assert self.session is not None, "an auth=False method has no scope"
        return self.session.scope

    @property
    def engine(self) -> CallEngine:
        engine = self.api.engine
        if engine is None:
            raise CallControlDisabled({"reason": "no B2BUA attached"})
        return engine

    def leg(self, ref: CallRef, transport_id: str | None, field: str = "params.call") -> Leg:
        """The one live leg ``ref`` names that this session may see (see ``callcontrol.api.legs``)."""
        leg = one_leg(self.api.registry, ref, transport_id, self.scope, field)
        _relate(leg)
        return leg

    def legs(self, ref: CallRef, transport_id: str | None) -> list[Leg]:
        legs = visible_legs(self.api.registry, ref, transport_id, self.scope)
        for leg in legs:
            _relate(leg)
        return legs


def _relate(leg: Leg) -> None:
    """A command about ``leg`` holds back that call's notifications until it is answered, also
    when the ref named the leg by its dialog (a SIP Call-ID that is not the call's id)."""
    cmd = current_command.get()
    if cmd is not None:
        cmd.relate(leg.call.base_id)


Handler = Callable[[Request, Any], Awaitable[Outcome | None]]


@dataclass(frozen=True, slots=True)
class MethodSpec:
    service: str
    name: str
    params: type[BaseModel]
    result: type[BaseModel]
    handler: Handler
    auth: bool = True
    command: bool = False  # drives a call: switchable off, and ordered before its notifications
    creates_call: bool = False  # its call is new: see callcontrol.api.ordering

    @property
    def full_name(self) -> str:
        return f"{self.service}.{self.name}"


METHODS: dict[tuple[str, str], MethodSpec] = {}


def method(service: str, name: str, params: type[BaseModel], result: type[BaseModel] = SuccessResult, *,
           auth: bool = True, command: bool = False, creates_call: bool = False) -> Callable[[Handler], Handler]:
    """Register the decorated coroutine as the handler of ``service.name``."""
    def register(handler: Handler) -> Handler:
        if (service, name) in METHODS:
            raise ValueError(f"{service}.{name} has a handler already")
        METHODS[(service, name)] = MethodSpec(service, name, params, result, handler, auth, command, creates_call)
        return handler
    return register


async def settle(result: Awaitable[None] | None) -> None:
    """Await what an engine method returned, when it is awaitable (the engine may make any method async)."""
    if inspect.isawaitable(result):
        await result


def tidy_descriptions(schema: Any) -> Any:
    """``schema`` with every description on one line (field docstrings wrap at the source's width)."""
    if isinstance(schema, dict):
        return {k: " ".join(v.split()) if k == "description" and isinstance(v, str) else tidy_descriptions(v)
                for k, v in schema.items()}
    if isinstance(schema, list):
        return [tidy_descriptions(v) for v in schema]
    return schema


def api_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) document describing the whole API."""
    specs = list(METHODS.values())
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = []
    for spec in specs:
        models.append((spec.params, "validation"))
        models.append((spec.result, "serialization"))
    for extra in (RequestEnvelope, ErrorResponse, Notification, OverflowNotice, DryRunResult):
        models.append((extra, "validation"))
    refs, top = models_json_schema(models, ref_template="#/$defs/{model}")
    defs = tidy_descriptions(top.get("$defs", {}))

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return refs[(model, mode)]  # type: ignore[index]

    methods = {}
    for spec in specs:
        methods[spec.full_name] = {
            "service": spec.service,
            "method": spec.name,
            "auth_required": spec.auth,
            "params": ref(spec.params, "validation"),
            "result": ref(spec.result, "serialization"),
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "callcontrol WebSocket JSON-RPC API (PortaSIP Call Control compatible)",
        "description": "Text frames, one JSON object per frame, on ws://HOST:PORT/ws and /ws/CallControl. "
                       "Success: {cseq, result: {..., success: 1}, success: 1}; "
                       "error: {cseq, error: {code, message, details}, success: 0}. "
                       "The same API as an AsyncAPI 3 document: GET /api/asyncapi.json on the HTTP listener, "
                       "or `callcontrol api-schema --asyncapi`.",
        "request": ref(RequestEnvelope, "validation"),
        "error_response": ref(ErrorResponse, "validation"),
        "dry_run_result": ref(DryRunResult, "validation"),
        "notification": ref(Notification, "validation"),
        "overflow_notice": ref(OverflowNotice, "validation"),
        "error_codes": {str(code): msg for code, msg in ERROR_MESSAGES.items()},
        "methods": methods,
        "$defs": defs,
    }

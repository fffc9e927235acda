"""The API as an AsyncAPI 3.0 document, generated from the method table and the pydantic models.

Served at ``GET /api/asyncapi.json`` (``callcontrol.web``) and printed by ``callcontrol
api-schema --asyncapi``; both call :func:`asyncapi_document` with the WebSocket URL clients
use, so they are the same document for the same configuration.

The document describes the server (the application): one channel, the WebSocket endpoint;
per API method one ``receive`` operation whose message is the request envelope for that
method and whose reply is its response (or the error response, or a dry-run answer),
matched by ``cseq`` (the correlation id); two ``send`` operations for what the server
pushes: call state notifications and the overflow notice. Payloads are JSON Schema
(draft-07 subset, the AsyncAPI default schema format) in ``components.schemas``, made by
pydantic from the same models the dispatcher validates with; every property has a
description (the field docstrings in ``callcontrol.api.models``, from the seed's type
tables and SPEC).
"""
from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from callcontrol.api.methods import METHODS, MethodSpec
from callcontrol.api.methods.table import tidy_descriptions
from callcontrol.api.models import (
    ERROR_MESSAGES,
    AuthInfo,
    AuxInfo,
    DryRunResult,
    ErrorCode,
    ErrorResponse,
    Notification,
    OverflowNotice,
)

logger = logging.getLogger(__name__)

ASYNCAPI_VERSION = "3.0.0"
CHANNEL = "callControl"
SERVER = "callcontrol"
SCHEMA_REF = "#/components/schemas/{model}"
DEFAULT_WS_URL = "ws://127.0.0.1:8445/ws"

# What each method does (SPEC, "CallControl methods"; the seed's method descriptions). A method
# missing here is described by its handler's docstring; tests/unit/test_api_docs.py wants one.
SUMMARIES: dict[str, str] = {
    "login": "Start a session; the session_id authenticates later requests (auth_info.session_id).",
    "logout": "End the session and its subscriptions.",
    "resume": "Ours: move a session's notification stream onto this connection and replay the "
              "notifications after last_seq, or answer session.resync_required.",
    "enable_api_notifications": "Subscribe this connection to call state notifications for an extension "
                                "(i_account), an IP Centrex environment (i_customer), a main office and its "
                                "branches (i_main_office) or an IVR access number (i_ivr_an).",
    "disable_api_notifications": "Unsubscribe from what enable_api_notifications subscribed to.",
    "get_sip_calls_list": "The legs in progress for the keys given (no subscription needed).",
    "originate_advanced_call": "Call caller_id (leg A; auto-answer headers if callee_auto_pickup is Y); when "
                               "leg A answers, call callee_id (leg B, id = leg A's id + ~10) and bridge them.",
    "answer_call": "Answer a ringing leg from the application: NOTIFY Event: talk (Notify), or a new INVITE "
                   "with auto-answer headers (Invite).",
    "terminate_call": "Disconnect the leg (BYE, or CANCEL / an error while it rings) and end the call; "
                      "without a tag, the whole call.",
    "hold_call": "Put the leg's call on hold: NOTIFY Event: hold to the phone, or the server's own hold "
                 "(re-INVITEs, music on hold to the held party). The holder's leg shows holding, the other "
                 "held; answered once the hold happened (or failed).",
    "unhold_call": "Take the call off hold (NOTIFY Event: talk, or the server's own unhold): both legs "
                   "back to connected.",
    "transfer_call": "Blind transfer: the transferor's leg ends (reason 'blind transfer') and the other "
                     "party is connected to cld (a new leg with the same call id and a new tag).",
    "join_calls": "Attended transfer: call and to_call are legs of one transferor; they end and the two "
                  "remote parties are bridged.",
    "play_prompt": "Fetch url.au or url.g729 over HTTP(S) and play it to the leg in slot order (3 plays "
                   "over 2); play_prompt_completed is notified when it ends.",
    "stop_play_prompt": "Stop the prompt in that slot.",
    "start_dtmf_detect": "Report each DTMF digit of the leg (RFC 4733, SIP INFO, in-band) as a "
                         "dtmf_digit_detected notification.",
    "stop_dtmf_detect": "Stop reporting DTMF digits.",
    "get_cdr_list": "Ours: the CDRs written so far that are billed to what the principal covers, by start "
                    "time window, oldest written first (docs/operations.md, \"CDRs\").",
}

ERROR_WHEN: dict[ErrorCode, str] = {
    ErrorCode.UNSUPPORTED_METHOD: "unknown service or method",
    ErrorCode.WRONG_PARAMETERS: "missing or invalid params; details names each bad field",
    ErrorCode.INTERNAL_SERVER_ERROR: "unexpected failure (logged with a correlation id), or a refused action",
    ErrorCode.CALL_NOT_FOUND: "no leg with that call id/tag, or one the session may not see",
    ErrorCode.CALL_CONTROL_DISABLED: "method switched off for this server",
    ErrorCode.INTERNAL_ERROR: "the frame is not a request (not JSON, not an object, binary)",
    ErrorCode.AUTH_FAILED: "bad or missing credentials",
    ErrorCode.SESSION_EXPIRED: "unknown or expired session",
    ErrorCode.FORBIDDEN: "a subscription key outside the principal's scope",
    ErrorCode.RESYNC_REQUIRED: "Session.resume: the missed notifications are no longer buffered",
}


def package_version() -> str:
    try:
        return version("callcontrol")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0.0.0"


def camel(name: str) -> str:
    """``hold_call`` -> ``holdCall`` (operation and message ids; the JS client's method names)."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def summary(spec: MethodSpec) -> str:
    text = SUMMARIES.get(spec.name) or (spec.handler.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(text.split())


def _model_schemas() -> tuple[dict[tuple[type[BaseModel], str], dict[str, Any]], dict[str, Any]]:
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = []
    for spec in METHODS.values():
        models.append((spec.params, "validation"))
        models.append((spec.result, "serialization"))
    for extra in (AuthInfo, AuxInfo, ErrorResponse, Notification, OverflowNotice, DryRunResult):
        models.append((extra, "serialization"))
    refs, top = models_json_schema(models, ref_template=SCHEMA_REF)
    return refs, tidy_descriptions(top.get("$defs", {}))  # type: ignore[return-value]


CSEQ_SCHEMA: dict[str, Any] = {
    "description": "Matches the response with the request: any JSON number or string, echoed in the response. "
                   "Without it the request still runs but gets no response.",
    "anyOf": [{"type": "number"}, {"type": "string"}],
}


def _request_schema(spec: MethodSpec, params_ref: dict[str, Any]) -> dict[str, Any]:
    required = ["service", "method"] + (["auth_info"] if spec.auth else [])
    return {
        "title": f"{spec.full_name} request",
        "description": summary(spec),
        "type": "object",
        "properties": {
            "cseq": CSEQ_SCHEMA,
            "auth_info": {"$ref": SCHEMA_REF.format(model="AuthInfo"),
                          "description": "The mandatory authentication information." if spec.auth
                          else "Not needed by this method."},
            "service": {"const": spec.service, "description": "The API service that contains the method."},
            "method": {"const": spec.name, "description": "The name of the API method."},
            "params": {**params_ref, "description": "The method's parameters."},
            "aux_info": {"$ref": SCHEMA_REF.format(model="AuxInfo"),
                         "description": "Ours: {\"dry_run\": 1} validates params without running the method."},
        },
        "required": required,
    }


def _response_schema(spec: MethodSpec, result_ref: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": f"{spec.full_name} response",
        "type": "object",
        "properties": {
            "cseq": {**CSEQ_SCHEMA, "description": "The request's cseq."},
            "result": {**result_ref, "description": "The method's result; success is 1."},
            "success": {"const": 1, "description": "1: the request was executed."},
        },
        "required": ["cseq", "result", "success"],
        "additionalProperties": False,
    }


def _dry_run_response_schema() -> dict[str, Any]:
    return {
        "title": "dry-run response",
        "description": "The answer to any request sent with aux_info {\"dry_run\": 1}: the method did not run.",
        "type": "object",
        "properties": {
            "cseq": {**CSEQ_SCHEMA, "description": "The request's cseq."},
            "result": {"$ref": SCHEMA_REF.format(model="DryRunResult"), "description": "The validated params."},
            "success": {"const": 1, "description": "1: the params are valid."},
        },
        "required": ["cseq", "result", "success"],
        "additionalProperties": False,
    }


def _server(ws_url: str) -> dict[str, Any]:
    parts = urlsplit(ws_url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(f"expected a ws:// or wss:// URL, got {ws_url!r}")
    return {
        "host": parts.netloc,
        "protocol": parts.scheme,
        "pathname": parts.path or "/",
        "title": "call-control WebSocket API",
        "description": "Text frames, one JSON object per frame. The API is also on /ws/CallControl. "
                       "Browsers: the upgrade's Origin must be one of console.allowed_origins "
                       "(docs/operations.md, \"Console\").",
    }


def asyncapi_document(ws_url: str = DEFAULT_WS_URL) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the API, its server at ``ws_url`` (what clients connect to)."""
    refs, schemas = _model_schemas()
    server = _server(ws_url)
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    channel_ref = {"$ref": f"#/channels/{CHANNEL}"}

    def message(name: str, title: str, summary_text: str, schema_name: str, schema: dict[str, Any],
                correlated: bool = True) -> dict[str, Any]:
        schemas[schema_name] = schema
        messages[name] = {
            "name": name,
            "title": title,
            "summary": summary_text,
            "contentType": "application/json",
            "payload": {"$ref": SCHEMA_REF.format(model=schema_name)},
            **({"correlationId": {"$ref": "#/components/correlationIds/cseq"}} if correlated else {}),
        }
        return {"$ref": f"#/channels/{CHANNEL}/messages/{name}"}

    error = message("errorResponse", "Error response",
                    "The request could not be executed: error {code, message, details}, success 0.",
                    "ErrorResponseFrame", {"$ref": SCHEMA_REF.format(model="ErrorResponse")})
    dry_run = message("dryRunResponse", "Dry-run response", "Params validated; the method did not run.",
                      "DryRunResponse", _dry_run_response_schema())
    for spec in METHODS.values():
        op = camel(spec.name)
        schema_base = op[0].upper() + op[1:]
        request = message(f"{op}Request", f"{spec.full_name} request", summary(spec), f"{schema_base}Request",
                          _request_schema(spec, refs[(spec.params, "validation")]))
        response = message(f"{op}Response", f"{spec.full_name} response", f"The answer to {spec.full_name}.",
                           f"{schema_base}Response",
                           _response_schema(spec, refs[(spec.result, "serialization")]))
        operations[op] = {
            "action": "receive",
            "channel": channel_ref,
            "title": spec.full_name,
            "summary": summary(spec),
            "description": f"service `{spec.service}`, method `{spec.name}`; "
                           + ("auth_info required." if spec.auth else "no auth_info needed.")
                           + (" A command: its response comes before the notifications it causes."
                              if spec.command else ""),
            "tags": [{"name": spec.service}] + ([{"name": "command"}] if spec.command else []),
            "messages": [request],
            "reply": {"channel": channel_ref, "messages": [response, error, dry_run]},
        }
    notification = message("callStateNotification", "sip.call_control_notifications",
                           "A leg changed state, or an IVR event (prompt completed, DTMF digit).",
                           "NotificationFrame", {"$ref": SCHEMA_REF.format(model="Notification")},
                           correlated=False)
    overflow = message("overflowNotice", "Overflow notice",
                       "Ours: the connection did not read fast enough and is closed (1008) after this frame.",
                       "OverflowFrame", {"$ref": SCHEMA_REF.format(model="OverflowNotice")}, correlated=False)
    operations["callStateNotification"] = {
        "action": "send", "channel": channel_ref, "title": "sip.call_control_notifications",
        "summary": "Pushed to connections subscribed (enable_api_notifications) to a key that covers the leg; "
                   "each carries seq, per connection and monotonic (see Session.resume).",
        "messages": [notification],
    }
    operations["overflowNotice"] = {
        "action": "send", "channel": channel_ref, "title": "overflow",
        "summary": "Sent once before the server closes a connection whose send queue is full.",
        "messages": [overflow],
    }
    codes = "; ".join(f"{code} ({ERROR_MESSAGES[code]}): {ERROR_WHEN[code]}" for code in ErrorCode)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:callcontrol:call-control-api",
        "info": {
            "title": "callcontrol call-control API (PortaSIP Call Control compatible)",
            "version": package_version(),
            "description": "JSON-RPC over WebSocket: a request {cseq, auth_info, service, method, params} is "
                           "answered by {cseq, result: {..., success: 1}, success: 1} or {cseq, error: {code, "
                           "message, details}, success: 0}; subscribed connections also receive call state "
                           f"notifications. Error codes: {codes}. The same as one JSON Schema: /api/schema.json.",
        },
        "defaultContentType": "application/json",
        "servers": {SERVER: server},
        "channels": {
            CHANNEL: {
                "address": server["pathname"],
                "title": "call control",
                "description": "One WebSocket connection: requests in, responses and notifications out.",
                "servers": [{"$ref": f"#/servers/{SERVER}"}],
                "messages": messages,
            },
        },
        "operations": operations,
        "components": {
            "schemas": schemas,
            "correlationIds": {
                "cseq": {"description": "A response carries its request's cseq.",
                         "location": "$message.payload#/cseq"},
            },
        },
    }

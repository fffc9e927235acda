"""The JSON-RPC API surface: error codes, request/result models, JSON Schema.

Everything a client may send is described here as a pydantic v2 model, one
per method; the hub validates ``params`` with them and nothing past the hub
sees raw JSON. Result and notification models exist for the schema export
and for clients; the server encodes results directly (the notification path
never goes through pydantic).

Error codes are those of SPEC.md; ``auth.*`` and ``session.resync_required``
are ours (PortaSIP answers faults there).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic.json_schema import models_json_schema
from pydantic_core import PydanticCustomError

logger = logging.getLogger(__name__)

NOTIFICATION_EVENT = "sip.call_control_notifications"
MAX_ID = 2**63 - 1


# --------------------------------------------------------------------------- errors


class ErrorCode(StrEnum):
    UNSUPPORTED_METHOD = "sip.unsupported_method"
    WRONG_PARAMETERS = "sip.wrong_parameters"
    INTERNAL_SERVER_ERROR = "sip.internal_server_error"
    CALL_NOT_FOUND = "sip.call_not_found"
    CALL_CONTROL_DISABLED = "sip.call_control_disabled"
    INTERNAL_ERROR = "internal_error"
    AUTH_FAILED = "auth.failed"
    SESSION_EXPIRED = "auth.session_expired"
    FORBIDDEN = "auth.forbidden"
    RESYNC_REQUIRED = "session.resync_required"


ERROR_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.UNSUPPORTED_METHOD: "Unsupported method",
    ErrorCode.WRONG_PARAMETERS: "Bad parameters",
    ErrorCode.INTERNAL_SERVER_ERROR: "Internal processing error",
    ErrorCode.CALL_NOT_FOUND: "Not found",
    ErrorCode.CALL_CONTROL_DISABLED: "Disabled",
    ErrorCode.INTERNAL_ERROR: "Internal server error",
    ErrorCode.AUTH_FAILED: "Authentication failed",
    ErrorCode.SESSION_EXPIRED: "Session expired",
    ErrorCode.FORBIDDEN: "Forbidden",
    ErrorCode.RESYNC_REQUIRED: "Resync required",
}


class ApiError(Exception):
    """An error answered to the client as ``{"code", "message", "details"}``."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL_SERVER_ERROR

    def __init__(self, details: Any = None, message: str | None = None) -> None:
        self.message = message if message is not None else ERROR_MESSAGES[self.code]
        self.details = details
        super().__init__(f"{self.code}: {self.message}")

    def to_wire(self) -> dict[str, Any]:
        return {"code": str(self.code), "message": self.message, "details": self.details}


class UnsupportedMethod(ApiError):
    code = ErrorCode.UNSUPPORTED_METHOD


class WrongParameters(ApiError):
    """``details`` is a list of ``{"field", "message"}``, one per bad field."""

    code = ErrorCode.WRONG_PARAMETERS

    @classmethod
    def field(cls, field: str, message: str) -> WrongParameters:
        return cls([{"field": field, "message": message}])


class InternalServerError(ApiError):
    code = ErrorCode.INTERNAL_SERVER_ERROR


class CallNotFound(ApiError):
    code = ErrorCode.CALL_NOT_FOUND


class CallControlDisabled(ApiError):
    code = ErrorCode.CALL_CONTROL_DISABLED


Disabled = CallControlDisabled


class EnvelopeError(ApiError):
    """A frame that is not a request at all (not JSON, not an object)."""

    code = ErrorCode.INTERNAL_ERROR


class AuthFailed(ApiError):
    code = ErrorCode.AUTH_FAILED


class SessionExpired(ApiError):
    code = ErrorCode.SESSION_EXPIRED


class Forbidden(ApiError):
    code = ErrorCode.FORBIDDEN


class ResyncRequired(ApiError):
    code = ErrorCode.RESYNC_REQUIRED


ERROR_CLASSES: dict[ErrorCode, type[ApiError]] = {
    cls.code: cls
    for cls in (
        UnsupportedMethod, WrongParameters, InternalServerError, CallNotFound, CallControlDisabled,
        EnvelopeError, AuthFailed, SessionExpired, Forbidden, ResyncRequired,
    )
}


def validation_details(exc: ValidationError, prefix: str = "params") -> list[dict[str, str]]:
    """One ``{"field", "message"}`` per pydantic error; ``field`` is the dotted envelope path."""
    details = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        path = ".".join(str(p) for p in err["loc"])
        details.append({"field": f"{prefix}.{path}" if path else prefix, "message": err["msg"]})
    return details


# --------------------------------------------------------------------------- value types


def _id_value(value: Any) -> Any:
    # PortaBilling clients send ids as numbers or as digit strings; booleans and
    # fractions are mistakes, not ids.
    if isinstance(value, bool):
        raise PydanticCustomError("id_type", "Input should be an unsigned integer")
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, float):
        raise PydanticCustomError("id_type", "Input should be an unsigned integer")
    return value


def _number_string(value: Any) -> Any:
    # Phone numbers and account ids are strings on the wire, but a bare JSON
    # number is an obvious intent; bools are not.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return value


def _yes_no(value: Any) -> Any:
    if isinstance(value, str) and value.upper() in ("Y", "N"):
        return value.upper()
    return value


def _answer_mode(value: Any) -> Any:
    # SPEC: callee_answer_mode is compared case-insensitively.
    if isinstance(value, str):
        lowered = value.lower()
        if lowered == "notify":
            return "Notify"
        if lowered == "invite":
            return "Invite"
    return value


def _transport_id(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise PydanticCustomError("transport_id", "Input should be \"IP:port\"")
    return value


def _prompt_url(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    scheme, sep, rest = value.partition("://")
    host = rest.split("/", 1)[0]
    if not sep or scheme.lower() not in ("http", "https") or not host or any(c.isspace() for c in value):
        raise PydanticCustomError("url", "Input should be an http:// or https:// URL without extension")
    return value


def _small_int(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


UnsignedId = Annotated[int, BeforeValidator(_id_value), Field(ge=0, le=MAX_ID)]
NumberString = Annotated[
    str, BeforeValidator(_number_string), Field(min_length=1, max_length=128, pattern=r"^[^\s]+$")
]
YesNo = Annotated[Literal["Y", "N"], BeforeValidator(_yes_no)]
AnswerMode = Annotated[Literal["Notify", "Invite"], BeforeValidator(_answer_mode)]
TransportId = Annotated[str, BeforeValidator(_transport_id), Field(max_length=300)]
PromptUrl = Annotated[str, BeforeValidator(_prompt_url), Field(max_length=2048)]
PromptOrder = Annotated[Literal[2, 3], BeforeValidator(_small_int)]
Repeat = Annotated[int, BeforeValidator(_small_int), Field(ge=-1, le=1_000_000)]
SessionId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CallRef(_Model):
    """SipCallIdentifier: ``id`` is mandatory, ``tag`` tells the legs of a call apart."""

    id: Annotated[str, Field(min_length=1, max_length=512)]
    tag: Annotated[str, Field(max_length=256)] | None = None


# --------------------------------------------------------------------------- request params


class LoginParams(_Model):
    login: Annotated[str, Field(min_length=1, max_length=256)]
    password: Annotated[str, Field(max_length=1024, exclude=True)]  # never echoed (dry_run)
    domain: Annotated[str, Field(max_length=256)] | None = None


class LogoutParams(_Model):
    pass


class ResumeParams(_Model):
    session_id: SessionId
    last_seq: Annotated[int, BeforeValidator(_id_value), Field(ge=0, le=MAX_ID)]


ROUTING_KEYS: tuple[str, ...] = ("i_account", "i_customer", "i_main_office", "i_ivr_an")


class _KeyedParams(_Model):
    i_account: UnsignedId | None = None
    i_customer: UnsignedId | None = None
    i_main_office: UnsignedId | None = None
    i_ivr_an: UnsignedId | None = None

    @model_validator(mode="after")
    def _at_least_one_key(self) -> _KeyedParams:
        if self.i_account is None and self.i_customer is None and self.i_main_office is None \
                and self.i_ivr_an is None:
            raise PydanticCustomError(
                "missing_key", "At least one of i_account, i_customer, i_main_office, i_ivr_an is required"
            )
        return self

    def routing_keys(self) -> list[tuple[str, int]]:
        """The ``(kind, id)`` routing keys named by the request, in ROUTING_KEYS order."""
        out = []
        for kind in ROUTING_KEYS:
            value = getattr(self, kind)
            if value is not None:
                out.append((kind, value))
        return out


class EnableApiNotificationsParams(_KeyedParams):
    event: Literal["sip.call_control_notifications"]


class DisableApiNotificationsParams(_KeyedParams):
    event: Literal["sip.call_control_notifications"]


class GetSipCallsListParams(_KeyedParams):
    pass


class OriginateAdvancedCallParams(_Model):
    bill_id: NumberString
    caller_id: NumberString
    callee_id: NumberString
    callee_auto_pickup: YesNo = "N"


class LegParams(_Model):
    """Parameters that address one leg: ``call`` and, on a single server, optional ``transport_id``."""

    call: CallRef
    transport_id: TransportId | None = None


class AnswerCallParams(LegParams):
    callee_answer_mode: AnswerMode | None = None


class TerminateCallParams(LegParams):
    pass


class HoldCallParams(LegParams):
    pass


class UnholdCallParams(LegParams):
    pass


class TransferCallParams(LegParams):
    cld: NumberString


class JoinCallsParams(LegParams):
    to_call: CallRef


class PlayPromptParams(LegParams):
    url: PromptUrl
    order: PromptOrder = 2
    repeat: Repeat = 1

    @model_validator(mode="after")
    def _repeat_not_zero(self) -> PlayPromptParams:
        if self.repeat == 0:
            raise PydanticCustomError("repeat", "repeat must be -1 (forever) or at least 1")
        return self


class StopPlayPromptParams(LegParams):
    order: PromptOrder = 2


class StartDtmfDetectParams(LegParams):
    pass


class StopDtmfDetectParams(LegParams):
    pass


# --------------------------------------------------------------------------- results and wire shapes


class SuccessResult(_Model):
    success: Literal[1] = 1


class LoginResult(SuccessResult):
    session_id: SessionId


class OriginatedCall(_Model):
    id: str


class OriginateResult(SuccessResult):
    call: OriginatedCall


class ResumeResult(SuccessResult):
    replayed: int = Field(description="notifications queued after this response (seq last_seq+1 ..)")
    last_seq: int = Field(description="seq of the newest notification of the resumed stream")


class DryRunResult(SuccessResult):
    dry_run: Literal[1] = 1
    params: dict[str, Any] = Field(description="the params as validated and normalised")


class ForwarderInfo(_Model):
    id: str


class SipCallerInfo(_Model):
    id: str
    account_id: str | None = None
    centrex_id: str | None = None
    display_id: str | None = None
    display_name: str | None = None
    extension_id: str | None = None
    huntgroup_id: str | None = None
    access_number: str | None = None
    forwarder_list: list[ForwarderInfo] = []


class QueueInfo(_Model):
    i_c_queue: int
    position: int
    operators: int


CallState = Literal["trying", "ringing", "early", "connected", "held", "holding", "terminated", "queued",
                    "dequeued"]
DateTimeStr = Annotated[str, Field(pattern=r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")]


class SipCallInfo(_Model):
    call: CallRef
    caller: SipCallerInfo
    callee: SipCallerInfo
    state: CallState
    transport_id: str
    type: Literal["incoming", "outgoing"]
    start_time: DateTimeStr | None = None
    connect_time: DateTimeStr | None = None
    duration: int | None = Field(None, description="seconds (terminated) or milliseconds (DTMF digit)")
    reason: str | None = None
    reason_code: int | None = None
    queue_info: QueueInfo | None = None
    event: Literal["play_prompt_completed", "dtmf_digit_detected"] | None = None
    digit: str | None = None
    order: Literal[2, 3] | None = None
    dtmf_method: Literal["rfc4733", "info", "inband"] | None = Field(
        None, description="ours: which method carried the DTMF digit"
    )


class CallsListResult(SuccessResult):
    calls_list: list[SipCallInfo]


class NotificationResult(_Model):
    call_info: SipCallInfo


class Notification(_Model):
    action: Literal["update"]
    event: Literal["sip.call_control_notifications"]
    seq: int = Field(description="ours: per connection, monotonic; see Session.resume")
    result: NotificationResult


class OverflowResult(_Model):
    reason: str
    last_seq: int = Field(description="newest seq assigned before the overflow; resume from your own last seq")


class OverflowNotice(_Model):
    action: Literal["overflow"]
    event: Literal["sip.call_control_notifications"]
    result: OverflowResult


class AuthInfo(_Model):
    session_id: SessionId | None = None
    login: str | None = None
    password: str | None = None
    domain: str | None = None


class AuxInfo(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    dry_run: Literal[0, 1] | bool | None = None


class RequestEnvelope(_Model):
    cseq: int | float | str | None = Field(None, description="echoed; absent means no response")
    auth_info: AuthInfo | None = None
    service: str
    method: str
    params: dict[str, Any] = {}
    aux_info: AuxInfo | None = None


class ErrorBody(_Model):
    code: ErrorCode
    message: str
    details: Any = None


class ErrorResponse(_Model):
    cseq: int | float | str | None = None
    error: ErrorBody
    success: Literal[0] = 0


# --------------------------------------------------------------------------- method table


@dataclass(frozen=True, slots=True)
class MethodSpec:
    service: str
    name: str
    params: type[_Model]
    result: type[BaseModel]
    auth: bool = True
    command: bool = False  # drives a call: switchable off, and ordered before its notifications
    creates_call: bool = False  # its call is new: see callcontrol.api.ordering

    @property
    def full_name(self) -> str:
        return f"{self.service}.{self.name}"


_SPECS = (
    MethodSpec("Session", "login", LoginParams, LoginResult, auth=False),
    MethodSpec("Session", "logout", LogoutParams, SuccessResult),
    MethodSpec("Session", "resume", ResumeParams, ResumeResult, auth=False),
    MethodSpec("CallControl", "enable_api_notifications", EnableApiNotificationsParams, SuccessResult),
    MethodSpec("CallControl", "disable_api_notifications", DisableApiNotificationsParams, SuccessResult),
    MethodSpec("CallControl", "get_sip_calls_list", GetSipCallsListParams, CallsListResult),
    MethodSpec("CallControl", "originate_advanced_call", OriginateAdvancedCallParams, OriginateResult,
               command=True, creates_call=True),
    MethodSpec("CallControl", "answer_call", AnswerCallParams, SuccessResult, command=True),
    MethodSpec("CallControl", "terminate_call", TerminateCallParams, SuccessResult, command=True),
    MethodSpec("CallControl", "hold_call", HoldCallParams, SuccessResult, command=True),
    MethodSpec("CallControl", "unhold_call", UnholdCallParams, SuccessResult, command=True),
    MethodSpec("CallControl", "transfer_call", TransferCallParams, SuccessResult, command=True),
    MethodSpec("CallControl", "join_calls", JoinCallsParams, SuccessResult, command=True),
    MethodSpec("CallControl", "play_prompt", PlayPromptParams, SuccessResult, command=True),
    MethodSpec("CallControl", "stop_play_prompt", StopPlayPromptParams, SuccessResult, command=True),
    MethodSpec("CallControl", "start_dtmf_detect", StartDtmfDetectParams, SuccessResult, command=True),
    MethodSpec("CallControl", "stop_dtmf_detect", StopDtmfDetectParams, SuccessResult, command=True),
)

METHODS: dict[tuple[str, str], MethodSpec] = {(s.service, s.name): s for s in _SPECS}
SERVICES: frozenset[str] = frozenset(s.service for s in _SPECS)


def api_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) document describing the whole API."""
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = []
    for spec in _SPECS:
        models.append((spec.params, "validation"))
        models.append((spec.result, "serialization"))
    for extra in (RequestEnvelope, ErrorResponse, Notification, OverflowNotice, DryRunResult):
        models.append((extra, "validation"))
    refs, top = models_json_schema(models, ref_template="#/$defs/{model}")
    defs = top.get("$defs", {})

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return refs[(model, mode)]  # type: ignore[index]

    methods = {}
    for spec in _SPECS:
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
                       "error: {cseq, error: {code, message, details}, success: 0}.",
        "request": ref(RequestEnvelope, "validation"),
        "error_response": ref(ErrorResponse, "validation"),
        "dry_run_result": ref(DryRunResult, "validation"),
        "notification": ref(Notification, "validation"),
        "overflow_notice": ref(OverflowNotice, "validation"),
        "error_codes": {str(code): msg for code, msg in ERROR_MESSAGES.items()},
        "methods": methods,
        "$defs": defs,
    }

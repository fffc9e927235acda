"""The JSON-RPC API surface: error codes, request/result models, JSON Schema.

Everything a client may send is described here as a pydantic v2 model, one
per method; the dispatcher validates ``params`` with them and nothing past it
sees raw JSON. Result and notification models exist for the schema export
(``callcontrol.api.methods.api_schema``) and for clients; the server encodes
results directly (the notification path never goes through pydantic).

``SipCallerInfo`` and ``SipCallInfo`` describe the JSON that
``callcontrol.model.callinfo`` encodes; their field names are checked against
that module's wire field lists at import, and their value types come from it.

Error codes are those of docs/spec.md; ``auth.*`` and ``session.resync_required``
are ours (PortaSIP answers faults there).
"""
from __future__ import annotations

import logging
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from callcontrol.cdr import records as cdr_records
from callcontrol.model import callinfo as wire
from callcontrol.model.callinfo import (
    CALL_INFO_WIRE_FIELDS,
    PARTY_WIRE_FIELDS,
    ROUTING_KEYS,
    CallEvent,
    CallState,
    DtmfMethod,
    LegType,
)

logger = logging.getLogger(__name__)

NOTIFICATION_EVENT = "sip.call_control_notifications"
MAX_ID = 2**63 - 1
DEFAULT_CDR_LIST = 1000
MAX_CDR_LIST = 10000


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


def _cdr_time(value: Any) -> Any:
    if isinstance(value, str):
        try:
            cdr_records.parse_time(value)
        except ValueError:
            raise PydanticCustomError(
                "cdr_time", "Input should be an ISO-8601 time or a date ({example})",
                {"example": cdr_records.TIME_EXAMPLE}) from None
    return value


CdrTime = Annotated[str, BeforeValidator(_cdr_time), Field(max_length=64)]


class GetCdrListParams(_Model):
    """CDRs whose start time is in ``[from_date, to_date)`` billed to ``i_account`` / ``i_customer``
    (default: everything the principal may see), oldest written first."""

    i_account: UnsignedId | None = None
    i_customer: UnsignedId | None = None
    from_date: CdrTime | None = Field(None, description="ISO-8601 (UTC unless an offset is given) or a date")
    to_date: CdrTime | None = Field(None, description="excluded; ISO-8601 or a date (its midnight UTC)")
    limit: Annotated[int, BeforeValidator(_small_int), Field(ge=1, le=MAX_CDR_LIST)] = DEFAULT_CDR_LIST
    offset: Annotated[int, BeforeValidator(_small_int), Field(ge=0, le=MAX_ID)] = 0

    @model_validator(mode="after")
    def _window_in_order(self) -> GetCdrListParams:
        if self.from_date is not None and self.to_date is not None and \
                cdr_records.parse_time(self.to_date) < cdr_records.parse_time(self.from_date):
            raise PydanticCustomError("cdr_window", "to_date is before from_date")
        return self


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


# The enum's values as a Literal: the schema shows them inline (an enum would be a $ref).
WireState = Literal[tuple(str(s) for s in CallState)]  # type: ignore[valid-type]
DateTimeStr = Annotated[str, Field(pattern=r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")]


class SipCallInfo(_Model):
    call: CallRef
    caller: SipCallerInfo
    callee: SipCallerInfo
    state: WireState
    transport_id: str
    type: LegType
    start_time: DateTimeStr | None = None
    connect_time: DateTimeStr | None = None
    duration: int | None = Field(None, description="seconds (terminated) or milliseconds (DTMF digit)")
    reason: str | None = None
    reason_code: int | None = None
    queue_info: QueueInfo | None = None
    event: CallEvent | None = None
    digit: str | None = None
    order: Literal[2, 3] | None = None
    dtmf_method: DtmfMethod | None = Field(
        None, description="ours: which method carried the DTMF digit"
    )


class CallsListResult(SuccessResult):
    calls_list: list[SipCallInfo]


class CdrInfo(_Model):
    """One CDR (docs/operations.md, "CDRs"): the call's row has no ``leg_tag``. Times are
    ISO-8601 UTC with milliseconds; ``duration`` is seconds connected."""

    call_id: str
    leg_tag: str | None
    leg_id: str | None
    sip_call_id: str | None
    leg_type: LegType | None
    caller: str
    callee: str
    i_account: int | None
    i_customer: int | None
    route: str | None
    start_time: str
    connect_time: str | None
    disconnect_time: str
    duration: float
    sip_code: int | None
    sip_reason: str | None
    disconnect_reason: str
    hangup_side: Literal["caller", "callee", "server"] | None
    huntgroup_id: str | None
    forwarders: list[str]


class CdrListResult(SuccessResult):
    cdr_list: list[CdrInfo]


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


def _check_wire_fields(model: type[BaseModel], wire: tuple[str, ...]) -> None:
    if set(model.model_fields) != set(wire):
        raise TypeError(f"{model.__name__} does not describe the encoder's fields: "
                        f"{sorted(set(model.model_fields) ^ set(wire))}")


_check_wire_fields(SipCallerInfo, PARTY_WIRE_FIELDS)
_check_wire_fields(SipCallInfo, CALL_INFO_WIRE_FIELDS)
_check_wire_fields(QueueInfo, tuple(wire.QueueInfo.__dataclass_fields__))
_check_wire_fields(CdrInfo, cdr_records.FIELDS)

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
from typing import Annotated, Any, ClassVar, Literal, get_args

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


def ignored_keys(model: type[BaseModel], raw: dict[str, Any], prefix: str = "params") -> list[str]:
    """The keys of ``raw`` (and of the objects nested in it) that ``model`` does not know, as
    dotted paths: what validation ignored. Walks the raw input, so it costs nothing unless asked
    (``aux_info.dry_run``)."""
    fields = model.model_fields
    out: list[str] = []
    for key, value in raw.items():
        info = fields.get(key)
        if info is None:
            out.append(f"{prefix}.{key}")
            continue
        nested = _nested_model(info.annotation)
        if nested is not None and isinstance(value, dict):
            out.extend(ignored_keys(nested, value, f"{prefix}.{key}"))
    return out


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (``CallRef``, ``CallRef | None``, ``Annotated[CallRef, ...]``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


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
    # A field's docstring is its description in the JSON Schema and the AsyncAPI document
    # (callcontrol.api.asyncapi); the texts come from the seed's type tables or SPEC.
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class _Params(_Model):
    """What a client sends: keys a model does not know are ignored, not refused (a console that
    copies params between calls, e.g. ``event`` into ``get_sip_calls_list``, is served);
    ``aux_info.dry_run`` lists them (:func:`ignored_keys`). Known keys stay strict: missing or
    wrongly typed ones are ``sip.wrong_parameters`` naming each (docs/portasip-compat.md)."""

    model_config = ConfigDict(extra="ignore")


class CallRef(_Params):
    """SipCallIdentifier: ``id`` is mandatory, ``tag`` tells the legs of a call apart."""

    id: Annotated[str, Field(min_length=1, max_length=512)]
    """The unique call identifier (the SIP Call-ID of the call; leg B of an originated call ends in ~10)."""
    tag: Annotated[str, Field(max_length=256)] | None = None
    """The call remote tag: which leg of the call (without it, the whole call)."""


# --------------------------------------------------------------------------- request params


class LoginParams(_Params):
    login: Annotated[str, Field(min_length=1, max_length=256)]
    """Login of an administrator, reseller, customer or account (the realm follows from it)."""
    password: Annotated[str, Field(max_length=1024, exclude=True)]  # never echoed (dry_run)
    """Its password (never echoed, never logged)."""
    domain: Annotated[str, Field(max_length=256)] | None = None
    """The domain the login belongs to, when logins are not unique."""


class LogoutParams(_Params):
    pass


class ResumeParams(_Params):
    session_id: SessionId
    """The session whose notification stream moves onto this connection."""
    last_seq: Annotated[int, BeforeValidator(_id_value), Field(ge=0, le=MAX_ID)]
    """seq of the last notification the client processed: the ones after it are replayed."""


class _KeyedParams(_Params):
    """At least one of ``i_account``, ``i_customer``, ``i_main_office``, ``i_ivr_an``."""

    i_account: UnsignedId | None = None
    """The unique ID of the account record. The account represents a phone line or an office extension."""
    i_customer: UnsignedId | None = None
    """The unique ID of the customer record (an IP Centrex environment)."""
    i_main_office: UnsignedId | None = None
    """The unique ID of the main office (customer record with office type 3): the main office and its
    branches."""
    i_ivr_an: UnsignedId | None = None
    """The unique ID of the access number associated with the custom IVR application."""

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
    """The event to subscribe to: call state notifications."""


class DisableApiNotificationsParams(_KeyedParams):
    event: Literal["sip.call_control_notifications"]
    """The event to unsubscribe from."""


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


class GetCdrListParams(_Params):
    """CDRs whose start time is in ``[from_date, to_date)`` billed to ``i_account`` / ``i_customer``
    (default: everything the principal may see), oldest written first."""

    i_account: UnsignedId | None = None
    """Only the CDRs billed to this account (default: every one the principal may see)."""
    i_customer: UnsignedId | None = None
    """Only the CDRs billed to this customer (exactly: a main office's branches are customers of their own)."""
    from_date: CdrTime | None = Field(None, description="ISO-8601 (UTC unless an offset is given) or a date")
    to_date: CdrTime | None = Field(None, description="excluded; ISO-8601 or a date (its midnight UTC)")
    limit: Annotated[int, BeforeValidator(_small_int), Field(ge=1, le=MAX_CDR_LIST)] = DEFAULT_CDR_LIST
    """At most this many CDRs in the answer."""
    offset: Annotated[int, BeforeValidator(_small_int), Field(ge=0, le=MAX_ID)] = 0
    """Skip this many first (to page through a window)."""

    @model_validator(mode="after")
    def _window_in_order(self) -> GetCdrListParams:
        if self.from_date is not None and self.to_date is not None and \
                cdr_records.parse_time(self.to_date) < cdr_records.parse_time(self.from_date):
            raise PydanticCustomError("cdr_window", "to_date is before from_date")
        return self


class OriginateAdvancedCallParams(_Params):
    bill_id: NumberString
    """The account number to be charged for the call (it must be in the caller's scope)."""
    caller_id: NumberString
    """The phone number of the calling party: called first (leg A)."""
    callee_id: NumberString
    """The phone number to be called once leg A answers (leg B)."""
    callee_auto_pickup: YesNo = "N"
    """Y: leg A's INVITE asks the phone to answer by itself (Alert-Info: <sip:127.0.0.1>;info=AutoAnswer,
    Call-Info: <sip:127.0.0.1>;answer-after=0); N (default): it rings."""


class LegParams(_Params):
    """Parameters that address one leg: ``call`` and, on a single server, optional ``transport_id``."""

    call: CallRef
    """The unique IDs of separate parts of the call, as a notification or get_sip_calls_list gave them."""
    transport_id: TransportId | None = None
    """The SIP address of the call defined in the format IP:port (may be omitted on a single server)."""


class AnswerCallParams(LegParams):
    callee_answer_mode: AnswerMode | None = None
    """Notify: an in-dialog NOTIFY with Event: talk to the ringing phone; Invite: the call is
    reconnected with a new INVITE carrying the auto-answer headers. Compared case-insensitively;
    default Notify when the phone advertised Allow-Events: talk, else Invite."""


class TerminateCallParams(LegParams):
    pass


class HoldCallParams(LegParams):
    pass


class UnholdCallParams(LegParams):
    pass


class TransferCallParams(LegParams):
    call: CallRef
    """The call party that initiates the transfer (the transferor): its leg ends."""
    cld: NumberString
    """The phone number of the transfer target."""


class JoinCallsParams(LegParams):
    call: CallRef
    """The identifier of the call party to be joined (a leg of the transferor)."""
    to_call: CallRef
    """The identifier of the call party to be joined with (the transferor's other leg)."""


class PlayPromptParams(LegParams):
    url: PromptUrl
    """The URL of the prompt without file extension (http or https): URL.au (8-bit G.711 u-law) or
    URL.g729 is fetched."""
    order: PromptOrder = 2
    """Prompt playback order (2 or 3): the slot in the playback stack; 3 plays over (pauses) 2."""
    repeat: Repeat = 1
    """The number of times to play the prompt; -1 repeats it forever."""

    @model_validator(mode="after")
    def _repeat_not_zero(self) -> PlayPromptParams:
        if self.repeat == 0:
            raise PydanticCustomError("repeat", "repeat must be -1 (forever) or at least 1")
        return self


class StopPlayPromptParams(LegParams):
    order: PromptOrder = 2
    """The playback slot to stop (2 or 3)."""


class StartDtmfDetectParams(LegParams):
    pass


class StopDtmfDetectParams(LegParams):
    pass


# --------------------------------------------------------------------------- results and wire shapes


class SuccessResult(_Model):
    success: Literal[1] = 1
    """A non-zero value means that the operation was completed."""


class LoginResult(SuccessResult):
    session_id: SessionId
    """The session: send it as auth_info.session_id in later requests."""


class OriginatedCall(_Model):
    id: str
    """The unique call identifier of the new call (leg B's is this id + ~10)."""


class OriginateResult(SuccessResult):
    call: OriginatedCall
    """The unique ID of the originated call (without a tag: its legs get theirs in notifications)."""


class ResumeResult(SuccessResult):
    replayed: int
    """How many notifications follow this response (seq last_seq+1 onwards, in order)."""
    last_seq: int
    """seq of the newest notification of the resumed stream."""


class DryRunResult(SuccessResult):
    dry_run: Literal[1] = 1
    """Always 1: the method did not run."""
    params: dict[str, Any]
    """The params as validated and normalised."""
    ignored: list[str] = []
    """Ours: the keys sent that the method does not know, ignored, as dotted paths (``params.event``)."""


class ForwarderInfo(_Model):
    """SipForwarderAccountInfo."""

    id: str
    """The phone number of the party who initiated the forward."""


class SipCallerInfo(_Model):
    """A party of a leg (caller or callee)."""

    id: str
    """The phone number of the calling / called party."""
    account_id: str | None = None
    """The phone number (PIN) of the party's account, unique in its environment."""
    centrex_id: str | None = None
    """The ID of the IP Centrex environment (the main office customer) the party belongs to."""
    display_id: str | None = None
    """The display number provided by the party (from the From header)."""
    display_name: str | None = None
    """The display name provided by the party."""
    extension_id: str | None = None
    """The extension number configured within the IP Centrex environment for the party's line."""
    huntgroup_id: str | None = None
    """The hunt group number on behalf of which the call happened."""
    access_number: str | None = None
    """The IVR access number that receives the call."""
    forwarder_list: list[ForwarderInfo] = []
    """The list of account IDs that initiated the forward."""


class QueueInfo(_Model):
    """SipCallQueueStateInfo: sent with the queued and dequeued states."""

    i_c_queue: int
    """The unique ID of a call queue record."""
    position: int
    """A caller's position in the queue."""
    operators: int
    """The number of active operators."""


# The enum's values as a Literal: the schema shows them inline (an enum would be a $ref).
WireState = Literal[tuple(str(s) for s in CallState)]  # type: ignore[valid-type]
DateTimeStr = Annotated[str, Field(pattern=r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")]


class SipCallInfo(_Model):
    """SIPCallInfo: one leg (a dialog with one phone) of a call, as notified and listed."""

    call: CallRef
    """The unique ID of separate parts of the call: id and tag of this leg."""
    caller: SipCallerInfo
    """The information about the caller."""
    callee: SipCallerInfo
    """The information about who the caller is calling to."""
    state: WireState
    """The current state of the leg: trying (a call is initiated and a request sent), ringing, early
    (early media), connected (answered or taken from hold), held (returned to the party placed on hold),
    holding (returned to the party who holds), terminated, queued, dequeued."""
    transport_id: str
    """The SIP address of the call, IP:port."""
    type: LegType
    """The dialog's direction for the phone: outgoing (the phone started it), incoming (it received it)."""
    start_time: DateTimeStr | None = None
    """When the call was initiated (YYYY-MM-DD HH:MM:SS); sent with trying, ringing, early."""
    connect_time: DateTimeStr | None = None
    """When the call was connected or put on hold; sent with connected, held, holding."""
    duration: int | None = None
    """Terminated: the call length in seconds from when it was connected; a DTMF digit: its duration in
    milliseconds."""
    reason: str | None = None
    """Why the call ended or was not established; sent with terminated."""
    reason_code: int | None = None
    """The code of the reason the call ended (a SIP status, or null); sent with terminated."""
    queue_info: QueueInfo | None = None
    """The call queue status; sent with queued and dequeued."""
    event: CallEvent | None = None
    """IVR notifications: play_prompt_completed (a prompt finished), dtmf_digit_detected (one digit)."""
    digit: str | None = None
    """The detected DTMF digit: 0-9, *, #, A-D."""
    order: Literal[2, 3] | None = None
    """The playback slot (2 or 3) of the prompt that completed."""
    dtmf_method: DtmfMethod | None = None
    """Ours: which method carried the DTMF digit (rfc4733, info, inband)."""


class CallsListResult(SuccessResult):
    calls_list: list[SipCallInfo]
    """The list of calls: every leg in progress that the keys name and the session may see."""


class CdrInfo(_Model):
    """One CDR (docs/operations.md, "CDRs"): the call's row has no ``leg_tag``. Times are
    ISO-8601 UTC with milliseconds; ``duration`` is seconds connected."""

    # The descriptions are those of docs/operations.md, "The fields".
    call_id: str
    """The call's id: the Call-ID of its first dialog (leg A's), the call.id of the API."""
    leg_tag: str | None
    """The leg's tag (call.tag of the API); null on the call's own row."""
    leg_id: str | None
    """The id the leg shows in the API (originate's leg B: call_id~10)."""
    sip_call_id: str | None
    """The Call-ID of the leg's own dialog."""
    leg_type: LegType | None
    """outgoing: the phone called the server (leg A); incoming: the server called it."""
    caller: str
    """The caller's id (account id or number), as in SIPCallInfo."""
    callee: str
    """The callee's id (account id or number), as in SIPCallInfo."""
    i_account: int | None
    """The account the row is billed to (a leg: its phone's account)."""
    i_customer: int | None
    """The customer the row is billed to."""
    route: str | None
    """The call and leg A: how the number was routed (account, ivr, trunk); a leg the server called: its
    Request-URI."""
    start_time: str
    """When the leg's INVITE arrived or was sent (the call: leg A's), ISO-8601 UTC."""
    connect_time: str | None
    """When it was answered (the call: its first answer); null when never answered."""
    disconnect_time: str
    """When it ended (the call: its last leg's end)."""
    duration: float
    """Seconds connected, to the millisecond (0 when never answered)."""
    sip_code: int | None
    """The leg's final SIP status."""
    sip_reason: str | None
    """The phrase of that status (the phone's own for a relayed refusal)."""
    disconnect_reason: str
    """Why it ended, in words (caller hung up, cancelled, Busy Here, no answer, terminated by API, ...)."""
    hangup_side: Literal["caller", "callee", "server"] | None
    """Who ended it: caller (leg A's phone), callee (the called phone) or server."""
    huntgroup_id: str | None
    """The hunt group the call went through."""
    forwarders: list[str]
    """The forwarders the call went through."""


class CdrListResult(SuccessResult):
    cdr_list: list[CdrInfo]
    """The CDRs, oldest written first."""


class NotificationResult(_Model):
    call_info: SipCallInfo
    """The leg's state after the change."""


class Notification(_Model):
    """A sip.call_control_notifications event: a leg changed state (or an IVR event)."""

    action: Literal["update"]
    """Always update."""
    event: Literal["sip.call_control_notifications"]
    """The subscribed event."""
    seq: int
    """Ours: per connection, monotonic; see Session.resume."""
    result: NotificationResult
    """The leg."""


class OverflowResult(_Model):
    reason: str
    """Why the connection is being closed (send queue overflow)."""
    last_seq: int
    """The newest seq assigned before the overflow; resume from your own last seq."""


class OverflowNotice(_Model):
    """Ours: the client did not read fast enough; the server closes the connection (1008) after this."""

    action: Literal["overflow"]
    """Always overflow."""
    event: Literal["sip.call_control_notifications"]
    """The subscribed event."""
    result: OverflowResult
    """What was lost."""


class AuthInfo(_Model):
    """The mandatory authentication information: session_id, or login and password."""

    session_id: SessionId | None = None
    """A session from Session.login."""
    login: str | None = None
    """Or a login, authenticating this one request."""
    password: str | None = None
    """With login: its password."""
    domain: str | None = None
    """With login: its domain, when logins are not unique."""


class AuxInfo(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, use_attribute_docstrings=True)
    dry_run: Literal[0, 1] | bool | None = None
    """1: validate params and return them normalised, without running the method."""


class RequestEnvelope(_Model):
    """A request: one JSON object per text frame."""

    cseq: int | float | str | None = None
    """Matches the response with the request (the same value is present in the response). If no value
    is passed in the request, no response is returned (the request still runs)."""
    auth_info: AuthInfo | None = None
    """The mandatory authentication information (except for Session.login and Session.resume)."""
    service: str
    """The API service that contains the method: Session or CallControl."""
    method: str
    """The name of the API method."""
    params: dict[str, Any] = {}
    """The method's parameters (see each method)."""
    aux_info: AuxInfo | None = None
    """Ours: {"dry_run": 1} validates params without running the method."""


class ErrorBody(_Model):
    code: ErrorCode
    """For the client software: identifies the fault (see the error code table)."""
    message: str
    """A human readable explanation of the fault, not for algorithmic processing."""
    details: Any = None
    """Complements the message: the erroneous object (for sip.wrong_parameters, one {field, message}
    per bad field)."""


class ErrorResponse(_Model):
    """The answer to a request that could not be executed."""

    cseq: int | float | str | None = None
    """The request's cseq (null when the frame could not be read as a request)."""
    error: ErrorBody
    """What went wrong."""
    success: Literal[0] = 0
    """Always 0 on an error."""


def _check_wire_fields(model: type[BaseModel], wire: tuple[str, ...]) -> None:
    if set(model.model_fields) != set(wire):
        raise TypeError(f"{model.__name__} does not describe the encoder's fields: "
                        f"{sorted(set(model.model_fields) ^ set(wire))}")


_check_wire_fields(SipCallerInfo, PARTY_WIRE_FIELDS)
_check_wire_fields(SipCallInfo, CALL_INFO_WIRE_FIELDS)
_check_wire_fields(QueueInfo, tuple(wire.QueueInfo.__dataclass_fields__))
_check_wire_fields(CdrInfo, cdr_records.FIELDS)

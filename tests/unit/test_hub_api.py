"""API models, error encoding, JSON Schema export, envelope parsing (no sockets)."""
from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from callcontrol.api import models as api
from callcontrol.api.dispatcher import encode_calls_list, encode_error, encode_success, parse_envelope
from callcontrol.api.methods import METHODS, api_schema
from callcontrol.api.models import (
    ERROR_CLASSES,
    ERROR_MESSAGES,
    AnswerCallParams,
    ApiError,
    ErrorCode,
    GetSipCallsListParams,
    OriginateAdvancedCallParams,
    PlayPromptParams,
    validation_details,
)

SPEC_CODES = {
    "sip.unsupported_method": "Unsupported method",
    "sip.wrong_parameters": "Bad parameters",
    "sip.internal_server_error": "Internal processing error",
    "sip.call_not_found": "Not found",
    "sip.call_control_disabled": "Disabled",
    "internal_error": "Internal server error",
    "auth.failed": "Authentication failed",
    "auth.session_expired": "Session expired",
    "auth.forbidden": "Forbidden",
}

SPEC_METHODS = {
    "enable_api_notifications", "disable_api_notifications", "get_sip_calls_list", "originate_advanced_call",
    "answer_call", "terminate_call", "hold_call", "unhold_call", "transfer_call", "join_calls", "play_prompt",
    "stop_play_prompt", "start_dtmf_detect", "stop_dtmf_detect",
}


def test_every_spec_error_code_exists_with_its_message() -> None:
    for code, message in SPEC_CODES.items():
        assert ERROR_MESSAGES[ErrorCode(code)] == message
        err = ERROR_CLASSES[ErrorCode(code)]({"x": 1})
        assert err.to_wire() == {"code": code, "message": message, "details": {"x": 1}}


OUR_METHODS = {"get_cdr_list"}  # docs/spec.md, "Beyond PortaSIP"


def test_every_spec_method_is_in_the_table() -> None:
    assert {name for service, name in METHODS if service == "CallControl"} == SPEC_METHODS | OUR_METHODS
    assert {name for service, name in METHODS if service == "Session"} == {"login", "logout", "resume"}
    commands = {s.name for s in METHODS.values() if s.command}
    assert commands == SPEC_METHODS - {"enable_api_notifications", "disable_api_notifications",
                                       "get_sip_calls_list"}


def test_encoders_follow_the_envelope() -> None:
    assert orjson.loads(encode_success(3, {"call": {"id": "x"}})) == {
        "cseq": 3, "result": {"call": {"id": "x"}, "success": 1}, "success": 1}
    assert encode_success("a", {}).startswith(b'{"cseq":"a","result":')
    assert orjson.loads(encode_error(4, api.CallNotFound({"call": {"id": "x"}}))) == {
        "cseq": 4, "error": {"code": "sip.call_not_found", "message": "Not found",
                             "details": {"call": {"id": "x"}}}, "success": 0}
    spliced = encode_calls_list(5, [b'{"a":1}', b'{"b":2}'])
    assert orjson.loads(spliced) == {"cseq": 5, "result": {"calls_list": [{"a": 1}, {"b": 2}], "success": 1},
                                     "success": 1}
    assert orjson.loads(encode_calls_list(6, [])) == {"cseq": 6, "result": {"calls_list": [], "success": 1},
                                                      "success": 1}


def test_validation_details_name_each_field() -> None:
    with pytest.raises(ValidationError) as info:
        OriginateAdvancedCallParams.model_validate({"bill_id": True, "caller_id": "1 2", "callee_auto_pickup": "Q"})
    details = validation_details(info.value)
    assert {d["field"] for d in details} == {"params.bill_id", "params.caller_id", "params.callee_id",
                                             "params.callee_auto_pickup"}
    assert all(isinstance(d["message"], str) and d["message"] for d in details)


@pytest.mark.parametrize("value,expected", [(7, 7), ("7", 7), (0, 0)])
def test_ids_accept_numbers_and_digit_strings(value: object, expected: int) -> None:
    assert GetSipCallsListParams.model_validate({"i_account": value}).i_account == expected


@pytest.mark.parametrize("value", [True, 1.5, 2.0, -1, "x", "1e3", 2**64, None, [1]])
def test_ids_reject_everything_else(value: object) -> None:
    with pytest.raises(ValidationError):
        GetSipCallsListParams.model_validate({"i_account": value})


def test_spec_readings_of_the_params() -> None:
    p = AnswerCallParams.model_validate({"call": {"id": "x", "tag": "t"}, "callee_answer_mode": "notify"})
    assert p.callee_answer_mode == "Notify" and p.transport_id is None
    assert AnswerCallParams.model_validate({"call": {"id": "x"}}).callee_answer_mode is None
    p = PlayPromptParams.model_validate({"call": {"id": "x"}, "url": "http://h/welcome"})
    assert (p.order, p.repeat) == (2, 1)
    for bad in ({"order": 1}, {"repeat": 0}, {"repeat": -2}, {"url": "file:///etc/passwd"}, {"url": "http://"}):
        with pytest.raises(ValidationError):
            PlayPromptParams.model_validate({"call": {"id": "x"}, "url": "http://h/w", **bad})
    with pytest.raises(ValidationError):
        AnswerCallParams.model_validate({"call": {"id": ""}})
    for tid in ("10.0.0.1:5060", "[::1]:5070", "host.example:1"):
        assert AnswerCallParams.model_validate({"call": {"id": "x"}, "transport_id": tid}).transport_id == tid
    for tid in ("10.0.0.1", ":5060", "h:0", "h:70000", "h:x"):
        with pytest.raises(ValidationError):
            AnswerCallParams.model_validate({"call": {"id": "x"}, "transport_id": tid})


def test_api_schema_describes_every_method() -> None:
    schema = api_schema()
    orjson.dumps(schema)  # JSON-serialisable
    assert schema["$schema"].endswith("2020-12/schema")
    assert set(schema["methods"]) == {s.full_name for s in METHODS.values()}
    defs = schema["$defs"]
    for entry in schema["methods"].values():
        for part in ("params", "result"):
            name = entry[part]["$ref"].rsplit("/", 1)[1]
            assert name in defs
    answer = defs["AnswerCallParams"]
    assert answer["required"] == ["call"] and "additionalProperties" not in answer  # unknown keys: ignored
    assert set(schema["error_codes"]) >= set(SPEC_CODES)
    assert defs["SipCallInfo"]["properties"]["state"]["enum"] == [
        "trying", "ringing", "early", "connected", "held", "holding", "terminated", "queued", "dequeued"]
    assert schema["methods"]["Session.login"]["auth_required"] is False


def test_api_error_is_an_exception_with_code() -> None:
    err = api.WrongParameters.field("params.cld", "unknown number")
    assert isinstance(err, ApiError) and err.code == "sip.wrong_parameters"
    assert err.details == [{"field": "params.cld", "message": "unknown number"}]
    assert str(err) == "sip.wrong_parameters: Bad parameters"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_envelope_parser_only_raises_envelope_errors(text: str) -> None:
    try:
        env = parse_envelope(text)
    except api.EnvelopeError as exc:
        assert exc.code == "internal_error"
    else:
        assert env is not None


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=8,
)


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(sorted(METHODS)), st.dictionaries(
    st.sampled_from(["call", "to_call", "transport_id", "i_account", "i_customer", "event", "url", "order",
                     "repeat", "bill_id", "caller_id", "callee_id", "cld", "login", "password", "last_seq",
                     "session_id", "callee_answer_mode", "x"]), _json, max_size=6))
def test_any_params_validate_or_fail_with_field_details(method: tuple[str, str], params: dict) -> None:
    spec = METHODS[method]
    try:
        spec.params.model_validate(params)
    except ValidationError as exc:
        details = validation_details(exc)
        assert details and all(d["field"].startswith("params") for d in details)
        orjson.dumps(details)


def test_api_schema_is_valid_and_matches_real_frames() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from callcontrol.api.events import notification_frame, notification_tail
    from callcontrol.model.callinfo import CallId, CallInfo, CallState, Party

    schema = api_schema()
    jsonschema.Draft202012Validator.check_schema(schema)

    def validator(name: str) -> object:
        return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": schema["$defs"]})

    info = CallInfo(CallId("i@h", "t"), CallState.RINGING, "10.0.0.1:5060", "incoming",
                    Party(id="1001", forwarder_list=("7",)), Party(id="1002"), start_time=0.0)
    frame = orjson.loads(notification_frame(3, notification_tail(info.encoded())))
    assert list(validator("Notification").iter_errors(frame)) == []  # type: ignore[attr-defined]
    login = orjson.loads(encode_success(1, {"session_id": "ab" * 16}))
    assert list(validator("LoginResult").iter_errors(login["result"])) == []  # type: ignore[attr-defined]
    error = orjson.loads(encode_error(2, api.Forbidden([{"field": "params.i_customer", "message": "x"}])))
    assert list(validator("ErrorResponse").iter_errors(error)) == []  # type: ignore[attr-defined]
    bad = {"call": {"id": "x"}, "transport_id": 5}
    assert list(validator("TerminateCallParams").iter_errors(bad))  # type: ignore[attr-defined]


def test_encoder_output_validates_against_the_schema_models_in_every_state() -> None:
    from callcontrol.model.callinfo import (
        CALL_INFO_WIRE_FIELDS,
        PARTY_WIRE_FIELDS,
        CallId,
        CallInfo,
        CallState,
        Party,
        QueueInfo,
    )

    full = Party(id="1001", account_id="1001", centrex_id="1", display_id="1001", display_name="Alice",
                 extension_id="101", huntgroup_id="7", access_number="7000", forwarder_list=("9", "8"),
                 i_account=1, i_customer=1, i_main_office=1, i_ivr_an=1)
    events = ({}, {"event": "play_prompt_completed", "order": 3},
              {"event": "dtmf_digit_detected", "digit": "5", "duration": 80, "dtmf_method": "inband"})
    for state in CallState:
        for event in events:
            kw = {"duration": 4} if state is CallState.TERMINATED and "duration" not in event else {}
            info = CallInfo(CallId("c@h", "t"), state, "10.0.0.1:5060", "outgoing", full, Party(id="x"),
                            start_time=1.7e9, connect_time=1.7e9, reason="r", reason_code=486,
                            queue_info=QueueInfo(1, 2, 3), **kw, **event)  # type: ignore[arg-type]
            wire = orjson.loads(info.encoded())
            parsed = api.SipCallInfo.model_validate(wire)
            assert parsed.state == state
            assert set(wire) <= set(CALL_INFO_WIRE_FIELDS)
            assert set(wire["caller"]) == set(PARTY_WIRE_FIELDS)  # every wire field of a full party, no key
            assert wire["caller"]["forwarder_list"] == [{"id": "9"}, {"id": "8"}]


def test_a_schema_model_that_drifts_from_the_encoder_is_refused() -> None:
    from callcontrol.model.callinfo import PARTY_WIRE_FIELDS

    class Drifted(api.SipCallerInfo):
        nickname: str | None = None

    with pytest.raises(TypeError, match="nickname"):
        api._check_wire_fields(Drifted, PARTY_WIRE_FIELDS)


def test_the_api_schema_command_prints_the_table() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "callcontrol", "api-schema"], capture_output=True, check=True,
                         timeout=60).stdout
    assert set(orjson.loads(out)["methods"]) == {s.full_name for s in METHODS.values()}


def test_engine_refusals_map_to_api_errors_in_one_place() -> None:
    from callcontrol.actions.errors import ActionError, InvalidArgument, LegNotFound, Unavailable, WrongState
    from callcontrol.api.action_errors import api_error

    class PhoneSaidNo(ActionError):  # like the engine's Refused: any subclass, with a SIP status
        def __init__(self, message: str, sip_code: int) -> None:
            super().__init__(message)
            self.sip_code = sip_code

    params = api.HoldCallParams.model_validate({"call": {"id": "c", "tag": "t"}})
    cases = [
        (InvalidArgument("cld", "unknown number"), "sip.wrong_parameters",
         [{"field": "params.cld", "message": "unknown number"}]),
        (WrongState("call", "not connected"), "sip.wrong_parameters",
         [{"field": "params.call", "message": "not connected"}]),
        (LegNotFound("ended"), "sip.call_not_found", {"call": {"id": "c", "tag": "t"}}),
        (Unavailable("no media ports"), "sip.call_control_disabled", {"reason": "no media ports"}),
        (PhoneSaidNo("hold refused", 488), "sip.internal_server_error", {"reason": "hold refused", "sip_code": 488}),
        (ActionError("odd"), "sip.internal_server_error", {"reason": "odd"}),
    ]
    for exc, code, details in cases:
        err = api_error(exc, params)
        assert (err.code, err.details) == (code, details), exc

"""The Python client's typed objects (callcontrol/client_types.py), its docstrings and its documentation.

``mypy --strict`` on a use of the client: tests/integration/test_client_typing.py.
"""
from __future__ import annotations

import inspect
import logging
import re

import pytest

from callcontrol import client_types as t
from callcontrol.api import models
from callcontrol.api.methods import METHODS
from callcontrol.client import CallControlClient, Notification, _wire_params
from tests.integration.harness import ROOT

WIRE = {"call": {"id": "c@h", "tag": "t"}, "caller": {"id": "sipp", "display_name": "sipp", "forwarder_list": []},
        "callee": {"id": "1002", "account_id": "1002", "forwarder_list": [{"id": "1001"}]},
        "state": "ringing", "transport_id": "127.0.0.1:5060", "type": "incoming",
        "start_time": "2026-12-07 10:00:00"}


def test_typed_objects_are_the_api_models() -> None:
    for typed, model in ((t.CallRef, models.CallRef), (t.Party, models.SipCallerInfo), (t.CallInfo, models.SipCallInfo),
                         (t.QueueInfo, models.QueueInfo), (t.Forwarder, models.ForwarderInfo),
                         (t.OriginatedCall, models.OriginatedCall), (t.ResumeResult, models.ResumeResult),
                         (t.Cdr, models.CdrInfo)):
        assert issubclass(typed, model)
        assert list(typed.model_fields) == list(model.model_fields)
        assert typed.model_config["extra"] == "allow"


def test_a_call_info_is_typed_and_reads_like_its_json() -> None:
    info = t.CallInfo.from_wire(WIRE)
    assert isinstance(info.call, t.CallRef) and isinstance(info.callee, t.Party)
    assert isinstance(info.callee.forwarder_list[0], t.Forwarder)
    assert (info.state, info.phone.id, info.peer.id, info.callee.forwarder_list[0].id) == \
        ("ringing", "1002", "sipp", "1001")
    assert info["state"] == "ringing" and info["caller"]["id"] == "sipp"
    assert info["call"] == {"id": "c@h", "tag": "t"} and info == WIRE and info.to_wire() == WIRE
    assert "connect_time" not in info and info.get("connect_time", "-") == "-" and info.connect_time is None
    with pytest.raises(KeyError):
        info["connect_time"]
    assert sorted(info.keys()) == sorted(WIRE) == sorted(info) and len(info) == len(WIRE)
    assert set(info["call"]) == {"id", "tag"} and dict(info["call"]) == {"id": "c@h", "tag": "t"}
    assert str(info.callee["forwarder_list"]) == "[{'id': '1001'}]"
    assert repr(info.call) == "{'id': 'c@h', 'tag': 't'}"
    assert _wire_params({"call": info, "to_call": info["call"], "x": None}) == {
        "call": {"id": "c@h", "tag": "t"}, "to_call": {"id": "c@h", "tag": "t"}}


def test_fields_a_newer_server_adds_are_kept_and_a_mismatch_is_not_lost(caplog: pytest.LogCaptureFixture) -> None:
    newer = t.CallInfo.from_wire({**WIRE, "mood": "calm"})
    assert newer["mood"] == "calm" and newer.to_wire()["mood"] == "calm"
    with caplog.at_level(logging.WARNING, logger="callcontrol.client_types"):
        odd = t.CallInfo.from_wire({**WIRE, "state": "parked"})
    assert odd.state == "parked" and "does not match its schema" in caplog.text


def test_notification_state() -> None:
    note = Notification("update", 3, t.CallInfo.from_wire(WIRE), {})
    assert note.state == "ringing"
    assert Notification("resync", None, None, {}).state is None


def test_every_public_method_has_a_docstring() -> None:
    missing = [name for name, fn in inspect.getmembers(CallControlClient, inspect.isfunction)
               if not name.startswith("_") and not (fn.__doc__ or "").strip()]
    assert missing == []
    for name in ("connected",):
        assert getattr(CallControlClient, name).__doc__


def test_every_method_has_a_helper_and_an_example_in_docs_client_md() -> None:
    doc = (ROOT / "docs" / "client.md").read_text()
    for service, name in METHODS:
        assert callable(getattr(CallControlClient, name, None)), f"CallControlClient has no {name}()"
        section = re.search(rf"^#### {service}\.{name}\n\n```python\n(.*?)```", doc, re.M | re.S)
        assert section is not None, f"docs/client.md: no example for {service}.{name}"
        assert f"cc.{name}(" in section.group(1), f"docs/client.md: the {name} example does not call it"


def test_the_package_is_marked_typed() -> None:
    assert (ROOT / "callcontrol" / "py.typed").is_file()
    assert '"callcontrol" = ["py.typed"]' in (ROOT / "pyproject.toml").read_text()

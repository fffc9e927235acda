"""The API over the server's CallRegistry with no engine attached yet: calls listed from the
registry, commands refused honestly (was the B2BUA backend's test; the handlers do it now)."""
from __future__ import annotations

from pathlib import Path

from websockets.asyncio.client import connect

from callcontrol.api.service import CallControlApi
from callcontrol.directory.service import Directory
from callcontrol.model.callinfo import CallState
from callcontrol.model.calls import CallRegistry
from callcontrol.ws.hub import start_hub
from tests.unit.hub_harness import (
    TRANSPORT,
    RawClient,
    error_code,
    party,
)


async def test_list_from_registry_and_commands_without_a_b2bua_are_disabled_not_faked(data_dir: Path) -> None:
    directory = await Directory.open(data_dir)
    registry = CallRegistry()
    api = CallControlApi(directory=directory, registry=registry)
    hub = await start_hub("127.0.0.1", 0, api=api)
    registry.set_publish(api.publish)
    try:
        ours = registry.new_call("c1@h")
        a = ours.add_leg(tag="ta", sip_call_id="c1@h", type="outgoing", caller=party(directory, i_account=1),
                         callee=party(directory, i_account=2), transport_id=TRANSPORT, now=1.7e9)
        ours.move(a, CallState.CONNECTED, 1.7e9 + 1)
        other = registry.new_call("c2@h")  # customer 3's call: invisible to demo-corp
        other.add_leg(tag="tx", sip_call_id="c2@h", type="outgoing", caller=party(directory, i_account=5),
                      callee=party(directory, i_account=5), transport_id=TRANSPORT, now=1.7e9)
        ws = await connect(f"ws://127.0.0.1:{hub.port}/ws", compression=None)
        client = RawClient(ws)
        try:
            await client.login("demo-corp", "demo-corp-pass")
            listed = await client.cc("get_sip_calls_list", {"i_customer": 1})
            calls = listed["result"]["calls_list"]
            assert [(c["call"], c["state"]) for c in calls] == [({"id": "c1@h", "tag": "ta"}, "connected")]
            hidden = await client.cc("get_sip_calls_list", {"i_customer": 3})
            assert hidden["result"]["calls_list"] == []  # another tenant's call does not exist for us

            ref = {"call": {"id": "c1@h", "tag": "ta"}, "transport_id": TRANSPORT}
            resp = await client.cc("terminate_call", ref)
            assert error_code(resp) == "sip.call_control_disabled"
            assert resp["error"]["details"]["reason"] == "no B2BUA attached"
            assert a.state is CallState.CONNECTED  # nothing pretended to happen
            foreign = await client.cc("hold_call", {"call": {"id": "c2@h", "tag": "tx"}})
            assert error_code(foreign) in ("sip.call_not_found", "sip.call_control_disabled")
            originate = await client.cc("originate_advanced_call",
                                        {"bill_id": "1001", "caller_id": "1001", "callee_id": "1002"})
            assert error_code(originate) == "sip.call_control_disabled"
        finally:
            await ws.close()
    finally:
        await hub.close()
        await directory.close()

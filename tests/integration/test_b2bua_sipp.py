"""The B2BUA end to end: SIPp uac -> ``callcontrol serve`` -> SIPp uas on the trunk.

Each test starts the real server with a TOML config (trunk = the SIPp UAS, 127.0.0.1
trusted), runs SIPp on both sides, stops the server with SIGTERM and reads the CDRs
it flushed into its SQLite store.
"""
from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from callcontrol.client import CallControlClient
from tests.integration.harness import (
    ROOT,
    SCENARIOS,
    Server,
    SippResult,
    free_port,
    register,
    run_sipp,
    start_server,
    start_sipp_scenario,
    start_sipp_uas,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path)
    yield srv
    srv.proc.stop()


def _calls(cdrs: list[sqlite3.Row]) -> list[sqlite3.Row]:
    return [c for c in cdrs if c["leg_tag"] is None]


@pytest.mark.parametrize("transport", [pytest.param("u1", id="udp"), pytest.param("t1", id="tcp")])
def test_20_calls_complete_through_the_trunk(server: Server, transport: str) -> None:
    uas = start_sipp_uas(server.trunk_port, "u1", 20)
    result, uas_code = _run_pair(uas, [f"127.0.0.1:{server.sip_port}", "-sn", "uac", "-s", "5551234", "-t",
                                       transport, "-m", "20", "-r", "20", "-p", str(free_port())], timeout=60)
    assert result.returncode == 0, result.output[-3000:]
    assert (result.successful, result.failed) == (20, 0)
    assert uas_code == 0, _uas_errors(uas)
    cdrs = server.stop_and_read_cdrs()
    calls = _calls(cdrs)
    assert len(calls) == 20 and len(cdrs) == 60  # one per call, one per leg
    for call in calls:
        assert call["callee"] == "5551234"
        assert call["caller"] == "sipp"
        assert call["connect_time"] is not None
        assert call["disconnect_reason"] == "caller hung up"
    # every leg of every call is in the store, under the call's id
    assert {c["call_id"] for c in cdrs} == {c["call_id"] for c in calls}


def _run_pair(uas: subprocess.Popen[str], uac_args: list[str], timeout: float = 30) -> tuple[SippResult, int]:
    """Run the caller SIPp to completion, then wait for the callee SIPp (killed if it hangs)."""
    try:
        result = run_sipp(uac_args, timeout=timeout)
        # A failed caller may leave the callee waiting for a call that never comes: no wait then.
        uas_code = uas.wait(30) if result.returncode == 0 else -1
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait()
    return result, uas_code


def _uas_errors(uas: subprocess.Popen[str]) -> str:
    return uas.stderr.read()[-3000:] if uas.stderr else ""


def _calls_through_trunk(server: Server, uas_scenario: str, uac_scenario: str, calls: int) -> list[sqlite3.Row]:
    """SIPp caller → server → SIPp trunk UAS, each running its scenario; both must succeed. Returns CDRs."""
    uas = start_sipp_scenario(server.trunk_port, "u1", calls, SCENARIOS / uas_scenario)
    result, uas_code = _run_pair(uas, [f"127.0.0.1:{server.sip_port}", "-sf", str(SCENARIOS / uac_scenario),
                                       "-s", "5551234", "-m", str(calls), "-r", "10", "-p", str(free_port())],
                                 timeout=60)
    assert result.returncode == 0, result.output[-3000:]
    assert (result.successful, result.failed) == (calls, 0)
    assert uas_code == 0, _uas_errors(uas)
    return server.stop_and_read_cdrs()


def test_cancel_from_caller_cancels_the_trunk_leg(server: Server) -> None:
    cdrs = _calls_through_trunk(server, "uas_ring_cancel.xml", "uac_cancel.xml", 10)
    assert len(_calls(cdrs)) == 10 and len(cdrs) == 30
    for cdr in cdrs:
        assert (cdr["disconnect_reason"], cdr["sip_code"], cdr["connect_time"]) == ("cancelled", 487, None)


def test_busy_trunk_is_relayed_as_486(server: Server) -> None:
    cdrs = _calls_through_trunk(server, "uas_busy.xml", "uac_busy.xml", 10)
    assert len(_calls(cdrs)) == 10 and len(cdrs) == 30
    for cdr in cdrs:
        assert (cdr["sip_code"], cdr["disconnect_reason"], cdr["connect_time"]) == (486, "Busy Here", None)


def test_rtp_inactivity_ends_the_call_with_bye_both_ways(tmp_path: Path) -> None:
    """No RTP flows (SIPp sends none): after media.rtp_timeout the server BYEs both legs."""
    srv = start_server(tmp_path, media="rtp_timeout = 1")
    try:
        uas = start_sipp_uas(srv.trunk_port, "u1", 2)
        try:
            # The caller would hang up after 30 s; the server must not let it get that far.
            result = run_sipp([f"127.0.0.1:{srv.sip_port}", "-sn", "uac", "-s", "5551234", "-d", "30000",
                               "-m", "2", "-r", "10", "-p", str(free_port())], timeout=25)
            uas_code = uas.wait(30)
        finally:
            if uas.poll() is None:
                uas.kill()
        # SIPp's built-in UAC does not expect a BYE: its calls count as failed; the UAS's succeed.
        assert result.failed == 2, result.output[-3000:]
        assert uas_code == 0, uas.stderr.read() if uas.stderr else ""
        cdrs = srv.stop_and_read_cdrs()
    finally:
        srv.proc.stop()
    assert len(_calls(cdrs)) == 2 and len(cdrs) == 6
    for cdr in cdrs:
        assert cdr["disconnect_reason"] == "RTP timeout"
        assert cdr["connect_time"] is not None
        assert 0.5 < cdr["duration"] < 10


async def test_call_to_registered_account_is_notified_and_listed(server: Server) -> None:
    """A call to account 1002 reaches its registered contact; demo-corp sees both legs' states."""
    phone_port = free_port()
    reply = await asyncio.to_thread(register, server.sip_port, phone_port, "1002")
    assert reply.startswith("SIP/2.0 200 "), reply
    uas = start_sipp_uas(phone_port, "u1", 1)
    try:
        async with CallControlClient.connect(f"ws://127.0.0.1:{server.ws_port}/ws") as client:
            await client.login("demo-corp", "demo-corp-pass")
            await client.enable_api_notifications(i_customer=1)
            sipp = asyncio.create_task(asyncio.to_thread(run_sipp, [
                f"127.0.0.1:{server.sip_port}", "-sn", "uac", "-s", "1002", "-d", "1500", "-m", "1",
                "-p", str(free_port())], 30))
            states: dict[str, list[str]] = {}
            infos: dict[str, dict] = {}
            listed: list[dict] | None = None
            while not (len(states) == 2 and all(s[-1] == "terminated" for s in states.values())):
                n = await client.next_notification(timeout=15)
                assert n.call_info is not None
                tag = n.call_info["call"]["tag"]
                states.setdefault(tag, []).append(n.call_info["state"])
                infos[tag] = n.call_info
                if listed is None and sum(s[-1] == "connected" for s in states.values()) == 2:
                    listed = await client.get_sip_calls_list(i_customer=1)
            result = await sipp
        uas_code = await asyncio.to_thread(uas.wait, 30)
    finally:
        if uas.poll() is None:
            uas.kill()
    assert result.returncode == 0 and result.successful == 1, result.output[-3000:]
    assert uas_code == 0
    by_type = {info["type"]: (tag, info) for tag, info in infos.items()}
    a_tag, a_info = by_type["outgoing"]
    b_tag, b_info = by_type["incoming"]
    assert a_info["call"]["id"] == b_info["call"]["id"]  # one call, two parts
    assert states[a_tag] == ["trying", "ringing", "connected", "terminated"]
    assert states[b_tag] == ["trying", "ringing", "connected", "terminated"]
    assert b_info["callee"]["id"] == "1002" and b_info["callee"]["account_id"] == "1002"
    assert a_info["caller"]["id"] == "sipp"
    assert a_info["reason"] == b_info["reason"] == "caller hung up"
    assert listed is not None
    assert sorted(x["state"] for x in listed) == ["connected", "connected"]
    assert {x["call"]["tag"] for x in listed} == {a_tag, b_tag}


def test_sigterm_byes_live_calls_and_flushes_their_cdrs(tmp_path: Path) -> None:
    srv = start_server(tmp_path)
    uas = start_sipp_uas(srv.trunk_port, "u1", 3)
    uac = subprocess.Popen(["sipp", f"127.0.0.1:{srv.sip_port}", "-sn", "uac", "-s", "5551234", "-d", "60000",
                            "-m", "3", "-r", "10", "-p", str(free_port()), "-nostdin", "-timeout", "60s"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while srv.metric("callcontrol_calls_answered_total") < 3:
            assert time.monotonic() < deadline, "calls were not answered"
            time.sleep(0.05)  # polling a counter under a deadline
        assert srv.metric("callcontrol_calls_active") == 3
        cdrs = srv.stop_and_read_cdrs()  # SIGTERM: BYE both ways, CDRs flushed, exit 0
        assert uas.wait(30) == 0  # the trunk side got its BYEs (a BYE ends each call of its scenario)
    finally:
        for proc in (uac, uas):
            if proc.poll() is None:
                proc.kill()
        srv.proc.stop()
    assert len(_calls(cdrs)) == 3 and len(cdrs) == 9
    assert {(c["disconnect_reason"], c["sip_code"]) for c in cdrs} == {("server shutdown", 503)}


# -- digest, re-INVITE, callee BYE, static contact ------------------------------------------------

def test_untrusted_phone_is_challenged_and_calls_with_digest(tmp_path: Path) -> None:
    """Nothing trusted: account 1001's INVITE gets 407, the digest-authenticated retry reaches the trunk."""
    srv = start_server(tmp_path, trusted=())
    try:
        uas = start_sipp_uas(srv.trunk_port, "u1", 1)
        msg_log = tmp_path / "uac_messages.log"
        result, uas_code = _run_pair(uas, [
            f"127.0.0.1:{srv.sip_port}", "-sf", str(SCENARIOS / "uac_digest_auth.xml"), "-s", "5551234",
            "-key", "caller", "1001", "-au", "1001", "-ap", "secret1001",
            # SIPp's digest uri is "sip:" + HOST:PORT unless told; the server checks it is the Request-URI.
            "-auth_uri", f"5551234@127.0.0.1:{srv.sip_port}", "-m", "1",
            "-p", str(free_port()), "-trace_msg", "-message_file", str(msg_log)])
        assert result.returncode == 0 and (result.successful, result.failed) == (1, 0), result.output[-3000:]
        assert uas_code == 0, _uas_errors(uas)
        wire = msg_log.read_text()
        # On the wire: the first INVITE was refused with a digest challenge, the second carried credentials.
        assert "SIP/2.0 407 " in wire and "Proxy-Authenticate: Digest " in wire
        assert 'Proxy-Authorization: Digest username="1001"' in wire
        cdrs = srv.stop_and_read_cdrs()
    finally:
        srv.proc.stop()
    calls = _calls(cdrs)
    assert len(calls) == 1 and len(cdrs) == 3
    assert (calls[0]["caller"], calls[0]["callee"], calls[0]["i_account"]) == ("1001", "5551234", 1)
    assert calls[0]["connect_time"] is not None
    assert calls[0]["disconnect_reason"] == "caller hung up"


def test_reinvite_sendonly_is_relayed_with_the_servers_media_address(server: Server) -> None:
    """The caller's re-INVITE (a=sendonly) reaches the callee as a re-INVITE whose SDP points at the
    server's relay; the callee's a=recvonly answer comes back, again pointing at the server.

    Both scenarios check it on the wire (ereg with check_it): a=sendonly, c=IN IP4 127.0.0.1 and an
    m= port in the server's RTP range on the callee's side; a=recvonly and such a port on the caller's.
    """
    cdrs = _calls_through_trunk(server, "uas_reinvite_recvonly.xml", "uac_reinvite_sendonly.xml", 1)
    calls = _calls(cdrs)
    assert len(calls) == 1 and len(cdrs) == 3
    assert calls[0]["disconnect_reason"] == "caller hung up" and calls[0]["connect_time"] is not None


def test_bye_from_the_callee_reaches_the_caller(server: Server) -> None:
    """The trunk side hangs up: its BYE is answered, and the caller receives a BYE in its own dialog."""
    cdrs = _calls_through_trunk(server, "uas_answer_then_bye.xml", "uac_expect_bye.xml", 1)
    calls = _calls(cdrs)
    assert len(calls) == 1 and len(cdrs) == 3
    assert calls[0]["connect_time"] is not None
    assert {c["disconnect_reason"] for c in cdrs} == {"callee hung up"}


def test_account_with_a_static_contact_is_called_without_registering(tmp_path: Path) -> None:
    """`callcontrol directory add account --static-contact URI`: a call to it goes to that URI."""
    phone_port = free_port()
    data_dir = tmp_path / "data"  # where start_server keeps the store
    add = subprocess.run(
        ["callcontrol", "directory", "--data-dir", str(data_dir), "add", "account", "--customer", "1",
         "--id", "1004", "--static-contact", f"sip:1004@127.0.0.1:{phone_port}", "--password-stdin"],
        input="secret1004\n", cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert add.returncode == 0, add.stderr
    assert f"sip:1004@127.0.0.1:{phone_port}" in add.stdout
    srv = start_server(tmp_path)
    try:
        phone_log = tmp_path / "phone_messages.log"
        uas = start_sipp_uas(phone_port, "u1", 1, "-trace_msg", "-message_file", str(phone_log))
        result, uas_code = _run_pair(uas, [
            f"127.0.0.1:{srv.sip_port}", "-sn", "uac", "-s", "1004", "-m", "1", "-p", str(free_port())])
        assert result.returncode == 0 and (result.successful, result.failed) == (1, 0), result.output[-3000:]
        assert uas_code == 0, _uas_errors(uas)
        # The phone never registered: the server sent the INVITE to the configured contact.
        assert f"INVITE sip:1004@127.0.0.1:{phone_port} SIP/2.0" in phone_log.read_text()
        cdrs = srv.stop_and_read_cdrs()
    finally:
        srv.proc.stop()
    calls = _calls(cdrs)
    assert len(calls) == 1 and len(cdrs) == 3
    assert calls[0]["callee"] == "1004" and calls[0]["connect_time"] is not None
    legs = [c for c in cdrs if c["leg_tag"] is not None]
    assert {c["callee"] for c in legs} == {"1004"}
    # The account's CDR of the B leg is billed to the new account's customer.
    assert {c["i_customer"] for c in legs if c["i_account"] is not None} == {1}


def test_session_timer_ends_a_call_whose_refresher_goes_silent(tmp_path: Path) -> None:
    """RFC 4028: the caller asks for a 4 s session and to refresh it, then never does. The
    server's 200 carries Session-Expires (refresher=uac) with Require: timer, and before the
    session expires it BYEs both legs (Reason cause 408, checked by the scenario)."""
    server = start_server(tmp_path, sip_extra="min_se = 2")
    try:
        uas = start_sipp_uas(server.trunk_port, "u1", 1)
        result, uas_code = _run_pair(uas, [
            f"127.0.0.1:{server.sip_port}", "-sf", str(SCENARIOS / "uac_session_timer_silent.xml"),
            "-s", "5551234", "-m", "1", "-p", str(free_port())])
        assert result.returncode == 0, result.output[-3000:]
        assert (result.successful, result.failed) == (1, 0)
        assert uas_code == 0, _uas_errors(uas)  # the trunk's phone got its BYE too
        cdrs = server.stop_and_read_cdrs()
        assert {c["disconnect_reason"] for c in cdrs} == {"session expired"}
    finally:
        server.proc.stop()


def test_two_digest_accounts_call_each_other_with_rtp_relayed_both_ways(tmp_path: Path) -> None:
    """Nothing trusted: 1002 registers with digest (SIPp), 1001 calls it with digest (SIPp),
    plays 10 RTP packets; 1002 echoes them (-rtp_echo). Both directions cross the relay."""
    srv = start_server(tmp_path, trusted=())
    try:
        phone_port = free_port()
        reg = run_sipp([f"127.0.0.1:{srv.sip_port}", "-sf", str(SCENARIOS / "demo_register.xml"), "-s", "1002",
                        "-au", "1002", "-ap", "secret1002", "-m", "1", "-p", str(phone_port)], timeout=30)
        assert reg.returncode == 0 and reg.successful == 1, reg.output[-2000:]
        uas = start_sipp_uas(phone_port, "u1", 1, "-rtp_echo", "-mp", str(free_port()))
        msg_log = tmp_path / "uac_messages.log"
        result, uas_code = _run_pair(uas, [
            f"127.0.0.1:{srv.sip_port}", "-sf", str(SCENARIOS / "uac_digest_rtp.xml"), "-s", "1002",
            "-key", "caller", "1001", "-au", "1001", "-ap", "secret1001",
            "-auth_uri", f"1002@127.0.0.1:{srv.sip_port}", "-m", "1", "-mp", str(free_port()),
            "-p", str(free_port()), "-trace_msg", "-message_file", str(msg_log)])
        assert result.returncode == 0 and (result.successful, result.failed) == (1, 0), result.output[-3000:]
        assert uas_code == 0, _uas_errors(uas)
        assert "SIP/2.0 407 " in msg_log.read_text()
        # 10 packets from 1001 and their 10 echoes from 1002 came in; the same went out.
        assert srv.metric("callcontrol_rtp_packets_received_total") >= 20
        assert srv.metric("callcontrol_rtp_packets_sent_total") >= 20
        cdrs = srv.stop_and_read_cdrs()
    finally:
        srv.proc.stop()
    calls = _calls(cdrs)
    assert len(calls) == 1 and len(cdrs) == 3
    assert (calls[0]["caller"], calls[0]["callee"], calls[0]["i_account"]) == ("1001", "1002", 1)
    legs = [c for c in cdrs if c["leg_tag"] is not None]
    assert sorted(c["i_account"] for c in legs) == [1, 2]


def test_unknown_number_without_a_trunk_is_404(tmp_path: Path) -> None:
    srv = start_server(tmp_path, trunk=False)
    try:
        result = run_sipp([f"127.0.0.1:{srv.sip_port}", "-sf", str(SCENARIOS / "uac_not_found.xml"),
                           "-s", "5551234", "-m", "3", "-p", str(free_port())], timeout=30)
        assert result.returncode == 0 and (result.successful, result.failed) == (3, 0), result.output[-3000:]
        assert srv.metric("callcontrol_calls_active") == 0
        cdrs = srv.stop_and_read_cdrs()
    finally:
        srv.proc.stop()
    assert cdrs == []  # refused before any call existed

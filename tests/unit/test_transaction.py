"""RFC 3261 §17 / RFC 6026 transactions, driven by a fake clock (a float we advance)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sip.message import Request, Response, make_response, parse_message
from sip.transaction import (
    MAGIC_COOKIE,
    TERMINATED,
    TIMEOUT_B,
    TIMEOUT_F,
    TIMEOUT_H,
    TIMEOUT_L,
    TRANSPORT_ERROR,
    Action,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    Deliver,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    TimerConfig,
    TransactionState,
    TransactionTable,
    Transmit,
    build_ack,
    new_branch,
    server_key,
)

S = TransactionState

BRANCH = "z9hG4bKabc123"


def request(method: str = "INVITE", *, branch: str | None = BRANCH, sent_by: str = "10.0.0.1:5060",
            uri: str = "sip:bob@example.com", cseq: int = 1, cseq_method: str | None = None,
            to_tag: str | None = None, extra_via: bool = True, routes: bool = True) -> Request:
    via_params = f";branch={branch}" if branch is not None else ""
    to = "Bob <sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    lines = [f"{method} {uri} SIP/2.0", f"Via: SIP/2.0/UDP {sent_by}{via_params}"]
    if extra_via:
        lines.append("Via: SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKdownstream")
    if routes:
        lines += ["Route: <sip:p1.example.com;lr>", "Route: <sip:p2.example.com;lr>"]
    lines += [
        "Max-Forwards: 70",
        "From: Alice <sip:alice@example.com>;tag=from1",
        f"To: {to}",
        "Call-ID: call-1@10.0.0.1",
        f"CSeq: {cseq} {cseq_method or method}",
        "Contact: <sip:alice@10.0.0.1:5060>",
        "Content-Length: 0",
        "",
        "",
    ]
    msg = parse_message("\r\n".join(lines).encode())
    assert isinstance(msg, Request)
    return msg


def response(req: Request, status: int, to_tag: str | None = "totag1") -> Response:
    # Round-trip through bytes so the transaction sees a parsed message, as on the wire.
    msg = parse_message(make_response(req, status, to_tag=to_tag).to_bytes())
    assert isinstance(msg, Response)
    return msg


def run_until(tx: object, end: float) -> list[tuple[float, Action]]:
    """Fire every timer up to ``end`` at its exact deadline, as a call_at adapter would."""
    events: list[tuple[float, Action]] = []
    for _ in range(1000):
        deadline = tx.deadline  # type: ignore[attr-defined]
        if deadline is None or deadline > end:
            return events
        actions = tx.on_timer(deadline)  # type: ignore[attr-defined]
        assert actions, f"timer at {deadline} fired nothing"
        events.extend((deadline, a) for a in actions)
    raise AssertionError("timers never settle")


def transmit_times(events: list[tuple[float, Action]]) -> list[float]:
    return [t for t, a in events if isinstance(a, Transmit)]


# -- branch ----------------------------------------------------------------------------------------

def test_new_branch_has_cookie_and_is_unique() -> None:
    branches = [new_branch() for _ in range(5000)]
    assert all(b.startswith(MAGIC_COOKIE) and len(b) == len(MAGIC_COOKIE) + 16 for b in branches)
    assert all(all(c in "0123456789abcdef" for c in b[len(MAGIC_COOKIE):]) for b in branches)
    assert len(set(branches)) == len(branches)


# -- client INVITE ---------------------------------------------------------------------------------

def test_client_invite_retransmits_at_a_and_times_out_at_b_unreliable() -> None:
    req = request()
    tx = ClientInviteTransaction(req, 0.0)
    first = tx.start()
    assert len(first) == 1 and isinstance(first[0], Transmit)
    assert first[0].data == req.to_bytes()
    assert tx.state is S.CALLING and tx.deadline == 0.5
    assert tx.on_timer(0.4) == [] and tx.deadline == 0.5  # early wake-up: nothing

    events = run_until(tx, 100.0)
    assert transmit_times(events) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert all(a.data == req.to_bytes() for _, a in events if isinstance(a, Transmit))
    assert events[-2:] == [(32.0, TIMEOUT_B), (32.0, TERMINATED)]
    assert tx.state is S.TERMINATED and tx.deadline is None
    assert tx.on_timer(1000.0) == []


def test_client_invite_reliable_sends_once_and_times_out_at_b() -> None:
    tx = ClientInviteTransaction(request(), 10.0, reliable=True)
    assert len(tx.start()) == 1
    assert tx.deadline == 42.0
    events = run_until(tx, 100.0)
    assert events == [(42.0, TIMEOUT_B), (42.0, TERMINATED)]


def test_client_invite_provisional_stops_timer_a() -> None:
    req = request()
    tx = ClientInviteTransaction(req, 0.0)
    tx.start()
    assert transmit_times(run_until(tx, 0.5)) == [0.5]
    ringing = response(req, 180)
    assert tx.receive_response(ringing, 0.7) == [Deliver(ringing)]
    assert tx.state is S.PROCEEDING and tx.deadline is None
    assert tx.on_timer(50.0) == []
    again = response(req, 183)
    assert tx.receive_response(again, 1.0) == [Deliver(again)]
    assert tx.state is S.PROCEEDING


def test_client_invite_non_2xx_builds_ack_and_resends_it() -> None:
    req = request()
    tx = ClientInviteTransaction(req, 0.0)
    tx.start()
    busy = response(req, 486, to_tag="uas-tag")
    actions = tx.receive_response(busy, 2.0)
    assert actions[0] == Deliver(busy)
    ack_out = actions[1]
    assert isinstance(ack_out, Transmit) and len(actions) == 2
    assert tx.state is S.COMPLETED and tx.deadline == 34.0  # timer D, 32 s

    ack = parse_message(ack_out.data)
    assert isinstance(ack, Request)
    assert ack.method == "ACK" and ack.uri == "sip:bob@example.com"
    assert ack.headers.lines("via") == ["SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc123"]
    assert ack.headers.lines("route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert ack.headers.get("from") == "Alice <sip:alice@example.com>;tag=from1"
    assert ack.headers.get("to") == "Bob <sip:bob@example.com>;tag=uas-tag"
    assert ack.call_id == "call-1@10.0.0.1"
    assert ack.headers.get("cseq") == "1 ACK"
    assert ack.headers.get("max-forwards") == "70"
    assert ack.headers.get("contact") is None and ack.body == b""
    assert ack_out.data.startswith(b"ACK sip:bob@example.com SIP/2.0\r\n")
    assert ack_out.data.endswith(b"Content-Length: 0\r\n\r\n")

    # A retransmitted final response means our ACK was lost: the same bytes again, nothing for the TU.
    assert tx.receive_response(response(req, 486, to_tag="uas-tag"), 3.0) == [ack_out]
    assert tx.receive_response(response(req, 180), 3.5) == []
    assert run_until(tx, 100.0) == [(34.0, TERMINATED)]


def test_client_invite_non_2xx_reliable_terminates_at_once() -> None:
    req = request()
    tx = ClientInviteTransaction(req, 0.0, reliable=True)
    tx.start()
    busy = response(req, 603)
    actions = tx.receive_response(busy, 1.0)
    assert actions[0] == Deliver(busy)
    assert isinstance(actions[1], Transmit) and actions[1].message.method == "ACK"  # type: ignore[union-attr]
    assert actions[2:] == [TERMINATED]
    assert tx.state is S.TERMINATED and tx.deadline is None


def test_client_invite_2xx_accepted_passes_retransmissions_until_m() -> None:
    req = request()
    tx = ClientInviteTransaction(req, 0.0)
    tx.start()
    ok = response(req, 200, to_tag="a")
    assert tx.receive_response(ok, 1.0) == [Deliver(ok)]
    assert tx.state is S.ACCEPTED and tx.deadline == 33.0  # timer M = 64·T1
    ok_again = response(req, 200, to_tag="a")
    forked = response(req, 200, to_tag="b")
    assert tx.receive_response(ok_again, 2.0) == [Deliver(ok_again)]
    assert tx.receive_response(forked, 3.0) == [Deliver(forked)]
    assert tx.receive_response(response(req, 180), 4.0) == []
    assert tx.receive_response(response(req, 486), 4.0) == []
    assert tx.ack is None  # the 2xx ACK is the TU's
    assert run_until(tx, 100.0) == [(33.0, TERMINATED)]


def test_client_invite_transport_error() -> None:
    tx = ClientInviteTransaction(request(), 0.0)
    tx.start()
    assert tx.transport_error(0.1) == [TRANSPORT_ERROR, TERMINATED]
    assert tx.state is S.TERMINATED and tx.deadline is None
    assert tx.transport_error(0.2) == []


# -- client non-INVITE -----------------------------------------------------------------------------

def test_client_non_invite_retransmits_doubling_capped_at_t2_then_f() -> None:
    req = request("OPTIONS")
    tx = ClientNonInviteTransaction(req, 0.0)
    assert tx.state is S.TRYING
    tx.start()
    events = run_until(tx, 100.0)
    assert transmit_times(events) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert events[-2:] == [(32.0, TIMEOUT_F), (32.0, TERMINATED)]


def test_client_non_invite_proceeding_retransmits_every_t2() -> None:
    req = request("BYE")
    tx = ClientNonInviteTransaction(req, 0.0)
    tx.start()
    trying = response(req, 100)
    assert tx.receive_response(trying, 0.2) == [Deliver(trying)]
    assert tx.state is S.PROCEEDING
    events = run_until(tx, 13.0)
    # Timer E keeps its pending 0.5 s, then is reset to T2 each time it fires in Proceeding.
    assert transmit_times(events) == [0.5, 4.5, 8.5, 12.5]
    ok = response(req, 200)
    assert tx.receive_response(ok, 13.0) == [Deliver(ok)]
    assert tx.state is S.COMPLETED and tx.deadline == 18.0  # timer K = T4
    assert tx.receive_response(response(req, 200), 14.0) == []  # absorbed
    assert run_until(tx, 100.0) == [(18.0, TERMINATED)]


def test_client_non_invite_reliable() -> None:
    req = request("REGISTER", uri="sip:example.com")
    tx = ClientNonInviteTransaction(req, 0.0, reliable=True)
    tx.start()
    assert tx.deadline == 32.0  # only F
    ok = response(req, 200)
    assert tx.receive_response(ok, 1.0) == [Deliver(ok), TERMINATED]  # K = 0


def test_client_non_invite_f_in_proceeding() -> None:
    req = request("INFO")
    tx = ClientNonInviteTransaction(req, 0.0, reliable=True)
    tx.start()
    tx.receive_response(response(req, 180), 1.0)
    assert run_until(tx, 100.0) == [(32.0, TIMEOUT_F), (32.0, TERMINATED)]


# -- server INVITE ---------------------------------------------------------------------------------

def test_server_invite_trying_and_provisional_retransmissions() -> None:
    req = request()
    tx = ServerInviteTransaction(req, 0.0)
    assert tx.state is S.PROCEEDING and tx.deadline is None
    start = tx.start()
    assert len(start) == 2 and start[1] == Deliver(req)
    trying_out = start[0]
    assert isinstance(trying_out, Transmit)
    trying = parse_message(trying_out.data)
    assert isinstance(trying, Response) and trying.status == 100 and trying.to_tag is None
    assert trying_out.data.startswith(b"SIP/2.0 100 Trying\r\n")
    assert trying.via_values == req.via_values and trying.cseq == 1 and trying.cseq_method == "INVITE"

    assert tx.receive_request(request(), 0.3) == [trying_out]
    ringing = make_response(req, 180, to_tag="t1")
    ring_out = tx.send_response(ringing, 0.5)
    assert len(ring_out) == 1 and ring_out[0].data == ringing.to_bytes()  # type: ignore[union-attr]
    assert tx.state is S.PROCEEDING
    assert tx.receive_request(request(), 0.8) == ring_out


def test_server_invite_without_trying() -> None:
    req = request()
    tx = ServerInviteTransaction(req, 0.0, send_trying=False)
    assert tx.start() == [Deliver(req)]
    assert tx.receive_request(request(), 0.5) == []
    with pytest.raises(RuntimeError):
        tx.start()


def test_server_invite_non_2xx_retransmitted_at_g_until_ack_then_confirmed_until_i() -> None:
    req = request()
    tx = ServerInviteTransaction(req, 0.0)
    tx.start()
    busy = make_response(req, 486, to_tag="t1")
    out = tx.send_response(busy, 1.0)
    assert len(out) == 1 and isinstance(out[0], Transmit) and out[0].data == busy.to_bytes()
    assert tx.state is S.COMPLETED and tx.deadline == 1.5
    assert tx.response_to_tag == "t1"

    events = run_until(tx, 9.0)
    assert transmit_times(events) == [1.5, 2.5, 4.5, 8.5]
    assert all(a is out[0] for _, a in events)
    assert tx.receive_request(request(), 9.0) == out  # INVITE retransmission: the final again
    assert tx.send_response(make_response(req, 200, to_tag="t1"), 9.1) == []  # too late, discarded

    ack = request("ACK", to_tag="t1", extra_via=False, routes=False)
    assert tx.receive_request(ack, 10.0) == []  # the non-2xx ACK is absorbed, not delivered
    assert tx.state is S.CONFIRMED and tx.deadline == 15.0  # timer I = T4
    assert tx.receive_request(ack, 11.0) == []
    assert tx.receive_request(request(), 11.0) == []
    assert run_until(tx, 100.0) == [(15.0, TERMINATED)]


def test_server_invite_timer_h_without_ack() -> None:
    req = request()
    tx = ServerInviteTransaction(req, 0.0)
    tx.start()
    tx.send_response(make_response(req, 404, to_tag="t1"), 0.0)
    events = run_until(tx, 100.0)
    assert transmit_times(events) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert events[-2:] == [(32.0, TIMEOUT_H), (32.0, TERMINATED)]


def test_server_invite_reliable_non_2xx() -> None:
    req = request()
    tx = ServerInviteTransaction(req, 0.0, reliable=True)
    tx.start()
    tx.send_response(make_response(req, 480, to_tag="t1"), 0.0)
    assert tx.deadline == 32.0  # H only, no G
    ack = request("ACK", to_tag="t1")
    assert tx.receive_request(ack, 1.0) == [TERMINATED]  # I = 0


def test_server_invite_2xx_retransmitted_until_ack_then_absorbs_until_l() -> None:
    req = request()
    tx = ServerInviteTransaction(req, 0.0)
    tx.start()
    ok = make_response(req, 200, to_tag="t1", headers=[("Contact", "<sip:bob@10.0.0.2>")])
    out = tx.send_response(ok, 2.0)
    assert len(out) == 1 and isinstance(out[0], Transmit) and out[0].data == ok.to_bytes()
    assert tx.state is S.ACCEPTED and not tx.acked

    events = run_until(tx, 13.6)
    assert transmit_times(events) == [2.5, 3.5, 5.5, 9.5, 13.5]  # T1 doubling, capped at T2
    assert all(a is out[0] for _, a in events)
    assert tx.receive_request(request(), 14.0) == out  # INVITE retransmission: absorbed, 2xx re-sent

    assert tx.ack_received(14.0) == []
    assert tx.acked and tx.deadline == 34.0  # only timer L (2.0 + 64·T1) is left
    assert tx.receive_request(request(), 15.0) == []
    assert tx.send_response(make_response(req, 486, to_tag="t1"), 15.0) == []
    assert run_until(tx, 100.0) == [(34.0, TERMINATED)]  # ACKed: no Timeout


def test_server_invite_2xx_without_ack_reports_timeout_l() -> None:
    req = request()
    tx = ServerInviteTransaction(req, 0.0)
    tx.start()
    tx.send_response(make_response(req, 200, to_tag="t1"), 0.0)
    events = run_until(tx, 100.0)
    assert transmit_times(events) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert events[-2:] == [(32.0, TIMEOUT_L), (32.0, TERMINATED)]


def test_server_invite_2xx_reliable_no_retransmission() -> None:
    req = request()
    tx = ServerInviteTransaction(req, 0.0, reliable=True)
    tx.start()
    tx.send_response(make_response(req, 200, to_tag="t1"), 0.0)
    assert tx.deadline == 32.0
    assert tx.receive_request(request(), 1.0) == []
    assert run_until(tx, 100.0) == [(32.0, TIMEOUT_L), (32.0, TERMINATED)]


def test_server_invite_tu_resends_2xx_in_accepted() -> None:
    req = request()
    tx = ServerInviteTransaction(req, 0.0)
    tx.start()
    tx.send_response(make_response(req, 200, to_tag="t1"), 0.0)
    newer = make_response(req, 200, to_tag="t1", body=b"v=0\r\n")
    out = tx.send_response(newer, 0.2)
    assert len(out) == 1 and out[0].data == newer.to_bytes()  # type: ignore[union-attr]
    events = run_until(tx, 0.6)
    assert [a for _, a in events] == out  # later retransmissions carry the newer 2xx


# -- server non-INVITE -----------------------------------------------------------------------------

def test_server_non_invite_answers_retransmissions_and_absorbs_until_j() -> None:
    req = request("OPTIONS")
    tx = ServerNonInviteTransaction(req, 0.0)
    assert tx.state is S.TRYING
    assert tx.start() == [Deliver(req)]
    assert tx.receive_request(request("OPTIONS"), 0.4) == []  # TU has not answered

    trying = make_response(req, 100)
    prov = tx.send_response(trying, 0.5)
    assert tx.state is S.PROCEEDING and len(prov) == 1
    assert tx.receive_request(request("OPTIONS"), 0.6) == prov

    ok = make_response(req, 200, to_tag="t1")
    final = tx.send_response(ok, 1.0)
    assert len(final) == 1 and final[0].data == ok.to_bytes()  # type: ignore[union-attr]
    assert tx.state is S.COMPLETED and tx.deadline == 33.0  # timer J = 64·T1
    assert tx.receive_request(request("OPTIONS"), 20.0) == final
    assert tx.send_response(make_response(req, 500, to_tag="t1"), 20.0) == []
    assert run_until(tx, 100.0) == [(33.0, TERMINATED)]


def test_server_non_invite_reliable_terminates_on_final() -> None:
    req = request("BYE", to_tag="x")
    tx = ServerNonInviteTransaction(req, 0.0, reliable=True)
    tx.start()
    actions = tx.send_response(make_response(req, 200), 0.1)
    assert isinstance(actions[0], Transmit) and actions[1:] == [TERMINATED]


# -- configurable timers ---------------------------------------------------------------------------

def test_non_default_timer_values() -> None:
    cfg = TimerConfig(t1=0.1, t2=0.3, t4=1.5, timer_d=2.0)
    assert cfg.timeout == pytest.approx(6.4)

    inv = ClientInviteTransaction(request(), 0.0, cfg)
    inv.start()
    events = run_until(inv, 100.0)
    assert transmit_times(events) == pytest.approx([0.1, 0.3, 0.7, 1.5, 3.1, 6.3])
    assert events[-1][0] == pytest.approx(6.4) and events[-2][1] == TIMEOUT_B

    req = request("OPTIONS")
    opt = ClientNonInviteTransaction(req, 0.0, cfg)
    opt.start()
    assert transmit_times(run_until(opt, 1.52)) == pytest.approx([0.1, 0.3, 0.6, 0.9, 1.2, 1.5])
    opt.receive_response(response(req, 200), 1.55)
    assert opt.deadline == pytest.approx(1.55 + 1.5)  # K = T4

    inv2_req = request()
    inv2 = ClientInviteTransaction(inv2_req, 0.0, cfg)
    inv2.start()
    inv2.receive_response(response(inv2_req, 500), 0.05)
    assert inv2.deadline == pytest.approx(2.05)  # D from the config

    srv_req = request()
    srv = ServerInviteTransaction(srv_req, 0.0, cfg)
    srv.start()
    srv.send_response(make_response(srv_req, 486, to_tag="t"), 0.0)
    events = run_until(srv, 100.0)
    assert transmit_times(events) == pytest.approx([0.1, 0.3, 0.6, 0.9, 1.2, 1.5, 1.8, 2.1, 2.4, 2.7,
                                                    3.0, 3.3, 3.6, 3.9, 4.2, 4.5, 4.8, 5.1, 5.4, 5.7,
                                                    6.0, 6.3])
    assert events[-2][1] == TIMEOUT_H and events[-1][0] == pytest.approx(6.4)


@pytest.mark.parametrize("kwargs", [{"t1": 0.0}, {"t1": 1.0, "t2": 0.5}, {"t4": -1.0}, {"timer_d": -1.0}])
def test_timer_config_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TimerConfig(**kwargs)


def test_constructor_checks() -> None:
    with pytest.raises(ValueError):
        ClientNonInviteTransaction(request(), 0.0)
    with pytest.raises(ValueError):
        ServerNonInviteTransaction(request("ACK"), 0.0)
    with pytest.raises(ValueError):
        ServerInviteTransaction(request("OPTIONS"), 0.0)
    with pytest.raises(ValueError):
        ClientInviteTransaction(request(branch="oldstyle"), 0.0)  # no magic cookie


# -- the table -------------------------------------------------------------------------------------

def test_table_matches_server_requests_by_branch_sent_by_and_method() -> None:
    table = TransactionTable()
    inv = ServerInviteTransaction(request(), 0.0)
    table.add(inv)
    assert table.match_request(request()) is inv  # a retransmission (a separately parsed copy)
    assert table.match_request(request("ACK", to_tag="whatever")) is inv  # non-2xx ACK: same branch
    assert table.match_request(request("ACK", branch="z9hG4bKnew2xxack")) is None  # 2xx ACK
    assert table.match_request(request(sent_by="10.0.0.1:5062")) is None
    assert table.match_request(request(sent_by="10.0.0.1")) is None  # port absent is another sent-by
    assert table.match_request(request(branch="z9hG4bKother")) is None
    assert table.match_request(request(sent_by="10.0.0.1:5060".upper())) is inv
    # A non-INVITE with the INVITE's branch is another transaction (the method is in the key).
    assert table.match_request(request("OPTIONS")) is None
    with pytest.raises(ValueError):
        table.add(ServerInviteTransaction(request(), 0.0))
    assert len(table) == 1


def test_table_cancel_matching() -> None:
    table = TransactionTable()
    inv = ServerInviteTransaction(request(), 0.0)
    table.add(inv)
    cancel = request("CANCEL", extra_via=False, routes=False)
    assert table.match_request(cancel) is None  # a new CANCEL transaction
    assert table.match_cancel(cancel) is inv
    cancel_tx = ServerNonInviteTransaction(cancel, 0.0)
    table.add(cancel_tx)
    assert table.match_request(request("CANCEL", extra_via=False, routes=False)) is cancel_tx
    assert table.match_cancel(request("CANCEL", branch="z9hG4bKunrelated")) is None
    # Only INVITE server transactions are cancelled.
    opt = ServerNonInviteTransaction(request("OPTIONS", branch="z9hG4bKopt"), 0.0)
    table.add(opt)
    assert table.match_cancel(request("CANCEL", branch="z9hG4bKopt")) is None


def test_table_rfc2543_fallback_matching() -> None:
    table = TransactionTable()
    old = request(branch=None)
    inv = ServerInviteTransaction(old, 0.0)
    table.add(inv)
    assert len(inv.key) == 6  # the RFC 2543 key shape
    assert table.match_request(request(branch=None)) is inv
    # A non-cookie branch also takes the fallback path; here it makes the top Via differ.
    assert table.match_request(request(branch="1234")) is None
    assert table.match_request(request(branch=None, uri="sip:carol@example.com")) is None
    assert table.match_request(request(branch=None, cseq=2)) is None
    assert table.match_request(request(branch=None, to_tag="unexpected")) is None
    assert table.match_request(request(branch=None, sent_by="10.0.0.7:5060")) is None

    # CANCEL: CSeq number compared, method taken as INVITE, To tag of the INVITE.
    cancel = request("CANCEL", branch=None, cseq_method="CANCEL")
    assert table.match_cancel(cancel) is inv
    assert table.match_request(cancel) is None

    # ACK: matched by the To tag of the response the transaction sent.
    inv.start()
    inv.send_response(make_response(old, 486, to_tag="srv-tag"), 1.0)
    assert table.match_request(request("ACK", branch=None, to_tag="srv-tag")) is inv
    assert table.match_request(request("ACK", branch=None, to_tag="other")) is None
    assert table.match_request(request("ACK", branch=None)) is None

    # Our transport stamping received/rport on the top Via does not break matching.
    stamped = request(branch=None)
    stamped.top_via  # noqa: B018 - parsed lazily; stamp what the transport would
    stamped.vias[0].params["received"] = "198.51.100.7"
    assert server_key(stamped) == inv.key


def test_table_rfc2543_non_invite() -> None:
    table = TransactionTable()
    bye = ServerNonInviteTransaction(request("BYE", branch=None, to_tag="t9", cseq=5), 0.0)
    table.add(bye)
    assert table.match_request(request("BYE", branch=None, to_tag="t9", cseq=5)) is bye
    assert table.match_request(request("BYE", branch=None, to_tag="t8", cseq=5)) is None


def test_table_matches_responses_by_branch_and_cseq_method_and_removes() -> None:
    table = TransactionTable()
    inv_req = request(extra_via=False)
    inv = ClientInviteTransaction(inv_req, 0.0)
    cancel_req = request("CANCEL", extra_via=False, routes=False)
    cancel = ClientNonInviteTransaction(cancel_req, 0.0)
    table.add(inv)
    table.add(cancel)
    assert len(table) == 2
    assert table.match_response(response(inv_req, 180)) is inv
    assert table.match_response(response(cancel_req, 200)) is cancel
    assert table.match_response(response(request(branch="z9hG4bKzzz"), 200)) is None
    assert table.client_transactions() == [inv, cancel]

    actions = inv.receive_response(response(inv_req, 487), 1.0)
    assert isinstance(actions[1], Transmit)
    assert run_until(inv, 100.0)[-1][1] is TERMINATED
    table.remove(inv)
    assert table.match_response(response(inv_req, 487)) is None
    table.remove(inv)  # idempotent
    assert len(table) == 1


def test_server_key_ack_and_cancel_map_to_invite() -> None:
    assert server_key(request("ACK"), "INVITE") == server_key(request())
    assert server_key(request("CANCEL"), "INVITE") == server_key(request())
    assert server_key(request("CANCEL")) != server_key(request())


def test_build_ack_without_routes() -> None:
    req = request(routes=False)
    ack = build_ack(req, response(req, 404, to_tag="z"))
    assert ack.headers.lines("route") == [] and ack.to_tag == "z" and ack.cseq == 1
    assert len(ack.via_values) == 1 and ack.top_via.branch == BRANCH


# -- properties: any event sequence keeps the machines consistent ----------------------------------

_EVENT = st.one_of(
    st.tuples(st.just("response"), st.sampled_from([100, 180, 200, 202, 302, 404, 486, 503, 603])),
    st.tuples(st.just("timer"), st.floats(min_value=0.0, max_value=8.0)),
    st.tuples(st.just("request"), st.sampled_from(["retransmit", "ack"])),
    st.tuples(st.just("ack_received"), st.just(0)),
    st.tuples(st.just("transport_error"), st.just(0)),
)


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(["cinv", "cnon", "sinv", "snon"]), reliable=st.booleans(),
       events=st.lists(_EVENT, max_size=25))
def test_any_event_sequence_is_consistent(kind: str, reliable: bool, events: list[tuple[str, object]]) -> None:
    req = request() if kind in ("cinv", "sinv") else request("OPTIONS")
    tx: object
    if kind == "cinv":
        tx = ClientInviteTransaction(req, 0.0, reliable=reliable)
    elif kind == "cnon":
        tx = ClientNonInviteTransaction(req, 0.0, reliable=reliable)
    elif kind == "sinv":
        tx = ServerInviteTransaction(req, 0.0, reliable=reliable)
    else:
        tx = ServerNonInviteTransaction(req, 0.0, reliable=reliable)
    tx.start()  # type: ignore[attr-defined]
    now = 0.0
    terminations = 0
    for name, arg in events:
        was_terminated = tx.state is S.TERMINATED  # type: ignore[attr-defined]
        if name == "timer":
            now += float(arg)  # type: ignore[arg-type]
            actions = tx.on_timer(now)  # type: ignore[attr-defined]
        elif name == "response":
            status = int(arg)  # type: ignore[call-overload]
            if kind.startswith("c"):
                actions = tx.receive_response(response(req, status), now)  # type: ignore[attr-defined]
            else:
                actions = tx.send_response(make_response(req, status, to_tag="t"), now)  # type: ignore[attr-defined]
        elif name == "request":
            if kind.startswith("c"):
                continue
            incoming = request("ACK", to_tag="t") if arg == "ack" and kind == "sinv" else req
            actions = tx.receive_request(incoming, now)  # type: ignore[attr-defined]
        elif name == "ack_received":
            if kind != "sinv":
                continue
            actions = tx.ack_received(now)  # type: ignore[attr-defined]
        else:
            actions = tx.transport_error(now)  # type: ignore[attr-defined]
        terminations += actions.count(TERMINATED)
        if was_terminated:
            assert actions == []
        if TERMINATED in actions:
            assert actions[-1] is TERMINATED and tx.state is S.TERMINATED  # type: ignore[attr-defined]
        deadline = tx.deadline  # type: ignore[attr-defined]
        if tx.state is S.TERMINATED:  # type: ignore[attr-defined]
            assert deadline is None
        else:
            assert deadline is None or deadline > now - 1e-9 or name != "timer"
        if reliable:
            # Over TCP the transaction layer never retransmits on a timer.
            assert name != "timer" or not any(isinstance(a, Transmit) for a in actions)
    assert terminations <= 1
    assert (terminations == 1) == (tx.state is S.TERMINATED)  # type: ignore[attr-defined]

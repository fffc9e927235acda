"""The UA core's rules (sip.ua_core), driven with bytes and a fake clock: no sockets, no loop."""
from __future__ import annotations

import pytest

from sip.message import Request, Response, make_request, make_response, parse_message
from sip.peer import Peer
from sip.transaction import ClientInviteTransaction, ServerInviteTransaction, TimerConfig
from sip.ua_core import (
    CancelReceived,
    ClientFailed,
    DialogAck,
    DialogRequest,
    IncomingRequest,
    Output,
    RequestReceived,
    ResponseReceived,
    Send,
    StartTimer,
    UaCore,
)

PHONE = Peer("UDP", "10.0.0.1", 5062)  # where the phone's datagrams come from
LOCAL = ("192.0.2.1", 5060)


class Tu:
    """The adapter's part in these tests: carries the TU's responses into the core at ``now``."""

    def __init__(self) -> None:
        self.core: UaCore | None = None
        self.now = 0.0
        self.outputs: list[Output] = []

    def send_response(self, incoming: IncomingRequest, response: Response) -> None:
        assert self.core is not None
        self.outputs += self.core.respond(incoming, response, self.now)


class DialogOwner:
    def on_request(self, incoming: IncomingRequest) -> None:
        raise AssertionError("the core only reports; the adapter calls the owner")

    def on_ack(self, request: Request, peer: Peer) -> None:
        raise AssertionError("the core only reports; the adapter calls the owner")


def make_core(trying_delay: float = 0.1) -> tuple[UaCore, Tu]:
    tu = Tu()
    core = UaCore(tu, timers=TimerConfig(), trying_delay=trying_delay)
    core.local_addresses["UDP"] = LOCAL
    tu.core = core
    return core, tu


def wire(method: str, *, branch: str = "z9hG4bKinv1", cseq: int = 1, cseq_method: str | None = None,
         to_tag: str | None = None, call_id: str = "call-1", extra: tuple[str, ...] = ()) -> bytes:
    to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    lines = [
        f"{method} sip:bob@example.com SIP/2.0",
        f"Via: SIP/2.0/UDP 10.0.0.1:5062;branch={branch};rport",
        "Max-Forwards: 70",
        "From: <sip:alice@example.com>;tag=a1",
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {cseq_method or method}",
        *extra,
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


def sent(outputs: list[Output]) -> list[Response | Request]:
    """The messages of the Send actions, parsed back."""
    return [parse_message(o.data) for o in outputs if isinstance(o, Send)]


def statuses(outputs: list[Output]) -> list[int]:
    return [m.status for m in sent(outputs) if isinstance(m, Response)]


def only(outputs: list[Output], kind: type) -> list:  # type: ignore[type-arg]
    return [o for o in outputs if isinstance(o, kind)]


def new_invite(core: UaCore, now: float = 0.0) -> IncomingRequest:
    out = core.receive(wire("INVITE"), PHONE, now)
    assert [type(o) for o in out] == [RequestReceived]
    return out[0].incoming  # type: ignore[union-attr]


# -- new requests and the delayed 100 Trying (§17.2.1) ---------------------------------------------

def test_new_invite_is_reported_with_its_response_address_fixed() -> None:
    core, _ = make_core()
    incoming = new_invite(core)
    assert incoming.request.method == "INVITE" and isinstance(incoming.tx, ServerInviteTransaction)
    via = incoming.request.top_via
    assert via.params["rport"] == "5062" and via.params["received"] == "10.0.0.1"
    assert incoming.peer == PHONE and incoming.source == PHONE
    assert core.stats.received == 1 and len(core.table) == 1


def test_unanswered_invite_gets_100_trying_after_the_delay() -> None:
    core, _ = make_core(trying_delay=0.1)
    incoming = new_invite(core, now=5.0)
    out = core.request_handled(incoming, 5.0)
    assert out == [StartTimer(incoming, pytest.approx(5.1))]
    fired = core.timer_fired(incoming, 5.1, 5.1)
    assert statuses(fired) == [100]
    assert all(o.peer == PHONE for o in fired if isinstance(o, Send))


def test_invite_answered_at_once_gets_no_100() -> None:
    core, tu = make_core()
    incoming = new_invite(core)
    incoming.respond(180, to_tag="b1")
    assert statuses(tu.outputs) == [180]
    assert core.request_handled(incoming, 0.0) == []


def test_invite_answered_before_the_delay_gets_no_100() -> None:
    core, tu = make_core()
    incoming = new_invite(core)
    (timer,) = core.request_handled(incoming, 0.0)
    tu.now = 0.05
    incoming.respond(180, to_tag="b1")
    assert core.timer_fired(timer.key, timer.when, 0.1) == []  # type: ignore[union-attr]


def test_zero_delay_sends_100_at_once() -> None:
    core, _ = make_core(trying_delay=0.0)
    incoming = new_invite(core)
    assert statuses(core.request_handled(incoming, 0.0)) == [100]


def test_non_invite_gets_no_100() -> None:
    core, _ = make_core()
    out = core.receive(wire("OPTIONS", branch="z9hG4bKopt"), PHONE, 0.0)
    assert [type(o) for o in out] == [RequestReceived]
    assert core.request_handled(out[0].incoming, 0.0) == []  # type: ignore[union-attr]


def test_invite_retransmission_is_absorbed_then_answered_with_the_last_response() -> None:
    core, _tu = make_core()
    incoming = new_invite(core)
    assert core.receive(wire("INVITE"), PHONE, 0.2) == []  # nothing sent yet: nothing to repeat
    incoming.respond(180, to_tag="b1")
    assert statuses(core.receive(wire("INVITE"), PHONE, 0.3)) == [180]
    assert core.stats.retransmissions_absorbed == 2


def test_tu_failure_without_final_response_gets_500() -> None:
    core, _ = make_core()
    incoming = new_invite(core)
    out = core.request_handled(incoming, 0.0, failed=True)
    assert statuses(out) == [500] and incoming.final_sent


def test_tu_failure_after_final_response_sends_nothing_more() -> None:
    core, _tu = make_core()
    incoming = new_invite(core)
    incoming.respond(486, to_tag="b1")
    out = core.request_handled(incoming, 0.0, failed=True)
    assert statuses(out) == []


@pytest.mark.parametrize(("method", "status"), [("OPTIONS", 200), ("MESSAGE", 501), ("INVITE", 501)])
def test_without_a_tu_options_gets_200_and_the_rest_501(method: str, status: int) -> None:
    core, _ = make_core()
    (event,) = core.receive(wire(method, branch="z9hG4bKnotu"), PHONE, 0.0)
    assert statuses(core.reject_unhandled(event.incoming, 0.0)) == [status]  # type: ignore[union-attr]


# -- dialogs (§12.2.2) -----------------------------------------------------------------------------

def test_request_in_unknown_dialog_gets_481() -> None:
    core, _ = make_core()
    out = core.receive(wire("BYE", branch="z9hG4bKbye", cseq=2, to_tag="nosuch"), PHONE, 0.0)
    assert statuses(out) == [481]
    assert not only(out, DialogRequest)


def test_request_in_registered_dialog_goes_to_its_owner() -> None:
    core, _ = make_core()
    owner = DialogOwner()
    core.register_dialog("call-1", "b1", owner)
    out = core.receive(wire("BYE", branch="z9hG4bKbye", cseq=2, to_tag="b1"), PHONE, 0.0)
    assert [type(o) for o in out] == [DialogRequest]
    assert out[0].user is owner and out[0].incoming.request.method == "BYE"  # type: ignore[union-attr]
    core.unregister_dialog("call-1", "b1")
    out = core.receive(wire("BYE", branch="z9hG4bKbye2", cseq=3, to_tag="b1"), PHONE, 0.0)
    assert statuses(out) == [481]


def test_ack_of_a_2xx_goes_to_the_dialog_owner_and_is_never_answered() -> None:
    core, _ = make_core()
    owner = DialogOwner()
    core.register_dialog("call-1", "b1", owner)
    out = core.receive(wire("ACK", branch="z9hG4bKack", to_tag="b1"), PHONE, 0.0)
    assert out == [DialogAck(owner, out[0].request, PHONE)]  # type: ignore[union-attr]
    assert core.receive(wire("ACK", branch="z9hG4bKack2", to_tag="other"), PHONE, 0.0) == []
    assert core.receive(wire("ACK", branch="z9hG4bKack3"), PHONE, 0.0) == []


def test_2xx_is_retransmitted_until_the_owner_reports_the_ack() -> None:
    core, tu = make_core()
    incoming = new_invite(core)
    incoming.respond(200, to_tag="b1")
    assert statuses(tu.outputs) == [200]
    (timer,) = only(tu.outputs, StartTimer)
    assert timer.key is incoming.tx and timer.when == 0.5  # T1
    again = core.timer_fired(timer.key, 0.5, 0.5)
    assert statuses(again) == [200]
    (timer,) = only(again, StartTimer)
    assert timer.when == 1.5  # doubled
    assert core.ack_received(incoming, 1.0) == []
    assert statuses(core.timer_fired(timer.key, 1.5, 1.5)) == []


# -- CANCEL (§9.2) ---------------------------------------------------------------------------------

def test_cancel_gets_200_and_the_invite_487() -> None:
    core, _tu = make_core()
    incoming = new_invite(core)
    incoming.respond(180, to_tag="b1")
    out = core.receive(wire("CANCEL"), PHONE, 1.0)
    (ok,) = [m for m in sent(out) if isinstance(m, Response)]
    assert ok.status == 200 and ok.cseq_method == "CANCEL"
    assert out[-1] == CancelReceived(incoming)
    final = core.cancel_handled(incoming, 1.0)
    (terminated,) = sent(final)
    assert isinstance(terminated, Response)
    assert terminated.status == 487 and terminated.cseq_method == "INVITE"
    # The ACK of the 487 belongs to the INVITE transaction: absorbed, nothing for the TU.
    assert core.receive(wire("ACK", to_tag="b1"), PHONE, 1.1) == []


def test_cancel_handled_by_the_tu_gets_no_487() -> None:
    core, _tu = make_core()
    incoming = new_invite(core)
    core.receive(wire("CANCEL"), PHONE, 1.0)
    incoming.respond(486, to_tag="b1")  # the TU's on_cancel answered itself
    assert core.cancel_handled(incoming, 1.0) == []


def test_cancel_matching_nothing_gets_481() -> None:
    core, _ = make_core()
    out = core.receive(wire("CANCEL", branch="z9hG4bKnone"), PHONE, 0.0)
    assert statuses(out) == [481]
    assert not only(out, CancelReceived)


def test_cancel_after_the_final_response_gets_481() -> None:
    core, _ = make_core()
    incoming = new_invite(core)
    incoming.respond(200, to_tag="b1")
    out = core.receive(wire("CANCEL"), PHONE, 0.5)
    assert statuses(out) == [481]
    assert not only(out, CancelReceived)


# -- malformed input (§18.3, RFC 4475) -------------------------------------------------------------

def test_unparseable_request_gets_400_addressed_by_its_via() -> None:
    core, _ = make_core()
    data = wire("INVITE", extra=("Content-Length: x",))
    out = core.receive(data, Peer("UDP", "10.0.0.1", 40000), 0.0)
    (send,) = out
    assert isinstance(send, Send) and send.peer == Peer("UDP", "10.0.0.1", 40000)  # rport
    assert send.data.startswith(b"SIP/2.0 400 Bad Request - ")
    reply = parse_message(send.data)
    assert reply.call_id == "call-1" and reply.cseq == 1
    assert core.stats.parse_errors == 1 and core.stats.bad_requests_answered == 1
    assert len(core.table) == 0


def test_request_failing_validation_gets_400_naming_the_defect() -> None:
    core, _ = make_core()
    out = core.receive(wire("OPTIONS", extra=("Max-Forwards: lots",)), PHONE, 0.0)
    (reply,) = sent(out)
    assert isinstance(reply, Response) and reply.status == 400
    assert reply.reason == "Bad Request - More than one Max-Forwards"
    assert len(core.table) == 0  # answered outside any transaction


def test_request_with_bad_contact_gets_400() -> None:
    core, _ = make_core()
    out = core.receive(wire("INVITE", extra=("Contact: <sip:alice@",)), PHONE, 0.0)
    assert statuses(out) == [400]


def test_foreign_version_gets_505() -> None:
    core, _ = make_core()
    data = wire("OPTIONS").replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1)
    (send,) = core.receive(data, PHONE, 0.0)
    assert isinstance(send, Send) and send.data.startswith(b"SIP/2.0 505 ")


def test_malformed_ack_and_malformed_response_are_dropped() -> None:
    core, _ = make_core()
    assert core.receive(wire("ACK", extra=("Content-Length: x",)), PHONE, 0.0) == []
    # An ACK is never validated: its dialog owner, if any, judges it; here there is none.
    assert core.receive(wire("ACK", to_tag="b1", extra=("Max-Forwards: x",)), PHONE, 0.0) == []
    response = make_response(parse_message(wire("INVITE")), 200).to_bytes()  # type: ignore[arg-type]
    assert core.receive(response.replace(b"Content-Length: 0", b"Content-Length: x"), PHONE, 0.0) == []
    assert core.stats.parse_errors == 2 and core.stats.bad_requests_answered == 0


def test_garbage_is_dropped() -> None:
    core, _ = make_core()
    assert core.receive(b"\x00\x01garbage\r\n\r\n", PHONE, 0.0) == []
    assert core.receive(b"INVITE sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n", PHONE, 0.0) == []
    assert core.stats.parse_errors == 2


def test_response_matching_no_transaction_is_dropped() -> None:
    core, _ = make_core()
    stray = make_response(parse_message(wire("INVITE", branch="z9hG4bKstray")), 200).to_bytes()  # type: ignore[arg-type]
    assert core.receive(stray, PHONE, 0.0) == []


# -- client side -----------------------------------------------------------------------------------

def outgoing(method: str = "INVITE", cseq: int = 1) -> Request:
    """A request as the dialog layer builds it: no Via (the core adds its own)."""
    return make_request(method, "sip:bob@10.0.0.9", [
        ("Max-Forwards", "70"), ("From", "<sip:alice@example.com>;tag=u1"), ("To", "<sip:bob@example.com>"),
        ("Call-ID", "out-1"), ("CSeq", f"{cseq} {method}")])


BOB = Peer("UDP", "10.0.0.9", 5060)


def answer(request: Request, status: int, to_tag: str = "bt") -> bytes:
    sent_request = parse_message(request.to_bytes())
    return make_response(sent_request, status, to_tag=to_tag).to_bytes()  # type: ignore[arg-type]


def test_send_request_adds_our_via_and_arms_the_retransmission() -> None:
    core, _ = make_core()
    tx, out = core.send_request(outgoing(), BOB, 0.0)
    assert isinstance(tx, ClientInviteTransaction)
    (msg,) = sent(out)
    via = msg.top_via
    assert (via.host, via.port, via.transport) == ("192.0.2.1", 5060, "UDP")
    assert via.branch is not None and via.branch.startswith("z9hG4bK") and "rport" in via.params
    assert only(out, StartTimer) == [StartTimer(tx, 0.5)]
    again = core.timer_fired(tx, 0.5, 0.5)
    assert [m.method for m in sent(again)] == ["INVITE"]  # type: ignore[union-attr]


def test_responses_reach_the_client_and_the_2xx_ack_is_resent_on_retransmission() -> None:
    core, _ = make_core()
    got: list[int] = []
    tx, _ = core.send_request(outgoing(), BOB, 0.0, on_response=lambda r: got.append(r.status))
    ringing = core.receive(answer(tx.request, 180), BOB, 0.1)
    (event,) = only(ringing, ResponseReceived)
    assert event.response.status == 180 and event.client.on_response is not None
    ok = core.receive(answer(tx.request, 200), BOB, 0.2)
    assert [e.response.status for e in only(ok, ResponseReceived)] == [200]
    ack = outgoing("ACK")
    (ack_send,) = core.send_ack(ack, BOB, tx)
    assert isinstance(ack_send, Send) and ack_send.data.startswith(b"ACK ")
    retransmitted = core.receive(answer(tx.request, 200), BOB, 0.7)
    assert retransmitted == [Send(ack_send.data, BOB)]  # our ACK was lost: sent again, nothing for the TU


def test_client_timeout_is_reported_once() -> None:
    core, _ = make_core()
    tx, out = core.send_request(outgoing("OPTIONS"), BOB, 0.0)
    failures: list[ClientFailed] = []
    deadline = only(out, StartTimer)[-1].when
    for _ in range(100):
        fired = core.timer_fired(tx, deadline, deadline)
        failures += only(fired, ClientFailed)
        timers = only(fired, StartTimer)
        if not timers:
            break
        deadline = timers[-1].when
    assert [f.reason for f in failures] == ["timeout"]
    assert deadline == pytest.approx(32.0)  # timer F = 64·T1
    assert core.stats.transaction_timeouts == 1 and len(core.table) == 0


def test_transport_error_ends_the_peers_client_transactions() -> None:
    core, _ = make_core()
    tcp_bob = Peer("TCP", "10.0.0.9", 5060)
    core.local_addresses["TCP"] = LOCAL
    core.send_request(outgoing("OPTIONS"), tcp_bob, 0.0)
    core.send_request(outgoing("OPTIONS", cseq=2), BOB, 0.0)
    out = core.transport_error(tcp_bob, 1.0)
    assert [f.reason for f in only(out, ClientFailed)] == ["transport error"]
    assert len(core.table) == 1


def test_cancel_copies_the_invite_branch_and_is_refused_once_the_invite_is_over() -> None:
    core, _ = make_core()
    tx, _ = core.send_request(outgoing(), BOB, 0.0)
    core.receive(answer(tx.request, 180), BOB, 0.1)
    cancel_tx, out = core.cancel(tx, 0.2, reason='SIP;cause=487')
    assert cancel_tx is not None
    (cancel,) = sent(out)
    assert isinstance(cancel, Request) and cancel.method == "CANCEL"
    assert cancel.via_values == tx.request.via_values[:1] and cancel.cseq == 1
    assert cancel.headers.get("reason") == "SIP;cause=487"
    core.receive(answer(tx.request, 487), BOB, 0.3)  # the INVITE ends (Completed, then D)
    tx.transport_error(0.4)
    assert core.cancel(tx, 0.5) == (None, [])


# -- the To tag of responses outside a dialog (§8.2.6.2) -------------------------------------------

def test_every_response_outside_a_dialog_but_100_carries_one_to_tag() -> None:
    core, tu = make_core()
    out = core.receive(wire("REGISTER", branch="z9hG4bKreg"), PHONE, 0.0)
    register = out[0].incoming  # type: ignore[union-attr]
    register.respond(200)
    (ok,) = sent(tu.outputs)
    assert ok.status == 200 and ok.to_tag

    tu.outputs.clear()
    invite = new_invite(core)
    invite.respond(100)
    invite.respond(180, to_tag="b1")  # the TU's dialog tag wins ...
    invite.respond(486)  # ... and later responses keep it
    trying, ringing, busy = sent(tu.outputs)
    assert (trying.to_tag, ringing.to_tag, busy.to_tag) == (None, "b1", "b1")

    tu.outputs.clear()
    in_dialog = core.receive(wire("INFO", branch="z9hG4bKinfo", to_tag="t9", call_id="c9"), PHONE, 0.0)
    assert [m.to_tag for m in sent(in_dialog)] == ["t9"]  # 481 keeps the request's own tag

"""sip.session_timer: RFC 4028 negotiation (UAS and UAC), 422 retries, refresher roles, deadlines."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sip.errors import SipParseError
from sip.message import Request, Response, make_response, parse_message
from sip.session_timer import (
    BYE,
    DEFAULT_INTERVAL,
    MAX_422_RETRIES,
    MIN_RETRY_GAP,
    MIN_SE,
    REFRESH,
    Deadline,
    RejectWith,
    SessionTimer,
    SessionTimerHeaderError,
    parse_min_se,
    parse_session_expires,
    refresh_failure_ends_session,
    supports_timer,
)

INVITE_HEAD = (
    "INVITE sip:bob@192.0.2.4 SIP/2.0\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKst1\n"
    "Max-Forwards: 70\n"
    "From: Alice <sip:alice@192.0.2.1>;tag=a1\n"
    "To: Bob <sip:bob@192.0.2.4>\n"
    "Call-ID: st-1@192.0.2.1\n"
    "CSeq: 1 INVITE\n"
    "Contact: <sip:alice@192.0.2.1>\n"
)


def invite(*headers: tuple[str, str], method: str = "INVITE") -> Request:
    """An INVITE (or an in-dialog re-INVITE/UPDATE) carrying ``headers``, parsed from the wire."""
    head = INVITE_HEAD
    if method != "INVITE":
        head = head.replace("INVITE sip:", f"{method} sip:").replace("1 INVITE", f"2 {method}")
        head = head.replace("To: Bob <sip:bob@192.0.2.4>", "To: Bob <sip:bob@192.0.2.4>;tag=b1")
    text = head + "".join(f"{name}: {value}\n" for name, value in headers)
    wire = text.replace("\n", "\r\n") + "Content-Length: 0\r\n\r\n"
    message = parse_message(wire.encode())
    assert isinstance(message, Request)
    message.validate()
    return message


def answer(request: Request, status: int = 200, *headers: tuple[str, str]) -> Response:
    """The response as the UAC parses it off the wire."""
    response = make_response(request, status, to_tag="b1", headers=list(headers))
    parsed = parse_message(response.to_bytes())
    assert isinstance(parsed, Response)
    return parsed


def uas_timer(request: Request, **kwargs: object) -> SessionTimer:
    result = SessionTimer.from_request(request, **kwargs)  # type: ignore[arg-type]
    assert isinstance(result, SessionTimer), result
    return result


# -- header grammar -----------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [
    ("1800", (1800, None)),
    ("90;refresher=uac", (90, "uac")),
    ("  4000 ;  Refresher = UAS ", (4000, "uas")),
    ("1800;foo=bar;refresher=uac;flag", (1800, "uac")),
    ('1800;note="a;b=c";refresher=uas', (1800, "uas")),
    ("1800;via=[2001:db8::1]", (1800, None)),
    ("0", (0, None)),
    ("4294967295", (4294967295, None)),
])
def test_parse_session_expires(value: str, expected: tuple[int, str | None]) -> None:
    assert parse_session_expires(value) == expected


@pytest.mark.parametrize("value", [
    "", " ", "abc", "-5", "1800s", "18 00", "1800.5", "0x10", "+90", "4294967296", "99999999999",
    "1800;refresher=both", "1800;refresher", "1800;refresher=", "1800;refresher=uac;refresher=uas",
    "1800;=x", "1800;a b=c", '1800;x="open', "1800;x=a b", ";refresher=uac", "1800, 90", "１８００",
])
def test_parse_session_expires_rejects_garbage(value: str) -> None:
    with pytest.raises(SessionTimerHeaderError) as info:
        parse_session_expires(value)
    assert isinstance(info.value, SipParseError)
    assert info.value.status == 400
    assert "Session-Expires" in info.value.reason


@pytest.mark.parametrize(("value", "expected"), [("90", 90), (" 120 ", 120), ("300;lr;x=y", 300)])
def test_parse_min_se(value: str, expected: int) -> None:
    assert parse_min_se(value) == expected


@pytest.mark.parametrize("value", ["", "ninety", "90;refresher=", "-1", "90 s", "1e3"])
def test_parse_min_se_rejects_garbage(value: str) -> None:
    with pytest.raises(SessionTimerHeaderError, match="Min-SE"):
        parse_min_se(value)


@given(st.integers(0, 2**32 - 1), st.sampled_from([None, "uac", "uas", "UAC", "Uas"]),
       st.sampled_from(["", " ", "\t"]))
def test_session_expires_round_trip(seconds: int, refresher: str | None, ws: str) -> None:
    value = f"{ws}{seconds}{ws}" + ("" if refresher is None else f";{ws}refresher{ws}={ws}{refresher}")
    assert parse_session_expires(value) == (seconds, None if refresher is None else refresher.lower())


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_garbage_session_expires_only_raises_the_typed_error(value: str) -> None:
    try:
        seconds, refresher = parse_session_expires(value)
    except SessionTimerHeaderError:
        return
    assert 0 <= seconds <= 2**32 - 1
    assert refresher in (None, "uac", "uas")


def test_compact_form_and_supported_detection() -> None:
    request = invite(("k", "100rel, Timer"), ("x", "1200;refresher=uac"))
    assert supports_timer(request)
    timer = uas_timer(request)
    assert (timer.interval, timer.refresher, timer.negotiated) == (1200, "remote", True)
    assert supports_timer(invite(("Require", "timer")))
    assert not supports_timer(invite(("Supported", "timers, replaces")))


def test_two_session_expires_lines_are_garbage() -> None:
    request = invite(("Supported", "timer"), ("Session-Expires", "1800"), ("Session-Expires", "900"))
    with pytest.raises(SessionTimerHeaderError, match="More than one Session-Expires"):
        SessionTimer.from_request(request)


def test_garbage_in_a_request_raises_for_a_400() -> None:
    with pytest.raises(SessionTimerHeaderError) as info:
        SessionTimer.from_request(invite(("Supported", "timer"), ("Session-Expires", "soon")))
    assert info.value.status == 400
    with pytest.raises(SessionTimerHeaderError):
        SessionTimer.from_request(invite(("Supported", "timer"), ("Min-SE", "ninety")))


# -- UAS (leg A) --------------------------------------------------------------------------------
def test_uas_peer_asks_to_refresh() -> None:
    timer = uas_timer(invite(("Supported", "timer"), ("Session-Expires", "1800;refresher=uac")))
    assert (timer.interval, timer.refresher, timer.negotiated, timer.peer_supports) == (1800, "remote", True, True)
    assert timer.response_headers() == [("Session-Expires", "1800;refresher=uac"), ("Require", "timer")]


def test_uas_peer_asks_us_to_refresh() -> None:
    timer = uas_timer(invite(("Supported", "timer"), ("Session-Expires", "600;refresher=uas")), prefer="remote")
    assert (timer.interval, timer.refresher) == (600, "local")
    assert timer.response_headers() == [("Session-Expires", "600;refresher=uas"), ("Require", "timer")]


@pytest.mark.parametrize(("prefer", "wire"), [("remote", "uac"), ("local", "uas")])
def test_uas_chooses_when_the_peer_leaves_it_open(prefer: str, wire: str) -> None:
    timer = uas_timer(invite(("Supported", "timer"), ("Session-Expires", "1800")), prefer=prefer)
    assert timer.refresher == prefer
    assert timer.response_headers()[0] == ("Session-Expires", f"1800;refresher={wire}")


def test_uas_imposes_a_keepalive_on_a_peer_without_timer_support() -> None:
    timer = uas_timer(invite(), interval=900)
    assert (timer.interval, timer.refresher, timer.negotiated, timer.peer_supports) == (900, "local", False, False)
    # §9: refresher=uas (the UAC cannot refresh) and no Require: timer toward a UA that does not know it.
    assert timer.response_headers() == [("Session-Expires", "900;refresher=uas")]


def test_uas_supported_peer_without_session_expires_gets_our_interval() -> None:
    timer = uas_timer(invite(("Supported", "timer")))
    assert (timer.interval, timer.refresher, timer.negotiated) == (DEFAULT_INTERVAL, "remote", True)
    timer = uas_timer(invite(("Supported", "timer"), ("Min-SE", "2400")))
    assert timer.interval == 2400  # never below the request's Min-SE
    assert timer.min_se == 2400


def test_uas_rejects_a_too_small_interval_with_422() -> None:
    result = SessionTimer.from_request(invite(("Supported", "timer"), ("Session-Expires", "60")))
    assert result == RejectWith(422, MIN_SE)
    assert isinstance(result, RejectWith)
    assert result.headers() == [("Min-SE", "90")]
    assert result.reason == "Session Interval Too Small"
    result = SessionTimer.from_request(invite(("Supported", "timer"), ("Session-Expires", "200")), min_se_local=300)
    assert result == RejectWith(422, 300)
    # The request's own Min-SE above its Session-Expires: the 422 names the larger floor.
    result = SessionTimer.from_request(
        invite(("Supported", "timer"), ("Session-Expires", "300"), ("Min-SE", "400")), min_se_local=120)
    assert result == RejectWith(422, 400)


def test_uas_does_not_reject_a_peer_that_cannot_retry() -> None:
    # RFC 4028 erratum 1687: without Supported: timer, raise the interval instead of a useless 422.
    timer = uas_timer(invite(("Session-Expires", "60;refresher=uac")), min_se_local=120)
    assert (timer.interval, timer.refresher, timer.negotiated) == (120, "local", False)
    assert timer.response_headers() == [("Session-Expires", "120;refresher=uas")]


def test_uas_may_reduce_but_not_below_min_se() -> None:
    timer = uas_timer(invite(("Supported", "timer"), ("Session-Expires", "7200")), max_interval=1800)
    assert timer.interval == 1800
    timer = uas_timer(invite(("Supported", "timer"), ("Session-Expires", "7200"), ("Min-SE", "3600")),
                      max_interval=1800)
    assert timer.interval == 3600
    timer = uas_timer(invite(("Supported", "timer"), ("Session-Expires", "1000")), max_interval=1800)
    assert timer.interval == 1000  # never increased (§9)


def test_short_intervals_only_when_configured() -> None:
    # Below 90 s only when our own minimum allows it (test servers); the request's Min-SE still counts.
    request = invite(("Supported", "timer"), ("Session-Expires", "4;refresher=uas"), ("Min-SE", "2"))
    assert SessionTimer.from_request(request) == RejectWith(422, 90)
    timer = uas_timer(request, min_se_local=2)
    assert (timer.interval, timer.refresher, timer.min_se) == (4, "local", 2)
    timer.refreshed(0.0)
    assert timer.next_deadline(0.0) == Deadline(2.0, REFRESH)
    assert SessionTimer.from_request(request, min_se_local=5) == RejectWith(422, 5)
    # A peer without timer support asking for 0 s still gets a usable interval.
    assert uas_timer(invite(("Session-Expires", "0")), min_se_local=0).interval == 1


def test_uas_refresh_in_dialog_keeps_or_changes_roles() -> None:
    first = uas_timer(invite(("Supported", "timer"), ("Session-Expires", "1800;refresher=uac"),
                             ("Allow", "INVITE, ACK, BYE, UPDATE")))
    first.refreshed(10.0)
    assert first.update_allowed
    # A hold re-INVITE without Session-Expires: same interval and refresher, start time carried.
    again = uas_timer(invite(("Supported", "timer"), method="INVITE"), previous=first, interval=90)
    assert (again.interval, again.refresher, again.last_refresh, again.update_allowed) == (1800, "remote", 10.0, True)
    # The peer hands the refresh over to us with refresher=uas in an UPDATE.
    swapped = uas_timer(invite(("Supported", "timer"), ("Session-Expires", "1200;refresher=uas"),
                               ("Allow", "INVITE, ACK, BYE"), method="UPDATE"), previous=first)
    assert (swapped.interval, swapped.refresher, swapped.update_allowed) == (1200, "local", False)


# -- UAC (leg B) --------------------------------------------------------------------------------
def test_offer_headers() -> None:
    assert SessionTimer.offer_headers() == [
        ("Supported", "timer"), ("Session-Expires", "1800"), ("Min-SE", "90")]
    assert SessionTimer.offer_headers(600, 120, refresher="local")[1] == ("Session-Expires", "600;refresher=uac")
    assert SessionTimer.offer_headers(600, 120, refresher="remote")[1] == ("Session-Expires", "600;refresher=uas")
    with pytest.raises(ValueError, match="below Min-SE"):
        SessionTimer.offer_headers(60, 90)


@pytest.mark.parametrize(("wire", "refresher"), [("uac", "local"), ("uas", "remote")])
def test_uac_2xx_sets_the_refresher(wire: str, refresher: str) -> None:
    request = invite(*SessionTimer.offer_headers())
    timer = SessionTimer.from_response(answer(request, 200, ("Require", "timer"),
                                              ("Session-Expires", f"1200;refresher={wire}")))
    assert timer is not None
    assert (timer.interval, timer.refresher, timer.negotiated, timer.peer_supports) == (1200, refresher, True, True)


def test_uac_2xx_without_refresher_makes_us_refresh() -> None:
    timer = SessionTimer.from_response(answer(invite(), 200, ("Session-Expires", "900")))
    assert timer is not None and (timer.interval, timer.refresher) == (900, "local")


def test_uac_peer_without_timer_support_unilateral_policy() -> None:
    request = invite(*SessionTimer.offer_headers(1200, 90))
    ok = answer(request, 200, ("Allow", "INVITE, ACK, BYE, CANCEL, UPDATE"))
    timer = SessionTimer.from_response(ok, interval=1200)
    assert timer is not None
    assert (timer.interval, timer.refresher, timer.negotiated, timer.update_allowed) == (1200, "local", False, True)
    assert SessionTimer.from_response(ok, interval=1200, unilateral=False) is None


def test_uac_2xx_with_require_timer_but_no_session_expires_is_garbage() -> None:
    with pytest.raises(SessionTimerHeaderError, match="Require: timer"):
        SessionTimer.from_response(answer(invite(), 200, ("Require", "timer")))
    with pytest.raises(SessionTimerHeaderError):
        SessionTimer.from_response(answer(invite(), 200, ("Session-Expires", "0;refresher=uac")))
    with pytest.raises(SessionTimerHeaderError):
        SessionTimer.from_response(answer(invite(), 200, ("Session-Expires", "90;refresher=proxy")))
    with pytest.raises(ValueError, match="2xx"):
        SessionTimer.from_response(answer(invite(), 486))


def test_on_422() -> None:
    request = invite(*SessionTimer.offer_headers(90, 90))
    assert SessionTimer.on_422(answer(request, 422, ("Min-SE", "300")), 90) == 300
    assert SessionTimer.on_422(answer(request, 422, ("Min-SE", "300")), 90, min_se=500) == 500
    # Unusable 422s: no Min-SE, garbage, or nothing to raise (retrying would loop).
    assert SessionTimer.on_422(answer(request, 422), 90) is None
    assert SessionTimer.on_422(answer(request, 422, ("Min-SE", "lots")), 90) is None
    assert SessionTimer.on_422(answer(request, 422, ("Min-SE", "90")), 90) is None
    assert SessionTimer.on_422(answer(request, 422, ("Min-SE", "60")), 1800) is None
    with pytest.raises(ValueError, match="422"):
        SessionTimer.on_422(answer(request, 200), 90)


def _negotiate(offer_interval: int, offer_min_se: int, hops: list[int], *, prefer: str = "remote",
               offer_refresher: str | None = None) -> tuple[SessionTimer, SessionTimer, int]:
    """Our UAC offers, a chain of UAS minima (each hop's Min-SE; the last one answers) rejects or
    accepts; returns (uac timer, uas timer, number of 422s)."""
    interval, min_se = offer_interval, offer_min_se
    rejections = 0
    while True:
        request = invite(*SessionTimer.offer_headers(interval, min_se, refresher=offer_refresher))  # type: ignore[arg-type]
        outcome: SessionTimer | RejectWith | None = None
        for floor in hops:
            outcome = SessionTimer.from_request(request, min_se_local=floor, prefer=prefer)  # type: ignore[arg-type]
            if isinstance(outcome, RejectWith):
                break
        if isinstance(outcome, RejectWith):
            rejections += 1
            assert rejections <= MAX_422_RETRIES, "422 loop did not converge"
            new = SessionTimer.on_422(answer(request, outcome.status, *outcome.headers()), interval, min_se)
            assert new is not None and new > interval
            interval = min_se = new
            continue
        assert isinstance(outcome, SessionTimer)
        uac = SessionTimer.from_response(answer(request, 200, *outcome.response_headers()),
                                         interval=interval, min_se=min_se)
        assert uac is not None
        return uac, outcome, rejections


def test_422_loop_converges_on_the_largest_minimum() -> None:
    uac, uas, rejections = _negotiate(90, 90, [300, 600])
    assert rejections == 2
    assert uac.interval == uas.interval == 600
    assert uac.min_se == 600


def test_negotiation_without_422() -> None:
    uac, uas, rejections = _negotiate(1800, 90, [90])
    assert rejections == 0
    assert (uac.interval, uac.refresher, uas.refresher) == (1800, "local", "remote")


@pytest.mark.parametrize(("offer_refresher", "prefer", "uac_refreshes"), [
    (None, "remote", True), (None, "local", False), ("local", "local", True), ("remote", "remote", False),
])
def test_exactly_one_side_refreshes(offer_refresher: str | None, prefer: str, uac_refreshes: bool) -> None:
    uac, uas, _ = _negotiate(1800, 90, [90], prefer=prefer, offer_refresher=offer_refresher)
    assert (uac.refresher == "local") is uac_refreshes
    assert (uas.refresher == "local") is not uac_refreshes
    assert uac.negotiated and uas.negotiated


@pytest.mark.parametrize("refresher", ["local", "remote"])
def test_refresh_headers_keep_the_roles(refresher: str) -> None:
    ours = SessionTimer(interval=1200, refresher=refresher, negotiated=True, min_se=300)  # type: ignore[arg-type]
    headers = ours.refresh_headers()
    wire = "uac" if refresher == "local" else "uas"
    assert headers == [("Supported", "timer"), ("Session-Expires", f"1200;refresher={wire}"), ("Min-SE", "300")]
    # The peer's view of our in-dialog request is the mirror image, and its 2xx echoes it back to us.
    request = invite(*headers, method="UPDATE")
    theirs = uas_timer(request)
    assert theirs.refresher != ours.refresher
    after = SessionTimer.from_response(answer(request, 200, *theirs.response_headers()),
                                       interval=ours.interval, min_se=ours.min_se, previous=ours)
    assert after is not None
    assert (after.interval, after.refresher, after.min_se) == (1200, refresher, 300)


# -- deadlines ----------------------------------------------------------------------------------
def test_local_refresher_refreshes_at_half_the_interval() -> None:
    timer = SessionTimer(interval=1800, refresher="local", negotiated=True)
    timer.refreshed(100.0)
    assert timer.next_deadline(100.0) == Deadline(1000.0, REFRESH)
    assert timer.next_deadline(999.0) == Deadline(1000.0, REFRESH)
    timer.refreshed(1000.5)  # the 2xx of that refresh
    assert timer.next_deadline(1000.5) == Deadline(1900.5, REFRESH)


def test_remote_refresher_gets_bye_before_expiry() -> None:
    timer = SessionTimer(interval=1800, refresher="remote", negotiated=True)
    timer.refreshed(0.0)
    assert timer.expires_at == 1800.0
    assert timer.next_deadline(0.0) == Deadline(1768.0, BYE)  # min(32, 600) = 32
    short = SessionTimer(interval=90, refresher="remote", negotiated=True)
    short.refreshed(0.0)
    assert short.next_deadline(5.0) == Deadline(60.0, BYE)  # min(32, 30) = 30
    short.refreshed(50.0)  # the peer's refresh arrived
    assert short.next_deadline(50.0) == Deadline(110.0, BYE)


def test_failed_refreshes_retry_then_give_up_before_expiry() -> None:
    timer = SessionTimer(interval=90, refresher="local", negotiated=True)
    timer.refreshed(0.0)
    now = 0.0
    actions = []
    for _ in range(20):
        deadline = timer.next_deadline(now)
        actions.append(deadline)
        if deadline.action == BYE:
            break
        now = deadline.when  # the refresh goes out and gets no 2xx
    assert actions == [Deadline(45.0, REFRESH), Deadline(52.5, REFRESH), Deadline(56.25, REFRESH),
                       Deadline(60.0, BYE)]


def test_a_successful_retry_restarts_the_cycle() -> None:
    timer = SessionTimer(interval=1800, refresher="local", negotiated=True)
    timer.refreshed(0.0)
    assert timer.next_deadline(900.0) == Deadline(1334.0, REFRESH)  # 491 at 900: retry halfway to 1768
    timer.refreshed(1334.0)
    assert timer.next_deadline(1334.0) == Deadline(2234.0, REFRESH)


def test_deadline_needs_a_started_timer() -> None:
    timer = SessionTimer(interval=1800, refresher="local", negotiated=True)
    assert not timer.started
    with pytest.raises(ValueError, match="not started"):
        timer.next_deadline(0.0)


def test_invalid_timers() -> None:
    with pytest.raises(ValueError):
        SessionTimer(interval=0, refresher="local", negotiated=True)
    with pytest.raises(ValueError):
        SessionTimer(interval=90, refresher="uac", negotiated=True)  # type: ignore[arg-type]


def test_refresh_failures_that_end_the_session() -> None:
    assert refresh_failure_ends_session(None)  # transaction timeout
    assert refresh_failure_ends_session(408)
    assert refresh_failure_ends_session(481)
    assert not refresh_failure_ends_session(491)
    assert not refresh_failure_ends_session(500)


@settings(max_examples=500, deadline=None)
@given(interval=st.integers(1, 2**32 - 1),
       last=st.floats(0, 1e9, allow_nan=False, allow_infinity=False),
       offset=st.floats(0, 2e10, allow_nan=False, allow_infinity=False),
       refresher=st.sampled_from(["local", "remote"]))
def test_deadlines_are_always_before_expiry(interval: int, last: float, offset: float, refresher: str) -> None:
    timer = SessionTimer(interval=interval, refresher=refresher, negotiated=True)  # type: ignore[arg-type]
    timer.refreshed(last)
    deadline = timer.next_deadline(last + offset)
    assert deadline.when < timer.expires_at
    assert deadline.when > last
    if refresher == "remote":
        assert deadline.action == BYE
    if deadline.action == REFRESH:
        assert deadline.when >= min(last + offset, last + interval / 2)


@settings(max_examples=300, deadline=None)
@given(interval=st.integers(1, 2**32 - 1), last=st.floats(0, 1e9, allow_nan=False, allow_infinity=False))
def test_failing_refresher_always_ends_with_bye_before_expiry(interval: int, last: float) -> None:
    timer = SessionTimer(interval=interval, refresher="local", negotiated=True)
    timer.refreshed(last)
    now = last
    previous = None
    for _ in range(200):
        deadline = timer.next_deadline(now)
        assert deadline.when < timer.expires_at
        if previous is not None:
            assert deadline.when > previous  # no busy loop
        if deadline.action == BYE:
            assert deadline.when == timer.bye_at
            break
        assert deadline.when - now >= MIN_RETRY_GAP or now == last
        previous = now = deadline.when
    else:
        pytest.fail("refresh retries never gave up")


@settings(max_examples=200, deadline=None)
@given(offer=st.integers(90, 7200), floors=st.lists(st.integers(90, 7200), min_size=1, max_size=2),
       prefer=st.sampled_from(["local", "remote"]))
def test_negotiation_property(offer: int, floors: list[int], prefer: str) -> None:
    uac, uas, _ = _negotiate(offer, 90, floors, prefer=prefer)
    assert uac.interval == uas.interval >= max(floors)
    assert uac.interval == max(offer, *floors)
    assert {uac.refresher, uas.refresher} == {"local", "remote"}

"""LoginThrottle (callcontrol/access/throttle.py) with a fake clock: the per-login backoff, and the
per-address limit that logins known at the address pass (OWASP's "device cookie")."""
from __future__ import annotations

from callcontrol.access.throttle import LoginThrottle

OFFICE = "192.0.2.10"  # one NAT address in front of an office's consoles
ELSEWHERE = "198.51.100.7"
T0 = 1000.0


def throttle(**kw: float) -> LoginThrottle:
    opts: dict[str, float] = {"free_failures": 3, "ip_free_failures": 5, "base_delay": 1.0, "max_delay": 300.0,
                              "known_for": 3600.0}
    opts.update(kw)
    return LoginThrottle(**opts)  # type: ignore[arg-type]


def fail(t: LoginThrottle, login: str, ip: str | None, n: int, now: float = T0) -> list[float]:
    return [t.record_failure(login, ip, now) for _ in range(n)]


def test_a_known_login_passes_a_locked_address() -> None:
    t = throttle()
    t.record_success("reception", OFFICE, T0)
    fail(t, "intruder", OFFICE, 6)  # unknown at the office: the address is locked
    assert t.retry_after("stranger", OFFICE, T0) == 1.0
    assert t.retry_after("reception", OFFICE, T0) == 0.0
    # Known at the office, not elsewhere: another address's limit still applies to it there.
    fail(t, "x", ELSEWHERE, 6)
    assert t.retry_after("reception", ELSEWHERE, T0) == 1.0


def test_a_stale_console_backs_off_its_own_login_and_locks_no_one_out() -> None:
    # Both consoles logged in from the office before; one keeps a password that changed since.
    t = throttle(free_failures=3, ip_free_failures=5)
    t.record_success("reception", OFFICE, T0)
    t.record_success("sales", OFFICE, T0)
    waits = fail(t, "sales", OFFICE, 50)
    assert waits[:3] == [0.0, 0.0, 0.0] and waits[3:6] == [1.0, 2.0, 4.0]  # the per-login backoff stays
    assert t.retry_after("sales", OFFICE, T0) == 300.0
    # Its failures counted against its login only: the office is not locked, for anyone.
    assert t.retry_after("reception", OFFICE, T0) == 0.0
    assert t.retry_after("new-console", OFFICE, T0) == 0.0


def test_an_unknown_console_hammering_locks_out_only_the_logins_not_known_there() -> None:
    t = throttle(free_failures=100, ip_free_failures=5)
    t.record_success("reception", OFFICE, T0)
    waits = fail(t, "misconfigured", OFFICE, 8)
    assert waits == [0.0] * 5 + [1.0, 2.0, 4.0]
    assert t.retry_after("new-console", OFFICE, T0) == 4.0
    assert t.retry_after("reception", OFFICE, T0) == 0.0


def test_a_flood_of_random_names_locks_out_unknown_logins_with_growing_waits() -> None:
    t = throttle(ip_free_failures=20)
    t.record_success("reception", OFFICE, T0)
    waits = [t.record_failure(f"user{n}", OFFICE, T0) for n in range(25)]
    assert waits[:20] == [0.0] * 20 and waits[20:] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert t.retry_after("admin", OFFICE, T0) == 16.0
    assert t.retry_after("admin", OFFICE, T0 + 16.0) == 0.0
    assert t.retry_after("reception", OFFICE, T0) == 0.0
    # The address's record only fades: one good login does not reset the spray.
    t.record_success("reception", OFFICE, T0 + 1)
    assert t.retry_after("admin", OFFICE, T0 + 1) == 15.0


def test_known_failures_do_not_strike_the_address_but_unknown_ones_do() -> None:
    t = throttle(free_failures=100, ip_free_failures=2)
    t.record_success("a", OFFICE, T0)
    fail(t, "a", OFFICE, 10)
    assert t.retry_after("b", OFFICE, T0) == 0.0
    fail(t, "b", OFFICE, 3)
    assert t.retry_after("c", OFFICE, T0) == 1.0


def test_knowing_lasts_known_for_and_each_success_renews_it() -> None:
    t = throttle(known_for=3600.0)
    t.record_success("reception", OFFICE, T0)
    fail(t, "intruder", OFFICE, 6, now=T0 + 3599.0)
    assert t.retry_after("reception", OFFICE, T0 + 3599.0) == 0.0
    assert t.known("reception", OFFICE, T0 + 3599.0)
    assert not t.known("reception", OFFICE, T0 + 3600.0)
    assert t.retry_after("reception", OFFICE, T0 + 3600.0) == 0.0  # the address's wait is over by then
    fail(t, "intruder", OFFICE, 1, now=T0 + 3600.0)
    assert t.retry_after("reception", OFFICE, T0 + 3600.0) == 2.0
    t.record_success("reception", OFFICE, T0 + 3600.0)  # it got in earlier, say, on a session it had
    assert t.retry_after("reception", OFFICE, T0 + 3600.0) == 0.0


def test_known_for_zero_knows_no_one() -> None:
    t = throttle(known_for=0.0)
    t.record_success("reception", OFFICE, T0)
    fail(t, "intruder", OFFICE, 6)
    assert t.retry_after("reception", OFFICE, T0) == 1.0


def test_a_success_without_an_address_only_clears_the_login() -> None:
    t = throttle()
    fail(t, "u", None, 4)
    assert t.retry_after("u", None, T0) == 1.0
    t.record_success("u")
    assert t.retry_after("u", None, T0) == 0.0
    assert not t.known("u", OFFICE, T0)


def test_known_pairs_are_pruned_and_bounded() -> None:
    t = throttle(known_for=100.0, max_entries=4)
    for n in range(4):
        t.record_success(f"u{n}", OFFICE, T0 + n)
    t.prune(T0 + 102.5)  # u0..u2 are older than known_for by then
    assert [t.known(f"u{n}", OFFICE, T0 + 102.5) for n in range(4)] == [False, False, False, True]
    for n in range(10):
        t.record_success(f"v{n}", OFFICE, T0 + 200 + n)
    assert len(t._known) <= 4
    assert t.known("v9", OFFICE, T0 + 210)

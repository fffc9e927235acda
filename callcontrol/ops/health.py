"""``/health``: the store, the listeners and the event loop, each checked for real on every request.

- **store**: one cheap query through the store's own thread (within ``store_timeout``), and
  whether the last CDR write failed (CDRs then stay buffered in memory);
- **sip**: every configured SIP listener's socket is open;
- **ws**: the WebSocket API server accepts connections;
- **event_loop**: the worst lateness of the B2BUA's lag watch over its last samples (5 s)
  is below ``max_lag`` (the overload threshold, above which new calls are refused anyway).

- **intake**: whether new calls are taken; a draining server (SIGUSR1, ``callcontrol drain``)
  is healthy but wants no new work.

All pass: 200 ``{"status": "ok", ...}``. Any fails: 503 ``{"status": "fail", "failing":
[names], ...}``. Draining and nothing failing: 503 ``{"status": "draining", ...}``, so a load
balancer polling /health stops sending new calls as a SIP proxy probing with OPTIONS does
(the server answers those 503 too). ``checks`` has every component's own status and facts.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class Listener(Protocol):
    @property
    def is_open(self) -> bool: ...


class PingableStore(Protocol):
    cdr_write_error: str | None

    @property
    def pending_cdrs(self) -> int: ...

    async def ping(self) -> None: ...


@dataclass(slots=True)
class HealthSources:
    """What the checks read; the server fills it in as its parts start."""

    sip_expected: Sequence[str] = ()  # "udp:127.0.0.1:5060", one per configured listener
    sip_listeners: Callable[[], dict[str, Listener]] = dict  # open transports by name ("UDP", "TCP")
    store: PingableStore | None = None
    ws: Callable[[], bool] | None = None  # whether the WebSocket server is serving
    lag_samples: Sequence[float] | None = None  # the lag watch's latest values (s)
    max_lag: float = 1.0
    store_timeout: float = 2.0
    started: Callable[[], float] = field(default=lambda: 0.0)  # uptime in seconds
    intake: Callable[[], str] | None = None  # "open", "draining" or "closed" (the B2BUA's intake)
    calls_up: Callable[[], int] = field(default=lambda: 0)


async def check(src: HealthSources) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of one health check."""
    checks: dict[str, dict[str, Any]] = {
        "store": await _store(src),
        "sip": _sip(src),
        "ws": _ws(src),
        "event_loop": _loop(src),
        "intake": _intake(src),
    }
    failing = [name for name, result in checks.items() if result["status"] == "fail"]
    draining = checks["intake"]["status"] == "draining"
    status = "fail" if failing else "draining" if draining else "ok"
    body: dict[str, Any] = {"status": status, "uptime_s": round(src.started(), 1)}
    if failing:
        body["failing"] = failing
    body["checks"] = checks
    return (200 if status == "ok" else 503), body


def _intake(src: HealthSources) -> dict[str, Any]:
    intake = src.intake() if src.intake is not None else "closed"
    if intake == "open":
        return {"status": "ok", "intake": intake}
    if intake == "draining":
        return {"status": "draining", "intake": intake, "calls_up": src.calls_up()}
    return {"status": "fail", "error": "not taking calls", "intake": intake}


async def _store(src: HealthSources) -> dict[str, Any]:
    store = src.store
    if store is None:
        return {"status": "fail", "error": "not open"}
    try:
        await asyncio.wait_for(store.ping(), src.store_timeout)
    except TimeoutError:
        return {"status": "fail", "error": f"no answer within {src.store_timeout:g} s"}
    except Exception as exc:
        return {"status": "fail", "error": str(exc) or exc.__class__.__name__}
    if store.cdr_write_error is not None:
        return {"status": "fail", "error": f"CDR writes failing: {store.cdr_write_error}",
                "pending_cdrs": store.pending_cdrs}
    return {"status": "ok", "pending_cdrs": store.pending_cdrs}


def _sip(src: HealthSources) -> dict[str, Any]:
    open_ = src.sip_listeners()
    closed = []
    for listen in src.sip_expected:
        transport = listen.split(":", 1)[0].upper()
        listener = open_.get(transport)
        if listener is None or not listener.is_open:
            closed.append(listen)
    if closed:
        return {"status": "fail", "error": "listener closed", "closed": closed}
    return {"status": "ok", "listeners": list(src.sip_expected)}


def _ws(src: HealthSources) -> dict[str, Any]:
    if src.ws is None or not src.ws():
        return {"status": "fail", "error": "WebSocket server not serving"}
    return {"status": "ok"}


def _loop(src: HealthSources) -> dict[str, Any]:
    samples = src.lag_samples
    if samples is None:
        return {"status": "ok", "lag_s": None}  # no lag watch (overload shedding off)
    worst = max(samples, default=0.0)
    result = {"lag_s": round(worst, 3), "max_lag_s": src.max_lag}
    if worst > src.max_lag:
        return {"status": "fail", "error": f"event loop {worst:.2f} s behind", **result}
    return {"status": "ok", **result}

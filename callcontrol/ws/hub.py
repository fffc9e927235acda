"""The WebSocket hub: listener, connections, send queues, publish.

``start_hub`` binds a ``websockets`` (asyncio API) server on ``/ws`` and
``/ws/CallControl``. Per connection there is the handler task (reads frames
and starts one task per request, at most ``max_inflight`` at a time) and a
writer task that drains a bounded send queue. Nothing on the publish path
awaits: :meth:`Hub.publish` finds the subscribed feeds through the key index
and, only when there are any, encodes the leg once and appends a frame to each
connection's queue.

A connection whose queue reaches ``send_queue_limit`` frames (its client
does not read fast enough) gets one ``overflow`` notice and is closed with
1008 "send queue overflow"; its notifications keep being numbered into the
feed's ring so that a ``Session.resume`` on a new connection can replay
them. Other connections are never delayed by it.
"""
from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
import time
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable
from enum import Enum
from typing import Any

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from callcontrol.access.throttle import LoginThrottle
from callcontrol.api.backend import CallBackend
from callcontrol.api.dispatcher import Dispatcher
from callcontrol.api.events import EventRouter, Feed, notification_tail
from callcontrol.api.models import CallNotFound, CallRef
from callcontrol.api.ordering import Command, CommandBarrier, current_command
from callcontrol.api.sessions import DEFAULT_IDLE_TIMEOUT, Session, SessionService, resume_candidate
from callcontrol.model.callinfo import CallInfo, CallState
from callcontrol.model.scope import DirectoryView, PrincipalLike, Scope

logger = logging.getLogger(__name__)

PATHS: frozenset[str] = frozenset({"/ws", "/ws/", "/ws/CallControl"})
OVERFLOW_CLOSE_CODE = 1008
OVERFLOW_REASON = "send queue overflow"
SHUTDOWN_CLOSE_CODE = 1001
WRITE_BATCH = 256  # frames coalesced into one transport write


class ConnState(Enum):
    OPEN = "open"            # reading requests, sending
    DRAINING = "draining"    # server shutting down: finish in-flight requests, flush, close
    OVERFLOWED = "overflowed"  # queue limit hit: overflow notice, then close
    CLOSED = "closed"


# Allowed transitions; anything else is a bug.
_TRANSITIONS: dict[ConnState, frozenset[ConnState]] = {
    ConnState.OPEN: frozenset({ConnState.DRAINING, ConnState.OVERFLOWED, ConnState.CLOSED}),
    ConnState.DRAINING: frozenset({ConnState.OVERFLOWED, ConnState.CLOSED}),
    ConnState.OVERFLOWED: frozenset({ConnState.CLOSED}),
    ConnState.CLOSED: frozenset(),
}


class Connection:
    """One WebSocket client: request tasks, send queue, notification feed, command barrier."""

    def __init__(self, hub: Hub, ws: ServerConnection) -> None:
        self.hub = hub
        self.ws = ws
        addr = ws.remote_address
        self.remote_ip: str | None = addr[0] if isinstance(addr, tuple) and addr else None
        self.state = ConnState.OPEN
        self.queue: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.barrier: CommandBarrier[tuple[Feed, bytes]] = CommandBarrier()
        self.feed: Feed | None = None
        self.sessions: set[Session] = set()
        self.credential_sessions: dict[tuple[str, str], Session] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.slots = asyncio.Semaphore(hub.max_inflight)
        self.writer: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self._close_after_flush: tuple[int, str] | None = None

    def __repr__(self) -> str:
        return f"<Connection {self.remote_ip} {self.state.value} queue={len(self.queue)}>"

    def _to(self, state: ConnState) -> bool:
        if state is self.state:
            return False
        if state not in _TRANSITIONS[self.state]:
            return False
        self.state = state
        return True

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        self.writer = asyncio.create_task(self._write_loop())
        try:
            await self._read_loop()
        finally:
            self._teardown()
            if not self.writer.done():
                self.writer.cancel()
            self.closed.set()

    async def _read_loop(self) -> None:
        dispatcher = self.hub.dispatcher
        try:
            async for frame in self.ws:
                if self.state is not ConnState.OPEN:
                    continue  # draining/overflowed: no new work
                await self.slots.acquire()
                task = asyncio.create_task(dispatcher.serve(self, frame))
                self.tasks.add(task)
                task.add_done_callback(self._request_done)
        except ConnectionClosed:
            pass

    def _request_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.slots.release()

    def _teardown(self) -> None:
        self._to(ConnState.CLOSED)
        feed = self._detach_feed()
        # Per-request-credential sessions live and die with their connection (no resume).
        for session in self.credential_sessions.values():
            self.hub.sessions.end(session)
        self.credential_sessions.clear()
        if feed is not None and not feed.subscribed:
            for session in self.sessions:
                session.feeds.discard(feed)
        for session in self.sessions:
            self.hub.sessions.detach(session)
        self.sessions.clear()
        self.queue.clear()
        self.wake.set()
        self.hub.connections.discard(self)

    async def shutdown(self, timeout: float) -> None:
        """Graceful: let in-flight requests answer, flush the queue, close with 1001."""
        if not self._to(ConnState.DRAINING):
            return
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout)
        self._close_after_flush = (SHUTDOWN_CLOSE_CODE, "server shutting down")
        self.wake.set()
        try:
            await asyncio.wait_for(self.closed.wait(), timeout)
        except TimeoutError:
            self.ws.transport.abort()

    # ------------------------------------------------------------------ sending

    async def _write_loop(self) -> None:
        ws, queue, wake = self.ws, self.queue, self.wake
        protocol, transport = ws.protocol, ws.transport
        try:
            while True:
                while queue:
                    if len(queue) == 1:
                        await ws.send(queue.popleft(), text=True)
                        continue
                    # Several frames waiting (a fan-out burst): frame them with the
                    # Sans-I/O protocol and hand the transport one buffer, i.e. one
                    # syscall instead of one per frame; then the same flow control
                    # as ws.send (drain waits while the transport is paused).
                    if protocol.state is not State.OPEN or transport.is_closing():
                        return
                    send_text = protocol.send_text
                    for _ in range(min(len(queue), WRITE_BATCH)):
                        send_text(queue.popleft())
                    transport.write(b"".join(protocol.data_to_send()))
                    await ws.drain()
                if self._close_after_flush is not None:
                    await ws.close(*self._close_after_flush)
                    return
                if self.state is ConnState.CLOSED:
                    return
                wake.clear()
                await wake.wait()
        except ConnectionClosed:
            pass

    def enqueue(self, frame: bytes) -> None:
        state = self.state
        if state is ConnState.CLOSED or state is ConnState.OVERFLOWED:
            return
        queue = self.queue
        if len(queue) >= self.hub.send_queue_limit:
            self._overflow()
            return
        queue.append(frame)
        self.wake.set()

    def enqueue_many(self, frames: list[bytes]) -> None:
        """Replay frames: bounded by the ring size, so they may exceed the queue limit."""
        if self.state is ConnState.CLOSED or self.state is ConnState.OVERFLOWED:
            return
        self.queue.extend(frames)
        self.wake.set()

    def push(self, feed: Feed, tail: bytes, base_id: str, fresh: bool) -> None:
        """FeedSink: a notification for this connection (from Hub.publish)."""
        barrier = self.barrier
        if (barrier.blocked or barrier.creators) and barrier.holds(base_id, fresh):
            barrier.park(base_id, (feed, tail))
            return
        self.hub.counters["delivered"] += 1
        self.enqueue(feed.next_frame(tail))

    def finish_command(self, cmd: Command) -> None:
        """The command's response is queued: release the notifications it held back."""
        for feed, tail in self.barrier.finish(cmd):
            if feed.sink is self:
                self.hub.counters["delivered"] += 1
                self.enqueue(feed.next_frame(tail))
            else:
                feed.deliver(tail)

    def _overflow(self) -> None:
        if not self._to(ConnState.OVERFLOWED):
            return
        self.hub.counters["overflows"] += 1
        dropped = len(self.queue)
        self.queue.clear()
        feed = self._detach_feed()
        last_seq = feed.seq if feed is not None else 0
        logger.warning("closing %s: %s (%d frames dropped, last seq %d)", self.remote_ip, OVERFLOW_REASON,
                       dropped, last_seq)
        notice = orjson.dumps({"action": "overflow", "event": "sip.call_control_notifications",
                               "result": {"reason": OVERFLOW_REASON, "last_seq": last_seq}})
        task = asyncio.get_running_loop().create_task(self._close_overflowed(notice))
        self.hub.background.add(task)
        task.add_done_callback(self.hub.background.discard)

    async def _close_overflowed(self, notice: bytes) -> None:
        # The writer is stuck waiting for the client's TCP window; the frame it
        # was sending is already in the transport buffer, so cancelling it is safe.
        if self.writer is not None:
            self.writer.cancel()
        ws = self.ws
        try:
            async with asyncio.timeout(self.hub.overflow_grace):
                await ws.send(notice, text=True)
                await ws.close(OVERFLOW_CLOSE_CODE, OVERFLOW_REASON)
        except (TimeoutError, ConnectionClosed):
            pass
        finally:
            if ws.state is not State.CLOSED:
                ws.transport.abort()

    # ------------------------------------------------------------------ sessions and feed

    def use_session(self, session: Session) -> None:
        if session not in self.sessions:
            self.sessions.add(session)
            self.hub.sessions.attach(session)

    def credential_session(self, principal: PrincipalLike) -> Session:
        key = (principal.realm, principal.login)
        session = self.credential_sessions.get(key)
        if session is None or session.ended:
            session = self.credential_sessions[key] = self.hub.sessions.ephemeral(principal)
        return session

    def ensure_feed(self) -> Feed:
        feed = self.feed
        if feed is None:
            feed = self.feed = Feed(self.hub.replay_buffer)
            feed.sink = self
        return feed

    def take_feed(self, session: Session) -> Feed:
        """Resume: move ``session``'s notification stream onto this connection."""
        current = self.feed
        feed = resume_candidate(session, current)
        if feed is current:
            return feed
        old = feed.sink
        if isinstance(old, Connection) and old is not self:
            old.feed = None
        if current is not None:
            for s in self.sessions:
                s.feeds.discard(current)
        feed.sink = self
        feed.detached_at = None
        self.feed = feed
        return feed

    def _detach_feed(self) -> Feed | None:
        feed = self.feed
        if feed is None:
            return None
        self.feed = None
        if feed.sink is self:
            feed.sink = None
            feed.detached_at = self.hub.clock()
        # Held-back notifications were never numbered: number them into the ring now.
        for held_feed, tail in self.barrier.drain():
            held_feed.deliver(tail)
        return feed


class Hub:
    """The JSON-RPC hub. Create with :func:`start_hub`."""

    def __init__(self, *, directory: DirectoryView, backend: CallBackend, clock: Callable[[], float],
                 session_idle_timeout: float, max_inflight: int, send_queue_limit: int, replay_buffer: int,
                 overflow_grace: float, disabled_methods: Collection[str], allowed_realms: Collection[str] | None,
                 throttle: LoginThrottle | None, time_offset: int) -> None:
        self.directory = directory
        self.backend = backend
        self.clock = clock
        self.max_inflight = max_inflight
        self.send_queue_limit = send_queue_limit
        self.replay_buffer = replay_buffer
        self.overflow_grace = overflow_grace
        self.disabled_methods = frozenset(disabled_methods)
        self.time_offset = time_offset
        self.router = EventRouter()
        self.sessions = SessionService(directory, clock=clock, idle_timeout=session_idle_timeout,
                                       throttle=throttle, allowed_realms=allowed_realms,
                                       on_end=self._session_ended)
        self.dispatcher = Dispatcher(self)
        self.connections: set[Connection] = set()
        self.background: set[asyncio.Task[Any]] = set()
        self.counters: Counter[str] = Counter()
        self._legs: dict[str, dict[str, CallInfo]] = {}  # call id -> tag -> latest live snapshot
        self._server: Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ public API

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    @property
    def sockets(self) -> tuple[Any, ...]:
        return self._server.sockets if self._server is not None else ()

    def publish(self, info: CallInfo) -> int:
        """Fan out one leg snapshot; returns the number of feeds it went to. Call on the loop thread."""
        self.counters["published"] += 1
        call = info.call
        base_id = call.base_id
        tag = call.tag if call.tag is not None else ""
        legs = self._legs.get(call.id)
        fresh = legs is None
        if info.state is CallState.TERMINATED:
            if legs is not None:
                legs.pop(tag, None)
                if not legs:
                    del self._legs[call.id]
        elif legs is None:
            self._legs[call.id] = {tag: info}
        else:
            legs[tag] = info
        cmd = current_command.get()
        if cmd is not None:
            cmd.relate(base_id)
        feeds = self.router.targets(info.routing_keys())
        if not feeds:
            # Nobody subscribed to this leg (a trunk call, a load test): no JSON work at all.
            # The snapshot is encoded lazily if a get_sip_calls_list asks for it.
            return 0
        tail = notification_tail(info.encoded(self.time_offset))
        for feed in feeds:
            feed.deliver(tail, base_id, fresh)
        return len(feeds)

    def check_leg(self, ref: CallRef, transport_id: str | None, scope: Scope) -> None:
        """Reject a leg the hub has seen published and that ``scope`` may not see (or on another transport)."""
        legs = self._legs.get(ref.id)
        if not legs:
            return
        if ref.tag is not None:
            leg = legs.get(ref.tag)
            candidates = [leg] if leg is not None else []
        else:
            candidates = list(legs.values())
        if not candidates:
            return
        if not any(scope.covers_call(c) and (transport_id is None or c.transport_id == transport_id)
                   for c in candidates):
            raise CallNotFound({"call": ref.model_dump(exclude_none=True)})

    def sweep(self) -> int:
        """Expire idle sessions now (also runs periodically); returns how many ended."""
        return self.sessions.expire()

    def stats(self) -> dict[str, int]:
        return {"connections": len(self.connections), "sessions": len(self.sessions),
                "subscribed_keys": self.router.key_count, "live_legs": sum(map(len, self._legs.values())),
                **self.counters}

    async def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, let in-flight requests answer, flush queues, close connections (1001)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        server = self._server
        if server is None:
            return
        # Stops listening at once; the close task then waits for our handlers to return.
        server.close(close_connections=False)
        for _ in range(3):  # connections whose handshake completed while we were closing
            conns = list(self.connections)
            if not conns:
                break
            await asyncio.gather(*(c.shutdown(timeout) for c in conns), return_exceptions=True)
        for conn in list(self.connections):
            conn.ws.transport.abort()
        try:
            await asyncio.wait_for(server.wait_closed(), timeout)
        except TimeoutError:
            logger.warning("hub close timed out")
        for task in list(self.background):
            task.cancel()
        self._server = None

    # ------------------------------------------------------------------ internals

    async def _start(self, host: str | None, port: int, *, ssl: ssl_module.SSLContext | None,
                     max_frame_size: int, ping_interval: float | None, sweep_interval: float) -> None:
        self._server = await serve(
            self._handle, host, port, ssl=ssl, process_request=self._check_path, compression=None,
            max_size=max_frame_size, ping_interval=ping_interval, ping_timeout=ping_interval,
            server_header="callcontrol", logger=logging.getLogger("callcontrol.ws.hub.websockets"),
        )
        self._sweeper = asyncio.create_task(self._sweep_loop(sweep_interval))
        logger.info("call-control API listening on %s://%s:%d/ws", "wss" if ssl else "ws", host or "*",
                    self.port)

    @staticmethod
    def _check_path(connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path not in PATHS:
            return connection.respond(404, "Not Found: the API is on /ws\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        conn = Connection(self, ws)
        self.connections.add(conn)
        await conn.run()

    async def _sweep_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.sweep()
            except Exception:
                logger.exception("session sweep failed")

    def _session_ended(self, session: Session) -> None:
        for feed in session.feeds:
            self.router.drop_session(feed, session.id)
        session.feeds.clear()


async def start_hub(host: str | None, port: int, *, directory: DirectoryView, backend: CallBackend,
                    ssl: ssl_module.SSLContext | None = None,
                    session_idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                    max_inflight: int = 32, send_queue_limit: int = 4096, replay_buffer: int = 2048,
                    overflow_grace: float = 5.0, max_frame_size: int = 1 << 20,
                    ping_interval: float | None = 20.0, disabled_methods: Iterable[str] = (),
                    allowed_realms: Collection[str] | None = None, throttle: LoginThrottle | None = None,
                    time_offset: int = 0, clock: Callable[[], float] = time.monotonic,
                    sweep_interval: float | None = None) -> Hub:
    """Start the hub on ``host:port`` (port 0: any free port, see ``Hub.port``).

    ``ssl``: serve wss://. ``allowed_realms``: the realms that may log in on this
    listener (PortaSIP's per-realm ports). ``disabled_methods``: CallControl
    methods answered with ``sip.call_control_disabled``. ``time_offset``:
    seconds added to UTC in notification times.
    """
    hub = Hub(directory=directory, backend=backend, clock=clock, session_idle_timeout=session_idle_timeout,
              max_inflight=max_inflight, send_queue_limit=send_queue_limit, replay_buffer=replay_buffer,
              overflow_grace=overflow_grace, disabled_methods=disabled_methods, allowed_realms=allowed_realms,
              throttle=throttle, time_offset=time_offset)
    if sweep_interval is None:
        sweep_interval = max(1.0, min(30.0, session_idle_timeout / 4))
    await hub._start(host, port, ssl=ssl, max_frame_size=max_frame_size, ping_interval=ping_interval,
                     sweep_interval=sweep_interval)
    return hub

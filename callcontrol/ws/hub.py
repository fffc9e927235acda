"""The WebSocket transport of the API: listener, connections, send queues.

``start_hub`` binds a ``websockets`` (asyncio API) server on ``/ws`` and
``/ws/CallControl`` in front of a :class:`~callcontrol.api.service.CallControlApi`.
Per connection there is the handler task (reads frames and starts one task per
request, at most ``max_inflight`` at a time) and a writer task that drains a
bounded send queue. The hub only moves frames: each text frame goes to the
:class:`~callcontrol.api.dispatcher.Dispatcher` with the connection's
:class:`~callcontrol.api.client_context.ClientContext`, and the frames it returns
are queued in order; notifications arrive already encoded through the context
(``Transport.send``). Sessions, subscriptions and ordering are the API's.

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
from collections import Counter, deque
from collections.abc import Sequence
from enum import Enum
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from callcontrol.api.dispatcher import Dispatcher
from callcontrol.api.events import overflow_frame
from callcontrol.api.service import CallControlApi

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
    """One WebSocket client: request tasks, send queue, writer; its API state is ``self.api``."""

    def __init__(self, hub: Hub, ws: ServerConnection) -> None:
        self.hub = hub
        self.ws = ws
        addr = ws.remote_address
        self.remote_ip: str | None = addr[0] if isinstance(addr, tuple) and addr else None
        self.state = ConnState.OPEN
        self.queue: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.api = hub.api.open(self, self.remote_ip)
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
        try:
            async for frame in self.ws:
                if self.state is not ConnState.OPEN:
                    continue  # draining/overflowed: no new work
                await self.slots.acquire()
                task = asyncio.create_task(self._serve(frame))
                self.tasks.add(task)
                task.add_done_callback(self._request_done)
        except ConnectionClosed:
            pass

    async def _serve(self, frame: str | bytes) -> None:
        reply = await self.hub.dispatcher.serve(self.api, frame)
        # No await from here on: the response goes out before the notifications behind it.
        if reply.response is not None:
            self.send(reply.response)
        if reply.after:
            self.send_many(reply.after)

    def _request_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.slots.release()

    def _teardown(self) -> None:
        self._to(ConnState.CLOSED)
        self.api.close()
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

    def send(self, frame: bytes) -> None:
        """Transport: queue one frame; a client whose queue is full is cut off (overflow)."""
        state = self.state
        if state is ConnState.CLOSED or state is ConnState.OVERFLOWED:
            return
        queue = self.queue
        if len(queue) >= self.hub.send_queue_limit:
            self._overflow()
            return
        queue.append(frame)
        self.wake.set()

    def send_many(self, frames: list[bytes]) -> None:
        """Frames behind a response (a replay is bounded by the ring size, so it may exceed the limit)."""
        if self.state is ConnState.CLOSED or self.state is ConnState.OVERFLOWED:
            return
        self.queue.extend(frames)
        self.wake.set()

    def _overflow(self) -> None:
        if not self._to(ConnState.OVERFLOWED):
            return
        self.hub.counters["overflows"] += 1
        dropped = len(self.queue)
        self.queue.clear()
        feed = self.api.detach_feed()
        last_seq = feed.seq if feed is not None else 0
        logger.warning("closing %s: %s (%d frames dropped, last seq %d)", self.remote_ip, OVERFLOW_REASON,
                       dropped, last_seq)
        task = asyncio.get_running_loop().create_task(
            self._close_overflowed(overflow_frame(OVERFLOW_REASON, last_seq)))
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


class Hub:
    """The WebSocket listener in front of ``api``. Create with :func:`start_hub`."""

    def __init__(self, api: CallControlApi, *, max_inflight: int, send_queue_limit: int,
                 overflow_grace: float) -> None:
        self.api = api
        self.dispatcher = Dispatcher(api)
        self.max_inflight = max_inflight
        self.send_queue_limit = send_queue_limit
        self.overflow_grace = overflow_grace
        self.connections: set[Connection] = set()
        self.background: set[asyncio.Task[Any]] = set()
        self.counters: Counter[str] = Counter()  # transport events (overflows)
        self._server: Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    @property
    def sockets(self) -> tuple[Any, ...]:
        return self._server.sockets if self._server is not None else ()

    def stats(self) -> dict[str, int]:
        return {"connections": len(self.connections), **self.api.stats(), **self.counters}

    @property
    def serving(self) -> bool:
        """The listener accepts connections (for /health)."""
        server = self._server
        return server is not None and server.is_serving()

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
                     max_frame_size: int, ping_interval: float | None, sweep_interval: float,
                     origins: Sequence[str | None] | None) -> None:
        self._server = await serve(
            self._handle, host, port, ssl=ssl, process_request=self._check_path, compression=None,
            origins=origins,
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
        self.counters["connections_opened"] += 1
        self.connections.add(conn)
        await conn.run()

    async def _sweep_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.api.sweep()
            except Exception:
                logger.exception("session sweep failed")


async def start_hub(host: str | None, port: int, *, api: CallControlApi, ssl: ssl_module.SSLContext | None = None,
                    max_inflight: int = 32, send_queue_limit: int = 4096, overflow_grace: float = 5.0,
                    max_frame_size: int = 1 << 20, ping_interval: float | None = 20.0,
                    sweep_interval: float | None = None, origins: Sequence[str | None] | None = None) -> Hub:
    """Start the hub for ``api`` on ``host:port`` (port 0: any free port, see ``Hub.port``).

    ``ssl``: serve wss://. ``sweep_interval``: how often idle sessions are expired
    (default: a quarter of the session idle timeout, within 1..30 s). ``origins``: the ``Origin``
    values an upgrade may carry (None in it: no Origin, i.e. not a browser); any other gets 403
    (cross-site WebSocket hijacking; ``callcontrol.web.WebSettings.ws_origins``). None: no check.
    """
    hub = Hub(api, max_inflight=max_inflight, send_queue_limit=send_queue_limit, overflow_grace=overflow_grace)
    if sweep_interval is None:
        sweep_interval = max(1.0, min(30.0, api.sessions.idle_timeout / 4))
    await hub._start(host, port, ssl=ssl, max_frame_size=max_frame_size, ping_interval=ping_interval,
                     sweep_interval=sweep_interval, origins=origins)
    return hub

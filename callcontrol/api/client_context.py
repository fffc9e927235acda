"""One connection as the API sees it: its sessions, its notification feed, its command barrier.

The transport (``callcontrol.ws.hub.Connection``) owns one :class:`ClientContext`
and gives it a :class:`Transport` to send notification frames through; the
context never sees a socket. It is the feed's sink: a notification for this
connection is numbered and sent at once, or parked behind a command that is
still running (``callcontrol.api.ordering``) and handed back, numbered, when
that command finishes (the dispatcher returns those frames behind the response).
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Protocol

from callcontrol.api.events import Feed
from callcontrol.api.ordering import Command, CommandBarrier
from callcontrol.api.sessions import Session, SessionService, resume_candidate
from callcontrol.model.scope import PrincipalLike

logger = logging.getLogger(__name__)


class Transport(Protocol):
    """Where a connection's notification frames go (bounded: it may cut the client off)."""

    def send(self, frame: bytes) -> None: ...


class ClientContext:
    """Per-connection API state; see the module docstring."""

    def __init__(self, transport: Transport, remote_ip: str | None, *, sessions: SessionService,
                 replay_buffer: int, clock: Callable[[], float], counters: Counter[str]) -> None:
        self.transport = transport
        self.remote_ip = remote_ip
        self.barrier: CommandBarrier[tuple[Feed, bytes]] = CommandBarrier()
        self.feed: Feed | None = None
        self.sessions: set[Session] = set()
        self.credential_sessions: dict[tuple[str, str], Session] = {}
        self._service = sessions
        self._replay_buffer = replay_buffer
        self._clock = clock
        self._counters = counters

    # ------------------------------------------------------------------ sessions

    def use_session(self, session: Session) -> None:
        if session not in self.sessions:
            self.sessions.add(session)
            self._service.attach(session)

    def credential_session(self, principal: PrincipalLike) -> Session:
        """The implicit session of per-request credentials ``principal`` on this connection."""
        key = (principal.realm, principal.login)
        session = self.credential_sessions.get(key)
        if session is None or session.ended:
            session = self.credential_sessions[key] = self._service.ephemeral(principal)
        return session

    # ------------------------------------------------------------------ feed

    def ensure_feed(self) -> Feed:
        feed = self.feed
        if feed is None:
            feed = self.feed = Feed(self._replay_buffer)
            feed.sink = self
        return feed

    def take_feed(self, session: Session) -> Feed:
        """Resume: move ``session``'s notification stream onto this connection."""
        current = self.feed
        feed = resume_candidate(session, current)
        if feed is current:
            return feed
        old = feed.sink
        if isinstance(old, ClientContext) and old is not self:
            old.feed = None
        if current is not None:
            for s in self.sessions:
                s.feeds.discard(current)
        feed.sink = self
        feed.detached_at = None
        self.feed = feed
        return feed

    def detach_feed(self) -> Feed | None:
        """The connection cannot take more frames: the feed goes on numbering into its ring."""
        feed = self.feed
        if feed is None:
            return None
        self.feed = None
        if feed.sink is self:
            feed.sink = None
            feed.detached_at = self._clock()
        # Held-back notifications were never numbered: number them into the ring now.
        for held_feed, tail in self.barrier.drain():
            held_feed.deliver(tail)
        return feed

    def push(self, feed: Feed, tail: bytes, base_id: str, fresh: bool) -> None:
        """FeedSink: a notification for this connection."""
        barrier = self.barrier
        if (barrier.blocked or barrier.creators) and barrier.holds(base_id, fresh):
            barrier.park(base_id, (feed, tail))
            return
        self._counters["delivered"] += 1
        self.transport.send(feed.next_frame(tail))

    # ------------------------------------------------------------------ commands

    def begin_command(self, base_ids: Iterable[str], creates_call: bool) -> Command[tuple[Feed, bytes]]:
        return self.barrier.begin(base_ids, creates_call)

    def finish_command(self, cmd: Command[tuple[Feed, bytes]]) -> list[bytes]:
        """The command's response is going out: the frames it held back, numbered, to send behind it."""
        frames: list[bytes] = []
        for feed, tail in self.barrier.finish(cmd):
            if feed.sink is self:
                self._counters["delivered"] += 1
                frames.append(feed.next_frame(tail))
            else:
                feed.deliver(tail)  # resumed elsewhere meanwhile
        return frames

    # ------------------------------------------------------------------ end

    def close(self) -> None:
        """The connection is gone: end its credential sessions, detach from the others."""
        feed = self.detach_feed()
        # Per-request-credential sessions live and die with their connection (no resume).
        for session in self.credential_sessions.values():
            self._service.end(session)
        self.credential_sessions.clear()
        if feed is not None and not feed.subscribed:
            for session in self.sessions:
                session.feeds.discard(feed)
        for session in self.sessions:
            self._service.detach(session)
        self.sessions.clear()

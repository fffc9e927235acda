"""Subscriptions and notification fan-out.

A :class:`Feed` is one connection's notification stream: its ``seq`` counter,
the bounded ring of recent notifications that ``Session.resume`` replays from,
and the subscriptions that sessions made on that connection. A feed outlives
its connection (it keeps numbering and buffering while detached) until every
session that subscribed on it has ended or a resume moves it to a new
connection.

The :class:`EventRouter` indexes feeds by routing key, so publishing a leg
costs O(feeds subscribed to that leg's keys), never O(connections).

Encoding: a CallInfo is encoded once into a *tail*,
``,"result":{"call_info":{...}}}``; each feed only prepends the fixed head
and its own seq digits (:func:`notification_frame`) — one memcpy, no JSON
work per subscriber.
"""
from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from typing import Protocol

import orjson

from callcontrol.api.models import NOTIFICATION_EVENT
from callcontrol.model.callinfo import RoutingKey

logger = logging.getLogger(__name__)

NOTIFICATION_HEAD = b'{"action":"update","event":"sip.call_control_notifications","seq":'
_TAIL_HEAD = b',"result":{"call_info":'
_TAIL_END = b"}}"


def notification_tail(call_info_json: bytes) -> bytes:
    """The seq-independent part of a notification, built once per CallInfo."""
    return b"".join((_TAIL_HEAD, call_info_json, _TAIL_END))


def notification_frame(seq: int, tail: bytes) -> bytes:
    return b"".join((NOTIFICATION_HEAD, b"%d" % seq, tail))


def overflow_frame(reason: str, last_seq: int) -> bytes:
    """The notice a connection gets when it is cut off; ``last_seq``: the newest seq numbered so far."""
    return orjson.dumps({"action": "overflow", "event": NOTIFICATION_EVENT,
                         "result": {"reason": reason, "last_seq": last_seq}})


class FeedSink(Protocol):
    """Where an attached feed's notifications go (the connection)."""

    def push(self, feed: Feed, tail: bytes, base_id: str, fresh: bool) -> None: ...


class Feed:
    """A connection's notification stream; see the module docstring."""

    __slots__ = ("__weakref__", "detached_at", "ring", "seq", "sink", "subs")

    def __init__(self, ring_size: int) -> None:
        self.seq = 0
        self.ring: deque[tuple[int, bytes]] = deque(maxlen=ring_size)
        self.sink: FeedSink | None = None
        self.subs: dict[str, set[RoutingKey]] = {}  # session_id -> keys it subscribed here
        self.detached_at: float | None = None

    def __repr__(self) -> str:
        return f"<Feed seq={self.seq} sessions={len(self.subs)} attached={self.sink is not None}>"

    def next_frame(self, tail: bytes) -> bytes:
        """Number a notification, remember it for resume, and return its frame."""
        seq = self.seq = self.seq + 1
        self.ring.append((seq, tail))
        return b"".join((NOTIFICATION_HEAD, b"%d" % seq, tail))

    def deliver(self, tail: bytes, base_id: str = "", fresh: bool = False) -> None:
        sink = self.sink
        if sink is not None:
            sink.push(self, tail, base_id, fresh)
        else:
            # Detached: keep numbering so that resume can replay it.
            seq = self.seq = self.seq + 1
            self.ring.append((seq, tail))

    def replay_after(self, last_seq: int) -> list[bytes] | None:
        """Frames with seq > last_seq, or None when the ring no longer holds them all."""
        if last_seq > self.seq:
            return None
        if last_seq == self.seq:
            return []
        if not self.ring or self.ring[0][0] > last_seq + 1:
            return None
        return [notification_frame(seq, tail) for seq, tail in self.ring if seq > last_seq]

    @property
    def oldest_seq(self) -> int | None:
        return self.ring[0][0] if self.ring else None

    @property
    def subscribed(self) -> bool:
        return any(self.subs.values())


class EventRouter:
    """Subscription index: routing key -> feeds (with a per-feed count of sessions)."""

    __slots__ = ("_index",)

    def __init__(self) -> None:
        self._index: dict[RoutingKey, dict[Feed, int]] = {}

    def subscribe(self, feed: Feed, session_id: str, keys: Iterable[RoutingKey]) -> None:
        mine = feed.subs.setdefault(session_id, set())
        for key in keys:
            if key in mine:
                continue
            mine.add(key)
            feeds = self._index.setdefault(key, {})
            feeds[feed] = feeds.get(feed, 0) + 1

    def unsubscribe(self, feed: Feed, session_id: str, keys: Iterable[RoutingKey]) -> None:
        mine = feed.subs.get(session_id)
        if not mine:
            return
        for key in keys:
            if key in mine:
                mine.discard(key)
                self._release(feed, key)
        if not mine:
            del feed.subs[session_id]

    def drop_session(self, feed: Feed, session_id: str) -> None:
        """Remove every subscription ``session_id`` made on ``feed``."""
        mine = feed.subs.pop(session_id, None)
        if mine:
            for key in mine:
                self._release(feed, key)

    def _release(self, feed: Feed, key: RoutingKey) -> None:
        feeds = self._index.get(key)
        if feeds is None:
            return
        n = feeds.get(feed, 0) - 1
        if n > 0:
            feeds[feed] = n
        else:
            feeds.pop(feed, None)
            if not feeds:
                del self._index[key]

    def targets(self, keys: Iterable[RoutingKey]) -> tuple[Feed, ...]:
        """Distinct feeds subscribed to any of ``keys``, in first-seen order."""
        index = self._index
        first: dict[Feed, int] | None = None
        merged: dict[Feed, int] | None = None
        for key in keys:
            feeds = index.get(key)
            if not feeds:
                continue
            if first is None:
                first = feeds
            else:
                if merged is None:
                    merged = dict(first)
                merged.update(feeds)
        if merged is not None:
            return tuple(merged)
        if first is not None:
            return tuple(first)
        return ()

    def publish(self, keys: Iterable[RoutingKey], tail: bytes, base_id: str, fresh: bool = False) -> int:
        """Deliver one encoded notification to every feed covering ``keys``; returns the count.

        ``base_id`` and ``fresh`` (first notification of that call) are for the
        connections' command barriers (``callcontrol.api.ordering``).
        """
        feeds = self.targets(keys)
        for feed in feeds:
            feed.deliver(tail, base_id, fresh)
        return len(feeds)

    def subscriber_count(self, key: RoutingKey) -> int:
        return len(self._index.get(key, ()))

    @property
    def key_count(self) -> int:
        return len(self._index)

    @property
    def subscription_count(self) -> int:
        """(feed, routing key) pairs subscribed: what every publish may fan out to."""
        return sum(len(feeds) for feeds in self._index.values())

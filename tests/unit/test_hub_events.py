"""Sans-I/O units of the fan-out: feeds, the key index, and the command barrier."""
from __future__ import annotations

from dataclasses import dataclass, field

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from callcontrol.api.events import EventRouter, Feed, notification_frame, notification_tail
from callcontrol.api.ordering import Command, CommandBarrier


@dataclass
class Sink:
    got: list[tuple[bytes, str, bool]] = field(default_factory=list)

    def push(self, feed: Feed, tail: bytes, base_id: str, fresh: bool) -> None:
        self.got.append((feed.next_frame(tail), base_id, fresh))


def _feed(ring: int = 8) -> tuple[Feed, Sink]:
    feed = Feed(ring)
    sink = Sink()
    feed.sink = sink
    return feed, sink


def test_frame_is_head_seq_tail_and_valid_json() -> None:
    tail = notification_tail(b'{"state":"ringing"}')
    frame = notification_frame(42, tail)
    assert frame == (b'{"action":"update","event":"sip.call_control_notifications","seq":42,'
                     b'"result":{"call_info":{"state":"ringing"}}}')
    assert orjson.loads(frame)["result"]["call_info"] == {"state": "ringing"}


def test_publish_reaches_only_feeds_of_the_keys_and_shares_the_encoded_tail() -> None:
    router = EventRouter()
    a, sa = _feed()
    b, sb = _feed()
    bystanders = [Feed(4) for _ in range(1000)]
    for i, f in enumerate(bystanders):
        router.subscribe(f, "s", [("i_account", 100 + i)])
    router.subscribe(a, "s1", [("i_customer", 1)])
    router.subscribe(b, "s2", [("i_account", 1), ("i_customer", 1)])
    tail = notification_tail(b"{}")
    targets = router.targets([("i_account", 1), ("i_customer", 1)])
    assert len(targets) == 2 and set(targets) == {a, b}
    assert router.publish([("i_account", 1), ("i_customer", 1)], tail, "x") == 2
    assert len(sa.got) == len(sb.got) == 1  # b covered twice, delivered once
    # Same bytes object in both rings: encoded once, never per subscriber.
    assert a.ring[0][1] is b.ring[0][1] is tail
    assert all(f.seq == 0 for f in bystanders)


def test_unsubscribe_and_drop_session_keep_counts_right() -> None:
    router = EventRouter()
    feed, _ = _feed()
    router.subscribe(feed, "s1", [("i_customer", 1), ("i_account", 2)])
    router.subscribe(feed, "s2", [("i_customer", 1)])
    router.unsubscribe(feed, "s1", [("i_customer", 1)])
    assert router.subscriber_count(("i_customer", 1)) == 1  # s2 still wants it
    router.drop_session(feed, "s2")
    assert router.subscriber_count(("i_customer", 1)) == 0
    assert router.subscriber_count(("i_account", 2)) == 1
    router.drop_session(feed, "s1")
    assert router.key_count == 0 and not feed.subscribed
    router.unsubscribe(feed, "nobody", [("i_account", 9)])  # harmless


def test_detached_feed_keeps_numbering_and_replays() -> None:
    feed, sink = _feed(ring=3)
    for i in range(2):
        feed.deliver(notification_tail(b'{"n":%d}' % i), "c")
    feed.sink = None
    for i in range(2, 5):
        feed.deliver(notification_tail(b'{"n":%d}' % i), "c")
    assert feed.seq == 5 and len(sink.got) == 2
    frames = feed.replay_after(2)
    assert frames is not None
    assert [orjson.loads(f)["seq"] for f in frames] == [3, 4, 5]
    assert [orjson.loads(f)["result"]["call_info"]["n"] for f in frames] == [2, 3, 4]
    assert feed.replay_after(5) == []
    assert feed.replay_after(1) is None  # seq 2 fell out of the ring
    assert feed.replay_after(6) is None  # from the future
    assert feed.oldest_seq == 3


# ---------------------------------------------------------------------- command barrier


def test_barrier_holds_only_the_commands_calls() -> None:
    barrier: CommandBarrier[str] = CommandBarrier()
    cmd = barrier.begin(["A"])
    assert barrier.holds("A") and not barrier.holds("B")
    barrier.park("A", "a1")
    cmd.relate("N")  # published inside the command
    barrier.park("N", "n1")
    barrier.park("A", "a2")
    assert barrier.finish(cmd) == ["a1", "n1", "a2"]
    assert not barrier.holds("A") and not barrier.blocked
    assert barrier.finish(cmd) == []
    cmd.relate("late")  # a task spawned by the command, after it finished: no effect
    assert not barrier.blocked


def test_barrier_fresh_calls_wait_for_call_creating_commands() -> None:
    barrier: CommandBarrier[str] = CommandBarrier()
    plain = barrier.begin(["A"])
    assert not barrier.holds("NEW", fresh=True)
    originate = barrier.begin([], creates_calls=True)
    assert barrier.holds("NEW", fresh=True)
    barrier.park("NEW", "new-trying")
    assert barrier.holds("NEW")  # its later notifications too
    barrier.park("NEW", "new-ringing")
    assert barrier.finish(plain) == []
    assert barrier.finish(originate) == ["new-trying", "new-ringing"]
    assert not barrier.creators


def test_overlapping_commands_release_when_the_last_finishes() -> None:
    barrier: CommandBarrier[str] = CommandBarrier()
    one = barrier.begin(["A"])
    two = barrier.begin(["A", "B"])
    barrier.park("A", "a1")
    barrier.park("B", "b1")
    assert barrier.finish(two) == ["b1"]
    assert barrier.finish(one) == ["a1"]


def test_drain_returns_everything_parked() -> None:
    barrier: CommandBarrier[str] = CommandBarrier()
    barrier.begin(["A"])
    barrier.park("A", "x")
    assert barrier.drain() == ["x"] and not barrier.parked


_ids = st.sampled_from("ABCD")
_ops = st.lists(st.one_of(
    st.tuples(st.just("begin"), st.lists(_ids, max_size=2), st.booleans()),
    st.tuples(st.just("publish"), _ids, st.booleans()),
    st.tuples(st.just("finish"), st.integers(0, 7)),
), max_size=60)


@settings(max_examples=300, deadline=None)
@given(_ops)
def test_barrier_never_reorders_a_call_and_releases_everything(ops: list[tuple]) -> None:
    """Model: what a connection sends, given commands and notifications in any interleaving."""
    barrier: CommandBarrier[tuple[str, int]] = CommandBarrier()
    running: list[Command] = []
    sent: list[tuple[str, int]] = []
    counter = 0
    seen: set[str] = set()
    for op in ops:
        if op[0] == "begin":
            running.append(barrier.begin(op[1], creates_calls=op[2]))
        elif op[0] == "publish":
            call, _ = op[1], op[2]
            fresh = call not in seen
            seen.add(call)
            item = (call, counter)
            counter += 1
            if barrier.holds(call, fresh):
                barrier.park(call, item)
            else:
                sent.append(item)
        elif running:
            cmd = running.pop(op[1] % len(running))
            blocked_before = set(cmd.related)
            released = barrier.finish(cmd)
            # Nothing about a call another running command still blocks is released.
            assert all(c not in barrier.blocked for c, _ in released)
            assert all(c in blocked_before or c not in barrier.blocked for c, _ in released)
            sent.extend(released)
    for cmd in running:
        sent.extend(barrier.finish(cmd))
    assert not barrier.parked and not barrier.blocked
    assert sorted(n for _, n in sent) == list(range(counter))  # nothing lost or duplicated
    for call in "ABCD":
        order = [n for c, n in sent if c == call]
        assert order == sorted(order)  # per-call order kept

"""A finished call leaves no reference cycle: with the cyclic garbage collector off, every object
of every finished call (the B2BUA call, its sides, legs, call model, media anchor) is freed by
reference counting alone once its transactions are over."""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from callcontrol.actions.hold import hold, unhold
from callcontrol.actions.originate import originate
from callcontrol.actions.transfer import transfer
from callcontrol.b2b.anchor import MediaAnchor
from callcontrol.b2b.call import B2bCall
from callcontrol.b2b.leg_media import LegMedia
from callcontrol.b2b.sides import Side
from callcontrol.model.calls import Call, Leg
from sip.peer import Peer
from sip.transaction import TimerConfig
from tests.unit.b2bua_rig import (  # noqa: F401  (fixtures)
    HOST,
    make_rig_fixture,
    phones_fixture,
    wait_for,
)
from tests.unit.test_call_actions import connected_call, numbers

# Short SIP timers, so the transactions of the finished calls end within the test.
FAST = TimerConfig(t1=0.02, t2=0.08, t4=0.1, timer_d=0.1)
CALL_OBJECTS = (B2bCall, Side, Leg, Call, MediaAnchor, LegMedia)


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def call_objects() -> list[object]:
    return [o for o in gc.get_objects() if isinstance(o, CALL_OBJECTS)]


async def test_finished_calls_are_freed_by_reference_counting(phones, make_rig) -> None:
    alice, bob, carol = phones
    rig = await make_rig(lambda: (), router=numbers(n202=bob, n203=carol), timers=FAST)
    peer = Peer("UDP", HOST, rig.ua.local_address()[1])
    with no_cyclic_gc():
        assert call_objects() == []
        # 1. answered, held and resumed by the server, then the callee hangs up
        a, b = await connected_call(rig, alice, bob, "202")
        await hold(rig.b2b, a)
        await wait_for(lambda: (a.leg.state, b.leg.state) == ("holding", "held"))
        await unhold(rig.b2b, a)
        await wait_for(lambda: (a.leg.state, b.leg.state) == ("connected", "connected"))
        assert bob.dialog is not None
        bob.send_in_dialog(bob.dialog.create_bye(), peer)
        await alice.next("bye")
        del a, b
        # 2. answered, then blind-transferred to carol; the transferee hangs up
        bob.dialog = alice.dialog = None
        a, b = await connected_call(rig, alice, bob, "202")
        transfer(rig.b2b, b, "203")
        await bob.next("bye")
        await carol.next("ack")
        await alice.next("invite")  # the transferee's re-INVITE towards carol
        await wait_for(lambda: a.leg.state == "connected" and not a.reinvites.in_flight)
        assert alice.dialog is not None
        alice.send_in_dialog(alice.dialog.create_bye(), peer)
        await carol.next("bye")
        del a, b
        # 3. the callee is busy
        bob.answer_with = 486
        bob.dialog = alice.dialog = None
        alice.call(f"sip:202@{HOST}", rig.peer)
        await alice.next("r486")
        # 4. the caller cancels while the callee rings
        bob.answer_with = None
        bob.dialog = alice.dialog = None
        alice.call(f"sip:202@{HOST}", rig.peer)
        await alice.next("r180")
        alice.ua.cancel(alice.tx)
        await alice.next("r487")

        # 5. originated by the server (leg A to bob, then leg B to carol); carol hangs up
        bob.answer_with = 200
        bob.dialog = carol.dialog = None
        await originate(rig.b2b, caller_id="202", callee_id="203", auto_answer=False)
        await carol.next("ack")
        assert carol.dialog is not None
        carol.send_in_dialog(carol.dialog.create_bye(), peer)
        await bob.next("bye")

        await wait_for(lambda: not rig.b2b.calls and len(rig.cdrs) == 3 + 4 + 3 + 3 + 3)
        await wait_for(lambda: len(rig.ua.core.table) == 0)  # their transactions are over
        left = call_objects()
        assert left == [], f"objects of finished calls still referenced: {[type(o).__name__ for o in left]}"

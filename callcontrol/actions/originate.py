"""originate_advanced_call: leg A to ``caller_id`` with the server's own offer (auto-answer
headers on request); when A answers, leg B (``id~10``) to ``callee_id`` offered A's media."""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from callcontrol.actions.checks import route_to
from callcontrol.actions.errors import Unavailable
from callcontrol.b2b.anchor import A, B
from callcontrol.b2b import call_report
from callcontrol.b2b.b2bua import Intake
from callcontrol.b2b.call import AUTO_ANSWER_HEADERS, B2bCall
from callcontrol.b2b.call_machine import CallEvent
from callcontrol.b2b.outgoing import place
from callcontrol.b2b.routing import RouteKind
from callcontrol.b2b.sides import UacSide
from callcontrol.model.callinfo import Party, routing_keys
from sip.dialog import new_call_id

if TYPE_CHECKING:
    from callcontrol.b2b.b2bua import B2bua


async def originate(b2b: B2bua, *, caller_id: str, callee_id: str, auto_answer: bool, bill_to: Any = None) -> str:
    """Call ``caller_id`` (leg A); when it answers call ``callee_id`` (leg B) and bridge them.

    ``bill_to`` (the ``bill_id`` account): a party that is no directory account (a number
    on the trunk) carries its keys, so the call is billed to it and its customer's
    consoles see both legs. Raises ``ivr.ports.PortsExhausted`` when no media ports are free."""
    if not b2b.accepting:
        raise Unavailable(f"server is {'draining' if b2b.intake is Intake.DRAINING else 'shutting down'}: "
                          "it takes no new calls")
    caller_route = route_to(b2b, caller_id, "caller_id")
    route_to(b2b, callee_id, "callee_id")  # fail early: the number must be reachable
    caller = b2b.party_for(caller_route)
    callee = b2b.party_for(b2b.router(callee_id))
    if bill_to is not None:
        keys = routing_keys(b2b.directory, i_account=bill_to.i_account)
        caller, callee = (_billed(party, keys) for party in (caller, callee))
    media = await b2b.open_media() if b2b.settings.media_anchor else None
    host, _port = b2b.ua.local_address(caller_route.targets[0].peer.transport)
    call_id = new_call_id(host)
    call = b2b.registry.new_call(call_id)
    bcall = B2bCall(b2b.ctx, call)
    bcall.media = media
    bcall.fire(CallEvent.PLACE)
    b2b.add_call(bcall)
    body = media.own_offer(A) if media is not None else b""

    def a_answered(a: UacSide) -> None:
        bcall.seat(a)
        route = b2b.router(callee_id)
        if route.kind is RouteKind.REJECT or not route.targets:
            bcall.hangup(route.reason or "Not Found", route.status or 404)
            return
        offer = bcall.media.relay_offer(A, B) if bcall.media is not None else b""
        place(bcall, B, route.targets, caller=caller, callee=callee, body=offer, from_user=caller_id,
              from_display=caller.display_name, leg_id=f"{call_id}~10", on_answer=b_answered, on_fail=failed)

    def b_answered(b: UacSide) -> None:
        bcall.seat(b)
        bcall.fire(CallEvent.CONNECTED)
        call_report.answered(bcall)

    def failed(side: UacSide, status: int, phrase: str) -> None:
        bcall.hangup(phrase, status)

    place(bcall, A, caller_route.targets, caller=callee, callee=caller, body=body, from_user=callee_id,
          from_display=callee.display_name, extra=AUTO_ANSWER_HEADERS if auto_answer else (),
          sip_call_id=call_id, on_answer=a_answered, on_fail=failed, caller_side=True)
    b2b.stats.calls += 1
    call_report.started(bcall, "originate")
    return call_id


def _billed(party: Party, keys: dict[str, int | None]) -> Party:
    if party.i_account is not None:
        return party
    return dataclasses.replace(party, i_account=keys["i_account"], i_customer=keys["i_customer"],
                               i_main_office=keys["i_main_office"])

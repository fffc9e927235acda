"""Finding the leg a request names: the one scope check of the API.

Legs are looked up in the one live-leg index, :class:`~callcontrol.model.calls.CallRegistry`.
A leg the session's scope does not cover answers exactly like a leg that does not
exist (``sip.call_not_found``, details ``{"call": <the ref as sent>}``), and so does a
``transport_id`` other than the leg's own (SPEC: "a transport_id that is not ours gives
sip.call_not_found"; a leg's transport_id is the one its notifications show).
"""
from __future__ import annotations

import logging

from callcontrol.api.models import CallNotFound, CallRef, WrongParameters
from callcontrol.model.calls import CallRegistry, Leg
from callcontrol.model.scope import Scope

logger = logging.getLogger(__name__)


def not_found(ref: CallRef) -> CallNotFound:
    return CallNotFound({"call": ref.model_dump(exclude_none=True)})


def visible_legs(registry: CallRegistry, ref: CallRef, transport_id: str | None, scope: Scope) -> list[Leg]:
    """The live legs ``ref`` names that ``scope`` covers (on ``transport_id`` when given); never empty."""
    if ref.tag is not None:
        leg = registry.leg(ref.id, ref.tag)
        found = [leg] if leg is not None else []
    else:
        found = registry.legs_of(ref.id)
    found = [leg for leg in found
             if leg.info is not None and scope.covers_call(leg.info)
             and (transport_id is None or leg.transport_id == transport_id)]
    if not found:
        raise not_found(ref)
    return found


def one_leg(registry: CallRegistry, ref: CallRef, transport_id: str | None, scope: Scope,
            field: str = "params.call") -> Leg:
    """The one leg ``ref`` names; a call id of several legs needs the tag (``field`` names the ref)."""
    legs = visible_legs(registry, ref, transport_id, scope)
    if len(legs) > 1:
        raise WrongParameters.field(f"{field}.tag", "this call has several legs: name one by its tag")
    return legs[0]

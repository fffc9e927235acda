"""The CallControl service: subscriptions, the calls list, and one handler per call command.

A command handler finds its leg(s) with :meth:`Request.leg` (the one scope check:
out of scope is "not found") and calls the :class:`~callcontrol.actions.engine.CallEngine`
with the found :class:`~callcontrol.model.calls.Leg`; the commands on one leg that only
pass their params on are the :func:`leg_command` lines at the end (one line, one method). It returns once the engine has
*started* the action; outcomes arrive as leg snapshots through ``CallControlApi.publish``.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from callcontrol.api.methods.table import Outcome, Request, method, settle
from callcontrol.api.models import (
    AnswerCallParams,
    CallControlDisabled,
    CallsListResult,
    CdrListResult,
    DisableApiNotificationsParams,
    EnableApiNotificationsParams,
    Forbidden,
    GetCdrListParams,
    GetSipCallsListParams,
    HoldCallParams,
    JoinCallsParams,
    LegParams,
    OriginateAdvancedCallParams,
    OriginateResult,
    PlayPromptParams,
    StartDtmfDetectParams,
    StopDtmfDetectParams,
    StopPlayPromptParams,
    TerminateCallParams,
    TransferCallParams,
    UnholdCallParams,
    WrongParameters,
)
from callcontrol.cdr.records import cdr_record, parse_time
from callcontrol.model.calls import Leg
from callcontrol.store.sqlite import CdrQuery

if TYPE_CHECKING:
    from callcontrol.actions.engine import CallEngine

logger = logging.getLogger(__name__)

SERVICE = "CallControl"
query = functools.partial(method, SERVICE)
command = functools.partial(method, SERVICE, command=True)


# --------------------------------------------------------------------------- subscriptions and listing


@query("enable_api_notifications", EnableApiNotificationsParams)
async def enable_api_notifications(req: Request, p: EnableApiNotificationsParams) -> None:
    session = req.session
    assert session is not None
    keys = p.routing_keys()
    denied = [{"field": f"params.{kind}", "message": "not found or not in your scope"}
              for kind, value in keys if not session.scope.covers_key(kind, value)]
    if denied:
        raise Forbidden(denied)  # all or nothing
    feed = req.client.ensure_feed()
    req.api.router.subscribe(feed, session.id, keys)
    session.feeds.add(feed)


@query("disable_api_notifications", DisableApiNotificationsParams)
async def disable_api_notifications(req: Request, p: DisableApiNotificationsParams) -> None:
    session = req.session
    assert session is not None
    feed = req.client.feed
    if feed is not None:
        req.api.router.unsubscribe(feed, session.id, p.routing_keys())


@query("get_sip_calls_list", GetSipCallsListParams, CallsListResult)
async def get_sip_calls_list(req: Request, p: GetSipCallsListParams) -> Outcome:
    scope = req.scope
    keys = [k for k in p.routing_keys() if scope.covers_key(*k)]
    if not keys:
        return Outcome(calls_list=[])
    offset = req.api.time_offset
    # Each snapshot's encoding is shared with the notification path.
    return Outcome(calls_list=[info.encoded(offset) for info in req.api.registry.snapshots(keys)
                               if scope.covers_call(info)])


@query("get_cdr_list", GetCdrListParams, CdrListResult)
async def get_cdr_list(req: Request, p: GetCdrListParams) -> Outcome:
    """Ours (PortaBilling keeps xDRs elsewhere): the CDRs written so far that are billed to the
    principal's own accounts and customers (``Scope.cdr_owners``); times ISO-8601 UTC."""
    source = req.api.cdrs
    if source is None:
        raise CallControlDisabled({"reason": "no CDR store attached"})
    i_customers, i_accounts = req.scope.cdr_owners(p.i_account, p.i_customer)
    since = None if p.from_date is None else parse_time(p.from_date)
    until = None if p.to_date is None else parse_time(p.to_date)
    cdrs = await source.query_cdrs(query=CdrQuery(since=since, until=until, i_customers=i_customers,
                                                  i_accounts=i_accounts, limit=p.limit, offset=p.offset))
    return Outcome({"cdr_list": [cdr_record(cdr) for cdr in cdrs]})


# --------------------------------------------------------------------------- commands


@command("originate_advanced_call", OriginateAdvancedCallParams, OriginateResult, creates_call=True)
async def originate_advanced_call(req: Request, p: OriginateAdvancedCallParams) -> Outcome:
    if req.scope.covers_bill_account(p.bill_id) is None:
        raise WrongParameters.field("params.bill_id", "unknown account")
    call_id = await req.engine.originate(caller=p.caller_id, callee=p.callee_id,
                                         auto_answer=p.callee_auto_pickup == "Y", bill_to=p.bill_id)
    return Outcome({"call": {"id": call_id}})  # no tag (SPEC)


@command("terminate_call", TerminateCallParams)
async def terminate_call(req: Request, p: TerminateCallParams) -> None:
    # Without a tag the whole call: it ends through its first live leg.
    first = req.legs(p.call, p.transport_id)[0]
    await settle(req.engine.terminate(first))


@command("join_calls", JoinCallsParams)
async def join_calls(req: Request, p: JoinCallsParams) -> None:
    leg = req.leg(p.call, p.transport_id)
    other = req.leg(p.to_call, p.transport_id, "params.to_call")
    await settle(req.engine.join(leg, other))


LegAction = Callable[["CallEngine", Leg, Any], Awaitable[None] | None]


def leg_command(name: str, params: type[LegParams], action: LegAction) -> None:
    """Register the handler of a command on the one leg ``params.call`` names: find the leg
    (scope-checked), then ``action(engine, leg, params)``."""
    async def handler(req: Request, p: Any) -> None:
        leg = req.leg(p.call, p.transport_id)
        await settle(action(req.engine, leg, p))

    handler.__name__ = handler.__qualname__ = name
    command(name, params)(handler)


leg_command("answer_call", AnswerCallParams, lambda engine, leg, p: engine.answer(leg, p.callee_answer_mode))
leg_command("hold_call", HoldCallParams, lambda engine, leg, p: engine.hold(leg))
leg_command("unhold_call", UnholdCallParams, lambda engine, leg, p: engine.unhold(leg))
leg_command("transfer_call", TransferCallParams, lambda engine, leg, p: engine.transfer(leg, p.cld))
leg_command("play_prompt", PlayPromptParams,
            lambda engine, leg, p: engine.play_prompt(leg, p.url, p.order, p.repeat))
leg_command("stop_play_prompt", StopPlayPromptParams, lambda engine, leg, p: engine.stop_play_prompt(leg, p.order))
leg_command("start_dtmf_detect", StartDtmfDetectParams, lambda engine, leg, p: engine.start_dtmf_detect(leg))
leg_command("stop_dtmf_detect", StopDtmfDetectParams, lambda engine, leg, p: engine.stop_dtmf_detect(leg))

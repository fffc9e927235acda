"""The CallControl service: subscriptions, the calls list, and one handler per call command.

A command handler finds its leg(s) with :meth:`Request.leg` (the one scope check:
out of scope is "not found") and calls the :class:`~callcontrol.actions.engine.CallEngine`
with the found :class:`~callcontrol.model.calls.Leg`. It returns once the engine has
*started* the action; outcomes arrive as leg snapshots through ``CallControlApi.publish``.
"""
from __future__ import annotations

import functools
import logging

from callcontrol.api.methods.table import Outcome, Request, method, settle
from callcontrol.api.models import (
    AnswerCallParams,
    CallsListResult,
    DisableApiNotificationsParams,
    EnableApiNotificationsParams,
    Forbidden,
    GetSipCallsListParams,
    HoldCallParams,
    JoinCallsParams,
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


# --------------------------------------------------------------------------- commands


@command("originate_advanced_call", OriginateAdvancedCallParams, OriginateResult, creates_call=True)
async def originate_advanced_call(req: Request, p: OriginateAdvancedCallParams) -> Outcome:
    if req.scope.covers_bill_account(p.bill_id) is None:
        raise WrongParameters.field("params.bill_id", "unknown account")
    call_id = await req.engine.originate(caller=p.caller_id, callee=p.callee_id,
                                         auto_answer=p.callee_auto_pickup == "Y", bill_to=p.bill_id)
    return Outcome({"call": {"id": call_id}})  # no tag (SPEC)


@command("answer_call", AnswerCallParams)
async def answer_call(req: Request, p: AnswerCallParams) -> None:
    leg = req.leg(p.call, p.transport_id)
    await settle(req.engine.answer(leg, p.callee_answer_mode))


@command("terminate_call", TerminateCallParams)
async def terminate_call(req: Request, p: TerminateCallParams) -> None:
    # Without a tag the whole call: it ends through its first live leg.
    first = req.legs(p.call, p.transport_id)[0]
    await settle(req.engine.terminate(first))


@command("hold_call", HoldCallParams)
async def hold_call(req: Request, p: HoldCallParams) -> None:
    leg = req.leg(p.call, p.transport_id)
    await settle(req.engine.hold(leg))


@command("unhold_call", UnholdCallParams)
async def unhold_call(req: Request, p: UnholdCallParams) -> None:
    leg = req.leg(p.call, p.transport_id)
    await settle(req.engine.unhold(leg))


@command("transfer_call", TransferCallParams)
async def transfer_call(req: Request, p: TransferCallParams) -> None:
    leg = req.leg(p.call, p.transport_id)
    await settle(req.engine.transfer(leg, p.cld))


@command("join_calls", JoinCallsParams)
async def join_calls(req: Request, p: JoinCallsParams) -> None:
    leg = req.leg(p.call, p.transport_id)
    other = req.leg(p.to_call, p.transport_id, "params.to_call")
    await settle(req.engine.join(leg, other))


@command("play_prompt", PlayPromptParams)
async def play_prompt(req: Request, p: PlayPromptParams) -> None:
    leg = req.leg(p.call, p.transport_id)
    await settle(req.engine.play_prompt(leg, p.url, p.order, p.repeat))


@command("stop_play_prompt", StopPlayPromptParams)
async def stop_play_prompt(req: Request, p: StopPlayPromptParams) -> None:
    leg = req.leg(p.call, p.transport_id)
    await settle(req.engine.stop_play_prompt(leg, p.order))


@command("start_dtmf_detect", StartDtmfDetectParams)
async def start_dtmf_detect(req: Request, p: StartDtmfDetectParams) -> None:
    leg = req.leg(p.call, p.transport_id)
    await settle(req.engine.start_dtmf_detect(leg))


@command("stop_dtmf_detect", StopDtmfDetectParams)
async def stop_dtmf_detect(req: Request, p: StopDtmfDetectParams) -> None:
    leg = req.leg(p.call, p.transport_id)
    await settle(req.engine.stop_dtmf_detect(leg))

"""The Session service: login, logout, resume."""
from __future__ import annotations

import logging

from callcontrol.api.methods.table import Outcome, Request, method
from callcontrol.api.models import (
    LoginParams,
    LoginResult,
    LogoutParams,
    ResumeParams,
    ResumeResult,
    ResyncRequired,
)

logger = logging.getLogger(__name__)


@method("Session", "login", LoginParams, LoginResult, auth=False)
async def login(req: Request, p: LoginParams) -> Outcome:
    session = await req.api.sessions.login(p.login, p.password, p.domain, req.client.remote_ip)
    req.client.use_session(session)
    return Outcome({"session_id": session.id})


@method("Session", "logout", LogoutParams)
async def logout(req: Request, p: LogoutParams) -> None:
    session = req.session
    assert session is not None
    if not session.ephemeral:
        req.api.sessions.end(session)


@method("Session", "resume", ResumeParams, ResumeResult, auth=False)
async def resume(req: Request, p: ResumeParams) -> Outcome:
    """Move the session's notification stream onto this connection and replay what it missed."""
    session = req.api.sessions.lookup(p.session_id)
    req.client.use_session(session)
    feed = req.client.take_feed(session)
    frames = feed.replay_after(p.last_seq)
    if frames is None:
        raise ResyncRequired({
            "reason": "missed notifications are no longer buffered",
            "last_seq": feed.seq, "oldest_seq": feed.oldest_seq,
            "resync_with": "CallControl.get_sip_calls_list",
            "subscriptions": "active on this connection",
        })
    return Outcome({"replayed": len(frames), "last_seq": feed.seq}, after=frames)

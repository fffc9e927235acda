"""Type-checked (not run) by tests/integration/test_client_typing.py with ``mypy --strict``: a typical
use of the Python client must check, and the lines marked ``type: ignore[...]`` must be errors
(``warn_unused_ignores`` fails the run if one of them stops being an error)."""
from __future__ import annotations

from callcontrol.client import CallControlClient, CallInfo, CallRef, Cdr, OriginatedCall, ResumeResult


async def attendant(url: str) -> list[str]:
    async with CallControlClient.connect(url, request_timeout=5.0) as cc:
        sid: str = await cc.login("demo-corp", "demo-corp-pass")
        await cc.enable_api_notifications(i_customer=1)
        legs: list[CallInfo] = await cc.get_sip_calls_list(i_customer=1)
        ref: CallRef = legs[0].call
        tag: str | None = ref.tag
        await cc.hold_call(ref, legs[0].transport_id)
        await cc.transfer_call(legs[0], "1003")
        call: OriginatedCall = await cc.originate_advanced_call("1001", "1001", "1002")
        resumed: ResumeResult = await cc.resume(sid, last_seq=0)
        cdrs: list[Cdr] = await cc.get_cdr_list(limit=10)
        seconds: float = cdrs[0].duration
        out = [call.id, str(resumed.replayed), str(seconds), tag or ""]
        async for note in cc.notifications():
            info = note.call_info
            if info is None:
                break
            out.append(f"{info.phone.id} {info.state} {info.peer.display_name or ''}")
            if info.queue_info is not None:
                out.append(str(info.queue_info.position + 1))
        bad: int = legs[0].transport_id  # type: ignore[assignment]
        await cc.hold_call(123)  # type: ignore[arg-type]
        await cc.transfer_call(ref)  # type: ignore[call-arg]
        return out + [str(bad)]

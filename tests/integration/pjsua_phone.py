"""A pjsua2 softphone in its own process, driven by JSON lines on stdin, events as JSON lines on stdout.

pjsua2 allows one library instance per process (libCreate once), so each phone of a
test is one of these processes. Run: ``python pjsua_phone.py '{"port": .., "user": .., ...}'``.

Commands (one JSON object per stdin line): ``{"cmd": "call", "uri": ...}``,
``{"cmd": "hangup"}``, ``{"cmd": "stats"}``, ``{"cmd": "quit"}``.
Events: ``{"event": "ready"}``, ``reg`` (code), ``incoming``, ``state`` (state name, code),
``media`` (active), ``stats`` (rx/tx RTP packets), ``error``.
"""
from __future__ import annotations

import json
import logging
import os
import select
import sys

import pjsua2 as pj

logger = logging.getLogger(__name__)

_STATE_NAMES = {
    pj.PJSIP_INV_STATE_CALLING: "CALLING",
    pj.PJSIP_INV_STATE_INCOMING: "INCOMING",
    pj.PJSIP_INV_STATE_EARLY: "EARLY",
    pj.PJSIP_INV_STATE_CONNECTING: "CONNECTING",
    pj.PJSIP_INV_STATE_CONFIRMED: "CONFIRMED",
    pj.PJSIP_INV_STATE_DISCONNECTED: "DISCONNECTED",
}


def emit(event: str, **fields: object) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


class Phone:
    def __init__(self, opts: dict) -> None:
        self.opts = opts
        self.calls: dict[int, Call] = {}  # kept until their own DISCONNECTED (a collected Call segfaults)
        self.current: Call | None = None
        self.players: list[object] = []


class Call(pj.Call):
    def __init__(self, phone: Phone, acc: pj.Account, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(acc, call_id)
        self.phone = phone

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        ci = self.getInfo()
        name = _STATE_NAMES.get(ci.state, str(ci.state))
        emit("state", state=name, code=ci.lastStatusCode, reason=ci.lastReason)
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.phone.calls.pop(ci.id, None)
            if self.phone.current is self:
                self.phone.current = None

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        ci = self.getInfo()
        for mi in ci.media:
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                am = self.getAudioMedia(mi.index)
                wav = self.phone.opts.get("play")
                if wav:
                    player = pj.AudioMediaPlayer()
                    player.createPlayer(wav, 0)
                    player.startTransmit(am)
                    self.phone.players.append(player)
                rec_path = self.phone.opts.get("record")
                if rec_path:
                    rec = pj.AudioMediaRecorder()
                    rec.createRecorder(rec_path)
                    am.startTransmit(rec)
                    self.phone.players.append(rec)
                emit("media", active=True)


class Account(pj.Account):
    def __init__(self, phone: Phone) -> None:
        super().__init__()
        self.phone = phone

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        emit("reg", code=prm.code)

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        call = Call(self.phone, self, prm.callId)
        self.phone.calls[prm.callId] = call
        self.phone.current = call
        emit("incoming")
        if self.phone.opts.get("auto_answer", True):
            op = pj.CallOpParam()
            op.statusCode = 200
            call.answer(op)


def stream_stats(call: Call) -> dict:
    ci = call.getInfo()
    for mi in ci.media:
        if mi.type == pj.PJMEDIA_TYPE_AUDIO:
            st = call.getStreamStat(mi.index)
            return {"rx": st.rtcp.rxStat.pkt, "tx": st.rtcp.txStat.pkt}
    return {"rx": 0, "tx": 0}


def main() -> int:
    opts = json.loads(sys.argv[1])
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0  # callbacks run in our polling loop
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.maxCalls = 4
    cfg.logConfig.level = cfg.logConfig.consoleLevel = 1
    cfg.medConfig.clockRate = cfg.medConfig.sndClockRate = 8000
    ep.libInit(cfg)
    tc = pj.TransportConfig()
    tc.port = opts["port"]
    tc.boundAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
    ep.audDevManager().setNullDev()
    prio = {"PCMU/8000/1": 200}
    for c in ep.codecEnum2():
        ep.codecSetPriority(c.codecId, prio.get(c.codecId, 0))
    ep.libStart()

    phone = Phone(opts)
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{opts['user']}@127.0.0.1:{opts['server_port']}"
    acfg.regConfig.registrarUri = f"sip:127.0.0.1:{opts['server_port']}"
    acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", opts["user"], 0, opts["password"]))
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acc = Account(phone)
    acc.create(acfg)
    emit("ready")

    stdin_fd = sys.stdin.fileno()
    buf = b""
    running = True
    while running:
        ep.libHandleEvents(5)
        readable, _, _ = select.select([stdin_fd], [], [], 0)
        if not readable:
            continue
        chunk = os.read(stdin_fd, 65536)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if not line.strip():
                continue
            cmd = json.loads(line)
            try:
                if cmd["cmd"] == "call":
                    call = Call(phone, acc)
                    call.makeCall(cmd["uri"], pj.CallOpParam(True))
                    phone.calls[call.getId()] = call
                    phone.current = call
                elif cmd["cmd"] == "hangup" and phone.current is not None:
                    phone.current.hangup(pj.CallOpParam(True))
                elif cmd["cmd"] == "stats":
                    emit("stats", **(stream_stats(phone.current) if phone.current else {"rx": -1, "tx": -1}))
                elif cmd["cmd"] == "quit":
                    running = False
            except pj.Error as exc:
                emit("error", info=exc.info())
    ep.hangupAllCalls()
    phone.players.clear()
    phone.current = None
    phone.calls.clear()
    del acc
    ep.libDestroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())

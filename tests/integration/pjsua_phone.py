"""A pjsua2 softphone in its own process, driven by JSON lines on stdin, events as JSON lines on stdout.

pjsua2 allows one library instance per process (libCreate once), so each phone of a
test is one of these processes. Run: ``python pjsua_phone.py '{"port": .., "user": .., ...}'``.

Start options (the JSON argument; ``set`` changes the behavioural ones later, ``reset`` restores them):
``port``, ``user``, ``password``, ``server_port`` (registers there with digest), ``transport``: ``"tls"``
(SIP over TLS only, on ``port``, verifying the server against the CA file ``ca``; ``cert``/``key``: the
certificate its listener shows), ``play`` (WAV looped
into every call), ``record`` (WAV path, every call's received audio), ``auto_answer``: ``true``
(default: 180 then 200), ``false`` (180 and wait for ``answer``) or ``"headers"`` (180, then 200 only
when the INVITE carries ``Call-Info: ...answer-after=0`` or ``Alert-Info: ...info=AutoAnswer``),
``incoming_code`` (answer every INVITE with this final status instead, e.g. 486), ``no_vad`` (keep
sending RTP during silence; default off, pjsua's VAD).

A call is addressed by ``"call"``: the pjsua call index (an int, as in every event) or the SIP
Call-ID (a string); without it, the most recent call. Commands (one JSON object per line):
``call`` {uri, headers: {name: value}} -> event ``calling`` {call, sip_call_id}; ``answer`` {code=200}; ``hangup`` {code};
``hold``; ``unhold``; ``xfer`` {uri} (blind REFER); ``xfer_replaces`` {dest} (REFER on ``call``
with Refer-To = ``dest``'s remote target ``?Replaces=`` ``dest``'s dialog); ``play`` {wav};
``stop_play``; ``record`` {wav}; ``stop_record`` -> ``recorded`` {rms, max_rms, seconds};
``level`` -> ``level`` {rx_level, tx_level, rx, tx} (0-255 levels of the audio heard / sent now,
RTP packet counters); ``stats`` -> ``stats`` {rx, tx}; ``calls`` -> ``calls`` {calls: [...]};
``set`` {option: value}; ``reset`` (hang up every call, stop media, options back to the start
ones) -> ``idle`` once no call is left; ``quit``.

Events: ``ready``, ``reg`` {code}, ``incoming`` {call, sip_call_id, from, to, via, contact, src (the
sender's address), cseq, alert_info, call_info, auto_answer_requested, allow_events, replaces, referred_by, sdp}, ``calling``, ``state`` {call, sip_call_id, state, code, reason, tag (the phone's own
dialog tag, once a received message showed it)},
``media`` {call, active, status (active/local_hold/remote_hold/none/error), dir}, ``offer`` {call,
direction, sdp} (an SDP offer received in a re-INVITE/UPDATE), ``transfer_status`` {call, code,
reason, final}, ``transfer_request`` {call, uri}, ``replaced`` {call, new_call}, ``error`` {info, cmd}.
"""
from __future__ import annotations

import array
import json
import logging
import math
import os
import re
import select
import sys
import time
import wave
from typing import Any

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
_MEDIA_STATUS = {
    pj.PJSUA_CALL_MEDIA_NONE: "none",
    pj.PJSUA_CALL_MEDIA_ACTIVE: "active",
    pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "local_hold",
    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "remote_hold",
    pj.PJSUA_CALL_MEDIA_ERROR: "error",
}
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


def emit(event: str, **fields: object) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def header(msg: str, *names: str) -> str | None:
    """The first value of a header (full or compact name) in a raw SIP message's header part."""
    head = msg.split("\r\n\r\n", 1)[0]
    for line in head.split("\r\n")[1:]:
        name, colon, value = line.partition(":")
        if colon and name.strip().lower() in names:
            return value.strip()
    return None


def sdp_direction(sdp: str) -> str:
    """The audio stream's direction attribute (media level first, then session level)."""
    session, _, media = sdp.partition("m=audio")
    for part in (media.split("\nm=", 1)[0], session):
        for d in _DIRECTIONS:
            if re.search(rf"^a={d}\s*$", part, re.MULTILINE):
                return d
    return "sendrecv"


def wav_levels(path: str) -> dict[str, float]:
    """RMS of a 16-bit mono WAV (0..1), the loudest 100 ms window's RMS, and its length."""
    with wave.open(path, "rb") as w:
        rate = w.getframerate()
        data = array.array("h", w.readframes(w.getnframes()))
    if not data:
        return {"rms": 0.0, "max_rms": 0.0, "seconds": 0.0}

    def rms(xs: array.array | list[int]) -> float:
        return math.sqrt(sum(x * x for x in xs) / max(1, len(xs))) / 32768

    step = max(1, rate // 10)
    windows = [rms(data[i:i + step]) for i in range(0, len(data), step)]
    return {"rms": rms(data), "max_rms": max(windows), "seconds": len(data) / rate}


def _wav_complete(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(8)
    return len(head) == 8 and head[:4] == b"RIFF" and int.from_bytes(head[4:], "little") > 36


class Phone:
    def __init__(self, opts: dict, ep: pj.Endpoint) -> None:
        self.start_opts = dict(opts)
        self.opts = opts
        self.ep = ep
        self.calls: dict[int, Call] = {}  # kept until their own DISCONNECTED (a collected Call segfaults)
        self.current: Call | None = None
        self.acc: Account | None = None
        self.resetting = False
        self.unbound: list[Call] = []  # Call objects handed to pjsua before they have an index

    def find(self, ref: object) -> Call:
        if ref is None:
            if self.current is None:
                raise LookupError("no current call")
            return self.current
        for call in self.calls.values():
            if ref == call.index or ref == call.sip_call_id:
                return call
        raise LookupError(f"no call {ref!r}")

    def forget(self, call: Call) -> None:
        self.calls.pop(call.index, None)
        if self.current is call:
            self.current = max(self.calls.values(), key=lambda c: c.serial, default=None)
        if self.resetting and not self.calls:
            self.resetting = False
            emit("idle")


_serials = iter(range(1, 1 << 30))


class Call(pj.Call):
    def __init__(self, phone: Phone, acc: pj.Account, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(acc, call_id)
        self.phone = phone
        self.serial = next(_serials)
        self.index = call_id
        self.sip_call_id = ""
        self.tag = ""  # the phone's own tag in the call's dialog, once a received message shows it
        self.am: pj.AudioMedia | None = None
        self.player: pj.AudioMediaPlayer | None = None
        self.play_wav: str | None = phone.opts.get("play")
        self.recorder: pj.AudioMediaRecorder | None = None
        self.record_path: str | None = phone.opts.get("record")
        self.extra_calls: list[Call] = []

    def identify(self) -> None:
        ci = self.getInfo()
        self.index = ci.id
        self.sip_call_id = ci.callIdString

    def ids(self) -> dict[str, Any]:
        out: dict[str, Any] = {"call": self.index, "sip_call_id": self.sip_call_id}
        if self.tag:
            out["tag"] = self.tag
        return out

    def learn_tag(self, prm: pj.OnCallStateParam) -> None:
        """The phone's own dialog tag, from a message it received: the From tag of a response
        (to the phone's own request), the To tag of a request."""
        if self.tag:
            return
        try:
            event = prm.e
            if event.type == pj.PJSIP_EVENT_RX_MSG:  # e.g. the ACK that confirms an answered call
                msg = event.body.rxMsg.rdata.wholeMsg
            elif event.type == pj.PJSIP_EVENT_TSX_STATE and event.body.tsxState.type == pj.PJSIP_EVENT_RX_MSG:
                msg = event.body.tsxState.src.rdata.wholeMsg
            else:
                return
        except Exception:  # an event without a received message
            return
        value = header(msg, "from", "f") if msg.startswith("SIP/2.0 ") else header(msg, "to", "t")
        found = re.search(r";\s*tag=([^;>\s]+)", value or "")
        if found:
            self.tag = found.group(1)

    # -- callbacks --------------------------------------------------------------------------
    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        ci = self.getInfo()
        if self in self.phone.unbound:  # a call pjsua started for a REFER we received
            self.phone.unbound.remove(self)
            self.identify()
            self.phone.calls[self.index] = self
            self.phone.current = self
        name = _STATE_NAMES.get(ci.state, str(ci.state))
        self.learn_tag(prm)
        emit("state", state=name, code=ci.lastStatusCode, reason=ci.lastReason, **self.ids())
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.drop_media()
            self.phone.forget(self)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        ci = self.getInfo()
        for mi in ci.media:
            if mi.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            status = _MEDIA_STATUS.get(mi.status, str(mi.status))
            if mi.status in (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD,
                             pj.PJSUA_CALL_MEDIA_LOCAL_HOLD):
                self.attach(self.getAudioMedia(mi.index))
            emit("media", active=mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE, status=status, dir=int(mi.dir),
                 **self.ids())
            return

    def onCallRxOffer(self, prm: pj.OnCallRxOfferParam) -> None:
        sdp = prm.offer.wholeSdp
        emit("offer", direction=sdp_direction(sdp), sdp=sdp, **self.ids())

    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:
        emit("transfer_request", uri=prm.dstUri, **self.ids())
        # Without a new Call object pjsua2 rebinds *this* one to the new call (and crashes later);
        # the new one is kept in the phone's calls from its first state change on.
        new = Call(self.phone, self.phone.acc)  # type: ignore[arg-type]
        self.phone.unbound.append(new)
        prm.newCall = new

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        emit("transfer_status", code=prm.statusCode, reason=prm.reason, final=bool(prm.finalNotify),
             **self.ids())

    def onCallReplaced(self, prm: pj.OnCallReplacedParam) -> None:
        new = Call(self.phone, self.phone.acc, prm.newCallId)  # type: ignore[arg-type]
        new.identify()
        self.phone.calls[new.index] = new
        prm.newCall = new
        emit("replaced", new_call=new.index, **self.ids())

    # -- media ------------------------------------------------------------------------------
    def attach(self, am: pj.AudioMedia) -> None:
        """Connect the call's audio port: to the (null) speaker, so the bridge reads it and levels
        are measured, and to the player/recorder. Done on every media change: a re-INVITE may
        recreate the port under the same slot number, without its connections (connecting an
        already connected pair is a no-op)."""
        self.am = am
        am.startTransmit(self.phone.ep.audDevManager().getPlaybackDevMedia())
        if self.play_wav:
            self.start_play(self.play_wav)
        if self.record_path and self.recorder is None:
            self.start_record(self.record_path)
        elif self.recorder is not None:
            am.startTransmit(self.recorder)

    def start_play(self, wav: str) -> None:
        self.play_wav = wav
        if self.am is None:
            return  # started when the media comes up
        if self.player is None:
            self.player = pj.AudioMediaPlayer()
            self.player.createPlayer(wav, 0)  # 0: loop
        self.player.startTransmit(self.am)

    def stop_play(self) -> None:
        self.play_wav = None
        if self.player is not None and self.am is not None:
            try:
                self.player.stopTransmit(self.am)
            except pj.Error:
                pass
        self.player = None

    def start_record(self, path: str) -> None:
        self.record_path = path
        if self.am is None:
            return
        self.recorder = pj.AudioMediaRecorder()
        self.recorder.createRecorder(path)
        self.am.startTransmit(self.recorder)

    def stop_record(self) -> dict[str, float]:
        path = self.record_path
        if self.recorder is None or path is None:
            raise LookupError("not recording")
        if self.am is not None:
            try:
                self.am.stopTransmit(self.recorder)
            except pj.Error:
                pass
        # Destroying the recorder completes the WAV header; pjmedia 2.15 removes conference ports
        # asynchronously (on the bridge's next tick), so wait for the header, bounded.
        self.recorder = None
        self.record_path = None
        deadline = time.monotonic() + 3
        while not _wav_complete(path) and time.monotonic() < deadline:
            self.phone.ep.libHandleEvents(10)
        return wav_levels(path)

    def drop_media(self) -> None:
        self.player = None
        self.recorder = None
        self.am = None

    def level(self) -> dict[str, int]:
        out = {"rx_level": -1, "tx_level": -1, **stream_stats(self)}
        if self.am is not None:
            # pjsua2 names levels from the call port's side: it "transmits" what the remote party
            # sent us into the bridge and "receives" from the bridge what we send (measured).
            out["rx_level"] = self.am.getTxLevel()
            out["tx_level"] = self.am.getRxLevel()
        return out


class Account(pj.Account):
    def __init__(self, phone: Phone) -> None:
        super().__init__()
        self.phone = phone

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        emit("reg", code=prm.code)

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        phone = self.phone
        call = Call(phone, self, prm.callId)
        call.identify()
        phone.calls[call.index] = call
        phone.current = call
        msg = prm.rdata.wholeMsg
        alert_info = header(msg, "alert-info")
        call_info = header(msg, "call-info")
        requested = bool((call_info and re.search(r"answer-after\s*=\s*0", call_info, re.IGNORECASE))
                         or (alert_info and re.search(r"info\s*=\s*autoanswer", alert_info, re.IGNORECASE)))
        emit("incoming", alert_info=alert_info, call_info=call_info, auto_answer_requested=requested,
             via=header(msg, "via", "v"), contact=header(msg, "contact", "m"), src=prm.rdata.srcAddress,
             allow_events=header(msg, "allow-events", "u"), replaces=header(msg, "replaces"),
             referred_by=header(msg, "referred-by", "b"), cseq=header(msg, "cseq"),
             sdp=msg.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in msg else "",
             **{"from": header(msg, "from", "f"), "to": header(msg, "to", "t")}, **call.ids())
        op = pj.CallOpParam()
        code = phone.opts.get("incoming_code")
        if code:
            op.statusCode = int(code)
            call.answer(op)
            return
        op.statusCode = 180
        call.answer(op)
        mode = phone.opts.get("auto_answer", True)
        if mode is True or (mode == "headers" and requested):
            op = pj.CallOpParam()
            op.statusCode = 200
            call.answer(op)


def stream_stats(call: Call) -> dict:
    ci = call.getInfo()
    for mi in ci.media:
        if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status != pj.PJSUA_CALL_MEDIA_NONE:
            st = call.getStreamStat(mi.index)
            return {"rx": st.rtcp.rxStat.pkt, "tx": st.rtcp.txStat.pkt}
    return {"rx": 0, "tx": 0}


def run_command(phone: Phone, acc: Account, cmd: dict) -> bool:
    """One stdin command; False to stop the phone."""
    name = cmd["cmd"]
    if name == "quit":
        return False
    if name == "call":
        call = Call(phone, acc)
        op = pj.CallOpParam(True)
        for hname, hvalue in cmd.get("headers", {}).items():
            h = pj.SipHeader()
            h.hName, h.hValue = hname, hvalue
            op.txOption.headers.append(h)
        call.makeCall(cmd["uri"], op)
        call.identify()
        phone.calls[call.index] = call
        phone.current = call
        emit("calling", **call.ids())
    elif name == "stats":
        current = phone.current
        emit("stats", **(stream_stats(current) if current else {"rx": -1, "tx": -1}))
    elif name == "calls":
        emit("calls", calls=[{**c.ids(), "state": _STATE_NAMES.get(c.getInfo().state, "?")}
                             for c in phone.calls.values()])
    elif name == "set":
        phone.opts.update({k: v for k, v in cmd.items() if k != "cmd"})
        emit("set")
    elif name == "reset":
        phone.opts = dict(phone.start_opts)
        for call in list(phone.calls.values()):
            call.stop_play()
            if call.recorder is not None:
                call.stop_record()
        if phone.calls:
            phone.resetting = True
            phone.ep.hangupAllCalls()
        else:
            emit("idle")
    else:
        call = phone.find(cmd.get("call"))
        if name == "answer":
            op = pj.CallOpParam()
            op.statusCode = int(cmd.get("code", 200))
            call.answer(op)
        elif name == "hangup":
            op = pj.CallOpParam(True)
            if cmd.get("code"):
                op.statusCode = int(cmd["code"])
            call.hangup(op)
        elif name == "hold":
            call.setHold(pj.CallOpParam(True))
        elif name == "unhold":
            op = pj.CallOpParam(True)
            op.opt.flag = pj.PJSUA_CALL_UNHOLD
            call.reinvite(op)
        elif name == "xfer":
            call.xfer(cmd["uri"], pj.CallOpParam(True))
        elif name == "xfer_replaces":
            call.xferReplaces(phone.find(cmd["dest"]), pj.CallOpParam(True))
        elif name == "play":
            call.start_play(cmd["wav"])
        elif name == "stop_play":
            call.stop_play()
        elif name == "record":
            call.start_record(cmd["wav"])
        elif name == "stop_record":
            emit("recorded", **call.stop_record(), **call.ids())
        elif name == "level":
            emit("level", **call.level(), **call.ids())
        else:
            raise LookupError(f"unknown command {name!r}")
    return True


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
    # "no_vad": a silent phone keeps sending RTP (silence frames), as desk phones do, so RTP counters
    # grow on a call nobody speaks on. pjsua's default (VAD) stops sending after ~0.3 s of silence.
    cfg.medConfig.noVad = bool(opts.get("no_vad", False))
    ep.libInit(cfg)
    tc = pj.TransportConfig()
    tc.port = opts["port"]
    tc.boundAddress = "127.0.0.1"
    tls = opts.get("transport") == "tls"
    if tls:  # SIP over TLS only, the server's certificate verified against "ca"
        tc.tlsConfig.CaListFile = opts["ca"]
        tc.tlsConfig.verifyServer = True
        if opts.get("cert"):  # the certificate its TLS listener shows (a phone acting as the trunk)
            tc.tlsConfig.certFile = opts["cert"]
            tc.tlsConfig.privKeyFile = opts["key"]
        tc.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD
    transport_id = ep.transportCreate(pj.PJSIP_TRANSPORT_TLS if tls else pj.PJSIP_TRANSPORT_UDP, tc)
    ep.audDevManager().setNullDev()
    prio = {"PCMU/8000/1": 200}
    for c in ep.codecEnum2():
        ep.codecSetPriority(c.codecId, prio.get(c.codecId, 0))
    ep.libStart()

    phone = Phone(opts, ep)
    acfg = pj.AccountConfig()
    suffix = ";transport=tls" if tls else ""
    acfg.idUri = f"sip:{opts['user']}@127.0.0.1:{opts['server_port']}{suffix}"
    acfg.regConfig.registrarUri = f"sip:127.0.0.1:{opts['server_port']}{suffix}"
    acfg.sipConfig.transportId = transport_id
    acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", opts["user"], 0, opts["password"]))
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acc = Account(phone)
    phone.acc = acc
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
        while b"\n" in buf and running:
            line, buf = buf.split(b"\n", 1)
            if not line.strip():
                continue
            cmd = json.loads(line)
            try:
                running = run_command(phone, acc, cmd)
            except pj.Error as exc:
                emit("error", info=exc.info(), cmd=cmd.get("cmd"))
            except (LookupError, ValueError, OSError, EOFError, wave.Error) as exc:
                emit("error", info=str(exc), cmd=cmd.get("cmd"))
    for call in list(phone.calls.values()):
        call.drop_media()
    ep.hangupAllCalls()
    phone.unbound.clear()
    phone.current = None
    phone.calls.clear()
    phone.acc = None
    del acc
    ep.libDestroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Server configuration: defaults that need no file, a TOML file, command-line overrides (SPEC)."""
from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """An invalid configuration; the message is the one-line reason printed at start-up."""


def parse_hostport(text: str, what: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{what}: expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


@dataclass(slots=True, frozen=True)
class SipListen:
    transport: str  # "udp" | "tcp" | "tls"
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> SipListen:
        proto, _, rest = text.partition(":")
        if proto.lower() not in ("udp", "tcp", "tls") or not rest:
            raise ConfigError(f"sip.listen: expected udp|tcp|tls:HOST:PORT, got {text!r}")
        host, port = parse_hostport(rest, "sip.listen")
        return cls(proto.lower(), host, port)


@dataclass(slots=True)
class Config:
    sip_listen: list[SipListen] = field(default_factory=lambda: [
        SipListen("udp", "127.0.0.1", 5060), SipListen("tcp", "127.0.0.1", 5060)])
    sip_trusted: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(
        default_factory=lambda: [ipaddress.ip_network("127.0.0.1/32")])
    sip_realm: str = "callcontrol"
    trunk_uri: str | None = None
    ws_listen: tuple[str, int] = ("127.0.0.1", 8445)
    ws_certfile: str | None = None
    ws_keyfile: str | None = None
    http_listen: tuple[str, int] = ("127.0.0.1", 8446)
    rtp_ports: tuple[int, int] = (20000, 29999)
    media_host: str | None = None
    media_anchor: bool = True  # False: SDP passes untouched, no RTP relay (signalling benchmarks)
    rtp_timeout: float = 60.0  # seconds without RTP from an answered leg before the call is ended
    data_dir: Path = Path("./callcontrol-data")
    log_level: str = "INFO"
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    session_timers: bool = True  # RFC 4028 on every leg
    session_expires: int = 1800  # seconds asked for
    min_se: int = 90  # shortest interval accepted (below 90 only for tests)
    ivr_fallback_url: str | None = None  # prompt played when no IVR application listens
    ivr_fallback_seconds: float = 3.0  # else this long of music on hold, then BYE

    def apply_toml(self, data: dict[str, Any]) -> None:
        sections = {"sip", "trunk", "ws", "http", "media", "store", "log", "ivr"}
        unknown = set(data) - sections
        if unknown:
            raise ConfigError(f"unknown config section(s): {', '.join(sorted(unknown))}")
        sip = data.get("sip", {})
        if "listen" in sip:
            if not isinstance(sip["listen"], list) or not sip["listen"]:
                raise ConfigError("sip.listen must be a non-empty list")
            self.sip_listen = [SipListen.parse(str(x)) for x in sip["listen"]]
        if "trusted" in sip:
            try:
                self.sip_trusted = [ipaddress.ip_network(str(x), strict=False) for x in sip["trusted"]]
            except ValueError as exc:
                raise ConfigError(f"sip.trusted: {exc}") from None
        if "realm" in sip:
            self.sip_realm = str(sip["realm"])
        for key in ("t1", "t2", "t4"):
            if key in sip:
                setattr(self, key, float(sip[key]))
        if "session_timers" in sip:
            if not isinstance(sip["session_timers"], bool):
                raise ConfigError("sip.session_timers must be true or false")
            self.session_timers = sip["session_timers"]
        for key in ("session_expires", "min_se"):
            if key in sip:
                value = sip[key]
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise ConfigError(f"sip.{key} must be a positive whole number of seconds")
                setattr(self, key, value)
        if self.session_expires < self.min_se:
            raise ConfigError("sip.session_expires must not be below sip.min_se")
        ivr = data.get("ivr", {})
        if "fallback_url" in ivr:
            self.ivr_fallback_url = str(ivr["fallback_url"]) or None
        if "fallback_seconds" in ivr:
            try:
                self.ivr_fallback_seconds = float(ivr["fallback_seconds"])
            except (TypeError, ValueError):
                raise ConfigError("ivr.fallback_seconds must be a number of seconds") from None
        trunk = data.get("trunk", {})
        if "uri" in trunk:
            self.trunk_uri = str(trunk["uri"]) or None
        ws = data.get("ws", {})
        if "listen" in ws:
            self.ws_listen = parse_hostport(str(ws["listen"]), "ws.listen")
        self.ws_certfile = ws.get("certfile", self.ws_certfile)
        self.ws_keyfile = ws.get("keyfile", self.ws_keyfile)
        http = data.get("http", {})
        if "listen" in http:
            self.http_listen = parse_hostport(str(http["listen"]), "http.listen")
        media = data.get("media", {})
        if "rtp_ports" in media:
            self.rtp_ports = parse_port_range(str(media["rtp_ports"]))
        if "host" in media:
            self.media_host = str(media["host"])
        if "anchor" in media:
            if not isinstance(media["anchor"], bool):
                raise ConfigError("media.anchor must be true or false")
            self.media_anchor = media["anchor"]
        if "rtp_timeout" in media:
            try:
                self.rtp_timeout = float(media["rtp_timeout"])
            except (TypeError, ValueError):
                raise ConfigError("media.rtp_timeout must be a number of seconds") from None
            if self.rtp_timeout <= 0:
                raise ConfigError("media.rtp_timeout must be positive")
        store = data.get("store", {})
        if "data_dir" in store:
            self.data_dir = Path(str(store["data_dir"]))
        log = data.get("log", {})
        if "level" in log:
            self.log_level = str(log["level"]).upper()

    @classmethod
    def load(cls, path: Path | None) -> Config:
        cfg = cls()
        if path is not None:
            try:
                data = tomllib.loads(path.read_text())
            except OSError as exc:
                raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"invalid TOML in {path}: {exc}") from None
            cfg.apply_toml(data)
        return cfg

    def is_trusted(self, host: str) -> bool:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip in net for net in self.sip_trusted)


def parse_port_range(text: str) -> tuple[int, int]:
    low, dash, high = text.partition("-")
    if not dash or not low.isdigit() or not high.isdigit():
        raise ConfigError(f"rtp ports: expected LOW-HIGH, got {text!r}")
    lo, hi = int(low), int(high)
    if not 1024 <= lo < hi <= 65535:
        raise ConfigError(f"rtp ports: {text!r} is not a range within 1024-65535")
    return lo, hi

"""Server configuration as one validated model (docs/operations.md, "Configuration").

Layers, later ones winning: the defaults (enough to run on loopback), a TOML file
(--config, or the CALLCONTROL_CONFIG variable), CALLCONTROL_<SECTION>__<KEY> environment
variables, command-line flags. The layers are merged and validated together by the
pydantic model below, which is strict (t1 = "fast" is not a number, 1 is not true) and
closed (listn is not a key). Every error becomes one line naming where the value came
from (the file, the variable or the flag), the dotted key and what was expected.
``load_config`` also checks the paths (data directory, certificate files), so that
``callcontrol check-config`` catches what start-up would.

Extending: a key is a field of its section made with ``_field(default, type_text,
description)``; ``reload=True`` when a running server may apply a new value without a
restart (see ``reloadable_changes``), ``path="file"``/``path="dir"`` when it names a file
that must be readable or a directory that must be writable. A section is a ``_Section``
subclass and a field of ``Config``. docs/operations.md has a row per key
(tests/unit/test_config.py checks that every key has one).
"""
from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import socket
import ssl
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, ValidationError
from pydantic import model_validator
from pydantic_core import PydanticCustomError

from sip.errors import SipParseError
from sip.locate import parse_nameserver
from sip.uri import SipUri, parse_uri

ENV_PREFIX = "CALLCONTROL_"
ENV_CONFIG_FILE = "CALLCONTROL_CONFIG"  # the config file when --config is not given (containers)
DEFAULT_DATA_DIR = Path("./callcontrol-data")


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The data dir the commands beside ``serve`` (directory, cdr, reload, drain) use without
    ``--data-dir``: ``CALLCONTROL_STORE__DATA_DIR`` when set, as the server itself would read
    it in a container, else the default."""
    value = (os.environ if environ is None else environ).get("CALLCONTROL_STORE__DATA_DIR")
    return Path(value) if value else DEFAULT_DATA_DIR


class ConfigError(ValueError):
    """An invalid configuration; the message is the one-line reason printed at start-up."""


# --------------------------------------------------------------------------- value types


class HostPort(NamedTuple):
    """A listener address; unpacks as ``host, port`` like the tuple it replaces."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class PortRange(NamedTuple):
    low: int
    high: int

    def __str__(self) -> str:
        return f"{self.low}-{self.high}"


@dataclass(slots=True, frozen=True)
class SipListen:
    transport: str  # "udp" | "tcp" | "tls"
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.transport}:{HostPort(self.host, self.port)}"

    @classmethod
    def parse(cls, text: str) -> SipListen:
        proto, _, rest = text.partition(":")
        if proto.lower() not in ("udp", "tcp", "tls") or not rest:
            raise ConfigError(f"expected \"udp|tcp|tls:HOST:PORT\", got {_show(text)}")
        host, port = parse_hostport(rest, "sip.listen")
        return cls(proto.lower(), host, port)


def parse_hostport(text: str, what: str) -> HostPort:
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"expected \"HOST:PORT\", got {_show(text)}")
    return HostPort(host.strip("[]"), int(port))


def parse_port_range(text: str) -> PortRange:
    low, dash, high = text.partition("-")
    if not dash or not low.isdigit() or not high.isdigit():
        raise ConfigError(f"expected \"LOW-HIGH\", got {_show(text)}")
    lo, hi = int(low), int(high)
    if not 1024 <= lo < hi <= 65535:
        raise ConfigError(f"expected \"LOW-HIGH\" within 1024-65535 with LOW < HIGH, got {_show(text)}")
    return PortRange(lo, hi)


def _parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ConfigError(f"expected an address or network (\"10.0.0.0/8\"), got {_show(text)}") from None


def parse_trunk_uri(text: str) -> str:
    """A trunk URI must be one the router can use: sip:/sips:, a host, udp|tcp|tls if a transport is given."""
    try:
        uri = parse_uri(text)
    except SipParseError as exc:
        reason = exc.reason.removeprefix("Bad Request - ")
        raise ConfigError(f"expected a sip: URI (\"sip:HOST[:PORT]\"), got {_show(text)}: {reason}") from None
    if not isinstance(uri, SipUri):
        raise ConfigError(f"expected a sip: or sips: URI, got {_show(text)}")
    if uri.transport not in (None, "udp", "tcp", "tls"):
        raise ConfigError(f"expected transport udp, tcp or tls, got {_show(text)}")
    return text


class Nameserver(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_dns_server(text: str) -> Nameserver:
    try:
        return Nameserver(*parse_nameserver(text))
    except ValueError:
        raise ConfigError(f"expected \"ADDRESS[:PORT]\" (an IP address: a nameserver is not looked up), "
                          f"got {_show(text)}") from None


def _parse_log_level(text: str) -> str:
    level = text.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got {_show(text)}")
    return level


def _parse_log_format(text: str) -> str:
    if text not in ("text", "json"):
        raise ConfigError(f"expected \"text\" or \"json\", got {_show(text)}")
    return text


def _parse_http_url(text: str) -> str:
    if not text.startswith(("http://", "https://")) or len(text.split("://", 1)[1]) == 0:
        raise ConfigError(f"expected an http:// or https:// URL, got {_show(text)}")
    return text


def _nonempty(text: str) -> str:
    if not text:
        raise ConfigError("expected a non-empty string, got \"\"")
    return text


def _parsed(annotation: Any, parse: Callable[[str], Any], expected: str, *, empty_is_none: bool = False,
            instances: tuple[type, ...] = ()) -> Any:
    """An annotated type read from a TOML string by ``parse`` (``instances`` pass as they are,
    so code can build a Config from parsed values).

    Validation is ours rather than pydantic's coercion so that the one-line error says
    what the string should look like; serialisation is ``str`` (docs, reload diffs)."""

    def validate(value: Any) -> Any:
        if value is None or (instances and isinstance(value, instances)):
            return value
        if not isinstance(value, str):
            raise PydanticCustomError("config", "expected {expected}, got {got}",
                                      {"expected": expected, "got": _show(value)})
        if empty_is_none and value == "":
            return None
        try:
            return parse(value)
        except ConfigError as exc:
            raise PydanticCustomError("config", "{reason}", {"reason": str(exc)}) from None

    return Annotated[annotation, PlainValidator(validate),
                     PlainSerializer(lambda v: None if v is None else str(v), return_type=Any)]


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SipListenValue = _parsed(SipListen, SipListen.parse, 'a string "udp|tcp|tls:HOST:PORT"',
                         instances=(SipListen,))
HostPortValue = _parsed(HostPort, lambda t: parse_hostport(t, ""), 'a string "HOST:PORT"',
                        instances=(HostPort,))
PortRangeValue = _parsed(PortRange, parse_port_range, 'a string "LOW-HIGH"', instances=(PortRange,))
NetworkValue = _parsed(Network, _parse_network, 'a string "ADDRESS[/PREFIX]"',
                       instances=(ipaddress.IPv4Network, ipaddress.IPv6Network))
PathValue = _parsed(Path, lambda t: Path(_nonempty(t)), "a path string", instances=(Path,))
OptionalPathValue = _parsed(Path | None, Path, "a path string", empty_is_none=True, instances=(Path,))
TrunkUriValue = _parsed(str | None, parse_trunk_uri, 'a string "sip:HOST[:PORT]"', empty_is_none=True)
LogLevelValue = _parsed(str, _parse_log_level, 'a string "DEBUG|INFO|WARNING|ERROR|CRITICAL"')
LogFormatValue = _parsed(str, _parse_log_format, 'a string "text|json"')
HttpUrlValue = _parsed(str | None, _parse_http_url, 'an http(s) URL string', empty_is_none=True)
OptionalHostValue = _parsed(str | None, lambda t: t, "a host string", empty_is_none=True)
NonEmptyStr = _parsed(str, _nonempty, "a non-empty string")
NameserverValue = _parsed(Nameserver, parse_dns_server, 'a string "ADDRESS[:PORT]"', instances=(Nameserver,))


def _field(default: Any, type_text: str, description: str, *, reload: bool = False,
           path: Literal["file", "dir"] | None = None, **constraints: Any) -> Any:
    """A config key: its default, how docs name its type, what it is, whether a running
    server may apply a change (SIGHUP), and whether it names a path checked at load."""
    extra: dict[str, Any] = {"type_text": type_text, "reloadable": reload}
    if path:
        extra["path"] = path
    if callable(default):
        return Field(default_factory=default, description=description, json_schema_extra=extra, **constraints)
    return Field(default, description=description, json_schema_extra=extra, **constraints)


class _Section(BaseModel):
    # strict: TOML has real types, so "0.5" for a number is a mistake, not something to coerce;
    # frozen: a running component can hold a section without it changing under it (reload
    # builds a new Config and compares).
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --------------------------------------------------------------------------- sections


class SipSection(_Section):
    listen: list[SipListenValue] = _field(
        lambda: [SipListen("udp", "127.0.0.1", 5060), SipListen("tcp", "127.0.0.1", 5060)],
        'list of "udp|tcp|tls:HOST:PORT"', "SIP listeners", min_length=1)
    trusted: list[NetworkValue] = _field(
        lambda: [ipaddress.ip_network("127.0.0.1/32")], 'list of "ADDRESS[/PREFIX]"',
        "sources not digest-challenged (a trunk, a load generator)", reload=True)
    realm: NonEmptyStr = _field("callcontrol", "string", "digest realm of SIP challenges")
    t1: float = _field(0.5, "seconds", "RFC 3261 T1, the round-trip estimate", gt=0)
    t2: float = _field(4.0, "seconds", "RFC 3261 T2, the longest retransmit interval", gt=0)
    t4: float = _field(5.0, "seconds", "RFC 3261 T4, how long a message lingers in the network", gt=0)
    session_timers: bool = _field(True, "true|false", "RFC 4028 session timers on every leg", reload=True)
    session_expires: int = _field(1800, "whole seconds", "session interval asked for", reload=True, gt=0)
    min_se: int = _field(90, "whole seconds", "shortest session interval accepted", reload=True, gt=0)
    tls_cert: OptionalPathValue = _field(None, "path", "PEM certificate (chain) of the tls: listeners",
                                         path="file")
    tls_key: OptionalPathValue = _field(None, "path", "its PEM private key (default: in tls_cert)", path="file")
    tls_ca: OptionalPathValue = _field(None, "path", "PEM CAs that TLS peers we connect to must chain to "
                                       "(default: the system's)", path="file")

    @model_validator(mode="after")
    def _consistent(self) -> SipSection:
        tls = [x for x in self.listen if x.transport == "tls"]
        if tls and self.tls_cert is None:
            raise PydanticCustomError("config", "sip.listen {listener} needs sip.tls_cert (and sip.tls_key)",
                                      {"listener": str(tls[0])})
        if self.tls_key is not None and self.tls_cert is None:
            raise PydanticCustomError("config", "sip.tls_key is set but sip.tls_cert is not", {})
        if self.session_expires < self.min_se:
            raise PydanticCustomError("config",
                                      "sip.session_expires ({a}) must not be below sip.min_se ({b})",
                                      {"a": self.session_expires, "b": self.min_se})
        if self.t2 < self.t1:
            raise PydanticCustomError("config", "sip.t2 ({a}) must not be below sip.t1 ({b})",
                                      {"a": self.t2, "b": self.t1})
        return self

    def is_trusted(self, host: str) -> bool:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)


class TrunkSection(_Section):
    uri: TrunkUriValue = _field(None, 'string "sip:HOST[:PORT][;transport=udp|tcp|tls]"',
                                "where numbers outside the directory go (none: 404)", reload=True)


class DnsSection(_Section):
    nameservers: list[NameserverValue] = _field(list, 'list of "ADDRESS[:PORT]"',
                                                "DNS servers for SIP hosts by name, RFC 3263 (default: "
                                                "/etc/resolv.conf's)")
    timeout: float = _field(3.0, "seconds", "one DNS lookup, every nameserver tried", gt=0)


class WsSection(_Section):
    listen: HostPortValue = _field(HostPort("127.0.0.1", 8445), 'string "HOST:PORT"',
                                   "WebSocket API listener (path /ws)")
    certfile: OptionalPathValue = _field(None, "path", "PEM certificate (chain): serve wss://", path="file")
    keyfile: OptionalPathValue = _field(None, "path", "PEM private key (default: in certfile)", path="file")

    @model_validator(mode="after")
    def _key_needs_cert(self) -> WsSection:
        if self.keyfile is not None and self.certfile is None:
            raise PydanticCustomError("config", "ws.keyfile is set but ws.certfile is not", {})
        return self


class ApiSection(_Section):
    # Login throttling of the call-control API (callcontrol/access/throttle.py).
    login_failures_per_login: int = _field(3, "whole number", "failed logins of one login before each "
                                           "further one waits", ge=1)
    login_failures_per_address: int = _field(20, "whole number", "failed logins from one address before "
                                             "logins not known there wait", ge=1)
    login_first_wait: float = _field(1.0, "seconds", "the first wait either limit imposes; each further "
                                     "failure doubles it", gt=0)
    login_max_wait: float = _field(300.0, "seconds", "the longest wait either limit imposes", gt=0)
    login_known_for: float = _field(604800.0, "seconds", "a login that succeeded from an address passes "
                                    "that address's limit for this long", ge=0)


class HttpSection(_Section):
    listen: HostPortValue = _field(HostPort("127.0.0.1", 8446), 'string "HOST:PORT"',
                                   "health (/health) and Prometheus metrics (/metrics) listener")


class MediaSection(_Section):
    rtp_ports: PortRangeValue = _field(PortRange(20000, 29999), 'string "LOW-HIGH"', "RTP/RTCP port pairs")
    host: OptionalHostValue = _field(None, "string", "RTP address (default: the first SIP listener's host)")
    anchor: bool = _field(True, "true|false", "relay RTP through the server (false: SDP passes untouched)")
    rtp_timeout: float = _field(60.0, "seconds", "an answered leg silent this long ends the call", gt=0)


class StoreSection(_Section):
    data_dir: PathValue = _field(DEFAULT_DATA_DIR, "path",
                                 "SQLite store (its parent directory must exist)", path="dir")


class LogSection(_Section):
    level: LogLevelValue = _field("INFO", "DEBUG|INFO|WARNING|ERROR|CRITICAL", "log level", reload=True)
    format: LogFormatValue = _field("text", "text|json", "text lines, or one JSON object per line")
    sip_trace: OptionalPathValue = _field(None, "path", "append every SIP message in and out to this file "
                                          "(digest responses redacted)")


class IvrSection(_Section):
    fallback_url: HttpUrlValue = _field(None, "http(s) URL", "prompt for IVR callers no application takes",
                                        reload=True)
    fallback_seconds: float = _field(3.0, "seconds", "without fallback_url: this long of music, then BYE",
                                     reload=True, ge=0)


class ServerSection(_Section):
    drain_limit: float = _field(3600.0, "seconds", "a drain (SIGUSR1) with calls still up after this long "
                                "ends them and exits", reload=True, gt=0)


def parse_origin(text: str) -> str:
    """A browser origin, "scheme://host[:port]" as browsers send it in Origin (no path), or "*"."""
    if text == "*":
        return text
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in ("http", "https") or not rest or "/" in rest or any(c.isspace() for c in rest):
        raise ConfigError(f'expected an origin "http[s]://HOST[:PORT]" (no path) or "*", got {_show(text)}')
    return text


def parse_ws_url(text: str) -> str:
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in ("ws", "wss") or not rest or rest.startswith("/") or any(c.isspace() for c in rest):
        raise ConfigError(f'expected a "ws[s]://HOST:PORT/PATH" URL, got {_show(text)}')
    return text


OriginValue = _parsed(str, parse_origin, 'a string "http[s]://HOST[:PORT]"')
WsUrlValue = _parsed(str | None, parse_ws_url, 'a string "ws[s]://HOST:PORT/ws"', empty_is_none=True)


class ConsoleSection(_Section):
    enabled: bool | None = _field(None, "true|false", "serve the web attendant console on the HTTP listener, "
                                  "/console/ (default: only when http.listen is a loopback address)")
    allowed_origins: list[OriginValue] = _field(list, 'list of "http[s]://HOST[:PORT]"',
                                                "origins whose pages may open the WebSocket API; a browser's "
                                                "upgrade from any other is refused with 403 (default: the "
                                                "console's own origin; \"*\": any)")
    ws_url: WsUrlValue = _field(None, 'string "ws[s]://HOST:PORT/ws"', "the WebSocket URL the console and "
                                "the API document give clients (default: from ws.listen)")


_WILDCARDS = ("0.0.0.0", "::", "")


class Config(_Section):
    """The whole configuration; ``cfg.sip.listen``, ``cfg.ws.listen.port``, ..."""

    sip: SipSection = Field(default_factory=SipSection)
    trunk: TrunkSection = Field(default_factory=TrunkSection)
    ws: WsSection = Field(default_factory=WsSection)
    api: ApiSection = Field(default_factory=ApiSection)
    http: HttpSection = Field(default_factory=HttpSection)
    media: MediaSection = Field(default_factory=MediaSection)
    store: StoreSection = Field(default_factory=StoreSection)
    log: LogSection = Field(default_factory=LogSection)
    ivr: IvrSection = Field(default_factory=IvrSection)
    server: ServerSection = Field(default_factory=ServerSection)
    dns: DnsSection = Field(default_factory=DnsSection)
    console: ConsoleSection = Field(default_factory=ConsoleSection)

    @model_validator(mode="after")
    def _console_origin_known(self) -> Config:
        host = self.http.listen.host
        if self.console.enabled and host in ("0.0.0.0", "::", "") and not self.console.allowed_origins:
            raise PydanticCustomError(
                "config", "console.enabled with http.listen {listen} needs console.allowed_origins (the "
                "origin browsers load the console from, e.g. \"http://pbx.example.com:{port}\")",
                {"listen": str(self.http.listen), "port": self.http.listen.port})
        return self

    @model_validator(mode="after")
    def _media_address_known(self) -> Config:
        # RTP binds and is advertised in SDP at media.host, by default the first SIP listener's
        # host; a wildcard there would silently advertise 127.0.0.1 and calls would have no audio.
        first = self.sip.listen[0].host
        if self.media.host in _WILDCARDS:
            raise PydanticCustomError("config", "media.host: expected the address phones send RTP to, "
                                      "got the wildcard {host} (in SDP it means hold)",
                                      {"host": self.media.host})
        if self.media.anchor and self.media.host is None and first in _WILDCARDS:
            raise PydanticCustomError(
                "config", "media.host must be set when the first sip.listen address is a wildcard "
                "({listen}) and media.anchor is on: it is the RTP address put in SDP",
                {"listen": str(self.sip.listen[0]), "origin_key": "sip.listen"})
        return self


# --------------------------------------------------------------------------- keys and reload


@dataclass(slots=True, frozen=True)
class KeyInfo:
    key: str  # dotted: "sip.listen"
    type_text: str
    description: str
    default: Any  # as TOML would write it (str() of the parsed types)
    reloadable: bool
    path: str | None

    @property
    def env(self) -> str:
        return env_name(self.key)


def env_name(key: str) -> str:
    section, _, name = key.partition(".")
    return f"{ENV_PREFIX}{section.upper()}__{name.upper()}"


def config_keys() -> list[KeyInfo]:
    """Every key of every section, in declaration order (docs, env overrides, reload)."""
    keys = []
    defaults = Config().model_dump()
    for section, sfield in Config.model_fields.items():
        model = sfield.annotation
        for name, field in model.model_fields.items():
            extra = field.json_schema_extra or {}
            keys.append(KeyInfo(f"{section}.{name}", extra.get("type_text", ""), field.description or "",
                                defaults[section][name], bool(extra.get("reloadable")), extra.get("path")))
    return keys


def _values(cfg: Config) -> dict[str, Any]:
    dumped = cfg.model_dump()
    return {f"{s}.{k}": v for s, section in dumped.items() for k, v in section.items()}


def changed_keys(old: Config, new: Config) -> dict[str, tuple[Any, Any]]:
    """Dotted key -> (old, new) for every key whose value differs (values as TOML would write them)."""
    a, b = _values(old), _values(new)
    return {key: (a[key], b[key]) for key in a if a[key] != b[key]}


RELOADABLE_KEYS = frozenset(k.key for k in config_keys() if k.reloadable)


def reloadable_changes(old: Config, new: Config) -> dict[str, tuple[Any, Any]]:
    """The changes a running server may apply (SIGHUP): trunk, trusted, session timers,
    IVR fallback, log level. See ``restart_changes`` for the ones it must refuse."""
    return {k: v for k, v in changed_keys(old, new).items() if k in RELOADABLE_KEYS}


def restart_changes(old: Config, new: Config) -> dict[str, tuple[Any, Any]]:
    """The changes that only a restart applies (listeners, data dir, timers T1/T2/T4, ...)."""
    return {k: v for k, v in changed_keys(old, new).items() if k not in RELOADABLE_KEYS}


def describe_changes(changes: Mapping[str, tuple[Any, Any]]) -> str:
    """One line: ``trunk.uri "sip:a" -> "sip:b", log.level "INFO" -> "DEBUG"`` (or ``no change``)."""
    if not changes:
        return "no change"
    return ", ".join(f"{k} {_show(a)} -> {_show(b)}" for k, (a, b) in changes.items())


# --------------------------------------------------------------------------- loading


@dataclass(slots=True, frozen=True)
class Override:
    """One value from outside the file: a command-line flag (``source="--ws-listen"``)."""

    key: str  # dotted
    value: Any
    source: str


def load_config(path: Path | None = None, *, environ: Mapping[str, str] | None = None,
                overrides: Iterable[Override] = (), check_host: bool = True) -> Config:
    """Defaults < file < environment < overrides, validated; then, unless ``check_host`` is off,
    checked against this machine: the paths (``check_paths``) and the RTP address.

    ``path`` None: ``$CALLCONTROL_CONFIG`` if set, else no file. Raises ConfigError (one line)."""
    environ = os.environ if environ is None else environ
    if path is None and environ.get(ENV_CONFIG_FILE):
        path = Path(environ[ENV_CONFIG_FILE])
    data: dict[str, Any] = {}
    origins: dict[str, str] = {}
    default_origin = "config"
    if path is not None:
        default_origin = str(path)
        data = _read_toml(path)
        for section, table in data.items():
            origins[section] = str(path)
            if isinstance(table, dict):
                for key in table:
                    origins[f"{section}.{key}"] = str(path)
    layered = [(k, v, f"environment {n}") for n, k, v in _env_items(environ)]
    layered += [(o.key, o.value, o.source) for o in overrides]
    for key, value, source in layered:
        section, _, name = key.partition(".")
        table = data.setdefault(section, {})
        if not isinstance(table, dict):
            continue  # the file's own error about [section] is the one to report
        table[name] = value
        origins[key] = source
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, origins, default_origin)) from None
    if check_host:
        check_paths(cfg)
        check_media_host(cfg)
    return cfg


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read config {path}: not UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in {path}: {exc}") from None


def _env_items(environ: Mapping[str, str]) -> Iterable[tuple[str, str, Any]]:
    """(variable, dotted key, value) for each CALLCONTROL_<SECTION>__<KEY> variable.

    The value is read as a TOML value (1800, 0.5, true, ["a", "b"], "quoted"); anything that
    is not one is the string itself (sip:10.0.0.1, 0.0.0.0:8445). For a list key a plain string
    is split at commas: CALLCONTROL_SIP__LISTEN=udp:0.0.0.0:5060,tcp:0.0.0.0:5060."""
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX):].lower().partition("__")
        text = environ[name]
        try:
            value: Any = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
        if isinstance(value, str) and _is_list_key(section, key):
            value = [part.strip() for part in value.split(",") if part.strip()]
        yield name, f"{section}.{key}", value


def _is_list_key(section: str, key: str) -> bool:
    sfield = Config.model_fields.get(section)
    field = sfield.annotation.model_fields.get(key) if sfield is not None else None
    return field is not None and getattr(field.annotation, "__origin__", None) is list


_EXPECTED_BY_TYPE = {
    "float_type": "a number", "int_type": "a whole number", "bool_type": "true or false",
    "string_type": "a string", "list_type": "a list", "model_type": "a table",
    "int_from_float": "a whole number", "float_parsing": "a number", "int_parsing": "a whole number",
}


def _one_line(exc: ValidationError, origins: Mapping[str, str], default_origin: str) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = [str(p) for p in first["loc"]]
    key = ".".join(loc[:2]) + "".join(f"[{p}]" for p in loc[2:])
    origin_key = (first.get("ctx") or {}).get("origin_key")  # a check across sections names its cause
    origin = origins.get(origin_key or ".".join(loc[:2])) or origins.get(loc[0] if loc else "")
    if origin is None:  # a section's own check, or an unknown section only the environment names
        inside = [o for k, o in origins.items() if loc and k.startswith(loc[0] + ".")]
        origin = inside[-1] if inside else default_origin
    kind = first["type"]
    if kind == "extra_forbidden":
        what = _unknown_key(loc)
    elif kind == "config":
        what = first["msg"]
    elif kind in _EXPECTED_BY_TYPE:
        what = f"expected {_EXPECTED_BY_TYPE[kind]}, got {_show(first['input'])}"
    elif first["msg"].startswith("Input should be "):  # constraints: greater than 0, ...
        what = f"expected a value {first['msg'][len('Input should be '):]}, got {_show(first['input'])}"
    elif kind == "too_short":
        what = f"expected at least {first.get('ctx', {}).get('min_length', 1)} item(s), got none"
    else:
        what = first["msg"]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    if kind == "config" and len(loc) <= 1:  # a section's or the whole's check: the message names the keys
        return f"{origin}: {what}{more}"
    return f"{origin}: {key or 'config'}: {what}{more}"


def _unknown_key(loc: list[str]) -> str:
    sections = list(Config.model_fields)
    if len(loc) == 1:
        guess = difflib.get_close_matches(loc[0], sections, n=1)
        hint = f"did you mean [{guess[0]}]?" if guess else f"sections are {', '.join(sections)}"
        return f"unknown section or key outside a section ({hint})"
    section, name = loc[0], loc[1]
    model = Config.model_fields[section].annotation
    known = list(model.model_fields)
    guess = difflib.get_close_matches(name, known, n=1)
    if guess:
        field = model.model_fields[guess[0]]
        type_text = (field.json_schema_extra or {}).get("type_text", "")
        return f"unknown key (did you mean {section}.{guess[0]}, {type_text}?)"
    elsewhere = [s for s in sections if name in Config.model_fields[s].annotation.model_fields]
    if elsewhere:
        return f"unknown key in [{section}] ({name} belongs in [{elsewhere[0]}])"
    return f"unknown key ([{section}] has {', '.join(known)})"


def _show(value: Any) -> str:
    """A value as the TOML that would have given it (short)."""
    if value is None:
        return "(none)"
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- paths


def check_paths(cfg: Config) -> None:
    """Each path key must be usable: files readable, the data directory writable (or creatable:
    its parent exists and is writable). The error names the key and the path."""
    for info in config_keys():
        if info.path is None:
            continue
        section, _, name = info.key.partition(".")
        value = getattr(getattr(cfg, section), name)
        if value is None:
            continue
        if info.path == "file":
            _check_readable_file(info.key, Path(value))
        else:
            _check_writable_dir(info.key, Path(value))
    if cfg.ws.certfile is not None:
        check_certificate("ws.certfile", cfg.ws.certfile, cfg.ws.keyfile)
    if cfg.sip.tls_cert is not None:
        check_certificate("sip.tls_cert", cfg.sip.tls_cert, cfg.sip.tls_key)


def check_media_host(cfg: Config) -> None:
    """media.host must be an address of this machine: RTP sockets are opened per call, so a
    wrong one would otherwise show as calls failing, not as a start-up error."""
    host = cfg.media.host
    if host is None or not cfg.media.anchor:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((host, 0))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"media.host {host}: not an address of this machine ({reason})") from None


def ssl_reason(exc: ssl.SSLError) -> str:
    """OpenSSL's reason ("PEM lib", "KEY_VALUES_MISMATCH") without "[SSL] ... (_ssl.c:3905)"."""
    if exc.reason:
        return str(exc.reason)
    return re.sub(r"^\[\w+\] | \(_ssl\.c:\d+\)$", "", str(exc.args[-1] if exc.args else exc))


def check_certificate(key: str, certfile: Path, keyfile: Path | None) -> None:
    """The certificate and key load (PEM, the key matches), as a TLS listener will load them."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except ssl.SSLError as exc:
        pair = f"{certfile}" + (f" with key {keyfile}" if keyfile else "")
        raise ConfigError(f"{key} {pair}: not a usable PEM certificate and key ({ssl_reason(exc)})") from None
    except OSError as exc:
        raise ConfigError(f"{key} {exc.filename or certfile}: cannot read ({exc.strerror})") from None


def _check_readable_file(key: str, path: Path) -> None:
    if not path.exists():
        raise ConfigError(f"{key} {path}: no such file")
    if not path.is_file():
        raise ConfigError(f"{key} {path}: not a file")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"{key} {path}: cannot read ({exc.strerror})") from None


def _check_writable_dir(key: str, path: Path) -> None:
    target = path
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"{key} {path}: not a directory")
    else:
        # The store creates the directory itself, but only one level: a missing parent is
        # usually a typo (/var/lib/calcontrol/data), not something to create silently.
        target = path.absolute().parent
        if not target.is_dir():
            raise ConfigError(f"{key} {path}: parent directory {target} does not exist")
    try:
        # A real probe, not os.access: root passes access() on a read-only filesystem.
        with tempfile.TemporaryFile(dir=target):
            pass
    except OSError as exc:
        if target is path:
            raise ConfigError(f"{key} {path}: directory not writable ({exc.strerror})") from None
        raise ConfigError(f"{key} {path}: cannot be created, {target} is not writable "
                          f"({exc.strerror})") from None

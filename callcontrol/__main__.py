"""The callcontrol command: run the server, check a configuration, administer the directory, export
CDRs, print the API schema."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from callcontrol.config import (ENV_CONFIG_FILE, Config, ConfigError, Override, SipListen, load_config,
                                parse_hostport)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("callcontrol")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


class _HelpFormatter(argparse.HelpFormatter):
    """Help text as written (our help strings state their defaults), with wider option columns."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=34)


def _config_flags(parser: argparse.ArgumentParser) -> None:
    """The flags serve and check-config share; each help states the default and the key it sets."""
    d = Config()
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="TOML configuration file (default: $CALLCONTROL_CONFIG, else none)")
    parser.add_argument("--sip-listen", action="append", metavar="[PROTO:]HOST:PORT",
                        help="SIP listener, repeatable; HOST:PORT means UDP and TCP "
                             f"(default: {' '.join(str(x) for x in d.sip.listen)}; sip.listen)")
    parser.add_argument("--ws-listen", metavar="HOST:PORT",
                        help=f"WebSocket API listener (default: {d.ws.listen}; ws.listen)")
    parser.add_argument("--http-listen", metavar="HOST:PORT",
                        help=f"health and metrics listener (default: {d.http.listen}; http.listen)")
    parser.add_argument("--data-dir", metavar="DIR",
                        help=f"data directory (default: ./{d.store.data_dir}; store.data_dir)")
    parser.add_argument("--rtp-ports", metavar="LOW-HIGH",
                        help=f"RTP port range (default: {d.media.rtp_ports}; media.rtp_ports)")
    parser.add_argument("--trunk", metavar="URI",
                        help="outbound trunk for numbers outside the directory (default: none; trunk.uri)")
    parser.add_argument("--log-level", metavar="LEVEL",
                        help=f"DEBUG, INFO, WARNING, ERROR or CRITICAL (default: {d.log.level}; log.level)")
    parser.add_argument("--log-format", metavar="FORMAT",
                        help=f"text, or json: one JSON object per line (default: {d.log.format}; log.format)")
    parser.add_argument("--sip-trace", metavar="FILE",
                        help="append every SIP message in and out to FILE, digest responses redacted "
                             "(default: none; log.sip_trace)")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callcontrol", description=__doc__, formatter_class=_HelpFormatter,
                                     epilog="Configuration keys and their environment variables: "
                                            "docs/operations.md.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the server (SIP, WebSocket API, HTTP health/metrics)",
                           description="Run the server. Settings come from the defaults, the config file, "
                                       "CALLCONTROL_<SECTION>__<KEY> environment variables and these flags, "
                                       "later ones winning.", formatter_class=_HelpFormatter)
    _config_flags(serve)
    check = sub.add_parser("check-config", help="validate the configuration without starting",
                           description="Validate the configuration as serve would (keys, types, paths) and "
                                       "exit: 0 and 'config OK' on stdout, or 2 and the reason on stderr.",
                           formatter_class=_HelpFormatter)
    _config_flags(check)
    try:
        from callcontrol.directory import cli as directory_cli
    except ImportError:  # the directory CLI ships with the store
        directory_cli = None  # type: ignore[assignment]
    if directory_cli is not None:
        directory_cli.add_arguments(sub)
    from callcontrol.cdr import cli as cdr_cli

    cdr_cli.add_arguments(sub)
    schema = sub.add_parser("api-schema", help="print the JSON Schema (or AsyncAPI document) of the WebSocket API",
                            description="Print the JSON Schema of the WebSocket API, or with --asyncapi its "
                                        "AsyncAPI 3.0 document; the server serves both on its HTTP listener "
                                        "(/api/schema.json, /api/asyncapi.json) as this prints them for the "
                                        "same configuration.", formatter_class=_HelpFormatter)
    schema.add_argument("--asyncapi", action="store_true", help="print the AsyncAPI 3.0 document")
    _config_flags(schema)
    from callcontrol.ops import control

    control.add_arguments(sub)
    return parser


def _overrides(args: argparse.Namespace) -> list[Override]:
    """The flags as config overrides; errors name the flag, like the file's name the file."""
    out: list[Override] = []
    if args.sip_listen:
        listens: list[str] = []
        for item in args.sip_listen:
            if item.split(":", 1)[0].lower() in ("udp", "tcp", "tls"):
                listens.append(item)
            else:
                try:
                    hostport = parse_hostport(item, "--sip-listen")
                except ConfigError as exc:
                    raise ConfigError(f"--sip-listen: sip.listen: {exc}") from None
                listens += [str(SipListen("udp", *hostport)), str(SipListen("tcp", *hostport))]
        out.append(Override("sip.listen", listens, "--sip-listen"))
    for flag, key in (("ws_listen", "ws.listen"), ("http_listen", "http.listen"),
                      ("data_dir", "store.data_dir"), ("rtp_ports", "media.rtp_ports"),
                      ("trunk", "trunk.uri"), ("log_level", "log.level"),
                      ("log_format", "log.format"), ("sip_trace", "log.sip_trace")):
        value = getattr(args, flag)
        if value is not None:
            out.append(Override(key, value, "--" + flag.replace("_", "-")))
    return out


def load_from_args(args: argparse.Namespace) -> Config:
    return load_config(args.config, overrides=_overrides(args))


def _install_loop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command in ("serve", "check-config"):
        try:
            cfg = load_from_args(args)
        except ConfigError as exc:
            sys.stderr.write(f"callcontrol: {exc}\n")
            return 2
        if args.command == "check-config":
            source = args.config or os.environ.get(ENV_CONFIG_FILE) or "defaults only"
            sys.stdout.write(f"config OK ({source})\n")
            return 0
        from callcontrol.ops.logs import configure

        configure(getattr(logging, cfg.log.level), cfg.log.format)
        from callcontrol.server import run_server

        _install_loop()
        return asyncio.run(run_server(cfg, reload_config=lambda: load_from_args(args)))
    if args.command == "api-schema":
        try:  # the documents name the WebSocket URL only: this machine's paths and addresses are not checked
            cfg = load_config(args.config, overrides=_overrides(args), check_host=False)
        except ConfigError as exc:
            sys.stderr.write(f"callcontrol: {exc}\n")
            return 2
        from callcontrol.web import documents, web_settings

        asyncapi_json, schema_json, _ = documents(web_settings(cfg).ws_url)
        sys.stdout.buffer.write(asyncapi_json if args.asyncapi else schema_json)
        return 0
    if args.command == "cdr":
        from callcontrol.cdr import cli as cdr_cli

        return cdr_cli.run(args)
    if args.command == "directory":
        from callcontrol.directory import cli as directory_cli

        return directory_cli.run(args)
    if args.command in ("reload", "drain"):
        from callcontrol.ops import control

        return control.run(args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())

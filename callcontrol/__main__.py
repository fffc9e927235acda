"""The ``callcontrol`` command: serve, directory administration, API schema."""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from callcontrol.config import Config, ConfigError, SipListen, parse_hostport, parse_port_range


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callcontrol", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server (SIP, WebSocket API, HTTP health/metrics)")
    serve.add_argument("--config", type=Path, help="TOML configuration file")
    serve.add_argument("--sip-listen", action="append", metavar="[PROTO:]HOST:PORT",
                       help="SIP listener; HOST:PORT means UDP and TCP (repeatable)")
    serve.add_argument("--ws-listen", metavar="HOST:PORT")
    serve.add_argument("--http-listen", metavar="HOST:PORT")
    serve.add_argument("--data-dir", type=Path)
    serve.add_argument("--rtp-ports", metavar="LOW-HIGH")
    serve.add_argument("--trunk", metavar="URI", help="outbound trunk for numbers outside the directory")
    serve.add_argument("--log-level", default=None)
    try:
        from callcontrol.directory import cli as directory_cli
    except ImportError:  # the directory CLI ships with the store
        directory_cli = None  # type: ignore[assignment]
    if directory_cli is not None:
        directory_cli.add_arguments(sub)
    sub.add_parser("api-schema", help="print the JSON Schema of the WebSocket API")
    from callcontrol.ops import control

    control.add_arguments(sub)
    return parser


def _config_from_args(args: argparse.Namespace) -> Config:
    cfg = Config.load(args.config)
    if args.sip_listen:
        listens: list[SipListen] = []
        for item in args.sip_listen:
            if item.split(":", 1)[0].lower() in ("udp", "tcp", "tls"):
                listens.append(SipListen.parse(item))
            else:
                host, port = parse_hostport(item, "--sip-listen")
                listens += [SipListen("udp", host, port), SipListen("tcp", host, port)]
        cfg.sip_listen = listens
    if args.ws_listen:
        cfg.ws_listen = parse_hostport(args.ws_listen, "--ws-listen")
    if args.http_listen:
        cfg.http_listen = parse_hostport(args.http_listen, "--http-listen")
    if args.data_dir:
        cfg.data_dir = args.data_dir
    if args.rtp_ports:
        cfg.rtp_ports = parse_port_range(args.rtp_ports)
    if args.trunk:
        cfg.trunk_uri = args.trunk
    if args.log_level:
        cfg.log_level = args.log_level.upper()
    return cfg


def _install_loop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        try:
            cfg = _config_from_args(args)
        except ConfigError as exc:
            sys.stderr.write(f"callcontrol: {exc}\n")
            return 2
        level = getattr(logging, cfg.log_level, None)
        if not isinstance(level, int):
            sys.stderr.write(f"callcontrol: unknown log level {cfg.log_level!r}\n")
            return 2
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        from callcontrol.server import run_server

        _install_loop()
        return asyncio.run(run_server(cfg))
    if args.command == "api-schema":
        import orjson

        from callcontrol.api.methods import api_schema

        sys.stdout.write(orjson.dumps(api_schema(), option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
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

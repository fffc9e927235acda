"""``callcontrol serve``: every listener in one process, per the SPEC's operating contract."""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time

from aiohttp import web

from callcontrol.config import Config
from sip.transaction import TimerConfig
from sip.ua import IncomingRequest, UserAgent

logger = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY, REFER, UPDATE, REGISTER"


class Server:
    """Owns the listeners and the components; ``start`` binds, ``stop`` winds down."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.ua = UserAgent(timers=TimerConfig(config.t1, config.t2, config.t4), on_request=self._on_request)
        self.started_at = time.time()
        self._http_runner: web.AppRunner | None = None
        self.listeners: list[str] = []

    async def start(self) -> None:
        for listen in self.config.sip_listen:
            if listen.transport == "tls":
                raise OSError(f"tls:{listen.host}:{listen.port}: TLS needs a certificate (not configured)")
            host, port = await self.ua.listen(listen.transport, listen.host, listen.port)
            self.listeners.append(f"SIP {listen.transport.upper()} listening on {host}:{port}")
        await self._start_http()

    async def _start_http(self) -> None:
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        host, port = self.config.http_listen
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        self._http_runner = runner
        bound = runner.addresses[0] if runner.addresses else (host, port)
        self.listeners.append(f"HTTP health and metrics on http://{bound[0]}:{bound[1]}/")

    async def stop(self) -> None:
        self.ua.close()
        if self._http_runner is not None:
            await self._http_runner.cleanup()

    # -- SIP ------------------------------------------------------------------------------------
    def _on_request(self, incoming: IncomingRequest) -> None:
        method = incoming.request.method
        if method == "OPTIONS":
            incoming.respond(200, headers=[("Allow", ALLOW), ("Accept", "application/sdp"),
                                           ("Server", self.ua.server_name)])
        elif method == "INVITE":
            incoming.respond(480, "Temporarily Unavailable")
        elif method in ("BYE", "INFO", "NOTIFY", "REFER", "UPDATE", "REGISTER"):
            incoming.respond(481 if method != "REGISTER" else 501)
        else:
            incoming.respond(405, headers=[("Allow", ALLOW)])

    # -- HTTP -----------------------------------------------------------------------------------
    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "uptime_s": round(time.time() - self.started_at, 1)})

    async def _metrics(self, request: web.Request) -> web.Response:
        s = self.ua.stats
        lines = [
            "# TYPE callcontrol_sip_messages_received_total counter",
            f"callcontrol_sip_messages_received_total {s.received}",
            "# TYPE callcontrol_sip_messages_sent_total counter",
            f"callcontrol_sip_messages_sent_total {s.sent}",
            "# TYPE callcontrol_sip_parse_errors_total counter",
            f"callcontrol_sip_parse_errors_total {s.parse_errors}",
            "# TYPE callcontrol_sip_retransmissions_absorbed_total counter",
            f"callcontrol_sip_retransmissions_absorbed_total {s.retransmissions_absorbed}",
            "# TYPE callcontrol_sip_transaction_timeouts_total counter",
            f"callcontrol_sip_transaction_timeouts_total {s.transaction_timeouts}",
            "# TYPE callcontrol_sip_transactions gauge",
            f"callcontrol_sip_transactions {len(self.ua.table)}",
        ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


async def run_server(config: Config) -> int:
    server = Server(config)
    try:
        await server.start()
    except OSError as exc:
        sys.stderr.write(f"callcontrol: cannot start: {exc.strerror or exc}\n")
        await server.stop()
        return 1
    for line in server.listeners:
        sys.stdout.write(line + "\n")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logger.info("shutting down")
    await server.stop()
    return 0

"""``callcontrol serve``: every listener in one process, per the SPEC's operating contract."""
from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import ipaddress
import logging
import os
import signal
import sqlite3
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from aiohttp import web

from callcontrol.access.identify import TrustedIdentity
from callcontrol.access.registrar import Registrar
from callcontrol.access.sip_auth import RequestAuthenticator
from callcontrol.access.throttle import LoginThrottle
from callcontrol.actions.engine import B2buaEngine
from callcontrol.api.service import CallControlApi
from callcontrol.b2b.b2bua import DRAIN_RETRY_AFTER, B2bua, B2buaSettings
from callcontrol.b2b.queue import Queues
from callcontrol.b2b.routing import Route, Via, route
from callcontrol.config import (Config, ConfigError, HostPort, describe_changes, reloadable_changes,
                                restart_changes, ssl_reason)
from callcontrol.directory.service import Directory, DirectoryChange
from callcontrol.model.calls import CallRegistry
from callcontrol.ops import control, health, sd_notify
from callcontrol.ops.metrics import CONTENT_TYPE_LATEST, MetricSources, make_registry, render
from callcontrol.ops.refusals import RefusalLog
from callcontrol.ops.sip_trace import SipTrace
from callcontrol.web import add_routes as add_web_routes
from callcontrol.web import web_settings
from callcontrol.ws.hub import Hub, start_hub
from ivr.ports import PortPairAllocator
from ivr.prompts import PromptFetcher
from sip import tls as sip_tls
from sip.locate import Destination
from sip.peer import Peer
from sip.resolver import Resolver
from sip.tls import TlsSetupError
from sip.transaction import TimerConfig
from sip.message import SDP
from sip.ua import IncomingRequest, UserAgent
from sip.uas_checks import UasPolicy

logger = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY, REFER, UPDATE, REGISTER"

# What the UA core checks before any request reaches the server (sip/uas_checks.py, RFC 3261
# §8.2): the methods above (others get 405, or 501 when SIP does not define them), sip:/sips:/tel:
# Request-URIs (416), ``Require: timer`` only (420: no 100rel, path, gruu...), offers and answers
# in SDP (415), and INVITEs whose Accept allows the SDP of our answer (406).
SIP_POLICY = UasPolicy(
    allow=tuple(m.strip() for m in ALLOW.split(",")),
    schemes=frozenset({"sip", "sips", "tel"}),
    supported=frozenset({"timer"}),
    bodies={"INVITE": frozenset({SDP}), "UPDATE": frozenset({SDP})},
    answers={"INVITE": SDP},
)

# How often the store is asked whether a ``callcontrol directory`` command changed it: one
# ``PRAGMA data_version`` each time, so a new account can register within about a second.
DIRECTORY_WATCH_INTERVAL = 1.0


class Server:
    """Owns the listeners and the components; ``start`` binds, ``stop`` winds down.

    Start order: directory (store), WebSocket hub, SIP listeners, registrar, B2BUA,
    HTTP. Stop order: refuse new calls and BYE the live ones, close SIP, registrar
    and hub, flush the CDRs and close the store.
    """

    def __init__(self, config: Config, *, reload_config: Callable[[], Config] | None = None) -> None:
        """``reload_config``: reads the config again from the same layers (file, environment,
        flags) on SIGHUP; None: a reload re-reads only the directory."""
        self.config = config
        self._reload_config = reload_config
        self.ua = UserAgent(timers=TimerConfig(config.sip.t1, config.sip.t2, config.sip.t4),
                            on_request=self._on_request, policy=SIP_POLICY)
        self.started_at = time.time()
        self._http_runner: web.AppRunner | None = None
        self.listeners: list[str] = []
        self.registry = CallRegistry()
        self.directory: Directory | None = None
        self.api: CallControlApi | None = None
        self.hub: Hub | None = None
        self.registrar: Registrar | None = None
        self.b2bua: B2bua | None = None
        self.prompts: PromptFetcher | None = None
        self.queues: Queues | None = None
        self.authenticator: RequestAuthenticator | None = None
        self._pid_file: Path | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self.sip_trace: SipTrace | None = None
        # /metrics and /health read these at request time; start() fills them in.
        self.metric_sources = MetricSources(ua=self.ua)
        self.metrics_registry = make_registry(self.metric_sources)
        self.health = health.HealthSources(
            sip_expected=[f"{x.transport}:{x.host}:{x.port}" for x in config.sip.listen],
            sip_listeners=lambda: self.ua.transports, started=lambda: time.time() - self.started_at)
        self.ua.on_refused = RefusalLog(time.monotonic)

    async def start(self) -> None:
        cfg = self.config
        tls = self._sip_tls()  # before anything is opened: a certificate error changes nothing
        if cfg.log.sip_trace is not None:
            self.ua.trace = self.sip_trace = SipTrace(cfg.log.sip_trace)
        with _opening(f"store.data_dir {cfg.store.data_dir}"):
            self.directory = directory = await Directory.open(cfg.store.data_dir, sip_realm=cfg.sip.realm)
        self.health.store = directory.store
        await self._refuse_demo_credentials_off_loopback(directory)
        for listen in cfg.sip.listen:
            what = f"SIP {listen.transport.upper()} listener {HostPort(listen.host, listen.port)}"
            with _opening(what):
                host, port = await self.ua.listen(listen.transport, listen.host, listen.port,
                                                  ssl=tls[0], client_ssl=tls[1])
            self.listeners.append(f"SIP {listen.transport.upper()} listening on {host}:{port}")
        throttle = LoginThrottle(free_failures=cfg.api.login_failures_per_login,
                                 ip_free_failures=cfg.api.login_failures_per_address,
                                 base_delay=cfg.api.login_first_wait, max_delay=cfg.api.login_max_wait,
                                 known_for=cfg.api.login_known_for)
        # The engine is attached once the B2BUA exists; until then commands answer "disabled".
        self.api = api = CallControlApi(directory=directory, registry=self.registry, throttle=throttle)
        api.cdrs = directory.store
        ws_host, ws_port = cfg.ws.listen
        with _opening(f"WebSocket API listener {cfg.ws.listen}"):
            self.hub = await start_hub(ws_host, ws_port, api=api, ssl=self._ws_ssl(),
                                       origins=web_settings(cfg).ws_origins())
        self.metric_sources.hub, self.metric_sources.api = self.hub, api
        self.health.ws = lambda: self.hub is not None and self.hub.serving
        self.registry.set_publish(api.publish)
        scheme = "wss" if cfg.ws.certfile else "ws"
        self.listeners.append(f"WebSocket API on {scheme}://{ws_host}:{self.hub.port}/ws")
        self.authenticator = authenticator = RequestAuthenticator(directory, directory.sip_realm,
                                                                  is_trusted=_cached_trust(cfg))
        self.registrar = Registrar(directory, authenticator)
        await self.registrar.start()
        self.metric_sources.registrar = self.registrar
        media_host = cfg.media.host or self._default_media_host()
        allocator = PortPairAllocator(*cfg.media.rtp_ports) if cfg.media.anchor else None
        self.b2bua = B2bua(
            self.ua, directory=directory, registry=self.registry, router=self._route,
            authorizer=authenticator, allocator=allocator, cdr_sink=directory.store.add_cdr,
            settings=B2buaSettings(media_anchor=cfg.media.anchor, media_host=media_host,
                                   rtp_timeout=cfg.media.rtp_timeout, session_timers=cfg.sip.session_timers,
                                   session_interval=cfg.sip.session_expires, min_se=cfg.sip.min_se,
                                   ivr_fallback_url=cfg.ivr.fallback_url,
                                   ivr_fallback_seconds=cfg.ivr.fallback_seconds))
        self.b2bua.fetcher = self.prompts = PromptFetcher()
        self.b2bua.ctx.locate = self._locator()
        self.metric_sources.b2bua, self.metric_sources.prompts = self.b2bua, self.prompts
        if self.b2bua.settings.overload_lag > 0:
            self.health.lag_samples = self.b2bua.stats.loop_lag_recent
            self.health.max_lag = self.b2bua.settings.overload_lag
        b2bua = self.b2bua
        self.health.intake = lambda: b2bua.intake.value
        self.health.calls_up = lambda: len(b2bua.calls)
        self.b2bua.app_watching = lambda key: api.router.subscriber_count(key) > 0
        self.b2bua.identify = TrustedIdentity(directory, self.registrar).identify  # trusted phones' own calls
        registry = self.registry
        # Call queues (docs/pbx.md, "Queues"): answered with the B2BUA's own answer, agents
        # "in use" when any live leg carries their account.
        self.b2bua.queues = self.queues = Queues(
            route_target=lambda target, via: b2bua.router(target, via), party_of=b2bua.party_for,
            answer=b2bua._answer, leg_media=b2bua.leg_media,
            live_legs=lambda key: len(registry.snapshots((key,))), wall=b2bua.wall)
        api.engine = B2buaEngine(self.b2bua)
        self.b2bua.start()
        await self._start_http()
        self._watch_task = asyncio.create_task(self._watch_directory())
        try:
            self._pid_file = control.write_pid_file(cfg.store.data_dir)
        except OSError as exc:
            pid_file = control.pid_path(cfg.store.data_dir)
            raise OSError(f"cannot write the pid file {pid_file}: {exc.strerror}") from None

    # -- live changes -------------------------------------------------------------------------
    async def _watch_directory(self) -> None:
        """Pick up ``callcontrol directory ...`` edits made while running (no signal needed)."""
        assert self.directory is not None
        while True:
            await asyncio.sleep(DIRECTORY_WATCH_INTERVAL)
            try:
                change = await self.directory.reload_if_changed()
            except Exception:
                logger.exception("directory reload failed; the directory in memory is unchanged")
                continue
            if change is not None:
                self._directory_changed(change, "changed on disk")

    def _directory_changed(self, change: DirectoryChange, why: str) -> None:
        assert self.directory is not None
        if self.registrar is not None:
            for account_id in change.accounts_removed:
                self.registrar.forget_account(account_id)
        ended = self.api.sessions.revoke(change.logins_revoked) if self.api is not None else 0
        parts = [f"directory {why}: reloaded ({self.directory.summary()})"]
        if change.accounts_added:
            parts.append(f"accounts added: {', '.join(sorted(change.accounts_added))}")
        if change.accounts_removed:
            parts.append(f"accounts removed: {', '.join(sorted(change.accounts_removed))}")
        if ended:
            parts.append(f"{ended} API sessions ended")
        logger.info("; ".join(parts))

    async def reload(self) -> None:
        """SIGHUP: re-read the directory now (the watch would within a second anyway), then
        the config, applying its reloadable keys; each part logs one line."""
        assert self.directory is not None
        try:
            change = await self.directory.reload()
        except Exception as exc:
            logger.error("reload refused: the directory could not be read (%s)", exc)
        else:
            self._directory_changed(change, "reload (SIGHUP)")
        if self._reload_config is not None:
            self._reload_config_now(self._reload_config)

    def _reload_config_now(self, load: Callable[[], Config]) -> None:
        try:
            new = load()
        except ConfigError as exc:
            logger.error("config reload refused: %s; the running config is unchanged", exc)
            return
        restart = restart_changes(self.config, new)
        if restart:
            logger.error("config reload refused: %s (needs a restart); nothing applied", describe_changes(restart))
            return
        changes = reloadable_changes(self.config, new)
        if changes:
            self._apply_config(new)
        logger.info("config reloaded: %s", describe_changes(changes))

    def _apply_config(self, new: Config) -> None:
        """Put the reloadable keys of ``new`` in effect for what happens next; calls up keep
        what they negotiated (their session intervals, their routes)."""
        self.config = new  # trunk.uri: read by every routing decision
        if self.authenticator is not None:
            self.authenticator.set_trusted(_cached_trust(new))
        if self.b2bua is not None:
            settings = self.b2bua.settings  # shared with every call's context: change it in place
            settings.session_timers = new.sip.session_timers
            settings.session_interval = new.sip.session_expires
            settings.min_se = new.sip.min_se
            settings.ivr_fallback_url = new.ivr.fallback_url
            settings.ivr_fallback_seconds = new.ivr.fallback_seconds
        logging.getLogger().setLevel(new.log.level)

    async def drain(self, limit: float) -> None:
        """Take no new calls; return when the last call has ended or after ``limit`` s."""
        b2bua = self.b2bua
        if b2bua is None or not b2bua.drain():
            return
        logger.warning("draining: new calls get 503; %d calls up; exiting when they have ended "
                       "(at most %.0f s)", len(b2bua.calls), limit)
        started = asyncio.get_running_loop().time()
        try:
            await asyncio.wait_for(b2bua.wait_no_calls(), limit)
        except TimeoutError:
            logger.warning("drain limit of %.0f s reached with %d calls up: ending them", limit, len(b2bua.calls))
            return
        logger.info("drained: the last call ended after %.1f s; exiting",
                    asyncio.get_running_loop().time() - started)

    async def _refuse_demo_credentials_off_loopback(self, directory: Directory) -> None:
        """SPEC: demo credentials only bind to loopback; anything wider needs real passwords first."""
        cfg = self.config
        hosts = [listen.host for listen in cfg.sip.listen] + [cfg.ws.listen.host, cfg.http.listen.host]
        exposed = sorted({h for h in hosts if not _is_loopback(h)})
        if exposed and await directory.uses_demo_credentials():
            raise DemoCredentialsExposed(
                f"the demo directory's passwords are still in use; refusing to listen on "
                f"{', '.join(exposed)} (change them with `callcontrol directory passwd LOGIN`)")

    def _sip_tls(self) -> tuple[ssl.SSLContext | None, ssl.SSLContext | None]:
        """The TLS listeners' context and the one for connections we open; (None, None) without TLS.
        The config model has checked that a TLS listener has sip.tls_cert and that the files load."""
        sip = self.config.sip
        if not any(x.transport == "tls" for x in sip.listen) or sip.tls_cert is None:
            return None, None
        try:
            return (sip_tls.server_context(sip.tls_cert, sip.tls_key), sip_tls.client_context(sip.tls_ca))
        except TlsSetupError as exc:  # changed on disk since the config was checked
            raise StartupError(str(exc)) from None

    def _locator(self) -> Callable[[Destination], Awaitable[list[Peer]]]:
        """RFC 3263 lookups of hosts by name (trunk, static contacts) over the transports we have,
        for the address families our listeners can send to (an IPv4 socket cannot reach IPv6)."""
        cfg = self.config
        hosts = [x.host for x in cfg.sip.listen]
        types = [t for t, wanted in (("A", any(":" not in h or h == "::" for h in hosts)),
                                     ("AAAA", any(":" in h for h in hosts))) if wanted]
        resolver = Resolver(cfg.dns.nameservers or None, timeout=cfg.dns.timeout, address_types=types)
        transports = self.ua.transports.keys()
        return lambda dest: resolver.locate(dest, transports)

    def _ws_ssl(self) -> ssl.SSLContext | None:
        ws = self.config.ws
        if ws.certfile is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        with _opening(f"WebSocket API listener {ws.listen}: certificate {ws.certfile}"
                      + (f" and key {ws.keyfile}" if ws.keyfile else "")):
            context.load_cert_chain(ws.certfile, ws.keyfile)
        return context

    def _default_media_host(self) -> str:
        """RTP binds where SIP listens (the first listener), unless [media] host says otherwise."""
        host = self.config.sip.listen[0].host if self.config.sip.listen else "127.0.0.1"
        return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host

    def _route(self, number: str | None, via: Via | None = None) -> Route:
        assert self.directory is not None
        registrar = self.registrar
        return route(number, directory=self.directory, contacts=registrar.contacts if registrar else None,
                     trunk_uri=self.config.trunk.uri, dialplan=self.directory.dialplan, via=via)

    async def _start_http(self) -> None:
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        web_config = web_settings(self.config, ws_port=self.hub.port if self.hub else None)
        add_web_routes(app, web_config)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        host, port = self.config.http.listen
        site = web.TCPSite(runner, host, port, reuse_address=True)
        with _opening(f"HTTP health/metrics listener {self.config.http.listen}"):
            await site.start()
        self._http_runner = runner
        bound = runner.addresses[0] if runner.addresses else (host, port)
        self.listeners.append(f"HTTP health and metrics on http://{bound[0]}:{bound[1]}/")
        self.listeners.append(f"API reference on http://{bound[0]}:{bound[1]}/api/" + (
            f", web console on http://{bound[0]}:{bound[1]}/console/" if web_config.console else ""))

    async def stop(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
        if self._pid_file is not None:
            control.remove_pid_file(self._pid_file)
        if self.b2bua is not None:
            if self.queues is not None:
                self.queues.close()
            await self.b2bua.shutdown()
        self.ua.close()
        if self.registrar is not None:
            await self.registrar.close()
        if self.hub is not None:
            await self.hub.close()
        if self.prompts is not None:
            await self.prompts.close()
        if self._http_runner is not None:
            await self._http_runner.cleanup()
        if self.directory is not None:
            try:
                await self.directory.store.flush()
            except Exception:
                logger.exception("CDRs could not be flushed")
            await self.directory.close()
        if self.sip_trace is not None:
            self.ua.trace = None
            self.sip_trace.close()

    # -- SIP ------------------------------------------------------------------------------------
    def _on_request(self, incoming: IncomingRequest) -> None:
        method = incoming.request.method
        if method == "OPTIONS":
            if self.b2bua is not None and not self.b2bua.accepting:
                # A proxy's keep-alive probe (Kamailio dispatcher) takes a draining node out.
                incoming.respond(503, "Draining", headers=[("Retry-After", str(DRAIN_RETRY_AFTER))])
                return
            incoming.respond(200, headers=[("Allow", ALLOW), ("Accept", "application/sdp"),
                                           ("Server", self.ua.server_name)])
        elif method == "INVITE":
            if self.b2bua is None:
                incoming.respond(503)
            else:
                self.b2bua.handle_invite(incoming)
        elif method == "REGISTER":
            if self.registrar is None:
                incoming.respond(503)
            else:
                self.registrar.handle_register(incoming)
        elif method in ("BYE", "INFO", "NOTIFY", "REFER", "UPDATE", "PRACK"):
            incoming.respond(481)
        else:
            incoming.respond(405, headers=[("Allow", ALLOW)])

    # -- HTTP -----------------------------------------------------------------------------------
    async def _health(self, request: web.Request) -> web.Response:
        status, body = await health.check(self.health)
        return web.json_response(body, status=status)

    async def _metrics(self, request: web.Request) -> web.Response:
        # The collector reads live counters: run on the loop (a scrape takes well under a millisecond).
        return web.Response(body=render(self.metrics_registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


class StartupError(RuntimeError):
    """Start-up refused; the message is the one-line reason, naming the listener or the path."""


class DemoCredentialsExposed(StartupError):
    """Start-up refused: a non-loopback listener while demo passwords work."""


@contextlib.contextmanager
def _opening(what: str) -> Iterator[None]:
    """Turn an OS error while opening ``what`` (a listener, the store) into a StartupError naming it."""
    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        raise StartupError(f"{what}: {_os_reason(exc)}") from None


def _os_reason(exc: BaseException) -> str:
    """"address already in use", not "[Errno 98] error while attempting to bind on address ..."."""
    if isinstance(exc, ssl.SSLError):
        return f"cannot load ({ssl_reason(exc)})"
    while isinstance(exc, OSError) and not exc.errno and isinstance(exc.__cause__, OSError):
        exc = exc.__cause__  # uvloop: "could not bind to local_addr ..." caused by the real EADDRINUSE
    if isinstance(exc, OSError) and exc.errno and exc.errno > 0:  # gaierror's EAI_* are negative
        text = os.strerror(exc.errno)
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc)
    if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in text:
        text = f"{exc.filename}: {text}"
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _cached_trust(cfg: Config) -> Callable[[str], bool]:
    """Whether a source host is trusted, remembered per host (bounded).

    Every request asks (Via host and packet source); parsing the address with ipaddress
    each time cost ~5 % of the server's CPU under load. A reload makes a new cache."""
    return functools.lru_cache(maxsize=4096)(cfg.sip.is_trusted)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a hostname: cannot prove it is loopback


# Young-generation threshold: a collection per 50,000 net allocations instead of 700.
GC_GEN0_THRESHOLD = 50_000


def _tune_gc() -> None:
    """Freeze the start-up objects and collect young objects less often.

    A finished call leaves no reference cycle (docs/architecture.md, "Timers and
    references"), so this is not about garbage: it is about what the collector walks.
    The directory, modules and listeners live as long as the process; after
    ``gc.freeze()`` no collection walks them again. SIP transactions are kept 64*T1
    after they end (RFC 3261 §17, RFC 6026), so with 700 as the gen-0 threshold each
    young collection promoted the live ones, and the older generations walked them again
    and again: 0.17 ms of CPU per B2BUA call spent collecting, 2.5 times what it costs
    with 50,000 (measured in docs/benchmarks.md, "After the engine rewrite").
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


async def run_server(config: Config, *, reload_config: Callable[[], Config] | None = None) -> int:
    server = Server(config, reload_config=reload_config)
    try:
        await server.start()
    except OSError as exc:  # not named by _opening: still say which file
        sys.stderr.write(f"callcontrol: cannot start: {_os_reason(exc)}\n")
        await server.stop()
        return 1
    except Exception as exc:
        logger.debug("start-up failed", exc_info=True)
        sys.stderr.write(f"callcontrol: cannot start: {exc}\n")
        await server.stop()
        return 1
    _tune_gc()
    # Signals become commands handled one at a time here: SIGTERM/SIGINT end the calls now and
    # stop, SIGHUP reloads, SIGUSR1 drains (the process exits once the drain is over). Installed
    # before "ready": a SIGTERM sent as soon as that line is read must not find the default action.
    commands: asyncio.Queue[str] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    for sig, command in ((signal.SIGTERM, "stop"), (signal.SIGINT, "stop"),
                         (control.RELOAD_SIGNAL, "reload"), (control.DRAIN_SIGNAL, "drain")):
        loop.add_signal_handler(sig, commands.put_nowait, command)
    for line in server.listeners:
        sys.stdout.write(line + "\n")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sd_notify.notify("READY=1", f"STATUS=ready: {'; '.join(server.listeners)}")
    drain: asyncio.Task[None] | None = None
    while True:
        command = await commands.get()
        if command == "stop":
            logger.info("shutting down")
            break
        if command == "drained":
            break
        if command == "reload":
            await server.reload()
        elif command == "drain" and drain is None:
            sd_notify.notify("STATUS=draining: no new calls, exiting after the last one")
            drain = asyncio.create_task(server.drain(server.config.server.drain_limit))
            drain.add_done_callback(lambda _task: commands.put_nowait("drained"))
    sd_notify.notify("STOPPING=1", "STATUS=stopping")
    if drain is not None and not drain.done():
        drain.cancel()
    await server.stop()
    return 0

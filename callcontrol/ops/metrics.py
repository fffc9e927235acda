"""``/metrics``: a ``prometheus_client`` collector that reads the server's own counters at scrape time.

Nothing here runs on the call path. The counters are plain ints, dicts and
:class:`~callcontrol.ops.histogram.Histogram` arrays kept by the parts themselves (the UA
core, the B2BUA, the registrar, the hub and API, the prompt fetcher); a scrape walks them
once and builds the metric families. Every series has a HELP line; docs/operations.md
("Metrics") lists them all with their labels.

The registry is private to the server (not prometheus_client's global one), with the
library's process and GC collectors beside ours: ``process_*`` (CPU, memory, open file
descriptors, start time), ``python_gc_*`` and ``python_info``.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from callcontrol.ops.histogram import Histogram

if TYPE_CHECKING:
    from callcontrol.access.registrar import Registrar
    from callcontrol.api.service import CallControlApi
    from callcontrol.b2b.b2bua import B2bua
    from callcontrol.ws.hub import Hub
    from ivr.prompts import PromptFetcher
    from sip.ua import UserAgent

__all__ = ["CONTENT_TYPE_LATEST", "MetricSources", "ServerCollector", "make_registry", "render"]


@dataclass(slots=True)
class MetricSources:
    """What the collector reads; the server fills it in as its parts start (None: not yet)."""

    ua: UserAgent
    b2bua: B2bua | None = None
    registrar: Registrar | None = None
    hub: Hub | None = None
    api: CallControlApi | None = None
    prompts: PromptFetcher | None = None


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _labelled(family: CounterMetricFamily | GaugeMetricFamily,
              items: Iterable[tuple[tuple[str, ...], float]]) -> CounterMetricFamily | GaugeMetricFamily:
    for labels, value in sorted(items):
        family.add_metric(list(labels), value)
    return family


def _histogram(name: str, doc: str, h: Histogram) -> HistogramMetricFamily:
    buckets = [("+Inf" if bound == float("inf") else floatToGoString(bound), count)
               for bound, count in h.cumulative()]
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=h.sum)


class ServerCollector(Collector):
    """The server's series; see the module doc."""

    def __init__(self, sources: MetricSources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        src = self.sources
        yield from self._sip(src.ua)
        if src.b2bua is not None:
            yield from self._calls(src.b2bua)
        if src.registrar is not None:
            yield from self._registrations(src.registrar)
        if src.hub is not None:
            yield from self._websocket(src.hub)
        if src.api is not None:
            yield from self._api(src.api)
        if src.prompts is not None:
            yield from self._prompts(src.prompts)

    @staticmethod
    def _sip(ua: UserAgent) -> Iterator[Metric]:
        s = ua.stats
        yield _counter("callcontrol_sip_messages_received",
                       "SIP messages received (datagrams and stream messages), retransmissions included",
                       s.received)
        yield _counter("callcontrol_sip_messages_sent", "SIP messages sent, retransmissions included", s.sent)
        yield _counter("callcontrol_sip_parse_errors", "SIP messages received that did not parse", s.parse_errors)
        yield _counter("callcontrol_sip_bad_requests_answered",
                       "malformed SIP requests answered 400/505/513", s.bad_requests_answered)
        yield _counter("callcontrol_sip_retransmissions_absorbed",
                       "retransmitted SIP requests absorbed by their transaction", s.retransmissions_absorbed)
        yield _counter("callcontrol_sip_transaction_timeouts",
                       "SIP transactions that timed out (no response, or no ACK)", s.transaction_timeouts)
        yield _gauge("callcontrol_sip_transactions", "SIP transactions in the table", len(ua.table))
        yield _labelled(CounterMetricFamily(
            "callcontrol_sip_requests_received", "SIP requests received by method, retransmissions included",
            labels=["method"]), (((m,), n) for m, n in s.requests_received.items()))
        yield _labelled(CounterMetricFamily(
            "callcontrol_sip_requests_sent", "SIP requests sent by method, retransmissions included",
            labels=["method"]), (((m,), n) for m, n in s.requests_sent.items()))
        yield _labelled(CounterMetricFamily(
            "callcontrol_sip_responses_received",
            "SIP responses received by CSeq method and status code, retransmissions included",
            labels=["method", "code"]), (((m, str(c)), n) for (m, c), n in s.responses_received.items()))
        yield _labelled(CounterMetricFamily(
            "callcontrol_sip_responses_sent",
            "SIP responses sent by CSeq method and status code, retransmissions included",
            labels=["method", "code"]), (((m, str(c)), n) for (m, c), n in s.responses_sent.items()))

    @staticmethod
    def _calls(b2bua: B2bua) -> Iterator[Metric]:
        b = b2bua.stats
        yield _counter("callcontrol_calls_offered", "new INVITEs handed to the B2BUA (before any check)", b.invites)
        yield _counter("callcontrol_calls", "calls started (authorised and routed, or placed by the API)", b.calls)
        yield _counter("callcontrol_calls_answered", "calls answered", b.answered)
        yield _counter("callcontrol_calls_failed", "calls refused or failed before an answer", b.failed)
        yield _counter("callcontrol_calls_cancelled", "calls cancelled by the caller before an answer", b.cancelled)
        yield _counter("callcontrol_calls_rtp_timeouts", "answered calls ended for lack of RTP", b.rtp_timeouts)
        yield _counter("callcontrol_calls_shed", "INVITEs refused 503 while the event loop was overloaded", b.shed)
        yield _gauge("callcontrol_calls_active", "calls in progress", len(b2bua.calls))
        yield _labelled(CounterMetricFamily(
            "callcontrol_calls_ended",
            "calls ended, by outcome (answered, or leg A's final code: busy, no_answer, cancelled, "
            "not_found, refused, unavailable, failed)", labels=["outcome"]),
            (((o,), n) for o, n in b.outcomes.items()))
        yield _histogram("callcontrol_call_post_dial_delay_seconds",
                         "post-dial delay: leg A's INVITE to the first provisional response of the call",
                         b.post_dial_delay)
        yield _histogram("callcontrol_call_setup_seconds", "call setup: leg A's INVITE to the answer", b.setup_time)
        yield _histogram("callcontrol_event_loop_lag_seconds",
                         "how late the event loop ran the lag watch (every 0.25 s)", b.loop_lag)
        yield _gauge("callcontrol_event_loop_lag_max_seconds", "the largest event-loop lag seen since start",
                     b.loop_lag_max)
        yield _counter("callcontrol_rtp_packets_received",
                       "RTP packets received from phones (counted when a call's media closes)", b.rtp_received)
        yield _counter("callcontrol_rtp_packets_sent",
                       "RTP packets sent to phones (counted when a call's media closes)", b.rtp_sent)
        yield _labelled(CounterMetricFamily(
            "callcontrol_dtmf_digits", "DTMF digits reported to the API, by method (rfc2833, info, inband)",
            labels=["method"]), (((m,), n) for m, n in b.dtmf.items()))

    @staticmethod
    def _registrations(registrar: Registrar) -> Iterator[Metric]:
        table = registrar.table
        yield _gauge("callcontrol_registrations_contacts", "registered contacts (bindings) held", len(table))
        yield _gauge("callcontrol_registrations_aors", "accounts with at least one registered contact",
                     len(table.aors()))
        yield _labelled(CounterMetricFamily(
            "callcontrol_register_requests", "REGISTER requests by outcome", labels=["outcome"]),
            (((o,), n) for o, n in registrar.outcomes.items()))
        yield _counter("callcontrol_registrations_expired", "contacts dropped because they expired",
                       registrar.expired)

    @staticmethod
    def _websocket(hub: Hub) -> Iterator[Metric]:
        yield _gauge("callcontrol_ws_connections", "WebSocket API connections open", len(hub.connections))
        yield _counter("callcontrol_ws_connections_opened", "WebSocket API connections accepted",
                       hub.counters["connections_opened"])
        yield _counter("callcontrol_ws_queue_overflows",
                       "WebSocket clients cut off because their send queue overflowed", hub.counters["overflows"])

    @staticmethod
    def _api(api: CallControlApi) -> Iterator[Metric]:
        counters: Any = api.counters
        yield _gauge("callcontrol_api_sessions", "API sessions open", len(api.sessions))
        yield _gauge("callcontrol_api_subscriptions",
                     "event subscriptions: (connection, routing key) pairs notifications fan out to",
                     api.router.subscription_count)
        yield _gauge("callcontrol_api_subscribed_keys", "routing keys with at least one subscriber",
                     api.router.key_count)
        yield _labelled(CounterMetricFamily(
            "callcontrol_api_requests", "API requests by Service.method and outcome (ok or the error code)",
            labels=["method", "outcome"]), api.requests_by_method.items())
        yield _counter("callcontrol_api_notifications_published", "leg snapshots published to the API",
                       counters["published"])
        yield _counter("callcontrol_api_notifications_delivered", "notifications queued to subscribed clients",
                       counters["delivered"])

    @staticmethod
    def _prompts(prompts: PromptFetcher) -> Iterator[Metric]:
        yield _labelled(CounterMetricFamily(
            "callcontrol_prompt_fetches", "prompt files served, by source (cache: fresh entry; http: a request)",
            labels=["source"]), [(("cache",), prompts.cache_hits), (("http",), prompts.requests)])
        yield _counter("callcontrol_prompt_revalidations",
                       "prompt HTTP requests answered 304 (the cached file reused)", prompts.revalidated)
        yield _counter("callcontrol_prompt_fetch_failures",
                       "prompt file downloads that failed (not found, timeout, HTTP error, bad format)",
                       prompts.failures)


def make_registry(sources: MetricSources) -> CollectorRegistry:
    """A private registry: the server's collector, ``process_*``, ``python_gc_*``, ``python_info``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServerCollector(sources))
    ProcessCollector(registry=registry)
    GCCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition format (``CONTENT_TYPE_LATEST``)."""
    return generate_latest(registry)

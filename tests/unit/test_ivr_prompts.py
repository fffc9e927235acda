"""Prompt fetching against a local aiohttp server."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from aiohttp import web

from ivr.au import AuEncoding, write_au
from ivr.g711 import ULAW_TO_ALAW
from ivr.http_cache import CacheEntry, LruCache, freshness, parse_cache_control
from ivr.payload import PayloadFacts
from ivr.prompts import (
    PromptCodecError,
    PromptFetcher,
    PromptFormatError,
    PromptHttpError,
    PromptNotFound,
    PromptTimeout,
)

ULAW_AUDIO = bytes(range(256)) * 4
ALAW_AUDIO = bytes(reversed(range(256))) * 2
G729_AUDIO = bytes(range(10)) * 6

PCMU_LEG = PayloadFacts(codec="PCMU", payload_type=0, telephone_event_pt=101)
PCMA_LEG = PayloadFacts(codec="PCMA", payload_type=8)
G729_ONLY = PayloadFacts(codec="G729", payload_type=18)
G729_AND_PCMU = PayloadFacts(codec="G729", payload_type=18, payload_types={18: "G729", 0: "PCMU"})
PCMU_AND_G729 = PayloadFacts(codec="PCMU", payload_type=0, payload_types={0: "PCMU", 18: "G729"})


class Server:
    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.conditional: Counter[str] = Counter()
        self.headers: dict[str, dict[str, str]] = {}
        self.bodies: dict[str, bytes] = {
            "/hello.au": write_au(ULAW_AUDIO),
            "/alaw.au": write_au(ALAW_AUDIO, AuEncoding.ALAW),
            "/onlyg729.g729": G729_AUDIO,
            "/both.au": write_au(ULAW_AUDIO),
            "/both.g729": G729_AUDIO,
            "/wrong.au": b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(40),
            "/linear.au": write_au(bytes(100), AuEncoding.LINEAR_16),
            "/odd.g729": bytes(15),
            "/big.au": write_au(bytes(5000)),
        }
        self.etags: dict[str, str] = {}
        self.never = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits[path] += 1
        if path == "/slow.au":
            await self.never.wait()
        if path == "/broken.au":
            return web.Response(status=500)
        body = self.bodies.get(path)
        if body is None:
            return web.Response(status=404)
        headers = dict(self.headers.get(path, {}))
        etag = self.etags.get(path)
        if etag is not None:
            headers["ETag"] = etag
            if request.headers.get("If-None-Match") == etag:
                self.conditional[path] += 1
                return web.Response(status=304, headers=headers)
        return web.Response(body=body, headers=headers, content_type="audio/basic")


@pytest.fixture
async def server():
    srv = Server()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", srv.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    srv.base = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield srv
    srv.never.set()
    await runner.cleanup()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def fetcher():
    clock = Clock()
    f = PromptFetcher(timeout=5.0, clock=clock)  # local answers; only test_timeout shortens it
    f.test_clock = clock  # type: ignore[attr-defined]
    yield f
    await f.close()


async def test_ulaw_prompt_for_pcmu_and_pcma_legs(server, fetcher) -> None:
    prompt = await fetcher.fetch(server.base + "/hello", PCMU_LEG)
    assert prompt.url == server.base + "/hello.au"
    assert (prompt.codec.name, prompt.codec.payload_type, prompt.audio) == ("PCMU", 0, ULAW_AUDIO)
    assert prompt.duration == pytest.approx(len(ULAW_AUDIO) / 8000)
    prompt = await fetcher.fetch(server.base + "/hello", PCMA_LEG)
    assert (prompt.codec.name, prompt.codec.payload_type) == ("PCMA", 8)
    assert prompt.audio == ULAW_AUDIO.translate(ULAW_TO_ALAW)


async def test_alaw_file_converted_for_a_ulaw_leg(server, fetcher) -> None:
    pcma = await fetcher.fetch(server.base + "/alaw", PCMA_LEG)
    assert pcma.audio == ALAW_AUDIO
    pcmu = await fetcher.fetch(server.base + "/alaw", PCMU_LEG)
    assert pcmu.codec.name == "PCMU" and pcmu.audio != ALAW_AUDIO and len(pcmu.audio) == len(ALAW_AUDIO)


async def test_cache_hit_within_max_age_then_revalidation(server, fetcher) -> None:
    server.headers["/hello.au"] = {"Cache-Control": "public, max-age=60"}
    server.etags["/hello.au"] = '"v1"'
    url = server.base + "/hello"
    first = await fetcher.fetch(url, PCMU_LEG)
    fetcher.test_clock.now = 59.0
    second = await fetcher.fetch(url, PCMU_LEG)
    assert first.audio == second.audio == ULAW_AUDIO
    assert server.hits["/hello.au"] == 1 and fetcher.cache_hits == 1
    fetcher.test_clock.now = 61.0  # stale: asks with If-None-Match, gets 304, keeps the body
    third = await fetcher.fetch(url, PCMU_LEG)
    assert third.audio == ULAW_AUDIO
    assert server.hits["/hello.au"] == 2 and server.conditional["/hello.au"] == 1
    assert fetcher.revalidated == 1
    fetcher.test_clock.now = 100.0  # the 304's max-age made it fresh again
    await fetcher.fetch(url, PCMU_LEG)
    assert server.hits["/hello.au"] == 2
    # the file changes on the server: the next revalidation brings the new body
    server.bodies["/hello.au"] = write_au(b"\x01" * 160)
    server.etags["/hello.au"] = '"v2"'
    fetcher.test_clock.now = 200.0
    assert (await fetcher.fetch(url, PCMU_LEG)).audio == b"\x01" * 160
    assert server.hits["/hello.au"] == 3 and server.conditional["/hello.au"] == 1


async def test_no_store_and_no_cache(server, fetcher) -> None:
    server.headers["/hello.au"] = {"Cache-Control": "no-store"}
    for _ in range(2):
        await fetcher.fetch(server.base + "/hello", PCMU_LEG)
    assert server.hits["/hello.au"] == 2 and len(fetcher.cache) == 0
    server.headers["/alaw.au"] = {"Cache-Control": "no-cache"}
    server.etags["/alaw.au"] = '"a"'
    for _ in range(3):
        assert (await fetcher.fetch(server.base + "/alaw", PCMA_LEG)).audio == ALAW_AUDIO
    assert server.hits["/alaw.au"] == 3 and server.conditional["/alaw.au"] == 2


async def test_missing_in_both_formats(server, fetcher) -> None:
    with pytest.raises(PromptNotFound) as info:
        await fetcher.fetch(server.base + "/missing", PCMU_AND_G729)
    assert info.value.url == server.base + "/missing"
    assert "missing.au" in str(info.value) and "missing.g729" in str(info.value)


async def test_fallback_to_g729_only_when_the_leg_has_it(server, fetcher) -> None:
    prompt = await fetcher.fetch(server.base + "/onlyg729", PCMU_AND_G729)
    assert (prompt.codec.name, prompt.codec.payload_type, prompt.audio) == ("G729", 18, G729_AUDIO)
    assert prompt.duration == pytest.approx(0.06)
    with pytest.raises(PromptCodecError, match="cannot be transcoded"):
        await fetcher.fetch(server.base + "/onlyg729", PCMU_LEG)


async def test_g729_leg_prefers_g729_and_falls_back_to_g711_when_negotiated(server, fetcher) -> None:
    prompt = await fetcher.fetch(server.base + "/both", G729_ONLY)
    assert prompt.codec.name == "G729" and server.hits["/both.au"] == 0
    prompt = await fetcher.fetch(server.base + "/hello", G729_AND_PCMU)
    assert prompt.codec.name == "PCMU" and prompt.audio == ULAW_AUDIO
    with pytest.raises(PromptCodecError, match="only as G.711"):
        await fetcher.fetch(server.base + "/hello", G729_ONLY)


async def test_timeout(server, fetcher) -> None:
    fetcher.timeout = 0.5  # /slow.au never answers: the timeout is certain to fire
    with pytest.raises(PromptTimeout) as info:
        await fetcher.fetch(server.base + "/slow", PCMU_LEG)
    assert info.value.url == server.base + "/slow.au"


@pytest.mark.parametrize(
    ("name", "error", "match"),
    [
        ("/wrong", PromptFormatError, "magic"),
        ("/linear", PromptFormatError, "encoding 3"),
        ("/broken", PromptHttpError, "HTTP 500"),
    ],
)
async def test_bad_files_and_server_errors(server, fetcher, name, error, match) -> None:
    with pytest.raises(error, match=match):
        await fetcher.fetch(server.base + name, PCMU_LEG)


async def test_odd_g729_size_and_size_limit(server) -> None:
    fetcher = PromptFetcher(max_prompt_bytes=1000)
    try:
        with pytest.raises(PromptFormatError, match="10-byte frames"):
            await fetcher.fetch(server.base + "/odd", G729_ONLY)
        with pytest.raises(PromptFormatError, match="more than 1000"):
            await fetcher.fetch(server.base + "/big", PCMU_LEG)
    finally:
        await fetcher.close()


async def test_server_unreachable(fetcher) -> None:
    with pytest.raises(PromptHttpError) as info:
        await fetcher.fetch("http://127.0.0.1:9/nothing", PCMU_LEG)
    assert info.value.status is None


async def test_concurrent_requests_share_one_download(server, fetcher) -> None:
    results = await asyncio.gather(*(fetcher.fetch(server.base + "/hello", PCMU_LEG) for _ in range(5)))
    assert {r.audio for r in results} == {ULAW_AUDIO}
    assert server.hits["/hello.au"] == 1


async def test_cache_is_bounded(server) -> None:
    fetcher = PromptFetcher(max_cache_bytes=1500, default_lifetime=60)
    try:
        await fetcher.fetch(server.base + "/hello", PCMU_LEG)  # 1024 bytes
        await fetcher.fetch(server.base + "/alaw", PCMU_LEG)  # 512 bytes: evicts hello
        assert len(fetcher.cache) == 1 and fetcher.cache.size == 512
        await fetcher.fetch(server.base + "/hello", PCMU_LEG)
        assert server.hits["/hello.au"] == 2
    finally:
        await fetcher.close()


def test_cache_control_parsing_and_freshness() -> None:
    assert parse_cache_control('max-age=60, No-Cache, private="x"') == {
        "max-age": "60",
        "no-cache": None,
        "private": "x",
    }
    assert freshness({"Cache-Control": "max-age=60"}).lifetime == 60
    assert freshness({"Cache-Control": "max-age=60", "Age": "20"}).lifetime == 40
    assert freshness({"Cache-Control": "no-store, max-age=60"}).store is False
    assert freshness({"Cache-Control": "no-cache, max-age=60"}).lifetime == 0
    assert freshness({"Cache-Control": "max-age=oops"}, default_lifetime=5).lifetime == 5
    dated = {"Date": "Mon, 23 Nov 2026 10:00:00 GMT", "Expires": "Mon, 23 Nov 2026 10:05:00 GMT"}
    assert freshness(dated).lifetime == 300
    assert freshness({"Expires": "0"}, default_lifetime=5).lifetime == 0  # invalid: already stale
    assert freshness({}, default_lifetime=7).lifetime == 7


def test_lru_order_and_bounds() -> None:
    cache = LruCache(max_bytes=100, max_entries=2)
    for key in "abc":
        cache.put(CacheEntry(key, key, 10, 0.0))
    assert "a" not in cache and len(cache) == 2  # entry bound
    assert cache.get("b") is not None  # b is now the most recent
    cache.put(CacheEntry("d", "d", 10, 0.0))
    assert "b" in cache and "c" not in cache
    assert cache.put(CacheEntry("huge", "x", 101, 0.0)) is False
    assert cache.size == 20 and cache.evictions == 2

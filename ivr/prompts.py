"""IVR prompts over HTTP(S): ``url + ".au"`` (8-bit G.711) or ``url + ".g729"`` (raw
G.729 frames), fetched with aiohttp, cached, and delivered in the leg's format.

Format choice: a leg whose main codec is G.729 asks for ``.g729`` first, any other leg
for ``.au``.  When the preferred file is missing (404/410) the other one is tried.  An
``.au`` is converted between u-law and A-law to suit the leg (one table translation); a
``.g729`` cannot be transcoded here (no G.729 codec), so it is used only when the leg
negotiated G.729, and an ``.au`` reaches a G.729 leg only when the leg also negotiated
G.711.  Everything else is a typed :class:`PromptError` naming the URL.

Caching (see :mod:`ivr.http_cache`): a bounded LRU of parsed files keyed by URL,
honouring ``Cache-Control`` (``no-store``, ``no-cache``, ``max-age``), ``Expires``, and
revalidating stale entries with ``ETag`` / ``Last-Modified``.  Concurrent requests for
one URL share one download.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from .au import AuFormatError, read_au
from .g711 import alaw_to_ulaw, ulaw_to_alaw
from .http_cache import CacheEntry, LruCache, freshness
from .payload import G729, PCMA, PCMU, PayloadFacts, PlayoutCodec, canonical_encoding

logger = logging.getLogger(__name__)

AU_SUFFIX = ".au"
G729_SUFFIX = ".g729"
G729_FRAME_BYTES = 10


class PromptError(Exception):
    """A prompt could not be delivered; ``url`` is the file (or base URL) concerned."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{message}: {url}")
        self.url = url


class PromptNotFound(PromptError):
    """Neither format exists on the server (404 / 410)."""


class PromptTimeout(PromptError):
    """The server did not answer in time."""


class PromptHttpError(PromptError):
    """The server answered with another non-200 status, or could not be reached."""

    def __init__(self, url: str, message: str, status: int | None = None) -> None:
        super().__init__(url, message)
        self.status = status


class PromptFormatError(PromptError):
    """The file is not what its suffix says (bad .au magic or encoding, odd G.729 size, too big)."""


class PromptCodecError(PromptError):
    """The prompt exists only in a format the leg cannot receive (G.729 cannot be transcoded)."""


@dataclass(slots=True, frozen=True)
class Prompt:
    """Audio ready to hand to :meth:`PromptPlayer.play` with ``codec``."""

    url: str
    codec: PlayoutCodec
    audio: bytes

    @property
    def duration(self) -> float:
        return len(self.audio) * self.codec.samples_per_byte / 8000


@dataclass(slots=True, frozen=True)
class PromptFile:
    """One fetched file: ``.au`` payload (PCMU or PCMA) or raw G.729 frames."""

    encoding: str  # PCMU, PCMA or G729
    data: bytes


class PromptFetcher:
    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        timeout: float = 5.0,
        max_cache_bytes: int = 64 * 1024 * 1024,
        max_cache_entries: int = 1024,
        max_prompt_bytes: int = 16 * 1024 * 1024,
        default_lifetime: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._own_session = session is None
        self.timeout = timeout
        self.max_prompt_bytes = max_prompt_bytes
        self.default_lifetime = default_lifetime
        self._clock = clock
        self.cache = LruCache(max_cache_bytes, max_cache_entries)
        self._inflight: dict[str, asyncio.Task[PromptFile]] = {}
        self.requests = 0  # HTTP requests sent (revalidations included)
        self.cache_hits = 0  # served from a fresh cache entry, no request
        self.revalidated = 0  # 304 answers that reused the stored body
        self.failures = 0  # downloads that ended in an error (not found, timeout, HTTP, format)

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    # -- public --------------------------------------------------------------------------

    async def fetch(self, url: str, facts: PayloadFacts) -> Prompt:
        """The prompt at ``url`` (without suffix) in a format ``facts``' leg can receive."""
        main = canonical_encoding(facts.codec)
        g711 = facts.g711_codecs()
        has_g729 = facts.has(G729)
        order = (G729_SUFFIX, AU_SUFFIX) if main == G729 else (AU_SUFFIX, G729_SUFFIX)
        missing: list[str] = []
        for suffix in order:
            try:
                file = await self.fetch_file(url + suffix)
            except PromptNotFound:
                missing.append(url + suffix)
                continue
            if file.encoding == G729:
                if not has_g729:
                    raise PromptCodecError(
                        url + suffix,
                        f"prompt exists only as G.729 and the leg negotiated {main} without G.729 "
                        "(G.729 cannot be transcoded)",
                    )
                return Prompt(url + suffix, PlayoutCodec.for_leg(facts, G729), file.data)
            if not g711:
                raise PromptCodecError(
                    url + suffix,
                    f"prompt exists only as G.711 and the leg negotiated only {main} (no G.729 encoder)",
                )
            target = g711[0]
            return Prompt(url + suffix, PlayoutCodec.for_leg(facts, target), _convert(file, target))
        raise PromptNotFound(url, f"prompt not found (tried {', '.join(missing)})")

    async def fetch_file(self, file_url: str) -> PromptFile:
        """One file, parsed by its suffix, from the cache when fresh."""
        entry = self.cache.get(file_url)
        if entry is not None and entry.is_fresh(self._clock()):
            self.cache_hits += 1
            return entry.value
        task = self._inflight.get(file_url)
        if task is None:
            task = asyncio.ensure_future(self._download(file_url, entry))
            self._inflight[file_url] = task
            task.add_done_callback(lambda t, key=file_url: self._download_done(key, t))
        return await asyncio.shield(task)

    # -- download ------------------------------------------------------------------------

    def _download_done(self, key: str, task: asyncio.Task[PromptFile]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled() and task.exception() is not None:  # retrieved: no "never retrieved" warning
            self.failures += 1

    def _session_for_request(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def _download(self, file_url: str, stale: CacheEntry | None) -> PromptFile:
        session = self._session_for_request()
        headers = stale.validators() if stale is not None else {}
        self.requests += 1
        try:
            async with session.get(
                file_url, headers=headers, timeout=aiohttp.ClientTimeout(total=self.timeout)
            ) as response:
                status = response.status
                if status == 304 and stale is not None:
                    self.revalidated += 1
                    if not stale.refresh(response.headers, self._clock(), self.default_lifetime):
                        self.cache.remove(file_url)
                    return stale.value
                if status in (404, 410):
                    raise PromptNotFound(file_url, f"prompt file not found (HTTP {status})")
                if status != 200:
                    raise PromptHttpError(file_url, f"prompt fetch failed with HTTP {status}", status)
                body = await self._read_body(file_url, response)
                response_headers = response.headers
        except TimeoutError:
            raise PromptTimeout(file_url, f"prompt fetch timed out after {self.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise PromptHttpError(
                file_url, f"prompt fetch failed ({exc.__class__.__name__}: {exc})"
            ) from None
        file = _parse(file_url, body)
        policy = freshness(response_headers, self.default_lifetime)
        if policy.store:
            self.cache.put(
                CacheEntry(
                    key=file_url,
                    value=file,
                    size=len(file.data),
                    fresh_until=self._clock() + policy.lifetime,
                    etag=response_headers.get("ETag"),
                    last_modified=response_headers.get("Last-Modified"),
                )
            )
        else:
            self.cache.remove(file_url)
        return file

    async def _read_body(self, file_url: str, response: aiohttp.ClientResponse) -> bytes:
        limit = self.max_prompt_bytes
        if response.content_length is not None and response.content_length > limit:
            raise PromptFormatError(file_url, f"prompt is {response.content_length} bytes, more than {limit}")
        chunks: list[bytes] = []
        total = 0
        async for chunk in response.content.iter_chunked(65536):
            total += len(chunk)
            if total > limit:
                raise PromptFormatError(file_url, f"prompt is more than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def _parse(file_url: str, body: bytes) -> PromptFile:
    if file_url.endswith(G729_SUFFIX):
        if not body or len(body) % G729_FRAME_BYTES:
            raise PromptFormatError(
                file_url, f"not raw G.729: {len(body)} bytes is not a whole number of 10-byte frames"
            )
        return PromptFile(G729, body)
    try:
        audio = read_au(body)
    except AuFormatError as exc:
        raise PromptFormatError(file_url, str(exc)) from None
    if not audio.data:
        raise PromptFormatError(file_url, "the .au file holds no audio")
    return PromptFile(audio.codec, audio.data)


def _convert(file: PromptFile, target: str) -> bytes:
    if file.encoding == target:
        return file.data
    if file.encoding == PCMU and target == PCMA:
        return ulaw_to_alaw(file.data)
    if file.encoding == PCMA and target == PCMU:
        return alaw_to_ulaw(file.data)
    raise ValueError(f"cannot convert {file.encoding} to {target}")

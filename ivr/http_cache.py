"""A small private HTTP cache: freshness from response headers (RFC 9111 subset) and a
size-bounded LRU store.  Sans-I/O: header mappings and ``now`` in, decisions out.

Honoured: ``Cache-Control: no-store`` (never stored), ``no-cache`` (stored, revalidated
before every use), ``max-age`` (fresh that long, less any ``Age``), ``Expires`` relative
to ``Date`` when there is no ``max-age``; otherwise a configured default lifetime.
Revalidation uses the stored ``ETag`` (``If-None-Match``) and ``Last-Modified``
(``If-Modified-Since``).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class Freshness:
    store: bool  # may the response be kept at all
    lifetime: float  # seconds it may be used without asking the server again (0: always ask)


def parse_cache_control(value: str | None) -> dict[str, str | None]:
    """``"max-age=60, no-cache"`` -> ``{"max-age": "60", "no-cache": None}`` (names lower-cased)."""
    directives: dict[str, str | None] = {}
    if not value:
        return directives
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, arg = part.partition("=")
        directives[name.strip().lower()] = arg.strip().strip('"') if sep else None
    return directives


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = int(value)
    except ValueError:
        return None
    return float(seconds) if seconds >= 0 else None


def _http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def freshness(headers: Mapping[str, str], default_lifetime: float = 0.0) -> Freshness:
    """How long a response with these headers may be reused."""
    cc = parse_cache_control(headers.get("Cache-Control"))
    if "no-store" in cc:
        return Freshness(False, 0.0)
    if "no-cache" in cc:
        return Freshness(True, 0.0)
    age = _seconds(headers.get("Age")) or 0.0
    max_age = _seconds(cc.get("max-age")) if "max-age" in cc else None
    if max_age is not None:
        return Freshness(True, max(max_age - age, 0.0))
    expires_header = headers.get("Expires")
    if expires_header is not None:
        expires = _http_date(expires_header)
        date = _http_date(headers.get("Date"))
        if expires is None:
            return Freshness(True, 0.0)  # RFC 9111 §5.3: an invalid Expires means already stale
        if date is not None:
            return Freshness(True, max(expires - date - age, 0.0))
    return Freshness(True, default_lifetime)


@dataclass(slots=True)
class CacheEntry:
    key: str
    value: Any
    size: int
    fresh_until: float
    etag: str | None = None
    last_modified: str | None = None

    def is_fresh(self, now: float) -> bool:
        return now < self.fresh_until

    @property
    def can_revalidate(self) -> bool:
        return self.etag is not None or self.last_modified is not None

    def validators(self) -> dict[str, str]:
        """Conditional request headers for revalidating this entry."""
        headers: dict[str, str] = {}
        if self.etag is not None:
            headers["If-None-Match"] = self.etag
        if self.last_modified is not None:
            headers["If-Modified-Since"] = self.last_modified
        return headers

    def refresh(self, headers: Mapping[str, str], now: float, default_lifetime: float = 0.0) -> bool:
        """Apply a 304 response; False when its headers now forbid storing."""
        policy = freshness(headers, default_lifetime)
        self.fresh_until = now + policy.lifetime
        self.etag = headers.get("ETag", self.etag)
        self.last_modified = headers.get("Last-Modified", self.last_modified)
        return policy.store


class LruCache:
    """Entries bounded by total ``size`` and by count; least recently used go first."""

    def __init__(self, max_bytes: int, max_entries: int = 1024) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self.size = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str) -> CacheEntry | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, entry: CacheEntry) -> bool:
        """Store (or replace) ``entry``; False when it alone exceeds the size bound."""
        self.remove(entry.key)
        if entry.size > self.max_bytes:
            return False
        self._entries[entry.key] = entry
        self.size += entry.size
        while self.size > self.max_bytes or len(self._entries) > self.max_entries:
            _, old = self._entries.popitem(last=False)
            self.size -= old.size
            self.evictions += 1
        return True

    def remove(self, key: str) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= old.size

    def clear(self) -> None:
        self._entries.clear()
        self.size = 0

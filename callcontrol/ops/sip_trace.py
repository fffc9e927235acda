"""``--sip-trace FILE``: every SIP message in and out, written to a file by a thread of its own.

On the event loop a traced message costs one ``time.time()`` and one queue put; the writer
thread formats, redacts and writes in batches, so a slow disk never stalls the loop. When
the writer falls ``max_queue`` messages behind, further messages are counted as dropped
(and the count is written into the file) rather than held without bound.

Each record is one header line and the message (line ends as LF)::

    --- 2026-12-07T23:43:27.986123Z recv UDP 127.0.0.1:5070 (412 bytes)
    REGISTER sip:127.0.0.1:5060 SIP/2.0
    ...

Redacted before anything is written: the value of every ``response=`` parameter in the
header section (the digest answer of ``Authorization``/``Proxy-Authorization``, quoted or
not, folded lines included) and the password of any ``sip:user:password@`` URI.
"""
from __future__ import annotations

import logging
import queue
import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sip.peer import Peer

logger = logging.getLogger(__name__)

REDACTED = "<redacted>"
_DIGEST_RESPONSE = re.compile(r'(\bresponse\s*=\s*)("[^"]*"?|[^\s,;]+)', re.IGNORECASE)
_URI_PASSWORD = re.compile(r'(\bsips?:[^:@\s<>;,"]+):[^@\s<>;,"]+@', re.IGNORECASE)
_BATCH = 512


def redact(text: str) -> str:
    """``text`` (one SIP message) without digest responses or URI passwords."""
    head, sep, body = text.partition("\n\n")
    head = _DIGEST_RESPONSE.sub(lambda m: f'{m.group(1)}"{REDACTED}"', head)
    head = _URI_PASSWORD.sub(rf"\1:{REDACTED}@", head)
    return head + sep + body


def format_record(when: float, direction: str, peer: Peer, data: bytes) -> str:
    stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    verb = "recv" if direction == "in" else "sent"
    host = f"[{peer.host}]" if ":" in peer.host else peer.host
    return f"--- {stamp} {verb} {peer.transport} {host}:{peer.port} ({len(data)} bytes)\n{redact(text)}\n"


class SipTrace:
    """Call it with ``("in"|"out", data, peer)`` (``sip.ua.UserAgent.trace``); ``close`` writes the rest."""

    def __init__(self, path: Path, *, max_queue: int = 100_000) -> None:
        self.path = path
        try:
            self._file = path.open("a", encoding="utf-8")
        except OSError as exc:
            raise OSError(f"--sip-trace {path}: {exc.strerror or exc}") from None
        self._queue: queue.Queue[tuple[float, str, Peer, bytes] | None] = queue.Queue(max_queue)
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="sip-trace", daemon=True)
        self._thread.start()

    def __call__(self, direction: str, data: bytes, peer: Peer) -> None:
        try:
            self._queue.put_nowait((time.time(), direction, peer, data))
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued and close the file (blocks up to ``timeout``: call at shutdown)."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            logger.warning("SIP trace %s: writer stuck, closing without the last messages", self.path)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._file.close()

    def _run(self) -> None:
        written_drops = 0
        while True:
            item = self._queue.get()
            batch = [item]
            while item is not None and len(batch) < _BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                batch.append(item)
            try:
                for entry in batch:
                    if entry is not None:
                        self._file.write(format_record(*entry))
                dropped = self.dropped
                if dropped != written_drops:
                    self._file.write(f"--- {dropped - written_drops} messages not traced (writer behind)\n")
                    written_drops = dropped
                self._file.flush()
            except OSError as exc:
                logger.error("SIP trace %s: write failed: %s", self.path, exc)
            if batch[-1] is None:
                return

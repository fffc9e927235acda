"""RTP/RTCP port pairs from a configured range: even RTP port, RTCP on the next one.

Allocation and release are O(1) (a FIFO of free pairs and a set of used ones); the FIFO
also means a released pair is reused as late as possible, so stray packets of an ended
call rarely reach a new one.  :meth:`PortPairAllocator.bind_pair` binds both UDP
sockets and skips pairs another process holds.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections import deque
from dataclasses import dataclass

logger = logging.getLogger(__name__)

_PORT_TAKEN = frozenset({errno.EADDRINUSE, errno.EACCES})


class PortsExhausted(RuntimeError):
    """No free RTP port pair is left in the range (or none could be bound)."""


@dataclass(slots=True)
class BoundPair:
    """Two bound, non-blocking UDP sockets: RTP on ``port`` (even), RTCP on ``port + 1``."""

    port: int
    rtp: socket.socket
    rtcp: socket.socket

    def close(self) -> None:
        self.rtp.close()
        self.rtcp.close()


class PortPairAllocator:
    def __init__(self, low: int, high: int) -> None:
        """Pairs ``(p, p+1)`` with ``p`` even and ``low <= p`` and ``p + 1 <= high``."""
        first = low + (low & 1)
        if not 0 < first < high <= 65535:
            raise ValueError(f"bad RTP port range {low}-{high}")
        self.low = low
        self.high = high
        self._free: deque[int] = deque(range(first, high, 2))
        self._used: set[int] = set()
        self.capacity = len(self._free)
        if not self.capacity:
            raise ValueError(f"RTP port range {low}-{high} holds no even/odd pair")

    @property
    def available(self) -> int:
        return len(self._free)

    @property
    def in_use(self) -> int:
        return len(self._used)

    def acquire(self) -> int:
        """Reserve a pair and return its (even) RTP port."""
        if not self._free:
            raise PortsExhausted(f"all {self.capacity} RTP port pairs in {self.low}-{self.high} are in use")
        port = self._free.popleft()
        self._used.add(port)
        return port

    def release(self, port: int) -> None:
        try:
            self._used.remove(port)
        except KeyError:
            raise ValueError(f"RTP port {port} is not allocated") from None
        self._free.append(port)

    def bind_pair(self, host: str = "0.0.0.0") -> BoundPair:
        """Reserve a pair and bind its two UDP sockets on ``host``.  A pair that fails to
        bind (held by another process) goes back to the end of the queue and the next is
        tried; :class:`PortsExhausted` once every free pair has been tried."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for _ in range(len(self._free)):
            port = self.acquire()
            rtp = socket.socket(family, socket.SOCK_DGRAM)
            rtcp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                rtp.bind((host, port))
                rtcp.bind((host, port + 1))
            except OSError as exc:
                rtp.close()
                rtcp.close()
                self.release(port)
                if exc.errno not in _PORT_TAKEN:
                    raise  # the address itself is wrong: no other port will do better
                logger.debug("RTP port pair %d/%d on %s unavailable: %s", port, port + 1, host, exc)
                continue
            rtp.setblocking(False)
            rtcp.setblocking(False)
            return BoundPair(port, rtp, rtcp)
        raise PortsExhausted(f"no RTP port pair in {self.low}-{self.high} could be bound on {host}")

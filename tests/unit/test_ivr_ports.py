from __future__ import annotations

import socket

import pytest

from ivr.ports import PortPairAllocator, PortsExhausted


def test_even_pairs_in_range_fifo_and_exhaustion() -> None:
    alloc = PortPairAllocator(30001, 30010)
    assert alloc.capacity == 4  # 30002, 30004, 30006, 30008 (30010 has no odd partner)
    ports = [alloc.acquire() for _ in range(4)]
    assert ports == [30002, 30004, 30006, 30008]
    assert alloc.available == 0 and alloc.in_use == 4
    with pytest.raises(PortsExhausted):
        alloc.acquire()
    alloc.release(30004)
    alloc.release(30002)
    assert alloc.acquire() == 30004  # released first, reused first
    with pytest.raises(ValueError):
        alloc.release(30002)  # not in use any more
    with pytest.raises(ValueError):
        alloc.release(12345)


def test_bad_ranges() -> None:
    with pytest.raises(ValueError):
        PortPairAllocator(5000, 5000)
    with pytest.raises(ValueError):
        PortPairAllocator(0, 10)
    with pytest.raises(ValueError):
        PortPairAllocator(4000, 70000)


def _free_even_block(size: int) -> int:
    """A run of ``size`` ports starting at an even port that are free right now."""
    for base in range(41000, 60000, 64):
        socks = []
        try:
            for p in range(base, base + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port block")


def test_bind_pair_binds_both_and_skips_taken_ports() -> None:
    base = _free_even_block(6)
    alloc = PortPairAllocator(base, base + 5)
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", base + 1))  # the RTCP port of the first pair is taken
    try:
        pair = alloc.bind_pair("127.0.0.1")
        try:
            assert pair.port == base + 2
            assert pair.rtp.getsockname() == ("127.0.0.1", base + 2)
            assert pair.rtcp.getsockname() == ("127.0.0.1", base + 3)
            assert alloc.in_use == 1 and alloc.available == 2  # the skipped pair went back
        finally:
            pair.close()
        alloc.release(pair.port)
        second = alloc.bind_pair("127.0.0.1")
        assert second.port == base + 4
        second.close()
    finally:
        blocker.close()


def test_bind_pair_exhausted_when_all_taken() -> None:
    base = _free_even_block(2)
    alloc = PortPairAllocator(base, base + 1)
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", base))
    try:
        with pytest.raises(PortsExhausted):
            alloc.bind_pair("127.0.0.1")
        assert alloc.available == 1 and alloc.in_use == 0
    finally:
        blocker.close()


def test_bind_pair_wrong_address_fails_at_once() -> None:
    alloc = PortPairAllocator(42000, 42999)
    with pytest.raises(OSError):
        alloc.bind_pair("192.0.2.1")  # TEST-NET: not a local address
    assert alloc.available == alloc.capacity

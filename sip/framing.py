"""Framing SIP messages out of a byte stream (TCP/TLS), RFC 3261 §18.3, RFC 5626 §3.5.1.

Sans-I/O: ``feed(bytes)`` returns complete messages and keep-alive events.
On a stream Content-Length is mandatory; a message without it, or larger
than the limit, is a framing error after which the connection must close
(the rest of the stream cannot be trusted).
"""
from __future__ import annotations

from dataclasses import dataclass

from sip.errors import SipParseError
from sip.message import MAX_MESSAGE_SIZE


@dataclass(slots=True, frozen=True)
class KeepAlivePing:
    """A double-CRLF ping: the answer is a single CRLF pong (RFC 5626)."""


PING = KeepAlivePing()


class StreamFramer:
    __slots__ = ("_buf", "_max")

    def __init__(self, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self._buf = bytearray()
        self._max = max_size

    def feed(self, data: bytes) -> list[bytes | KeepAlivePing]:
        buf = self._buf
        buf += data
        out: list[bytes | KeepAlivePing] = []
        while buf:
            if buf[:1] in (b"\r", b"\n"):
                if buf[:4] == b"\r\n\r\n":
                    del buf[:4]
                    out.append(PING)
                    continue
                if buf[:2] == b"\r\n":
                    if len(buf) < 4 and b"\r\n\r\n".startswith(bytes(buf)):
                        break  # maybe the start of a ping
                    del buf[:2]  # a pong, or CRLF before a start line (§7.5)
                    continue
                if len(buf) == 1 and buf == b"\r":
                    break
                del buf[:1]
                continue
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > self._max:
                    raise SipParseError("Message Too Large", 513)
                break
            length = _content_length(bytes(buf[:end]))
            total = end + 4 + length
            if total > self._max:
                raise SipParseError("Message Too Large", 513)
            if len(buf) < total:
                break
            out.append(bytes(buf[:total]))
            del buf[:total]
        return out


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        n = name.strip().lower()
        if n == b"content-length" or n == b"l":
            v = value.strip()
            if not (v.isascii() and v.isdigit()) or len(v) > 10:
                raise SipParseError.bad("Malformed Content-Length")
            return int(v)
    raise SipParseError.bad("Missing Content-Length on a stream")

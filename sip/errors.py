"""Typed errors of the SIP stack."""
from __future__ import annotations


class SipParseError(ValueError):
    """A message or element that cannot be accepted.

    ``status`` and ``reason`` are what a UAS answers with when a response is
    possible: 400 with a phrase naming the defect, 505 for a foreign version.
    """

    __slots__ = ("status", "reason")

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    @classmethod
    def bad(cls, what: str) -> "SipParseError":
        return cls(f"Bad Request - {what}")

"""Why a call action was refused, in the engine's own words.

The engine (``callcontrol.b2b``, ``callcontrol.actions``) knows nothing of JSON-RPC:
an action that cannot be done raises one of these. Two places translate them,
and only these two:

- the API layer (``callcontrol.api``) into ``sip.*`` error codes with ``details``
  (``argument`` names the request parameter, e.g. ``"call"`` -> ``params.call``);
- a phone's REFER (``callcontrol.actions.transfer.refer``) into a SIP response (403 "Transfer
  Refused").
"""
from __future__ import annotations


class ActionError(Exception):
    """An action the engine refused; ``message`` says why in words a console can show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(ActionError):
    """One argument of the action is wrong: an unknown number, an IVR number where a
    party is needed, a leg of the same call where another call's leg is needed..."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(message)
        self.argument = argument  # the API parameter without "params." ("call", "to_call", "cld", ...)


class WrongState(InvalidArgument):
    """The leg named by ``argument`` is not in a state the action applies to
    (not connected, not ringing, already on hold...)."""


class LegNotFound(ActionError):
    """No live leg answers to the given identity (or it ended meanwhile)."""


class Unavailable(ActionError):
    """The server cannot do this now or in this setup: no media anchoring, no media
    ports, shutting down or draining."""


class Refused(ActionError):
    """A phone refused what the action asked of it (a hold re-INVITE answered 488, timed out, or
    one that could not be sent): the action did not happen and the call stays as it was.
    ``sip_code`` is the refusal's status (408 for a timeout, 481 when the dialog was gone)."""

    def __init__(self, message: str, sip_code: int) -> None:
        super().__init__(message)
        self.sip_code = sip_code

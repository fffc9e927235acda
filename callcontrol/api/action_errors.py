"""The one translation of the engine's refusals into API errors.

| engine (``callcontrol.actions.errors``)  | API error                      | details                          |
| ``InvalidArgument(argument, msg)``       | ``sip.wrong_parameters``       | ``[{"field": "params.<argument>", "message": msg}]`` |
| ``WrongState(argument, msg)``            | ``sip.wrong_parameters``       | as above (a subclass)            |
| ``LegNotFound(msg)``                     | ``sip.call_not_found``         | ``{"call": <params.call>}``      |
| ``Unavailable(msg)``                     | ``sip.call_control_disabled``  | ``{"reason": msg}``              |
| any other ``ActionError`` (``Refused``)  | ``sip.internal_server_error``  | ``{"reason": msg}`` + ``"sip_code"`` when it has one |
"""
from __future__ import annotations

import logging
from typing import Any

from callcontrol.actions.errors import ActionError, InvalidArgument, LegNotFound, Unavailable
from callcontrol.api.models import (
    ApiError,
    CallControlDisabled,
    CallNotFound,
    InternalServerError,
    WrongParameters,
)

logger = logging.getLogger(__name__)


def api_error(exc: ActionError, params: Any) -> ApiError:
    """The API error for an engine refusal of the request whose validated params are ``params``."""
    if isinstance(exc, InvalidArgument):
        return WrongParameters.field(f"params.{exc.argument}", exc.message)
    if isinstance(exc, LegNotFound):
        call = getattr(params, "call", None)
        return CallNotFound({"call": call.model_dump(exclude_none=True) if call is not None else None})
    if isinstance(exc, Unavailable):
        return CallControlDisabled({"reason": exc.message})
    details: dict[str, Any] = {"reason": exc.message}
    sip_code = getattr(exc, "sip_code", None)
    if sip_code is not None:
        details["sip_code"] = sip_code
    return InternalServerError(details)

"""play_prompt / stop_play_prompt on a leg's media endpoint (``callcontrol.b2b.leg_media``)."""
from __future__ import annotations

from callcontrol.actions.errors import InvalidArgument
from callcontrol.b2b.leg_media import LegMedia
from ivr.prompts import (
    PromptCodecError,
    PromptError,
    PromptFormatError,
    PromptHttpError,
    PromptNotFound,
    PromptTimeout,
)


def prompt_problem(exc: PromptError) -> str:
    """What went wrong with a prompt URL, in words a console can show."""
    if isinstance(exc, PromptNotFound):
        what = "not found (404)"
    elif isinstance(exc, PromptTimeout):
        what = "timed out"
    elif isinstance(exc, PromptFormatError):
        what = "not a playable .au or .g729 file"
    elif isinstance(exc, PromptCodecError):
        what = "no format the leg can play"
    elif isinstance(exc, PromptHttpError):
        what = f"HTTP error{f' {exc.status}' if exc.status else ''}"
    else:
        what = "cannot be fetched"
    return f"{what}: {exc}"


async def play_prompt(control: LegMedia, url: str, order: int, repeat: int) -> None:
    try:
        await control.play_prompt(url, order, repeat)
    except PromptError as exc:
        raise InvalidArgument("url", prompt_problem(exc)) from exc
    except ValueError as exc:  # an order or repeat the player does not take
        raise InvalidArgument("order" if "order" in str(exc) else "repeat", str(exc)) from exc


def stop_play_prompt(control: LegMedia, order: int) -> None:
    control.stop_prompt(order)

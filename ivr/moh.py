"""Music on hold: the bundled ``sounds/moh.au`` (made by ``scripts/make_moh.py``) played
in a loop through a leg's :class:`~ivr.player.PromptPlayer`, below the prompt slots so a
prompt played to a held party interrupts it and the music resumes after."""

from __future__ import annotations

import functools
import logging
from importlib import resources

from .au import read_au
from .g711 import alaw_to_ulaw, ulaw_to_alaw
from .payload import PCMA, PCMU, PayloadFacts, PlayoutCodec, canonical_encoding
from .player import FOREVER, PromptPlayer

logger = logging.getLogger(__name__)

MOH_ORDER = 1
MOH_RESOURCE = "sounds/moh.au"


class MohUnavailable(ValueError):
    """The leg negotiated no G.711 codec, and the music exists only as G.711."""


@functools.cache
def moh_audio(codec: str = PCMU) -> bytes:
    """The music as ``"PCMU"`` or ``"PCMA"`` bytes (read once, then cached)."""
    name = canonical_encoding(codec)
    if name not in (PCMU, PCMA):
        raise MohUnavailable(f"music on hold is G.711 only, not {codec}")
    blob = resources.files("ivr").joinpath(MOH_RESOURCE).read_bytes()
    audio = read_au(blob)
    if audio.codec == name:
        return audio.data
    return ulaw_to_alaw(audio.data) if name == PCMA else alaw_to_ulaw(audio.data)


def start_moh(player: PromptPlayer, facts: PayloadFacts, order: int = MOH_ORDER) -> PlayoutCodec:
    """Loop the music on ``player`` in slot ``order``, in the leg's G.711 variant."""
    g711 = facts.g711_codecs()
    if not g711:
        raise MohUnavailable(f"the leg negotiated {facts.codec} and no G.711: cannot play music on hold")
    codec = PlayoutCodec.for_leg(facts, g711[0])
    player.play(moh_audio(codec.name), order=order, repeat=FOREVER, codec=codec)
    return codec


def stop_moh(player: PromptPlayer, order: int = MOH_ORDER) -> bool:
    return player.stop(order)

"""Per-leg media control: what ``play_prompt``, ``stop_play_prompt``, ``start_dtmf_detect``,
``stop_dtmf_detect`` and the hold fallback (music on hold) do to one anchored call leg.

One :class:`LegMedia` per leg whose media the server anchors.  It owns a single
:class:`~ivr.player.PromptPlayer` on the leg's :class:`~ivr.endpoint.MediaEndpoint`
(made on first use), so prompts and music share one RTP stream towards the phone: one
SSRC, sequence numbers without jumps, the marker bit at each talkspurt.  The player's
stack keeps them apart: music on hold sits in slot 1 (:data:`ivr.moh.MOH_ORDER`), prompts
in 2 and 3; a prompt interrupts the music and the music resumes after it.  While anything
plays the endpoint's ``player_active`` is set and the relay holds back the other leg.

Events go out as new :class:`~callcontrol.model.callinfo.CallInfo` snapshots (the leg's latest
state snapshot with ``event`` and its fields) through ``publish``:

* ``play_prompt_completed`` with ``order``: once per prompt that played all its repeats
  (never for a prompt stopped or replaced, never for the music, never for the server's
  own *quiet* audio: a call queue's announcements);
* ``dtmf_digit_detected`` with ``digit``, ``duration`` (ms) and ``dtmf_method``
  (``rfc4733``, ``info`` or ``inband``): once per key press, whichever methods carried it.

SIP INFO bodies (``application/dtmf-relay``, ``application/dtmf``) are parsed here and fed
to the endpoint's detector, so a press sent both as RFC 4733 events and as INFO is
reported once.
"""
from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass

from callcontrol.model.callinfo import CallState
from callcontrol.model.calls import Leg, Publish
from ivr.dtmf_tap import METHOD_INBAND, METHOD_INFO, METHOD_RFC2833
from ivr.endpoint import MediaEndpoint
from ivr.moh import MOH_ORDER, MohUnavailable
from ivr.moh import start_moh as _start_moh
from ivr.moh import stop_moh as _stop_moh
from ivr.payload import PlayoutCodec
from ivr.player import FOREVER, Clock, PromptPlayer
from ivr.prompts import Prompt, PromptFetcher

logger = logging.getLogger(__name__)

PROMPT_ORDERS = (2, 3)

#: the SIP INFO content types understood (RFC 6086 legacy DTMF usage)
DTMF_RELAY = "application/dtmf-relay"
DTMF_PLAIN = "application/dtmf"
INFO_CONTENT_TYPES = (DTMF_RELAY, DTMF_PLAIN)

#: duration reported for an INFO digit whose body gives none (``application/dtmf``)
DEFAULT_INFO_DURATION_MS = 250
#: longest duration believed from an INFO body; larger values are clamped
MAX_INFO_DURATION_MS = 60_000

_WIRE_METHOD = {METHOD_RFC2833: "rfc4733", METHOD_INFO: "info", METHOD_INBAND: "inband"}
_DIGITS = frozenset("0123456789*#ABCD")
# Signal= values as numbers: RFC 4733 event codes (10 = *, 11 = #, 12-15 = A-D)
_EVENT_DIGITS = "0123456789*#ABCD"
_KEY_VALUE = re.compile(r"^\s*([A-Za-z-]+)\s*[=:]\s*(.*?)\s*$")


@dataclass(slots=True, frozen=True)
class InfoDigit:
    """A digit read from a SIP INFO body."""

    digit: str
    duration_ms: int


def _digit(text: str) -> str | None:
    value = text.strip().upper()
    if value in _DIGITS:
        return value
    if value.isdigit() and 10 <= int(value) <= 15:
        return _EVENT_DIGITS[int(value)]
    return None


def parse_info_dtmf(content_type: str, body: bytes | str) -> InfoDigit | None:
    """The digit in a SIP INFO body, or None when the type is not a DTMF one or the body
    cannot be read.  ``content_type`` may carry parameters (``;charset=...``) and any case.

    ``application/dtmf-relay``: lines ``Signal=5`` and ``Duration=160`` (ms; either order,
    any case, ``=`` or ``:``, CRLF or LF).  ``application/dtmf``: the digit alone.  Digits
    ``0``-``9``, ``*``, ``#``, ``A``-``D`` (lower case too), and the event codes 10-15 some
    phones send for ``*``, ``#``, ``A``-``D``.
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind not in INFO_CONTENT_TYPES:
        return None
    if isinstance(body, bytes):
        try:
            text = body.decode("ascii")
        except UnicodeDecodeError:
            return None
    else:
        text = body
    if kind == DTMF_PLAIN:
        digit = _digit(text)
        return InfoDigit(digit, DEFAULT_INFO_DURATION_MS) if digit is not None else None
    signal: str | None = None
    duration = DEFAULT_INFO_DURATION_MS
    for line in text.splitlines():
        match = _KEY_VALUE.match(line)
        if match is None:
            continue
        key, value = match.group(1).lower(), match.group(2)
        if key == "signal":
            signal = value
        elif key == "duration":
            try:
                duration = min(max(int(value), 0), MAX_INFO_DURATION_MS)
            except ValueError:
                logger.debug("INFO dtmf-relay with unreadable Duration %r: using the default", value)
    if signal is None:
        return None
    digit = _digit(signal)
    return InfoDigit(digit, duration) if digit is not None else None


class LegMedia:
    """Prompts, DTMF detection and music on hold for one anchored leg."""

    __slots__ = (
        "_clock",
        "_dtmf_counts",
        "_dtmf_on",
        "_generation",
        "_moh_on",
        "_player",
        "_quiet",
        "closed",
        "endpoint",
        "fetcher",
        "leg",
        "publish",
    )

    def __init__(
        self,
        endpoint: MediaEndpoint,
        leg: Leg,
        publish: Publish,
        fetcher: PromptFetcher,
        *,
        clock: Clock | None = None,
        dtmf_counts: dict[str, int] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._dtmf_counts = dtmf_counts  # digits reported, by method (the server's metrics)
        self.leg = leg
        self.publish = publish
        self.fetcher = fetcher
        self._clock = clock
        self._player: PromptPlayer | None = None
        self._generation: dict[int, int] = {}  # per order: bumped by every play and stop
        self._dtmf_on = False
        self._moh_on = False
        self._quiet: set[int] = set()  # orders playing the server's own audio (no completion event)
        self.closed = False

    # -- prompts -------------------------------------------------------------------------

    async def play_prompt(self, url: str, order: int = 2, repeat: int = 1, *, quiet: bool = False) -> Prompt | None:
        """Fetch ``url`` (+ ``.au`` / ``.g729``) in a format the leg receives and play it in
        slot ``order``, ``repeat`` times (-1: until stopped). ``quiet``: the server's own
        prompt (a queue's announcement), its completion is not published: no console asked
        for it.

        Raises the fetcher's :class:`~ivr.prompts.PromptError` subclass when the prompt
        cannot be had, :class:`ValueError` for an order or repeat out of range.  Returns
        the prompt played, or None when nothing was started because the leg's media was
        closed, or a later play or stop for the same order came while fetching.
        """
        if order not in PROMPT_ORDERS:
            raise ValueError(f"order must be one of {PROMPT_ORDERS}, not {order}")
        if repeat == 0 or repeat < FOREVER:
            raise ValueError(f"repeat must be -1 (for ever) or >= 1, not {repeat}")
        if self.closed:
            return None
        generation = self._bump(order)
        facts = self.endpoint.facts
        prompt = await self.fetcher.fetch(url, facts)
        if self.endpoint.facts is not facts and not self.closed:
            # re-negotiated while fetching: fetch again for the new codec (from the cache)
            prompt = await self.fetcher.fetch(url, self.endpoint.facts)
        if self.closed or self._generation.get(order) != generation:
            logger.debug("prompt %s for order %d superseded while fetching", url, order)
            return None
        player = self._ensure_player(prompt.codec)
        self._mark_quiet(order, quiet)
        player.play(prompt.audio, order=order, repeat=repeat, codec=prompt.codec)
        logger.debug("leg %s/%s: playing %s (%.2f s) in order %d, repeat %d", self.leg.call.id,
                     self.leg.call.tag, prompt.url, prompt.duration, order, repeat)
        return prompt

    def play_audio(self, audio: bytes, codec: str, order: int = 2) -> None:
        """Play the server's own G.711 ``audio`` (already in ``codec``, one the leg negotiated)
        once in slot ``order``: a call queue's bundled position beeps. Quiet (see
        :meth:`play_prompt`)."""
        if self.closed:
            return
        self._bump(order)
        playout = PlayoutCodec.for_leg(self.endpoint.facts, codec)
        player = self._ensure_player(playout)
        self._mark_quiet(order, True)
        player.play(audio, order=order, codec=playout)

    def _mark_quiet(self, order: int, quiet: bool) -> None:
        if quiet:
            self._quiet.add(order)
        else:
            self._quiet.discard(order)

    def stop_prompt(self, order: int = 2) -> bool:
        """Stop slot ``order`` (a lower one resumes); False when it held nothing."""
        if order not in PROMPT_ORDERS:
            return False
        self._bump(order)  # a play of this order still fetching will not start
        player = self._player
        return player is not None and player.stop(order)

    def is_playing(self, order: int) -> bool:
        player = self._player
        return player is not None and order in player.orders

    def _bump(self, order: int) -> int:
        generation = self._generation[order] = self._generation.get(order, 0) + 1
        return generation

    def _ensure_player(self, codec: PlayoutCodec) -> PromptPlayer:
        player = self._player
        if player is None:
            player = self._player = PromptPlayer(
                self.endpoint, codec, clock=self._clock, on_completed=self._completed
            )
        return player

    def _completed(self, order: int) -> None:
        if self.closed or order == MOH_ORDER:
            return
        if order in self._quiet:
            self._quiet.discard(order)
            return
        self._emit(event="play_prompt_completed", order=order, digit=None, duration=None, dtmf_method=None)

    # -- DTMF ----------------------------------------------------------------------------

    @property
    def dtmf_enabled(self) -> bool:
        return self._dtmf_on

    def start_dtmf(self) -> None:
        """Report digits (RFC 4733, INFO, in-band).  Idempotent: a second start keeps the
        detector (and the record of presses already reported)."""
        if self.closed or self._dtmf_on:
            return
        self.endpoint.enable_dtmf(self._on_dtmf)
        self._dtmf_on = True

    def stop_dtmf(self) -> None:
        if not self._dtmf_on:
            return
        self._dtmf_on = False
        self.endpoint.disable_dtmf()

    def sip_info(self, content_type: str, body: bytes | str) -> bool:
        """A SIP INFO received on this leg: whether its body was a DTMF body understood.
        The digit is reported (once, see deduplication) only while detection is on."""
        found = parse_info_dtmf(content_type, body)
        if found is None:
            return False
        if self._dtmf_on and not self.closed:
            self.endpoint.report_dtmf(found.digit, found.duration_ms, METHOD_INFO)
        return True

    def _on_dtmf(self, digit: str, duration_ms: int, method: str) -> None:
        if self.closed or not self._dtmf_on:
            return
        counts = self._dtmf_counts
        if counts is not None:
            counts[method] = counts.get(method, 0) + 1
        self._emit(event="dtmf_digit_detected", digit=digit, duration=int(duration_ms),
                   dtmf_method=_WIRE_METHOD.get(method, method), order=None)

    # -- music on hold -------------------------------------------------------------------

    @property
    def moh_active(self) -> bool:
        return self._moh_on

    def start_moh(self) -> None:
        """Loop the music to the leg, below any prompt.  Raises
        :class:`~ivr.moh.MohUnavailable` when the leg negotiated no G.711."""
        if self.closed or self._moh_on:
            return
        facts = self.endpoint.facts
        g711 = facts.g711_codecs()
        if not g711:
            raise MohUnavailable(f"the leg negotiated {facts.codec} and no G.711: cannot play music on hold")
        _start_moh(self._ensure_player(PlayoutCodec.for_leg(facts, g711[0])), facts)
        self._moh_on = True

    def stop_moh(self) -> bool:
        if not self._moh_on:
            return False
        self._moh_on = False
        player = self._player
        return player is not None and _stop_moh(player)

    # -- teardown ------------------------------------------------------------------------

    def close(self) -> None:
        """Stop playing and detecting; nothing is published afterwards.  The endpoint
        itself belongs to the call's media anchor and stays open."""
        if self.closed:
            return
        self.closed = True
        self._moh_on = False
        if self._player is not None:
            self._player.close()
            self._player.on_completed = None
        if self._dtmf_on:
            self._dtmf_on = False
            self.endpoint.disable_dtmf()

    # -- publishing ----------------------------------------------------------------------

    def _emit(self, **fields: object) -> None:
        leg = self.leg
        base = leg.info if leg.info is not None else leg.snapshot()
        if base.state is CallState.TERMINATED:
            return
        # A new object: the hub caches a snapshot's encoded bytes and routing keys on it. An event
        # goes to the leg's parties only, not to those of a party that has just left (Leg.meet).
        info = dataclasses.replace(base, _encoded=None, _keys=None, _left_keys=(),  # type: ignore[arg-type]
                                   **fields)
        try:
            self.publish(info)
        except Exception:
            logger.exception("publishing %s for %s/%s failed", fields.get("event"), leg.call.id, leg.call.tag)

    def __repr__(self) -> str:
        return f"<LegMedia {self.leg.call.id}/{self.leg.call.tag} on {self.endpoint!r}>"


"""start_dtmf_detect / stop_dtmf_detect on a leg's media endpoint: digits (RFC 2833 events,
in-band tones, SIP INFO) are published as the leg's DTMF notifications while it is on."""
from __future__ import annotations

from callcontrol.b2b.leg_media import LegMedia


def start_dtmf_detect(control: LegMedia) -> None:
    control.start_dtmf()


def stop_dtmf_detect(control: LegMedia) -> None:
    control.stop_dtmf()

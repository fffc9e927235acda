"""The [media] keys the B2BUA reads: anchor and rtp_timeout."""
from __future__ import annotations

import pytest

from callcontrol.config import Config, ConfigError


def test_media_defaults_anchor_with_60_s_timeout() -> None:
    cfg = Config()
    assert (cfg.media_anchor, cfg.rtp_timeout) == (True, 60.0)


def test_media_anchor_off_and_timeout_from_toml() -> None:
    cfg = Config()
    cfg.apply_toml({"media": {"anchor": False, "rtp_timeout": 5}})
    assert (cfg.media_anchor, cfg.rtp_timeout) == (False, 5.0)


@pytest.mark.parametrize("media", [{"anchor": "no"}, {"rtp_timeout": 0}, {"rtp_timeout": "soon"}])
def test_bad_media_values_are_config_errors(media: dict) -> None:
    with pytest.raises(ConfigError):
        Config().apply_toml({"media": media})


def test_session_timer_and_ivr_keys_from_toml() -> None:
    cfg = Config()
    assert (cfg.session_timers, cfg.session_expires, cfg.min_se) == (True, 1800, 90)
    cfg.apply_toml({"sip": {"session_timers": False, "session_expires": 120, "min_se": 4},
                    "ivr": {"fallback_url": "http://127.0.0.1:9/sorry", "fallback_seconds": 1.5}})
    assert (cfg.session_timers, cfg.session_expires, cfg.min_se) == (False, 120, 4)
    assert (cfg.ivr_fallback_url, cfg.ivr_fallback_seconds) == ("http://127.0.0.1:9/sorry", 1.5)


@pytest.mark.parametrize("sip", [{"session_timers": "yes"}, {"min_se": 0}, {"session_expires": 1.5},
                                 {"session_expires": 60, "min_se": 90}])
def test_bad_session_timer_values_are_config_errors(sip: dict) -> None:
    with pytest.raises(ConfigError):
        Config().apply_toml({"sip": sip})

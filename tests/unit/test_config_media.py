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

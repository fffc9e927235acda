"""The config model: every mistake an operator makes is one line naming where, which key, what
was expected."""
from __future__ import annotations

import argparse
import ipaddress
import re
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from callcontrol.__main__ import _build_parser, main
from callcontrol.config import (
    RELOADABLE_KEYS,
    Config,
    ConfigError,
    HostPort,
    Override,
    PortRange,
    SipListen,
    changed_keys,
    config_keys,
    describe_changes,
    env_name,
    load_config,
    reloadable_changes,
    restart_changes,
)

ROOT = Path(__file__).resolve().parents[2]


def load_toml(tmp_path: Path, text: str, **kwargs) -> Config:
    path = tmp_path / "callcontrol.toml"
    path.write_text(text)
    return load_config(path, environ=kwargs.pop("environ", {}), **kwargs)


def error_of(tmp_path: Path, text: str, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        load_toml(tmp_path, text, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- defaults and values


def test_defaults_need_no_file() -> None:
    cfg = load_config(None, environ={})
    assert cfg.sip.listen == [SipListen("udp", "127.0.0.1", 5060), SipListen("tcp", "127.0.0.1", 5060)]
    assert cfg.sip.trusted == [ipaddress.ip_network("127.0.0.1/32")]
    assert (cfg.sip.realm, cfg.sip.t1, cfg.sip.t2, cfg.sip.t4) == ("callcontrol", 0.5, 4.0, 5.0)
    assert (cfg.sip.session_timers, cfg.sip.session_expires, cfg.sip.min_se) == (True, 1800, 90)
    assert cfg.trunk.uri is None
    assert cfg.ws.listen == HostPort("127.0.0.1", 8445) and cfg.ws.certfile is None
    assert cfg.http.listen == ("127.0.0.1", 8446)
    assert cfg.media.rtp_ports == PortRange(20000, 29999)
    assert (cfg.media.host, cfg.media.anchor, cfg.media.rtp_timeout) == (None, True, 60.0)
    assert cfg.store.data_dir == Path("./callcontrol-data")
    assert cfg.log.level == "INFO"
    assert (cfg.ivr.fallback_url, cfg.ivr.fallback_seconds) == (None, 3.0)


def make_cert(directory: Path, name: str = "cert") -> tuple[Path, Path]:
    """A self-signed certificate and its key (openssl, as an operator would make one)."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost", "-days", "2"],
                   check=True, capture_output=True, timeout=30)
    return cert, key


def test_every_key_from_a_file(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    cfg = load_toml(tmp_path, f"""
[sip]
listen = ["udp:10.0.0.1:5070", "tls:[::1]:5061"]
trusted = ["10.0.0.0/8", "::1"]
realm = "example"
t1 = 1
t2 = 8.5
t4 = 6
session_timers = false
session_expires = 120
min_se = 4
tls_cert = "{cert}"
tls_key = "{key}"
tls_ca = "{cert}"
[trunk]
uri = "sip:trunk.example.net:5080;transport=tcp"
[dns]
nameservers = ["127.0.0.1:5353", "[::1]:53", "192.0.2.53"]
timeout = 1.5
[ws]
listen = "0.0.0.0:9000"
certfile = "{cert}"
keyfile = "{key}"
[http]
listen = "[::1]:9001"
[media]
rtp_ports = "30000-30099"
host = "127.0.0.1"
anchor = false
rtp_timeout = 5
[store]
data_dir = "{tmp_path / 'data'}"
[log]
level = "debug"
[ivr]
fallback_url = "http://127.0.0.1:9/sorry"
fallback_seconds = 0
""")
    assert cfg.sip.listen == [SipListen("udp", "10.0.0.1", 5070), SipListen("tls", "::1", 5061)]
    assert [str(n) for n in cfg.sip.trusted] == ["10.0.0.0/8", "::1/128"]
    assert (cfg.sip.realm, cfg.sip.t1, cfg.sip.t2, cfg.sip.t4) == ("example", 1.0, 8.5, 6.0)
    assert (cfg.sip.session_timers, cfg.sip.session_expires, cfg.sip.min_se) == (False, 120, 4)
    assert (cfg.sip.tls_cert, cfg.sip.tls_key, cfg.sip.tls_ca) == (cert, key, cert)
    assert cfg.trunk.uri == "sip:trunk.example.net:5080;transport=tcp"
    assert cfg.dns.nameservers == [("127.0.0.1", 5353), ("::1", 53), ("192.0.2.53", 53)]
    assert [str(n) for n in cfg.dns.nameservers] == ["127.0.0.1:5353", "[::1]:53", "192.0.2.53:53"]
    assert cfg.dns.timeout == 1.5
    assert cfg.ws.listen == ("0.0.0.0", 9000) and (cfg.ws.certfile, cfg.ws.keyfile) == (cert, key)
    assert cfg.http.listen == ("::1", 9001) and str(cfg.http.listen) == "[::1]:9001"
    assert (cfg.media.rtp_ports, cfg.media.host, cfg.media.anchor, cfg.media.rtp_timeout) == (
        (30000, 30099), "127.0.0.1", False, 5.0)
    assert cfg.store.data_dir == tmp_path / "data"
    assert cfg.log.level == "DEBUG"
    assert (cfg.ivr.fallback_url, cfg.ivr.fallback_seconds) == ("http://127.0.0.1:9/sorry", 0.0)


def test_empty_strings_mean_none(tmp_path: Path) -> None:
    cfg = load_toml(tmp_path, '[trunk]\nuri = ""\n[ivr]\nfallback_url = ""\n[media]\nhost = ""\n')
    assert (cfg.trunk.uri, cfg.ivr.fallback_url, cfg.media.host) == (None, None, None)


def test_the_model_is_frozen() -> None:
    cfg = Config()
    with pytest.raises(ValidationError):
        cfg.sip.t1 = 2.0  # type: ignore[misc]


def test_is_trusted() -> None:
    cfg = Config.model_validate({"sip": {"trusted": ["10.0.0.0/8"]}})
    assert cfg.sip.is_trusted("10.1.2.3") and not cfg.sip.is_trusted("11.0.0.1")
    assert not cfg.sip.is_trusted("phone.example.net")


# --------------------------------------------------------------------------- the issue's mistakes


def test_misspelled_key_names_file_key_and_expected_type(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[sip]\nlistn = ["udp:127.0.0.1:5060"]\n')
    assert message == (f'{tmp_path / "callcontrol.toml"}: sip.listn: unknown key '
                       '(did you mean sip.listen, list of "udp|tcp|tls:HOST:PORT"?)')


def test_rtp_port_suggests_rtp_ports(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[media]\nrtp_port = "20000-20100"\n')
    assert message.endswith('media.rtp_port: unknown key (did you mean media.rtp_ports, string "LOW-HIGH"?)')


def test_key_in_the_wrong_section_says_where_it_belongs(tmp_path: Path) -> None:
    assert error_of(tmp_path, '[sip]\nrtp_ports = "20000-20100"\n').endswith(
        "sip.rtp_ports: unknown key in [sip] (rtp_ports belongs in [media])")


def test_unrelated_unknown_key_lists_the_section_keys(tmp_path: Path) -> None:
    assert error_of(tmp_path, "[http]\nzzz = 1\n").endswith("http.zzz: unknown key ([http] has listen)")


def test_unknown_section(tmp_path: Path) -> None:
    assert error_of(tmp_path, "[medai]\nanchor = true\n").endswith(
        "medai: unknown section or key outside a section (did you mean [media]?)")
    assert "sections are sip, trunk, ws" in error_of(tmp_path, 'listen = "x"\n')


def test_t1_fast_is_a_type_error_not_a_traceback(tmp_path: Path) -> None:
    assert error_of(tmp_path, '[sip]\nt1 = "fast"\n') == (
        f'{tmp_path / "callcontrol.toml"}: sip.t1: expected a number, got "fast"')


@pytest.mark.parametrize(("toml", "expected"), [
    ('[sip]\nsession_timers = "yes"', 'sip.session_timers: expected true or false, got "yes"'),
    ("[sip]\nsession_timers = 1", "sip.session_timers: expected true or false, got 1"),
    ("[sip]\nsession_expires = 1.5", "sip.session_expires: expected a whole number, got 1.5"),
    ("[sip]\nmin_se = 0", "sip.min_se: expected a value greater than 0, got 0"),
    ("[sip]\nt1 = true", "sip.t1: expected a number, got true"),
    ("[sip]\nt1 = -1", "sip.t1: expected a value greater than 0, got -1"),
    ('[sip]\nlisten = "udp:127.0.0.1:5060"', 'sip.listen: expected a list, got "udp:127.0.0.1:5060"'),
    ("[sip]\nlisten = []", "sip.listen: expected at least 1 item(s), got none"),
    ('[sip]\nlisten = ["sctp:1.2.3.4:5060"]',
     'sip.listen[0]: expected "udp|tcp|tls:HOST:PORT", got "sctp:1.2.3.4:5060"'),
    ('[sip]\nlisten = ["udp:1.2.3.4"]', 'sip.listen[0]: expected "HOST:PORT", got "1.2.3.4"'),
    ("[sip]\nlisten = [5060]", 'sip.listen[0]: expected a string "udp|tcp|tls:HOST:PORT", got 5060'),
    ('[sip]\ntrusted = ["10.0.0.300/8"]', 'sip.trusted[0]: expected an address or network ("10.0.0.0/8"), '
                                         'got "10.0.0.300/8"'),
    ('[sip]\nrealm = ""', 'sip.realm: expected a non-empty string, got ""'),
    ("[sip]\nsession_expires = 60\nmin_se = 90",
     "sip.session_expires (60) must not be below sip.min_se (90)"),
    ("[sip]\nt1 = 5\nt2 = 4", "sip.t2 (4.0) must not be below sip.t1 (5.0)"),
    ('[ws]\nlisten = "8445"', 'ws.listen: expected "HOST:PORT", got "8445"'),
    ('[ws]\nlisten = "127.0.0.1:99999"', 'ws.listen: expected "HOST:PORT", got "127.0.0.1:99999"'),
    ('[http]\nlisten = 8446', 'http.listen: expected a string "HOST:PORT", got 8446'),
    ('[media]\nrtp_ports = "20000"', 'media.rtp_ports: expected "LOW-HIGH", got "20000"'),
    ('[media]\nrtp_ports = "30000-20000"', 'media.rtp_ports: expected "LOW-HIGH" within 1024-65535'),
    ('[media]\nanchor = "no"', 'media.anchor: expected true or false, got "no"'),
    ('[media]\nrtp_timeout = 0', "media.rtp_timeout: expected a value greater than 0, got 0"),
    ('[media]\nrtp_timeout = "soon"', 'media.rtp_timeout: expected a number, got "soon"'),
    ('[log]\nlevel = "LOUD"', 'log.level: expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got "LOUD"'),
    ('[ivr]\nfallback_url = "ftp://x/y"',
     'ivr.fallback_url: expected an http:// or https:// URL, got "ftp://x/y"'),
    ('[ivr]\nfallback_seconds = -1',
     "ivr.fallback_seconds: expected a value greater than or equal to 0, got -1"),
    ('[ws]\nkeyfile = "/k.pem"', "ws.keyfile is set but ws.certfile is not"),
    ('[sip]\nlisten = ["tls:127.0.0.1:5061"]', "sip.listen tls:127.0.0.1:5061 needs sip.tls_cert (and sip.tls_key)"),
    ('[sip]\ntls_key = "/k.pem"', "sip.tls_key is set but sip.tls_cert is not"),
    ('[dns]\nnameservers = ["dns.example.net"]', 'dns.nameservers[0]: expected "ADDRESS[:PORT]" (an IP address: '
                                                  'a nameserver is not looked up), got "dns.example.net"'),
    ('[dns]\nnameservers = ["127.0.0.1:0"]', 'dns.nameservers[0]: expected "ADDRESS[:PORT]"'),
    ('[dns]\nnameservers = "127.0.0.1"', 'dns.nameservers: expected a list, got "127.0.0.1"'),
    ("[dns]\ntimeout = 0", "dns.timeout: expected a value greater than 0, got 0"),
    ("sip = 5", "sip: expected a table, got 5"),
    ('[store]\ndata_dir = ""', 'store.data_dir: expected a non-empty string, got ""'),
])
def test_each_wrong_value_is_one_line_naming_the_key(tmp_path: Path, toml: str, expected: str) -> None:
    message = error_of(tmp_path, toml + "\n")
    assert message.startswith(f"{tmp_path / 'callcontrol.toml'}: "), message
    assert expected in message


def test_several_errors_report_the_first_and_count_the_rest(tmp_path: Path) -> None:
    assert error_of(tmp_path, '[sip]\nt1 = "fast"\nt2 = "slow"\nlistn = 1\n').endswith(
        'sip.t1: expected a number, got "fast" (and 2 more)')


@pytest.mark.parametrize("uri", ["not a uri", "http://example.net", "sip:", "sip:a b", "tel:+1555",
                                 "sip:host;transport=sctp", "sip:1.2.3.4:99999"])
def test_trunk_uri_is_parsed_at_load(tmp_path: Path, uri: str) -> None:
    assert "trunk.uri: expected " in error_of(tmp_path, f'[trunk]\nuri = "{uri}"\n')


@pytest.mark.parametrize("uri", ["sip:127.0.0.1:5090", "sips:trunk.example.net",
                                 "sip:[::1]:5060;transport=tcp",
                                 "sip:gw@10.0.0.1"])
def test_good_trunk_uris_load(tmp_path: Path, uri: str) -> None:
    assert load_toml(tmp_path, f'[trunk]\nuri = "{uri}"\n').trunk.uri == uri


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[sip\n")
    assert message.startswith(f"invalid TOML in {tmp_path / 'callcontrol.toml'}: ")


def test_missing_config_file_names_it(tmp_path: Path) -> None:
    expected = f"cannot read config {tmp_path / 'nope.toml'}: No such file"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(tmp_path / "nope.toml", environ={})


def test_wildcard_sip_listener_needs_media_host(tmp_path: Path) -> None:
    assert error_of(tmp_path, '[sip]\nlisten = ["udp:0.0.0.0:5060"]\n').endswith(
        ": media.host must be set when the first sip.listen address is a wildcard (udp:0.0.0.0:5060) and "
        "media.anchor is on: it is the RTP address put in SDP")
    unanchored = load_toml(tmp_path, '[sip]\nlisten = ["udp:0.0.0.0:5060"]\n[media]\nanchor = false\n')
    assert unanchored.media.host is None
    cfg = load_toml(tmp_path, '[sip]\nlisten = ["udp:0.0.0.0:5060"]\n[media]\nhost = "127.0.0.1"\n')
    assert cfg.media.host == "127.0.0.1"
    with pytest.raises(ConfigError, match="^environment CALLCONTROL_SIP__LISTEN: media.host must be set"):
        load_config(None, environ={"CALLCONTROL_WS__LISTEN": "0.0.0.0:8445",
                                   "CALLCONTROL_SIP__LISTEN": "udp:0.0.0.0:5060"})


def test_media_host_wildcard_is_refused(tmp_path: Path) -> None:
    assert error_of(tmp_path, '[media]\nhost = "0.0.0.0"\n').endswith(
        ": media.host: expected the address phones send RTP to, got the wildcard 0.0.0.0 "
        "(in SDP it means hold)")


def test_media_host_must_be_an_address_of_this_machine(tmp_path: Path) -> None:
    # 192.0.2.0/24 is TEST-NET-1: never configured on a test machine.
    assert error_of(tmp_path, '[media]\nhost = "192.0.2.10"\n') == (
        "media.host 192.0.2.10: not an address of this machine (Cannot assign requested address)")


# --------------------------------------------------------------------------- paths


def test_missing_certificate_names_key_and_path(tmp_path: Path) -> None:
    assert error_of(tmp_path, f'[ws]\ncertfile = "{tmp_path}/cert.pem"\n') == (
        f"ws.certfile {tmp_path}/cert.pem: no such file")


def test_missing_key_file_names_key_and_path(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("x")
    toml = f'[ws]\ncertfile = "{tmp_path}/cert.pem"\nkeyfile = "{tmp_path}/key.pem"\n'
    assert error_of(tmp_path, toml) == (
        f"ws.keyfile {tmp_path}/key.pem: no such file")


def test_certificate_and_key_that_do_not_match(tmp_path: Path) -> None:
    cert, _ = make_cert(tmp_path, "a")
    _, other_key = make_cert(tmp_path, "b")
    assert error_of(tmp_path, f'[ws]\ncertfile = "{cert}"\nkeyfile = "{other_key}"\n') == (
        f"ws.certfile {cert} with key {other_key}: not a usable PEM certificate and key "
        "(KEY_VALUES_MISMATCH)")


def test_certificate_that_is_not_pem(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate\n")
    assert error_of(tmp_path, f'[ws]\ncertfile = "{tmp_path}/cert.pem"\n') == (
        f"ws.certfile {tmp_path}/cert.pem: not a usable PEM certificate and key (PEM lib)")


def test_certificate_that_is_a_directory(tmp_path: Path) -> None:
    assert error_of(tmp_path, f'[ws]\ncertfile = "{tmp_path}"\n') == f"ws.certfile {tmp_path}: not a file"


def test_data_dir_whose_parent_is_missing(tmp_path: Path) -> None:
    assert error_of(tmp_path, f'[store]\ndata_dir = "{tmp_path}/nope/data"\n') == (
        f"store.data_dir {tmp_path}/nope/data: parent directory {tmp_path}/nope does not exist")


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("")
    assert error_of(tmp_path, f'[store]\ndata_dir = "{tmp_path}/data"\n') == (
        f"store.data_dir {tmp_path}/data: not a directory")


def test_data_dir_that_cannot_be_created() -> None:
    # sysfs refuses new files even to root (the tests run as root in CI: chmod would not do).
    with pytest.raises(ConfigError) as info:
        load_config(None, environ={"CALLCONTROL_STORE__DATA_DIR": "/sys/callcontrol-data"})
    assert str(info.value).startswith(
        "store.data_dir /sys/callcontrol-data: cannot be created, /sys is not writable")


def test_existing_unwritable_data_dir() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, environ={"CALLCONTROL_STORE__DATA_DIR": "/sys/kernel"})
    assert str(info.value).startswith("store.data_dir /sys/kernel: directory not writable")


def test_data_dir_created_later_is_fine(tmp_path: Path) -> None:
    cfg = load_toml(tmp_path, f'[store]\ndata_dir = "{tmp_path}/data"\n')
    assert cfg.store.data_dir == tmp_path / "data" and not (tmp_path / "data").exists()


def test_path_checks_can_be_skipped(tmp_path: Path) -> None:
    cfg = load_toml(tmp_path, '[ws]\ncertfile = "/nope.pem"\n', check_host=False)
    assert cfg.ws.certfile == Path("/nope.pem")


# --------------------------------------------------------------------------- environment and flags


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    cfg = load_toml(tmp_path, '[sip]\nt1 = 0.25\n[log]\nlevel = "INFO"\n', environ={
        "CALLCONTROL_SIP__T1": "1",
        "CALLCONTROL_SIP__SESSION_TIMERS": "false",
        "CALLCONTROL_SIP__LISTEN": "udp:0.0.0.0:5060, tcp:0.0.0.0:5060",
        "CALLCONTROL_MEDIA__HOST": "127.0.0.1",
        "CALLCONTROL_SIP__TRUSTED": '["10.0.0.0/8"]',
        "CALLCONTROL_WS__LISTEN": "0.0.0.0:8445",
        "CALLCONTROL_TRUNK__URI": "sip:10.0.0.2:5060",
        "CALLCONTROL_LOG__LEVEL": "warning",
        "CALLCONTROL_SIP__REALM": '"1234"',
        "CALLCONTROL_UNRELATED": "ignored: no double underscore",
        "OTHER_SIP__T1": "ignored: other prefix",
    })
    assert cfg.sip.t1 == 1.0 and cfg.sip.session_timers is False
    assert cfg.sip.listen == [SipListen("udp", "0.0.0.0", 5060), SipListen("tcp", "0.0.0.0", 5060)]
    assert [str(n) for n in cfg.sip.trusted] == ["10.0.0.0/8"]
    assert cfg.ws.listen == ("0.0.0.0", 8445) and cfg.trunk.uri == "sip:10.0.0.2:5060"
    assert cfg.log.level == "WARNING" and cfg.sip.realm == "1234"


def test_environment_names_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[sip]\nmin_se = 5\n")
    assert load_config(None, environ={"CALLCONTROL_CONFIG": str(path)}).sip.min_se == 5


@pytest.mark.parametrize(("env", "expected"), [
    ({"CALLCONTROL_SIP__T1": "fast"},
     'environment CALLCONTROL_SIP__T1: sip.t1: expected a number, got "fast"'),
    ({"CALLCONTROL_SIP__LISTN": "x"},
     "environment CALLCONTROL_SIP__LISTN: sip.listn: unknown key (did you mean"),
    ({"CALLCONTROL_SIPP__T1": "1"}, "environment CALLCONTROL_SIPP__T1: sipp: unknown section"),
    ({"CALLCONTROL_TRUNK__URI": "not a uri"},
     "environment CALLCONTROL_TRUNK__URI: trunk.uri: expected a sip: URI"),
    ({"CALLCONTROL_SIP__SESSION_EXPIRES": "60"},
     "environment CALLCONTROL_SIP__SESSION_EXPIRES: sip.session_expires (60) must not be below"),
])
def test_environment_errors_name_the_variable(env: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, environ=env)
    assert str(info.value).startswith(expected)


def test_flags_override_the_environment_and_errors_name_the_flag(tmp_path: Path) -> None:
    cfg = load_toml(tmp_path, "", environ={"CALLCONTROL_WS__LISTEN": "0.0.0.0:1"},
                    overrides=[Override("ws.listen", "127.0.0.1:2", "--ws-listen")])
    assert cfg.ws.listen == ("127.0.0.1", 2)
    assert error_of(tmp_path, "", overrides=[Override("trunk.uri", "not a uri", "--trunk")]).startswith(
        '--trunk: trunk.uri: expected a sip: URI ("sip:HOST[:PORT]"), got "not a uri"')


def test_env_names_follow_the_scheme() -> None:
    assert env_name("sip.listen") == "CALLCONTROL_SIP__LISTEN"
    assert env_name("store.data_dir") == "CALLCONTROL_STORE__DATA_DIR"


# --------------------------------------------------------------------------- reload


def test_reloadable_keys_are_the_issues_list() -> None:
    assert RELOADABLE_KEYS == {"trunk.uri", "sip.trusted", "sip.session_timers", "sip.session_expires",
                               "sip.min_se", "ivr.fallback_url", "ivr.fallback_seconds", "log.level",
                               "server.drain_limit"}


def test_changes_split_into_reloadable_and_restart() -> None:
    old = Config()
    new = Config.model_validate({"trunk": {"uri": "sip:10.0.0.1"}, "log": {"level": "DEBUG"},
                                 "sip": {"listen": ["udp:127.0.0.1:5070"], "trusted": ["10.0.0.0/8"]}})
    assert reloadable_changes(old, new) == {"trunk.uri": (None, "sip:10.0.0.1"),
                                            "sip.trusted": (["127.0.0.1/32"], ["10.0.0.0/8"]),
                                            "log.level": ("INFO", "DEBUG")}
    assert restart_changes(old, new) == {"sip.listen": (["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"],
                                                        ["udp:127.0.0.1:5070"])}
    assert describe_changes(reloadable_changes(old, new)) == (
        'sip.trusted ["127.0.0.1/32"] -> ["10.0.0.0/8"], trunk.uri (none) -> "sip:10.0.0.1", '
        'log.level "INFO" -> "DEBUG"')
    assert changed_keys(old, Config()) == {} and describe_changes({}) == "no change"


# --------------------------------------------------------------------------- docs and deploy/


def test_the_deploy_example_config_is_valid(tmp_path: Path) -> None:
    # Its media.host is a placeholder to change and its data dir is /var/lib/callcontrol:
    # the model must accept it; the machine checks are for the machine it is installed on.
    cfg = load_config(ROOT / "deploy" / "callcontrol.toml", environ={}, check_host=False)
    assert cfg.sip.listen[0] == SipListen("udp", "0.0.0.0", 5060) and cfg.media.host is not None
    assert cfg.store.data_dir == Path("/var/lib/callcontrol")


def test_every_key_has_a_row_in_docs_operations() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    for info in config_keys():
        rows = [line for line in text.splitlines() if line.startswith(f"| `{info.key}` |")]
        assert len(rows) == 1, f"docs/operations.md: no row for {info.key}"
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", rows[0].strip("|"))]
        assert f"`{info.env}`" in rows[0], f"{info.key}: env variable {info.env} not in its row"
        assert cells[4] == ("yes" if info.reloadable else "no"), f"{info.key}: reloadable column"


# --------------------------------------------------------------------------- the CLI


def test_check_config_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.delenv("CALLCONTROL_CONFIG", raising=False)
    path = tmp_path / "c.toml"
    path.write_text("[sip]\nmin_se = 5\n")
    assert main(["check-config", "--config", str(path)]) == 0
    assert capsys.readouterr().out == f"config OK ({path})\n"


def test_check_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[sip]\nt1 = "fast"\n')
    assert main(["check-config", "--config", str(path)]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err == f'callcontrol: {path}: sip.t1: expected a number, got "fast"\n'


def test_check_config_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--sip-listen", "127.0.0.1:nope"]) == 2
    assert capsys.readouterr().err == (
        'callcontrol: --sip-listen: sip.listen: expected "HOST:PORT", got "127.0.0.1:nope"\n')
    assert main(["check-config", "--trunk", "not a uri"]) == 2
    assert capsys.readouterr().err.startswith("callcontrol: --trunk: trunk.uri: expected a sip: URI")
    assert main(["check-config", "--sip-listen", "127.0.0.1:5999", "--sip-listen", "tls:127.0.0.1:5998"]) == 2
    assert "sip.listen tls:127.0.0.1:5998 needs sip.tls_cert" in capsys.readouterr().err
    assert main(["check-config", "--sip-listen", "127.0.0.1:5999", "--log-level", "debug"]) == 0


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert re.fullmatch(r"callcontrol (\d+\.\d+\.\d+\S*|unknown \(not installed\))\n", out)


MARKUP = re.compile(r"``|:(class|func|meth|mod|attr):|\.\. [a-z]+::|`[^`]+`_")


Parsers = list[tuple[tuple[str, ...], argparse.ArgumentParser]]


def all_parsers(parser: argparse.ArgumentParser, prog: tuple[str, ...] = ()) -> Parsers:
    out = [(prog, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += all_parsers(sub, (*prog, name))
    return out


def test_no_help_has_markup() -> None:
    parsers = all_parsers(_build_parser())
    assert len(parsers) > 10
    for prog, parser in parsers:
        text = parser.format_help()
        assert not MARKUP.search(text), f"callcontrol {' '.join(prog)} --help: {MARKUP.search(text)}"


@pytest.mark.parametrize("argv", [["serve"], ["check-config"]])
def test_serve_help_shows_defaults(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    flat = " ".join(capsys.readouterr().out.split())
    for default in ("udp:127.0.0.1:5060 tcp:127.0.0.1:5060", "127.0.0.1:8445", "127.0.0.1:8446",
                    "./callcontrol-data", "20000-29999", "INFO"):
        assert f"default: {default}" in flat


def test_the_other_commands_take_the_data_dir_from_the_environment_too(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from callcontrol.config import DEFAULT_DATA_DIR, default_data_dir

    assert default_data_dir({}) == DEFAULT_DATA_DIR == Config().store.data_dir
    assert default_data_dir({"CALLCONTROL_STORE__DATA_DIR": "/srv/cc"}) == Path("/srv/cc")
    env = {**os.environ, "CALLCONTROL_STORE__DATA_DIR": str(tmp_path)}
    for command in (["reload"], ["drain"], ["directory", "list", "accounts"], ["cdr", "export"]):
        done = subprocess.run([sys.executable, "-m", "callcontrol", *command], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        if command[0] in ("reload", "drain"):
            assert done.returncode == 1 and f"no server running on {tmp_path}" in done.stderr, done.stderr
        elif command[0] == "directory":  # seeds and lists the demo directory there
            assert done.returncode == 0 and "1001" in done.stdout, done.stderr
            assert (tmp_path / "callcontrol.sqlite3").exists()
        else:  # the store the directory command just made there: no CDRs yet, a CSV header
            assert done.returncode == 0 and done.stdout.startswith("call_id"), (done.stdout, done.stderr)
    assert not (tmp_path / "callcontrol-data").exists()

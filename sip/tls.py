"""SSL contexts for SIP over TLS (RFC 3261 §26.3.1, RFC 5922), built from file paths.

The server side presents ``cert``/``key`` on the TLS listener. The client side
(connections we open: a ``sips:`` trunk, a ``;transport=tls`` contact) verifies
the peer's certificate against ``ca`` (the system's trusted CAs when None) and
its name: the host of the URI we were given (RFC 5922 §4: the domain, not the
SRV target), or the address for an IP literal. Every failure is a
:class:`TlsSetupError` whose message names the file, so start-up can print it
as one line.
"""
from __future__ import annotations

import os
import ssl
from pathlib import Path


class TlsSetupError(ValueError):
    """A certificate, key or CA file that cannot be used; the message names it."""


def _readable(path: str | os.PathLike[str], what: str) -> str:
    p = Path(path)
    try:
        with p.open("rb"):
            pass
    except OSError as exc:
        raise TlsSetupError(f"{what} {p}: {exc.strerror or exc}") from None
    return str(p)


def server_context(cert: str | os.PathLike[str], key: str | os.PathLike[str] | None) -> ssl.SSLContext:
    """The TLS listener's context: our certificate chain (PEM) and its private key."""
    cert_path = _readable(cert, "sip.tls_cert")
    key_path = _readable(key, "sip.tls_key") if key else None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_path, key_path)
    except ssl.SSLError as exc:
        raise TlsSetupError(f"sip.tls_cert {cert_path}"
                            f"{f' / sip.tls_key {key_path}' if key_path else ''}: "
                            f"not a matching PEM certificate and key ({exc.reason or exc})") from None
    return context


def client_context(ca: str | os.PathLike[str] | None = None) -> ssl.SSLContext:
    """The context of connections we open: the peer's certificate and name are verified."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca is not None:
        ca_path = _readable(ca, "sip.tls_ca")
        try:
            context.load_verify_locations(cafile=ca_path)
        except ssl.SSLError as exc:
            raise TlsSetupError(f"sip.tls_ca {ca_path}: not a PEM CA bundle ({exc.reason or exc})") from None
    return context

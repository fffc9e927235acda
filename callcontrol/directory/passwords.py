"""Password hashing: scrypt for API logins, HA1 for SIP digest.

API, administrator, reseller and customer passwords are stored as a
self-describing string ``scrypt$n$r$p$salt_b64$hash_b64`` so the cost can be
raised later without a migration: each hash carries its own parameters.

SIP digest authentication (RFC 2617 / RFC 7616) needs the server to know
``HA1 = H(username:realm:password)``, so SIP credentials cannot be scrypt;
HA1 is the least-revealing form digest allows (it is bound to one realm).

These functions are blocking (scrypt costs tens of milliseconds on purpose);
callers on the event loop run them in an executor.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import logging
import os

logger = logging.getLogger(__name__)

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
SCHEME = "scrypt"

# Parameters read back from the store are bounded so a corrupted or hostile row
# cannot make one verification allocate gigabytes.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    # OpenSSL refuses by default above 32 MiB; scrypt needs about 128*r*(n+p) bytes.
    maxmem = 128 * r * (n + p + 2) + 1024 * 1024
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=maxmem)


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """Hash ``password`` with a fresh random salt; returns ``scrypt$n$r$p$salt$hash``."""
    salt = os.urandom(SALT_BYTES)
    digest = _scrypt(password.encode("utf-8"), salt, n, r, p, HASH_BYTES)
    return "$".join(
        (
            SCHEME,
            str(n),
            str(r),
            str(p),
            base64.b64encode(salt).decode("ascii"),
            base64.b64encode(digest).decode("ascii"),
        )
    )


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded``; False for a mismatch or a malformed hash."""
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        logger.warning("stored password hash has an unknown format")
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        logger.warning("stored password hash is malformed")
        return False
    if not (2 <= n <= _MAX_N and n & (n - 1) == 0 and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P and expected):
        logger.warning("stored password hash has out-of-range parameters")
        return False
    actual = _scrypt(password.encode("utf-8"), salt, n, r, p, len(expected))
    return hmac.compare_digest(actual, expected)


def sip_ha1_md5(username: str, realm: str, password: str) -> str:
    """RFC 2617 HA1 for algorithm MD5: hex MD5 of ``username:realm:password``."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()


def sip_ha1_sha256(username: str, realm: str, password: str) -> str:
    """RFC 7616 HA1 for algorithm SHA-256: hex SHA-256 of ``username:realm:password``."""
    return hashlib.sha256(f"{username}:{realm}:{password}".encode()).hexdigest()


@functools.cache
def dummy_hash() -> str:
    """A hash of a random secret, verified against when a login is unknown.

    It has the current default cost, so a failed look-up takes as long as a
    wrong password. Computed once per process.
    """
    return hash_password(os.urandom(16).hex())

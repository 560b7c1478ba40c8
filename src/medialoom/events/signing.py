"""Signing and checking webhook requests, in Cloudinary's scheme and in Standard Webhooks'.

Cloudinary's scheme is what its SDKs verify, so notifications sent to apps written against
Cloudinary must carry it: ``X-Cld-Timestamp`` (Unix seconds) and ``X-Cld-Signature``, the hex
digest of SHA-1 (or SHA-256, per environment) over body + timestamp + API secret. It is a plain
hash rather than an HMAC, so nothing here may "improve" it without breaking those receivers.

Standard Webhooks (standardwebhooks.com) is the scheme generic receivers understand:
``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256>`` over
``"{id}.{timestamp}.{body}"``, keyed by a per-endpoint ``whsec_<base64>`` secret. The signature
header may list several signatures so a secret can be rotated without dropping messages.

Both sign the exact bytes sent. The verifiers (for inbound webhooks) say why they refuse, in
words meant for the person wiring up the sender, and compare digests in constant time. Pure:
the caller passes the clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Algorithm = Literal["sha1", "sha256"]
_HEX_LENGTHS = {"sha1": 40, "sha256": 64}

SECRET_PREFIX = "whsec_"
# The spec asks for 24 to 64 bytes of key; 32 is as much as HMAC-SHA256 puts out.
SECRET_BYTES = 32
# Unix seconds as ASCII digits only: int() would also take "+1_000" or Arabic-Indic digits,
# spellings no sender signs with, and the signature covers the timestamp exactly as written.
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True)
class Verdict:
    """Whether a request's signature holds, and if not, why (for logs and error answers)."""

    ok: bool
    reason: str | None = None


_ACCEPTED = Verdict(True)


def _refuse(reason: str) -> Verdict:
    return Verdict(False, reason)


def _require_supported(algorithm: str) -> None:
    """A wrong algorithm is a configuration mistake, not a bad request: raise, don't refuse."""
    if algorithm not in _HEX_LENGTHS:
        raise ValueError(f"Unsupported signature algorithm {algorithm!r}: use 'sha1' or 'sha256'")


# Cloudinary ---------------------------------------------------------------------------------


def cloudinary_signature(
    body: bytes, timestamp: int | str, api_secret: str, algorithm: Algorithm = "sha1"
) -> str:
    """``X-Cld-Signature`` for ``body`` sent at ``timestamp``, as the Cloudinary SDKs check it.

    A string ``timestamp`` is hashed as written, as the SDKs do with the header's text."""
    _require_supported(algorithm)
    return hashlib.new(algorithm, body + f"{timestamp}{api_secret}".encode()).hexdigest()


def cloudinary_headers(
    body: bytes, timestamp: int, api_secret: str, algorithm: Algorithm = "sha1"
) -> dict[str, str]:
    """The two headers a Cloudinary notification carries."""
    return {
        "X-Cld-Timestamp": str(timestamp),
        "X-Cld-Signature": cloudinary_signature(body, timestamp, api_secret, algorithm),
    }


def verify_cloudinary(
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    api_secret: str,
    *,
    algorithm: Algorithm = "sha1",
    now: float,
    valid_for: float = 7200,
    max_future: float = 300,
) -> Verdict:
    """Check an inbound request signed the Cloudinary way.

    ``valid_for`` is the SDKs' default window (two hours). The SDKs accept any timestamp from
    the future; we allow only ``max_future`` seconds of clock skew, since a far-future stamp
    would let a captured request be replayed long after it was sent.
    """
    _require_supported(algorithm)
    if not api_secret:
        return _refuse("No API secret is configured to check X-Cld-Signature with")
    if not timestamp:
        return _refuse("The X-Cld-Timestamp header is missing")
    if not signature:
        return _refuse("The X-Cld-Signature header is missing")
    timestamp = timestamp.strip()
    if not _UNIX_SECONDS.fullmatch(timestamp):
        return _refuse(f"X-Cld-Timestamp {timestamp[:40]!r} is not a Unix time in whole seconds")
    signature, digest_length = signature.strip().lower(), _HEX_LENGTHS[algorithm]
    if len(signature) != digest_length or not _HEX.fullmatch(signature):
        return _refuse(f"X-Cld-Signature is not a {digest_length}-character hex {algorithm.upper()} "
                       "digest")
    stale = _stale_or_future(int(timestamp), now, valid_for, max_future, "X-Cld-Timestamp")
    if stale:
        return stale
    expected = cloudinary_signature(body, timestamp, api_secret, algorithm)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return _refuse("X-Cld-Signature does not match: wrong API secret or algorithm, or the body "
                       "was altered")
    return _ACCEPTED


def _stale_or_future(sent: int, now: float, too_old: float, too_new: float, header: str) -> Verdict | None:
    age = now - sent
    if age > too_old:
        return _refuse(f"{header} is {age:.0f} s old; requests are accepted for {too_old:.0f} s")
    if -age > too_new:
        return _refuse(f"{header} is {-age:.0f} s in the future; clocks may differ by {too_new:.0f} s "
                       "at most")
    return None


# Standard Webhooks --------------------------------------------------------------------------


def new_endpoint_secret() -> str:
    """A fresh secret for one endpoint; each endpoint gets its own so one leak stays contained."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _secret_key(secret: str) -> bytes:
    """The key bytes of a ``whsec_`` secret; the prefix is optional, as other libraries allow."""
    encoded = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        # Some providers hand out unpadded base64; pad it rather than refuse.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ValueError("The webhook secret must be 'whsec_' followed by base64") from None
    if not key:
        raise ValueError("The webhook secret is empty")
    return key


def _standard_digest(key: bytes, message_id: str, timestamp: int | str, body: bytes) -> bytes:
    """Base64 of the HMAC; built from bytes so a body that is not UTF-8 is signed as sent."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())


def standard_signature(secret: str, message_id: str, timestamp: int | str, body: bytes) -> str:
    """One ``v1,<base64>`` entry of ``webhook-signature``."""
    return "v1," + _standard_digest(_secret_key(secret), message_id, timestamp, body).decode()


def standard_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers. ``message_id`` stays the same across retries so
    receivers can drop duplicates; ``timestamp`` is the attempt's own."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(secret, message_id, timestamp, body),
    }


def verify_standard(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float, tolerance: float = 300
) -> Verdict:
    """Check an inbound request signed the Standard Webhooks way.

    The timestamp must lie within ``tolerance`` seconds of ``now`` either way (the spec's
    replay protection); any one ``v1`` signature in the header may match, so senders can sign
    with an old and a new secret while a rotation is under way.
    """
    try:
        key = _secret_key(secret)
    except ValueError as error:
        return _refuse(str(error))
    lowered = {name.lower(): value for name, value in headers.items()}
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        if not lowered.get(name):
            return _refuse(f"The {name} header is missing")
    message_id, timestamp = lowered["webhook-id"], lowered["webhook-timestamp"].strip()
    if not _UNIX_SECONDS.fullmatch(timestamp):
        return _refuse(f"webhook-timestamp {timestamp[:40]!r} is not a Unix time in whole seconds")
    stale = _stale_or_future(int(timestamp), now, tolerance, tolerance, "webhook-timestamp")
    if stale:
        return stale
    offered = [entry[3:] for entry in lowered["webhook-signature"].split() if entry.startswith("v1,")]
    if not offered:
        return _refuse("webhook-signature holds no 'v1,<base64>' signature")
    expected = _standard_digest(key, message_id, timestamp, body)
    # Every candidate is compared, so the time taken does not reveal which one came close.
    matched = [hmac.compare_digest(expected, candidate.encode()) for candidate in offered]
    if not any(matched):
        return _refuse("No webhook-signature matches: wrong secret, or the body was altered")
    return _ACCEPTED

"""Cloudinary request, response and URL signatures, as the official SDKs compute them.

Pure functions: no web framework, no database. The server uses them to *verify* what a
client signed, so every rule here mirrors the client side byte for byte:

* Upload-API requests sign the sorted ``key=value`` pairs of every non-empty parameter except
  the excluded ones, list values comma-joined, with the API secret appended, hashed with SHA-1
  (40 hex) or SHA-256 (64 hex).
* Signature version 2 (the SDK default) escapes ``&`` inside each pair as ``%26`` so that a
  value cannot smuggle an extra parameter into the string to sign. For values without ``&``
  the two versions agree, so verifying the version 2 form alone accepts every honest client
  and refuses the ambiguous version 1 strings that made smuggling possible.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping

# Never part of the string to sign: they travel in the path, identify the key, or are the
# signature itself.
EXCLUDED_FROM_SIGNATURE = frozenset({"file", "cloud_name", "resource_type", "api_key", "signature"})

# Newer SDKs send these on tags/context/metadata calls without signing them (they only say
# where to announce the result). A request may therefore be signed with or without them.
OPTIONALLY_UNSIGNED = ("notification_url", "batch_id")

ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}
_HEX_LENGTH_TO_ALGORITHM = {40: "sha1", 64: "sha256"}

ParamValue = str | list[str]


def string_to_sign(params: Mapping[str, ParamValue]) -> str:
    """The canonical string (signature version 2) for a set of received parameters."""
    pairs = []
    for key, value in params.items():
        if key in EXCLUDED_FROM_SIGNATURE:
            continue
        text = ",".join(value) if isinstance(value, list) else value
        if not text:
            continue
        pairs.append(f"{key}={text}".replace("&", "%26"))
    return "&".join(sorted(pairs))


def hex_digest(text: str, algorithm: str = "sha1") -> str:
    return ALGORITHMS[algorithm](text.encode("utf-8")).hexdigest()


def sign_params(params: Mapping[str, ParamValue], secret: str, algorithm: str = "sha1") -> str:
    """What a client would send as ``signature`` for ``params``."""
    return hex_digest(string_to_sign(params) + secret, algorithm)


def signature_matches(params: Mapping[str, ParamValue], signature: str, secret: str) -> bool:
    """True when ``signature`` signs ``params`` (with or without the optionally unsigned ones).

    The digest algorithm is recognised from the signature's length. The comparison is
    constant-time so that a caller cannot learn a valid signature byte by byte.
    """
    algorithm = _HEX_LENGTH_TO_ALGORITHM.get(len(signature))
    if algorithm is None:
        return False
    candidates = [params]
    if any(params.get(name) for name in OPTIONALLY_UNSIGNED):
        candidates.append({k: v for k, v in params.items() if k not in OPTIONALLY_UNSIGNED})
    matched = False
    for candidate in candidates:
        expected = sign_params(candidate, secret, algorithm)
        # No early exit: every candidate costs the same whatever the outcome.
        matched |= hmac.compare_digest(expected, signature.lower())
    return matched


def response_signature(public_id: str, version: int | str, secret: str, algorithm: str = "sha1") -> str:
    """The ``signature`` field of an upload response, checked by ``verify_api_response_signature``.

    Always the version 1 form (no ``&`` escaping), as the SDK recomputes it that way.
    """
    return hex_digest(f"public_id={public_id}&version={version}{secret}", algorithm)


def url_signature(to_sign: str, secret: str, *, algorithm: str = "sha1", long: bool = False) -> str:
    """The characters between ``s--`` and ``--`` of a signed delivery URL.

    ``to_sign`` is the transformation and the source joined by ``/`` (no version segment).
    Long signatures (32 characters) always use SHA-256.
    """
    digest_algorithm = "sha256" if long else algorithm
    digest = ALGORITHMS[digest_algorithm]((to_sign + secret).encode("utf-8")).digest()
    encoded = base64.urlsafe_b64encode(digest).decode("ascii")
    return encoded[:32] if long else encoded[:8]


def url_signature_matches(to_sign: str, given: str, secret: str, algorithms: Iterable[str] = ("sha1", "sha256")) -> bool:
    """Accept the short form under any allowed algorithm, or the long SHA-256 form."""
    if len(given) == 32:
        return hmac.compare_digest(url_signature(to_sign, secret, long=True), given)
    if len(given) != 8:
        return False
    matched = False
    for algorithm in algorithms:
        matched |= hmac.compare_digest(url_signature(to_sign, secret, algorithm=algorithm), given)
    return matched

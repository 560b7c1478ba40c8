"""Who is calling: a signed request, HTTP Basic key:secret, or nobody (unsigned upload).

Pure: takes the parameters, the Authorization header and the clock; raises Cloudinary-shaped
errors; never touches the database.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from datetime import UTC, datetime
from enum import Enum

from medialoom.auth.environments import EnvironmentInfo
from medialoom.auth.signing import signature_matches, string_to_sign
from medialoom.errors import BadRequest, Unauthorized


class Caller(Enum):
    SIGNED = "signature"
    BASIC = "basic"
    UNSIGNED = "unsigned"

    @property
    def trusted(self) -> bool:
        return self is not Caller.UNSIGNED


def _check_basic(env: EnvironmentInfo, header: str) -> None:
    try:
        decoded = base64.b64decode(header.split(" ", 1)[1].strip(), validate=True).decode("utf-8")
        key, secret = decoded.split(":", 1)
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise Unauthorized("Invalid Authorization header") from error
    key_ok = hmac.compare_digest(key.encode(), env.api_key.encode())
    secret_ok = hmac.compare_digest(secret.encode(), env.api_secret.encode())
    if not (key_ok and secret_ok):
        raise Unauthorized("Invalid credentials")


def check_basic_auth(env: EnvironmentInfo, authorization: str | None) -> None:
    """Admin API: HTTP Basic with the environment's key and secret is required."""
    if not authorization:
        raise Unauthorized("Must supply api_key")
    if not authorization.lower().startswith("basic "):
        raise Unauthorized("Only HTTP Basic authentication with API key and secret is supported")
    _check_basic(env, authorization)


def _format_time(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def check_timestamp(value: str | None, now: float, max_age: int) -> int:
    if not value:
        raise BadRequest("Missing required parameter - timestamp")
    try:
        timestamp = int(value)
    except ValueError as error:
        raise BadRequest(f"Invalid timestamp {value!r}") from error
    if timestamp < now - max_age:
        raise Unauthorized(
            f"Stale request - reported time is {_format_time(timestamp)} which is more than "
            f"{max_age // 3600 or 1} hour ago"
        )
    if timestamp > now + max_age:
        raise Unauthorized(f"Invalid timestamp - reported time is {_format_time(timestamp)}, in the future")
    return timestamp


def authenticate(
    env: EnvironmentInfo,
    params: dict[str, str | list[str]],
    authorization: str | None,
    *,
    now: float,
    max_age: int = 3600,
) -> Caller:
    """Classify an Upload-API call; raise when it claims credentials that do not hold."""
    if authorization:
        if authorization.lower().startswith("basic "):
            _check_basic(env, authorization)
            return Caller.BASIC
        raise Unauthorized("Only signatures or HTTP Basic authentication are supported")
    signature = params.get("signature")
    if signature is None:
        return Caller.UNSIGNED
    if not isinstance(signature, str) or not signature:
        raise Unauthorized("Invalid signature")
    api_key = params.get("api_key")
    if not api_key:
        raise Unauthorized("Must supply api_key")
    if not isinstance(api_key, str) or not hmac.compare_digest(api_key.encode(), env.api_key.encode()):
        raise Unauthorized(f"Invalid api_key {api_key}")
    timestamp = params.get("timestamp")
    check_timestamp(timestamp if isinstance(timestamp, str) else None, now, max_age)
    if not signature_matches(params, signature, env.api_secret):
        raise Unauthorized(f"Invalid Signature {signature}. String to sign - '{string_to_sign(params)}'.")
    return Caller.SIGNED

"""Blob keys: built by the server from ids, validated anyway before any backend uses one."""

from __future__ import annotations

import re

MAX_KEY_LENGTH = 1024
_SEGMENT = re.compile(r"^[A-Za-z0-9._=-]+$")


class InvalidBlobKey(ValueError):
    pass


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidBlobKey(f"invalid blob key length: {len(key)}")
    if key.startswith("/"):
        raise InvalidBlobKey(f"blob key must be relative: {key!r}")
    for segment in key.split("/"):
        if segment in ("", ".", "..") or not _SEGMENT.match(segment):
            raise InvalidBlobKey(f"invalid blob key {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """A prefix is a key, optionally ending with '/'."""
    return check_key(prefix.rstrip("/")) + ("/" if prefix.endswith("/") else "")

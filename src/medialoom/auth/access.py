"""Who may view an asset: ``access_control`` windows and ``__cld_token__`` delivery tokens.

``access_control`` is a list of entries: ``{"access_type": "anonymous", "start": ..., "end": ...}``
opens the asset to everyone within that window (either bound may be missing);
``{"access_type": "token"}`` means a token (or a signed URL) is needed outside the windows.

A token is ``ip=..~st=..~exp=..~acl=..~hmac=..`` (each part optional but ``exp`` and ``hmac``):
an HMAC-SHA256, keyed with the environment's hex token key, over the other parts joined by
``~``, plus ``url=<path>`` when no ``acl`` is given. ``acl`` holds path patterns separated by
``!`` where ``*`` matches anything.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import unquote

TOKEN_NAME = "__cld_token__"
_UNSAFE = re.compile(r'[ "#%&\'/:;<=>?@\[\\\]^`{|}~]')
ACCESS_TYPES = ("anonymous", "token")


class AccessControlError(ValueError):
    pass


def parse_access_control(value: Any) -> list[dict[str, str]]:
    """The ``access_control`` parameter (a JSON string, a list, or one object) as stored."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError:
            raise AccessControlError("access_control must be a JSON array of access rules") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or len(value) > 20:
        raise AccessControlError("access_control must be a list of at most 20 access rules")
    entries = []
    for item in value:
        if not isinstance(item, dict) or item.get("access_type") not in ACCESS_TYPES:
            raise AccessControlError("Each access rule needs access_type 'anonymous' or 'token'")
        entry = {"access_type": item["access_type"]}
        for bound in ("start", "end"):
            if item.get(bound) not in (None, ""):
                entry[bound] = _timestamp(item[bound], bound).strftime("%Y-%m-%dT%H:%M:%SZ")
        if "start" in entry and "end" in entry and entry["start"] >= entry["end"]:
            raise AccessControlError("An access rule's start must come before its end")
        entries.append(entry)
    return entries


def _timestamp(value: Any, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise AccessControlError(f"Invalid {name} {value!r}: use an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def open_to_anyone(entries: list[dict[str, str]] | None, now: datetime) -> bool:
    """True when no rule restricts the asset, or an anonymous window covers ``now``."""
    if not entries:
        return True
    for entry in entries:
        if entry["access_type"] != "anonymous":
            continue
        start = _timestamp(entry["start"], "start") if "start" in entry else None
        end = _timestamp(entry["end"], "end") if "end" in entry else None
        if (start is None or start <= now) and (end is None or now < end):
            return True
    return False


@dataclass(frozen=True)
class TokenCheck:
    ok: bool
    reason: str = ""


def check_token(token: str, key_hex: str, raw_path: str, client_ip: str | None, now: float) -> TokenCheck:
    """Whether ``token`` grants the request for ``raw_path`` (the path as sent, escapes kept)."""
    parts = token.split("~")
    fields: dict[str, str] = {}
    for part in parts:
        name, equals, value = part.partition("=")
        if not equals or name in fields:
            return TokenCheck(False, "Malformed token")
        fields[name] = value
    signed = [part for part in parts if not part.startswith("hmac=")]
    if "hmac" not in fields or "exp" not in fields or not fields["exp"].isdigit():
        return TokenCheck(False, "Malformed token")
    if "acl" not in fields:
        signed.append(f"url={_escape(raw_path)}")
    expected = hmac.new(bytes.fromhex(key_hex), "~".join(signed).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["hmac"].lower()):
        return TokenCheck(False, "Invalid token")
    if now >= int(fields["exp"]):
        return TokenCheck(False, "Token expired")
    if "st" in fields and (not fields["st"].isdigit() or now < int(fields["st"])):
        return TokenCheck(False, "Token not valid yet")
    if "ip" in fields and fields["ip"] != client_ip:
        return TokenCheck(False, "Token not valid for this address")
    if "acl" in fields and not _acl_allows(fields["acl"], raw_path):
        return TokenCheck(False, "Token does not cover this path")
    return TokenCheck(True)


def _escape(text: str) -> str:
    return _UNSAFE.sub(lambda match: "".join(f"%{byte:02x}" for byte in match.group().encode()), text)


def _acl_allows(acl: str, raw_path: str) -> bool:
    """Patterns name paths with or without the leading ``/<cloud name>`` (a private CDN's
    paths have none)."""
    path = unquote(raw_path)
    without_cloud = "/" + path.lstrip("/").partition("/")[2]
    for pattern in unquote(acl).split("!"):
        if fnmatchcase(path, pattern) or fnmatchcase(without_cloud, pattern):
            return True
    return False

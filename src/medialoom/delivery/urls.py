"""Parse the path of a delivery URL: ``[s--SIG--/][transformations/][vN/]public_id[.ext]``.

Pure. Which leading segments are transformations cannot be told from slashes alone (public
ids contain slashes too): a segment is a transformation when every comma-separated token in
it is ``key_value`` with a short lower-case key. The SDKs insert a ``v1`` segment whenever a
public id contains a slash, which ends the transformation part unambiguously.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SIGNATURE = re.compile(r"^s--([A-Za-z0-9_-]{8}|[A-Za-z0-9_-]{32})--$")
_VERSION = re.compile(r"^v\d+$")


@dataclass(frozen=True)
class DeliveryPath:
    signature: str | None
    transformations: list[str]
    version: int | None
    source: str  # public id with its extension, as in the URL

    @property
    def signed_part(self) -> str:
        """What an ``s--SIG--`` signs: transformations and source (never the version)."""
        return "/".join([*self.transformations, self.source])


_TOKEN = re.compile(r"^(\$[A-Za-z0-9]+|[a-z]{1,3})_.")


def _is_transformation(segment: str) -> bool:
    """Shaped like ``key_value[,key_value...]``. Known or not: an unknown key must reach the
    grammar, which names it in a 400, rather than become part of a public id and a 404."""
    return bool(segment) and all(_TOKEN.match(token) for token in segment.split(","))


def parse_delivery_path(rest: str) -> DeliveryPath | None:
    segments = rest.split("/")
    signature = None
    match = _SIGNATURE.match(segments[0])
    if match:
        signature = match.group(1)
        segments = segments[1:]
    transformations: list[str] = []
    version: int | None = None
    version_index = next((i for i, seg in enumerate(segments[:-1]) if _VERSION.match(seg)), None)
    if version_index is not None and all(_is_transformation(seg) for seg in segments[:version_index]):
        transformations = segments[:version_index]
        version = int(segments[version_index][1:])
        segments = segments[version_index + 1:]
    else:
        while len(segments) > 1 and _is_transformation(segments[0]):
            transformations.append(segments.pop(0))
    source = "/".join(segments)
    if not source:
        return None
    return DeliveryPath(signature, transformations, version, source)

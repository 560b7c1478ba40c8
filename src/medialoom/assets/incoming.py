"""The bytes of an upload, wherever they came from: a file part, a remote URL or a data URI.

Everything is turned into one seekable local file before it is inspected, so the pipeline
never holds a large upload in memory and reads the bytes as often as it needs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import tempfile
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import unquote

from medialoom.errors import BadRequest, TooLarge

_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[^;,]*)*)(?P<b64>;base64)?,", re.I)
_SPOOL_IN_MEMORY = 4 * 1024 * 1024


@dataclass
class IncomingFile:
    file: BinaryIO
    size: int
    filename: str  # what the client called it ('' when unknown)

    def rewind(self) -> BinaryIO:
        self.file.seek(0)
        return self.file

    def md5(self) -> str:
        digest = hashlib.md5(usedforsecurity=False)
        self.rewind()
        for block in iter(lambda: self.file.read(1 << 20), b""):
            digest.update(block)
        self.rewind()
        return digest.hexdigest()


def measure(file: BinaryIO) -> int:
    file.seek(0, 2)
    size = file.tell()
    file.seek(0)
    return size


def from_data_uri(text: str, max_bytes: int) -> IncomingFile:
    match = _DATA_URI.match(text[:512])
    if not match:
        raise BadRequest("Invalid data URI")
    payload = text[match.end():]
    if match.group("b64"):
        # Base64 inflates by 4/3: refuse before decoding what could not fit anyway.
        if len(payload) * 3 // 4 > max_bytes + 3:
            raise TooLarge(f"File size too large. Maximum is {max_bytes} bytes.")
        try:
            data = base64.b64decode(payload.strip(), validate=False)
        except (binascii.Error, ValueError) as error:
            raise BadRequest("Invalid data URI: bad base64 payload") from error
    else:
        data = unquote(payload).encode("utf-8")
    if len(data) > max_bytes:
        raise TooLarge(f"File size too large. Got {len(data)}. Maximum is {max_bytes}.")
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
    spool.write(data)
    spool.seek(0)
    return IncomingFile(file=spool, size=len(data), filename="")


def looks_remote(text: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*://", text[:16], re.I))

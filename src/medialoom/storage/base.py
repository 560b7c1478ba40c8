"""The blob store port: where the bytes of originals (and later derived files) live.

Synchronous on purpose: services run in a thread pool, and both backends are I/O bound.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol


class BlobNotFound(KeyError):
    pass


class BlobStore(Protocol):
    def put(self, key: str, data: bytes | BinaryIO) -> int:
        """Write a whole blob and return its size; readers never see a partial blob."""

    def get(self, key: str) -> bytes: ...

    def iter_bytes(self, key: str, chunk_size: int = 1 << 20, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Stream ``[start, end)`` (end exclusive, None for the rest of the blob)."""

    def size(self, key: str) -> int | None:
        """The size in bytes, None when the blob does not exist."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove a blob; removing a missing blob is not an error."""

    def delete_prefix(self, prefix: str) -> int:
        """Remove every blob under a prefix; returns how many were removed."""

    def list(self, prefix: str) -> Iterator[str]:
        """Keys under a prefix, sorted."""

    def local_path(self, key: str) -> Path | None:
        """The file holding the blob when the backend has one (lets the web layer use sendfile)."""

"""A blob as a seekable file, read in ranges: what a demuxer needs without the whole blob in memory.

A video thumbnail needs the container's index and one group of pictures, a few megabytes of a
file that may be gigabytes. Reading a remote blob whole to hand it over as bytes costs its full
size in memory per request; this reader fetches only the ranges asked for, through the store's
``iter_bytes``, with a read-ahead buffer so a demuxer's small reads become few requests.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from medialoom.storage.base import BlobNotFound, BlobStore

__all__ = ["open_blob"]

READ_AHEAD = 1 << 20


def open_blob(store: BlobStore, key: str, *, read_ahead: int = READ_AHEAD) -> BinaryIO:
    """Open a blob for reading: its file when the store has one, otherwise ranged reads."""
    path = store.local_path(key)
    if path is not None:
        try:
            return open(path, "rb")  # noqa: SIM115 - the caller closes it
        except FileNotFoundError as error:
            raise BlobNotFound(key) from error
    size = store.size(key)
    if size is None:
        raise BlobNotFound(key)
    return io.BufferedReader(_RangedBlob(store, key, size), buffer_size=read_ahead)


class _RangedBlob(io.RawIOBase):
    """Raw reads of ``[position, position + n)``, one store request each (BufferedReader batches them)."""

    def __init__(self, store: BlobStore, key: str, size: int) -> None:
        self._store, self._key, self._size = store, key, size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def readinto(self, buffer) -> int:  # noqa: ANN001 - any writable buffer
        end = min(self._size, self._position + len(buffer))
        if end <= self._position:
            return 0
        view = memoryview(buffer).cast("B")
        filled = 0
        for chunk in self._store.iter_bytes(self._key, start=self._position, end=end):
            chunk = chunk[:len(view) - filled]
            view[filled:filled + len(chunk)] = chunk
            filled += len(chunk)
        self._position += filled
        return filled

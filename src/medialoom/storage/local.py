"""Blobs as files under one root directory (the embedded default)."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from medialoom.storage.base import BlobNotFound
from medialoom.storage.keys import InvalidBlobKey, check_key, check_prefix


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()
        self._root = str(self.root)
        # Directories already checked to lie inside the root: resolving every path on every
        # call costs a system call per path component.
        self._checked_dirs: set[str] = set()

    def _location(self, key: str, *, create_parent: bool = False) -> str:
        """The key's file path, as a string: delivery asks for several per request, and
        pathlib's objects cost more than the checks."""
        location = os.path.join(self._root, check_key(key))
        directory = os.path.dirname(location)
        if directory not in self._checked_dirs:
            if create_parent:
                os.makedirs(directory, exist_ok=True)
            # Keys cannot contain "..", but a symlink planted inside the root could lead out.
            # (A directory swapped for a symlink after this check is not noticed: that takes
            # shell access to the data directory, which is beyond what a request can do.)
            resolved = Path(directory).resolve()
            if resolved != self.root and self.root not in resolved.parents:
                raise InvalidBlobKey(f"blob key {key!r} resolves outside the store")
            if os.path.isdir(directory):
                self._checked_dirs.add(directory)
        return location

    def _path(self, key: str, *, create_parent: bool = False) -> Path:
        location = self._location(key, create_parent=create_parent)
        if os.path.islink(location):
            raise InvalidBlobKey(f"blob key {key!r} is a symbolic link")
        return Path(location)

    def _regular_file(self, key: str) -> str | None:
        """The key's path when it is a stored file (one system call)."""
        location = self._location(key)
        try:
            mode = os.lstat(location).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISLNK(mode):
            raise InvalidBlobKey(f"blob key {key!r} is a symbolic link")
        return location if stat.S_ISREG(mode) else None

    def put(self, key: str, data: bytes | BinaryIO) -> int:
        path = self._path(key, create_parent=True)
        # Write next to the target, then rename: a reader sees the old or the new blob, whole.
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as out:
                if isinstance(data, (bytes, bytearray, memoryview)):
                    out.write(data)
                else:
                    shutil.copyfileobj(data, out, 4 << 20)
                size = out.tell()
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return size

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as error:
            raise BlobNotFound(key) from error

    def iter_bytes(self, key: str, chunk_size: int = 1 << 20, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        try:
            handle = open(self._path(key), "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError as error:
            raise BlobNotFound(key) from error
        return self._stream(handle, chunk_size, start, end)

    @staticmethod
    def _stream(handle: BinaryIO, chunk_size: int, start: int, end: int | None) -> Iterator[bytes]:
        with handle:
            handle.seek(start)
            remaining = None if end is None else max(0, end - start)
            while remaining is None or remaining > 0:
                block = handle.read(chunk_size if remaining is None else min(chunk_size, remaining))
                if not block:
                    return
                if remaining is not None:
                    remaining -= len(block)
                yield block

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def exists(self, key: str) -> bool:
        return self._regular_file(key) is not None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        keys = list(self.list(prefix))
        for key in keys:
            self.delete(key)
        return len(keys)

    def list(self, prefix: str) -> Iterator[str]:
        prefix = check_prefix(prefix)
        directory = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not directory.is_dir():
            return iter(())
        keys = []
        for path in directory.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return iter(sorted(keys))

    def local_path(self, key: str) -> Path | None:
        location = self._regular_file(key)
        return None if location is None else Path(location)

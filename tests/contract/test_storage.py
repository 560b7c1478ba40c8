"""One contract for every BlobStore backend."""

from __future__ import annotations

import io
import os
import threading
from functools import partial

import pytest

from medialoom.media.video_frames import frame_at
from medialoom.storage import BlobNotFound, InvalidBlobKey, LocalBlobStore
from medialoom.storage.reader import open_blob


@pytest.mark.parametrize("payload", [b"", b"small", os.urandom(3 * 1024 * 1024 + 17)])
def test_round_trip_bytes_and_files(store, payload):
    assert store.put("env/1/a", payload) == len(payload)
    assert store.get("env/1/a") == payload
    assert store.put("env/1/b", io.BytesIO(payload)) == len(payload)
    assert b"".join(store.iter_bytes("env/1/b", chunk_size=65536)) == payload
    assert store.size("env/1/b") == len(payload) and store.exists("env/1/b")


def test_big_streams_use_bounded_chunks(store):
    payload = os.urandom(20 * 1024 * 1024)
    assert store.put("env/1/big", io.BytesIO(payload)) == len(payload)
    chunks = list(store.iter_bytes("env/1/big", chunk_size=1 << 20))
    assert max(len(chunk) for chunk in chunks) <= 1 << 20
    assert b"".join(chunks) == payload


def test_missing_blobs(store):
    with pytest.raises(BlobNotFound):
        store.get("env/1/missing")
    with pytest.raises(BlobNotFound):
        list(store.iter_bytes("env/1/missing"))
    assert store.size("env/1/missing") is None and not store.exists("env/1/missing")
    store.delete("env/1/missing")  # idempotent


def test_overwrite_replaces_whole(store):
    store.put("env/1/x", b"old" * 1000)
    store.put("env/1/x", b"new")
    assert store.get("env/1/x") == b"new"


def test_ranges(store):
    store.put("env/1/r", b"0123456789")
    assert b"".join(store.iter_bytes("env/1/r", start=2, end=5)) == b"234"
    assert b"".join(store.iter_bytes("env/1/r", start=7)) == b"789"
    assert b"".join(store.iter_bytes("env/1/r", start=4, end=4)) == b""


def test_prefix_operations_touch_only_the_prefix(store):
    for key in ("env/1/c/1", "env/1/c/2", "env/1/cc/3", "env/2/c/1"):
        store.put(key, b"x")
    assert list(store.list("env/1/c/")) == ["env/1/c/1", "env/1/c/2"]
    assert store.delete_prefix("env/1/c/") == 2
    assert list(store.list("env/1/")) == ["env/1/cc/3"]
    assert store.exists("env/2/c/1")


@pytest.mark.parametrize("key", ["../x", "/abs", "a//b", "a/./b", "a/../b", "a\x00b", "a\\b", "%2e%2e/x", "", "a b"])
def test_invalid_keys_are_refused(store, key):
    with pytest.raises(InvalidBlobKey):
        store.put(key, b"x")


def test_local_readers_never_see_a_partial_blob(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    versions = [bytes([n]) * (2 * 1024 * 1024) for n in range(4)]
    store.put("env/1/hot", versions[0])
    seen: set[bytes] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            data = store.get("env/1/hot")
            seen.add(data[:1] * len(data) == data and len(data) == len(versions[0]))

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for n in range(40):
        store.put("env/1/hot", versions[n % 4])
    stop.set()
    for thread in threads:
        thread.join()
    assert seen == {True}


def test_local_symlink_escape_is_refused(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    (tmp_path / "blobs" / "env").mkdir()
    (tmp_path / "blobs" / "env" / "link").symlink_to(outside)
    with pytest.raises(InvalidBlobKey):
        store.get("env/link/secret")
    with pytest.raises(InvalidBlobKey):
        store.put("env/link/new", b"x")
    assert not (outside / "new").exists()


def test_a_blob_opened_as_a_file_reads_and_seeks_like_the_bytes(store):
    payload = os.urandom(300_000)
    store.put("env/1/f", payload)
    with open_blob(store, "env/1/f", read_ahead=65536) as file:
        assert file.read(10) == payload[:10]
        file.seek(-5, io.SEEK_END)
        assert file.read() == payload[-5:] and file.read(1) == b""
        file.seek(100_000)
        assert file.read(150_000) == payload[100_000:250_000]  # across several read-ahead windows
        file.seek(3)
        assert file.tell() == 3 and file.read(4) == payload[3:7]
    with pytest.raises(BlobNotFound):
        open_blob(store, "env/1/missing")


def test_a_video_still_reads_a_part_of_a_large_video(store):
    """A thumbnail in the middle of a video needs its index and one group of pictures, not the file."""
    from tests.unit.test_video_frames import BLUE, assert_colour, make_noisy_video

    video = make_noisy_video(seconds=12, marker_second=6, marker=BLUE)
    store.put("env/1/clip.mp4", video)
    counting = _CountingReads(store)
    still = frame_at(partial(open_blob, counting, "env/1/clip.mp4", read_ahead=65536), 6.5)
    assert_colour(still, BLUE)
    assert counting.bytes_read < len(video) / 4, (counting.bytes_read, len(video))


class _CountingReads:
    """The store, counting the bytes its ranged reads hand out (never a local path: ranges only)."""

    def __init__(self, store) -> None:
        self._store, self.bytes_read = store, 0

    def __getattr__(self, name):
        return getattr(self._store, name)

    def local_path(self, key):
        return None

    def iter_bytes(self, key, chunk_size=1 << 20, start=0, end=None):
        for chunk in self._store.iter_bytes(key, chunk_size, start, end):
            self.bytes_read += len(chunk)
            yield chunk

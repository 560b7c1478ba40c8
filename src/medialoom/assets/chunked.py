"""Chunked uploads: ``Content-Range`` + ``X-Unique-Upload-Id`` on the ordinary upload action.

Each chunk is stored as its own blob and recorded in the database, so chunks may arrive out
of order, on different server processes, or across a restart. The request that completes
the byte range claims the session inside a write transaction (exactly one request does),
assembles the chunks into a local temporary file and runs the normal upload pipeline.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from medialoom.assets.incoming import IncomingFile
from medialoom.auth.environments import EnvironmentInfo
from medialoom.db.models import UploadChunk, UploadSession
from medialoom.db.session import Database, utcnow
from medialoom.errors import BadRequest, TooLarge
from medialoom.storage import BlobStore

_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|-1|\*)$")
_UPLOAD_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


@dataclass(frozen=True)
class ContentRange:
    start: int
    end: int  # inclusive
    total: int | None  # None while the client does not know it yet (Node sends -1)


def parse_content_range(header: str) -> ContentRange:
    match = _RANGE.match(header.strip())
    if not match:
        raise BadRequest(f"Invalid Content-Range header {header!r}")
    start, end = int(match.group(1)), int(match.group(2))
    total = None if match.group(3) in ("-1", "*") else int(match.group(3))
    if end < start or (total is not None and end >= total):
        raise BadRequest(f"Invalid Content-Range header {header!r}")
    return ContentRange(start, end, total)


@dataclass
class ChunkOutcome:
    done: bool
    received_bytes: int
    public_id: str | None
    assembled: IncomingFile | None = None
    session_id: int | None = None


class ChunkedUploads:
    def __init__(self, db: Database, blobs: BlobStore, max_total_bytes: int) -> None:
        self.db = db
        self.blobs = blobs
        self.max_total_bytes = max_total_bytes

    def _chunk_key(self, env_id: int, session_id: int, start: int) -> str:
        return f"env/{env_id}/chunks/{session_id}/{start:016d}"

    def _session(self, env: EnvironmentInfo, upload_id: str) -> UploadSession:
        now = utcnow()
        with self.db.write() as session:
            row = session.scalar(select(UploadSession).where(
                UploadSession.environment_id == env.id, UploadSession.upload_id == upload_id))
            if row is None:
                row = UploadSession(environment_id=env.id, upload_id=upload_id, created_at=now, updated_at=now)
                session.add(row)
                session.flush()
            return row

    def receive(self, env: EnvironmentInfo, upload_id: str, content_range: ContentRange,
                chunk: IncomingFile, public_id: str | None) -> ChunkOutcome:
        if not _UPLOAD_ID.match(upload_id):
            raise BadRequest("Invalid X-Unique-Upload-Id header")
        length = content_range.end - content_range.start + 1
        if chunk.size != length:
            raise BadRequest(f"Chunk size {chunk.size} does not match Content-Range ({length} bytes)")
        if content_range.end + 1 > self.max_total_bytes or (content_range.total or 0) > self.max_total_bytes:
            raise TooLarge(f"File size too large. Maximum is {self.max_total_bytes}.")
        upload = self._session(env, upload_id)
        if upload.completed:
            raise BadRequest("This chunked upload has already completed")
        key = self._chunk_key(env.id, upload.id, content_range.start)
        self.blobs.put(key, chunk.rewind())

        with self.db.write() as session:
            upload = session.get(UploadSession, upload.id)
            if upload is None or upload.completed:
                raise BadRequest("This chunked upload has already completed")
            existing = session.scalar(select(UploadChunk).where(
                UploadChunk.session_id == upload.id, UploadChunk.start == content_range.start))
            if existing is None:
                session.add(UploadChunk(session_id=upload.id, start=content_range.start,
                                        end=content_range.end, blob_key=key))
            else:
                existing.end = content_range.end  # a retried chunk replaces the earlier copy
            if content_range.total is not None:
                if upload.total_bytes is not None and upload.total_bytes != content_range.total:
                    raise BadRequest("Content-Range total differs between chunks")
                upload.total_bytes = content_range.total
            if public_id and not upload.public_id:
                upload.public_id = public_id
            upload.updated_at = utcnow()
            session.flush()
            chunks = session.scalars(select(UploadChunk).where(UploadChunk.session_id == upload.id)
                                     .order_by(UploadChunk.start)).all()
            received = sum(item.end - item.start + 1 for item in chunks)
            if upload.total_bytes is None or not _covers(chunks, upload.total_bytes):
                return ChunkOutcome(False, received, upload.public_id)
            upload.completed = True
            plan = [(item.start, item.end, item.blob_key) for item in chunks]
            session_id, total, stored_public_id = upload.id, upload.total_bytes, upload.public_id

        assembled = self._assemble(plan, total)
        return ChunkOutcome(True, total, stored_public_id, assembled, session_id)

    def _assemble(self, plan: list[tuple[int, int, str]], total: int) -> IncomingFile:
        target = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
        position = 0
        for start, end, key in plan:
            # Overlapping retries are allowed: skip bytes we already have.
            skip = position - start
            for block in self.blobs.iter_bytes(key):
                if skip >= len(block):
                    skip -= len(block)
                    continue
                block = block[skip:] if skip > 0 else block
                skip = 0
                target.write(block)
                position += len(block)
            if position != end + 1:
                raise BadRequest("A stored chunk is shorter than its Content-Range")
        target.seek(0)
        return IncomingFile(file=target, size=total, filename="")

    def finish(self, session_id: int) -> None:
        """Forget a completed session and its chunk blobs."""
        with self.db.write() as session:
            row = session.get(UploadSession, session_id)
            if row is None:
                return
            env_id = row.environment_id
            session.delete(row)
        self.blobs.delete_prefix(f"env/{env_id}/chunks/{session_id}/")


    def sweep(self, older_than_seconds: int) -> int:
        """Discard chunked uploads nobody finished; returns how many were removed."""
        cutoff = utcnow() - timedelta(seconds=older_than_seconds)
        with self.db.read() as session:
            stale = session.execute(select(UploadSession.id, UploadSession.environment_id)
                                    .where(UploadSession.updated_at < cutoff)).all()
        for session_id, env_id in stale:
            with self.db.write() as session:
                row = session.get(UploadSession, session_id)
                if row is not None:
                    session.delete(row)
            self.blobs.delete_prefix(f"env/{env_id}/chunks/{session_id}/")
        return len(stale)


def _covers(chunks: list[UploadChunk], total: int) -> bool:
    position = 0
    for item in chunks:
        if item.start > position:
            return False
        position = max(position, item.end + 1)
    return position >= total

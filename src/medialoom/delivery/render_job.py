"""One rendering as a render worker receives it, and its answer as the server receives it back.

A job names its source and its image layers by blob key: the worker reads them from the store
itself (libvips reads a local file as it needs it; a remote video is read in ranges), so
nothing large crosses the process boundary on the way in.

Answers come back as a short JSON header and the encoded bytes, never as a pickle: a worker is
the process that parses untrusted files, and one that a crafted file took over must not be
able to make the server run code. Errors the caller answers for (a refused transformation, a
corrupt image, a video without frames) keep their type across the boundary.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial

from medialoom.media.video_frames import (InvalidOffset, Offset, VideoFrameError, VideoFramesUnavailable,
                                          frame_at)
from medialoom.storage import BlobNotFound, BlobStore
from medialoom.storage.reader import open_blob
from medialoom.transform.grammar import Transformation, TransformationError
from medialoom.transform.render import Rendered, Renderer, RenderError, Source

# Every message is a frame: its length in 4 bytes, then its bytes. A worker's answer is a frame
# holding the JSON header, then the ``size`` bytes the header announces.
LENGTH = struct.Struct(">I")
# A header is a few hundred bytes; anything larger is not from a worker that follows the protocol.
MAX_HEADER_BYTES = 64 * 1024


@dataclass(frozen=True)
class RenderJob:
    source_key: str
    transformation: Transformation
    output_format: str
    save_data: bool = False
    video: bool = False  # the source is a video: its still at ``offset`` is what is transformed
    offset: float | Offset | None = None  # None: the middle of the video
    layers: Mapping[str, str] = field(default_factory=dict)  # image layer public id -> blob key


def run(job: RenderJob, blobs: BlobStore, renderer: Renderer) -> Rendered:
    if job.video:
        # Videos are read in ranges, never whole: a thumbnail needs a few MB of a file of GBs.
        still = frame_at(partial(open_blob, blobs, job.source_key), job.offset, max_pixels=renderer.max_pixels)
        source: Source = still.write_to_buffer(".png", compression=1)
    else:
        # A local file is read by libvips as needed; other stores hand over the bytes.
        source = blobs.local_path(job.source_key) or blobs.get(job.source_key)

    def layer_bytes(public_id: str) -> bytes | None:
        key = job.layers.get(public_id)
        return blobs.get(key) if key else None

    return renderer.render(source, job.transformation, job.output_format, save_data=job.save_data,
                           layer_source=layer_bytes)


# -- the wire ------------------------------------------------------------------------------

_ERRORS: dict[str, type[Exception]] = {
    "transformation": TransformationError,
    "render": RenderError,
    "video_frame": VideoFrameError,
    "video_unavailable": VideoFramesUnavailable,
    "invalid_offset": InvalidOffset,
    "blob_not_found": BlobNotFound,
}


class WorkerFailed(RuntimeError):
    """The worker raised something unexpected (a bug, not the caller's input): a 500."""


def success_header(rendered: Rendered) -> dict:
    return {"format": rendered.format, "width": rendered.width, "height": rendered.height,
            "size": len(rendered.data)}


def failure_header(error: Exception) -> dict:
    kind = next((name for name, kind in _ERRORS.items() if type(error) is kind), "unexpected")
    header = {"error": kind, "message": str(error)[:2000], "size": 0}
    if isinstance(error, TransformationError):
        header["parameter"] = error.parameter
    if kind == "unexpected":
        header["message"] = f"{type(error).__name__}: {header['message']}"
    return header


def frame(payload: bytes) -> bytes:
    return LENGTH.pack(len(payload)) + payload


def encode_header(header: dict) -> bytes:
    return frame(json.dumps(header, separators=(",", ":")).encode())


def decode_header(raw: bytes) -> dict:
    try:
        header = json.loads(raw)
    except ValueError:
        raise WorkerFailed("The render worker sent a malformed answer") from None
    if not isinstance(header, dict) or not isinstance(header.get("size"), int) or header["size"] < 0:
        raise WorkerFailed("The render worker sent a malformed answer")
    return header


def answer(header: dict, data: bytes) -> Rendered:
    """The rendered file, or the error the worker met raised again here."""
    if "error" not in header:
        try:
            return Rendered(data=data, format=str(header["format"]), width=int(header["width"]),
                            height=int(header["height"]))
        except (KeyError, TypeError, ValueError):
            raise WorkerFailed("The render worker sent a malformed answer") from None
    message = str(header.get("message", ""))
    kind = _ERRORS.get(str(header["error"]))
    if kind is None:
        raise WorkerFailed(f"The render worker failed: {message}")
    if kind is TransformationError:
        parameter = header.get("parameter")
        raise TransformationError(message, parameter if isinstance(parameter, str) else None)
    raise kind(message)

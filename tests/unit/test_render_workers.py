"""Render workers on their own: a pool of real child processes over a local blob store, and the
wire between them (what a worker's answer may and may not make the server do)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import pyvips

from medialoom.config import Settings
from medialoom.delivery import render_workers
from medialoom.delivery.render_job import (RenderJob, WorkerFailed, answer, decode_header, failure_header,
                                           success_header)
from medialoom.delivery.render_workers import RenderWorkers
from medialoom.media.video_frames import VideoFrameError
from medialoom.storage import LocalBlobStore
from medialoom.transform.grammar import TransformationError, parse
from medialoom.transform.render import Rendered, RenderError


@pytest.fixture
def settings(tmp_path) -> Settings:
    settings = Settings(data_dir=tmp_path)
    store = LocalBlobStore(settings.blob_root)
    store.put("originals/photo.jpg", pyvips.Image.black(640, 480, bands=3).jpegsave_buffer())
    store.put("originals/broken.jpg", b"\xff\xd8\xff\xe0 not really a JPEG")
    return settings


@pytest.fixture
def workers(settings) -> Iterator[RenderWorkers]:
    pool = RenderWorkers(settings, timeout=60)
    yield pool
    pool.close()


def job(transformation: str, source: str = "originals/photo.jpg", **fields) -> RenderJob:
    return RenderJob(source_key=source, transformation=parse(transformation), output_format="png", **fields)


def test_a_worker_renders_what_the_job_asks(workers) -> None:
    rendered = workers.render(job("w_320"))
    assert (rendered.format, rendered.width, rendered.height) == ("png", 320, 240)
    assert pyvips.Image.new_from_buffer(rendered.data, "").width == 320


def test_errors_keep_their_kind_across_the_boundary(workers) -> None:
    with pytest.raises(TransformationError) as refused:
        workers.render(job("l_missing/fl_layer_apply"))
    assert refused.value.parameter == "l_missing"
    with pytest.raises(RenderError, match="Cannot read this image"):
        workers.render(job("w_10", source="originals/broken.jpg"))
    with pytest.raises(VideoFrameError, match="Not a video"):
        workers.render(job("w_10", video=True))
    # Failures leave the worker usable: the same one renders the next job.
    assert len(workers.pids) == 1
    assert workers.render(job("w_16")).width == 16


def test_image_layers_are_read_by_blob_key(workers) -> None:
    rendered = workers.render(job("l_badge,w_100/fl_layer_apply", layers={"badge": "originals/photo.jpg"}))
    assert (rendered.width, rendered.height) == (640, 480)


def test_a_worker_outlives_the_thread_that_started_it(workers) -> None:
    # The server starts workers from request threads, which come and go.
    starter = threading.Thread(target=workers.render, args=(job("w_10"),))
    starter.start()
    starter.join()
    time.sleep(0.5)
    assert workers.render(job("w_12")).width == 12


def test_a_worker_retires_after_its_share_of_jobs(workers, monkeypatch) -> None:
    monkeypatch.setattr(render_workers, "MAX_JOBS", 2)
    workers.render(job("w_10"))
    first = workers.pids
    workers.render(job("w_11"))
    assert workers.pids == []  # retired on its second job
    workers.render(job("w_12"))
    assert workers.pids and workers.pids != first


def test_idle_workers_retire_but_one_stays(workers, monkeypatch) -> None:
    started = threading.Barrier(3)

    def render_together() -> None:
        started.wait()
        workers.render(job("e_blur:300"))

    threads = [threading.Thread(target=render_together) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(workers.pids) == 3
    monkeypatch.setattr(render_workers, "IDLE_SECONDS", 0.0)
    workers.retire_idle()
    assert len(workers.pids) == 1


def test_answers_round_trip() -> None:
    rendered = Rendered(data=b"bytes", format="webp", width=3, height=2)
    header = success_header(rendered)
    assert answer(header, b"bytes") == rendered
    error = TransformationError("Effect glow is not supported", "e_glow")
    with pytest.raises(TransformationError) as again:
        answer(failure_header(error), b"")
    assert (str(again.value), again.value.parameter) == (str(error), "e_glow")


def test_a_worker_cannot_make_the_server_raise_what_it_likes() -> None:
    # Only the known kinds are raised again; anything else is the worker failing (a 500).
    with pytest.raises(WorkerFailed, match="SystemExit"):
        answer(failure_header(SystemExit("bye")), b"")
    with pytest.raises(WorkerFailed):
        answer({"error": "KeyboardInterrupt", "message": "", "size": 0}, b"")
    with pytest.raises(WorkerFailed):
        answer({"format": "png", "size": 0}, b"")
    with pytest.raises(WorkerFailed):
        decode_header(b'{"size": -1}')
    with pytest.raises(WorkerFailed):
        decode_header(b"[1, 2]")
    with pytest.raises(WorkerFailed):
        decode_header(b"\x80 not json")

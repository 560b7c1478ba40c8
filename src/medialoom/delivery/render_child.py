"""A render worker: a child process of the server that renders the jobs it reads on stdin.

Started by ``delivery.render_workers`` as ``python -m medialoom.delivery.render_child <server
pid>``. The first frame holds the server's settings, pickled (the server is trusted; the other
way round nothing is unpickled), then each frame is one job and gets one answer on the
original stdout (``delivery.render_job``'s wire). The worker ends when its stdin closes, and
with the server: a watchdog ends an orphan, so none goes on rendering alone. (Not a
parent-death signal: Linux sends it when the *thread* that started the worker ends, and the
server starts workers from request threads that come and go.)
"""

from __future__ import annotations

import os
import pickle
import resource
import sys
import threading
import time
import traceback
from typing import BinaryIO

from medialoom.delivery.render_job import LENGTH, encode_header, failure_header, run, success_header
from medialoom.storage import open_blob_store
from medialoom.transform.render import Renderer

ORPHAN_CHECK_SECONDS = 0.5


def main() -> None:
    server_pid = int(sys.argv[1])
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a library prints goes to the log, not into the answers
    sys.stdout = sys.stderr
    threading.Thread(target=_end_when_orphaned, args=(server_pid,), name="orphan-watch", daemon=True).start()
    # A crash dumps no core: a worker holds decoded pixels of other people's images.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    jobs = sys.stdin.buffer
    settings = pickle.loads(_read_frame(jobs) or b"")
    blobs = open_blob_store(settings)
    renderer = Renderer(max_megapixels=settings.max_image_megapixels, threads=settings.render_threads)
    while (payload := _read_frame(jobs)) is not None:
        job = pickle.loads(payload)
        try:
            rendered = run(job, blobs, renderer)
        except Exception as error:
            header = failure_header(error)
            if header["error"] == "unexpected":
                traceback.print_exc()
            answers.write(encode_header(header))
        else:
            answers.write(encode_header(success_header(rendered)))
            answers.write(rendered.data)
        answers.flush()


def _read_frame(stream: BinaryIO) -> bytes | None:
    """The next frame's bytes, None when the server closed the pipe."""
    head = stream.read(LENGTH.size)
    if len(head) < LENGTH.size:
        return None
    (length,) = LENGTH.unpack(head)
    payload = stream.read(length)
    return payload if len(payload) == length else None


def _end_when_orphaned(server_pid: int) -> None:
    while os.getppid() == server_pid:
        time.sleep(ORPHAN_CHECK_SECONDS)
    os._exit(0)


if __name__ == "__main__":
    main()

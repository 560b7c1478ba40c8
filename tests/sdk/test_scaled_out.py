"""The same code scaled out: PostgreSQL, a real SeaweedFS S3 store and two worker processes."""

from __future__ import annotations

import hashlib
import os
import time

import cloudinary
import cloudinary.uploader
import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.postgres import temporary_database
from tests.seaweed import start_seaweed
from tests.server import start_server


@pytest.fixture(scope="module")
def scaled_server(tmp_path_factory):
    seaweed = start_seaweed(tmp_path_factory.mktemp("seaweed-scaled"))
    try:
        with temporary_database() as database_url:
            server = start_server(tmp_path_factory.mktemp("scaled"), workers=2, cloud_name="scaled-out", extra_env={
                **seaweed.settings_env("scaled-out"), "MEDIALOOM_DATABASE_URL": database_url})
            try:
                yield server, database_url
            finally:
                server.stop()
    finally:
        seaweed.stop()


@pytest.fixture
def scaled(scaled_server):
    server, database_url = scaled_server
    os.environ["CLOUDINARY_URL"] = server.cloudinary_url
    cloudinary.reset_config()
    return server, database_url


def test_uploads_renames_and_deletes_on_postgres_and_s3(scaled, files, tmp_path):
    server, database_url = scaled
    engine = create_engine(database_url)
    with engine.connect() as connection:  # the module's server is shared: count this test's events only
        before = connection.execute(text("select coalesce(max(id), 0) from outbox_events")).scalar()
    result = cloudinary.uploader.upload(str(files["png"]), public_id="scaled/logo", tags="a")
    assert cloudinary.utils.verify_api_response_signature(result["public_id"], result["version"], result["signature"])
    assert httpx.get(result["url"]).content == files["png"].read_bytes()

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 * 1024 * 1024))
    # Chunks land on either worker process: the session lives in PostgreSQL, chunks in S3.
    large = cloudinary.uploader.upload_large(str(big), chunk_size=5 * 1024 * 1024)
    assert large["etag"] == hashlib.md5(big.read_bytes()).hexdigest()
    assert httpx.get(large["url"]).content == big.read_bytes()

    cloudinary.uploader.add_tag("b", ["scaled/logo"])
    renamed = cloudinary.uploader.rename("scaled/logo", "scaled/renamed")
    assert renamed["tags"] == ["a", "b"]
    assert cloudinary.uploader.destroy("scaled/renamed")["result"] == "ok"
    assert httpx.get(renamed["url"]).status_code == 404

    with engine.connect() as connection:
        kinds = [row[0] for row in connection.execute(text(
            "select notification_type from outbox_events where id > :before order by id"), {"before": before})]
        leftover_sessions = connection.execute(text("select count(*) from upload_sessions")).scalar()
    engine.dispose()
    assert kinds == ["upload", "upload", "resource_tags_changed", "rename", "delete"]
    assert leftover_sessions == 0


def test_a_video_thumbnail_is_taken_from_the_video_in_s3(scaled, tmp_path):
    """The still is read from the bucket in ranges (the video is never fetched whole)."""
    from tests.sdk.test_delivery import BLUE, decoded, fetch, near, pixel
    from tests.unit.test_video_frames import make_video

    path = tmp_path / "clip.mp4"
    path.write_bytes(make_video())  # one second each of red, blue, green
    public_id = cloudinary.uploader.upload(str(path), resource_type="video", public_id="scaled/clip")["public_id"]
    still = fetch(cloudinary.utils.cloudinary_url(public_id, resource_type="video", format="jpg",
                                                  start_offset=1.5)[0])
    assert still.status_code == 200 and near(pixel(decoded(still), 0.5, 0.5), BLUE, 60)


def test_concurrent_uploads_of_one_public_id_leave_one_asset(scaled, files):
    from concurrent.futures import ThreadPoolExecutor

    server, database_url = scaled
    public_id = f"race/{time.time_ns()}"
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: cloudinary.uploader.upload(str(files["jpg"]), public_id=public_id),
                                range(16)))
    assert len({r["asset_id"] for r in results}) == 1
    engine = create_engine(database_url)
    with engine.connect() as connection:
        count = connection.execute(text("select count(*) from assets where public_id = :p"), {"p": public_id}).scalar()
    engine.dispose()
    assert count == 1


def test_a_flow_run_asked_of_a_web_worker_runs_in_the_supervising_process(scaled):
    """Web workers only queue runs; the process that executes them starts its runtime once a
    run is waiting (the first time, before any runtime has made its tables, the run is handed
    over by its housekeeping)."""
    from tests.sdk.helpers import finished_run, flows_api
    from tests.sdk.test_flows import greeting_flow

    server, _ = scaled
    flow = flows_api(server, "POST", "flows", {"document": greeting_flow("scaled")})
    runs = [flows_api(server, "POST", f"flows/{flow['flow_id']}/runs", {"inputs": {"who": f"worker {n}"}})
            for n in range(3)]
    for n, started in enumerate(runs):
        run = finished_run(server, started["run_id"], timeout=90)
        assert run["status"] == "succeeded" and run["result"]["message"] == f"hello worker {n} x1"

"""The storage contract suite runs against every backend: local disk and a real SeaweedFS."""

from __future__ import annotations

import uuid

import pytest

from medialoom.storage import LocalBlobStore
from tests.seaweed import ACCESS_KEY, SECRET_KEY, start_seaweed


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    server = start_seaweed(tmp_path_factory.mktemp("seaweed"))
    yield server
    server.stop()


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    from medialoom.storage.s3 import S3BlobStore

    server = request.getfixturevalue("seaweed")
    return S3BlobStore(endpoint_url=server.endpoint_url, bucket=f"contract-{uuid.uuid4().hex[:12]}",
                       region="us-east-1", access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)

"""Blob storage: a small port with a local-directory and an S3 backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

from medialoom.storage.base import BlobNotFound, BlobStore
from medialoom.storage.keys import InvalidBlobKey
from medialoom.storage.local import LocalBlobStore

if TYPE_CHECKING:
    from medialoom.config import Settings

__all__ = ["BlobNotFound", "BlobStore", "InvalidBlobKey", "LocalBlobStore", "open_blob_store"]


def open_blob_store(settings: Settings) -> BlobStore:
    if settings.storage == "s3":
        from medialoom.storage.s3 import S3BlobStore

        return S3BlobStore(endpoint_url=settings.s3_endpoint_url, bucket=settings.s3_bucket,
                           region=settings.s3_region, access_key_id=settings.s3_access_key_id,
                           secret_access_key=settings.s3_secret_access_key)
    return LocalBlobStore(settings.blob_root)

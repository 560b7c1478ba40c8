"""Blobs in an S3-compatible bucket (SeaweedFS in tests, MinIO or AWS in production)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from medialoom.storage.base import BlobNotFound
from medialoom.storage.keys import check_key, check_prefix

_MULTIPART_THRESHOLD = 16 * 1024 * 1024


class S3BlobStore:
    def __init__(self, *, endpoint_url: str, bucket: str, region: str, access_key_id: str,
                 secret_access_key: str) -> None:
        import boto3  # only deployments that use S3 pay for importing boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        self._client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"},
                          max_pool_connections=32),
        )
        self._transfer = TransferConfig(multipart_threshold=_MULTIPART_THRESHOLD, use_threads=False)
        self._ensure_bucket()

    def _ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self._client.create_bucket(Bucket=self.bucket)

    @staticmethod
    def _missing(error: Exception) -> bool:
        code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
        return code in ("404", "NoSuchKey", "NotFound")

    def put(self, key: str, data: bytes | BinaryIO) -> int:
        check_key(key)
        if isinstance(data, (bytes, bytearray, memoryview)):
            self._client.put_object(Bucket=self.bucket, Key=key, Body=bytes(data))
            return len(data)
        start = data.tell()
        data.seek(0, 2)
        size = data.tell() - start
        data.seek(start)
        # Objects appear whole when the (multipart) upload completes: readers never see a part.
        self._client.upload_fileobj(data, self.bucket, key, Config=self._transfer)
        return size

    def get(self, key: str) -> bytes:
        return b"".join(self.iter_bytes(key))

    def iter_bytes(self, key: str, chunk_size: int = 1 << 20, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        check_key(key)
        arguments = {"Bucket": self.bucket, "Key": key}
        if start or end is not None:
            if end is not None and end <= start:
                return iter(())
            arguments["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            body = self._client.get_object(**arguments)["Body"]
        except Exception as error:
            if self._missing(error):
                raise BlobNotFound(key) from error
            raise
        return self._stream(body, chunk_size)

    @staticmethod
    def _stream(body, chunk_size: int) -> Iterator[bytes]:  # noqa: ANN001
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def size(self, key: str) -> int | None:
        check_key(key)
        try:
            return int(self._client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except Exception as error:
            if self._missing(error):
                return None
            raise

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def delete(self, key: str) -> None:
        check_key(key)
        self._client.delete_object(Bucket=self.bucket, Key=key)

    def delete_prefix(self, prefix: str) -> int:
        keys = list(self.list(prefix))
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start:start + 1000]]
            self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        return len(keys)

    def list(self, prefix: str) -> Iterator[str]:
        prefix = check_prefix(prefix)
        keys: list[str] = []
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return iter(sorted(keys))

    def local_path(self, key: str) -> Path | None:
        return None

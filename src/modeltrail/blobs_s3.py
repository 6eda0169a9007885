"""Blobs in an S3-compatible object store (AWS S3, MinIO, Ceph …), for trails shared by several hosts.

A trail whose ledger is in PostgreSQL can be served from several machines at once; its large blobs
(model artifacts) must then be reachable from all of them. This backend keeps them as objects named by
their digest, ``<prefix>sha256/ab/cdef…``, so the store stays content-addressed: a second put of the same
bytes writes the same object, and every read is re-hashed. Small blobs stay in the database
(:mod:`modeltrail.blobs_db`).

The location is ``s3://BUCKET/PREFIX`` with optional query parameters ``endpoint_url`` (MinIO and other
S3-compatible servers), ``region`` and ``profile``; credentials come from boto3's usual chain
(environment, shared files, instance roles), never from the URL. Needs the ``[s3]`` extra (boto3).
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlparse

from .blobs import CHUNK_SIZE, BytesLike, parse_digest
from .errors import IntegrityError, NotFoundError, StoreError, ValidationError


def parse_s3_url(url: str) -> tuple[str, str, dict[str, str]]:
    """(bucket, prefix, options) of ``s3://BUCKET/PREFIX?endpoint_url=…&region=…&profile=…``."""
    parts = urlparse(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValidationError(f"expected s3://BUCKET/PREFIX, got {url!r}", field="blobs")
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(options) - {"endpoint_url", "region", "profile"}
    if unknown:
        raise ValidationError(
            f"unknown option(s) {', '.join(sorted(unknown))}; expected endpoint_url, region or profile", field="blobs"
        )
    prefix = parts.path.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return parts.netloc, prefix, options


class S3BlobStore:
    """Content-addressed blobs as objects of one bucket, under one prefix."""

    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None, **options: str) -> None:
        self.bucket = bucket
        self.prefix = prefix
        if client is None:
            try:
                import boto3
            except ModuleNotFoundError:
                raise StoreError("an s3:// blob store needs boto3: pip install 'modeltrail[s3]'") from None
            session = boto3.session.Session(profile_name=options.get("profile"))
            client = session.client(
                "s3", endpoint_url=options.get("endpoint_url"), region_name=options.get("region")
            )
        self._s3 = client

    @classmethod
    def from_url(cls, url: str) -> S3BlobStore:
        """The store named by ``s3://BUCKET/PREFIX?…`` (see the module docstring)."""
        bucket, prefix, options = parse_s3_url(url)
        return cls(bucket, prefix, **options)

    def __repr__(self) -> str:
        return f"S3BlobStore(s3://{self.bucket}/{self.prefix})"

    def key(self, digest: str) -> str:
        """The object key of ``digest``."""
        bare = parse_digest(digest)
        return f"{self.prefix}sha256/{bare[:2]}/{bare[2:]}"

    def _error(self, exc: Exception, what: str) -> StoreError:
        return StoreError(f"object store s3://{self.bucket}/{self.prefix}: {what}: {exc}")

    @staticmethod
    def _is_missing(exc: Exception) -> bool:
        response = getattr(exc, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` as an object; returns its hex digest."""
        raw = bytes(data)
        digest = hashlib.sha256(raw).hexdigest()
        try:
            self._s3.put_object(Bucket=self.bucket, Key=self.key(digest), Body=raw)
        except Exception as exc:  # botocore's errors: the message names the store
            raise self._error(exc, "put failed") from exc
        return digest

    def put_file(self, path: str | os.PathLike[str]) -> str:
        """Hash the file, then upload it (multipart for large files, never read whole)."""
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK_SIZE):
                h.update(chunk)
        digest = h.hexdigest()
        try:
            self._s3.upload_file(os.fspath(path), self.bucket, self.key(digest))
        except Exception as exc:
            raise self._error(exc, "upload failed") from exc
        return digest

    def put_stream(self, chunks: Iterable[BytesLike] | BinaryIO) -> str:
        """Spool the stream to a temporary file while hashing it, then upload it."""
        with tempfile.TemporaryDirectory(prefix="modeltrail-s3-") as tmp:
            path = Path(tmp) / "blob"
            with open(path, "wb") as out:
                if hasattr(chunks, "read"):
                    while chunk := chunks.read(CHUNK_SIZE):
                        out.write(chunk)
                else:
                    for c in chunks:
                        out.write(c)
            return self.put_file(path)

    def get_bytes(self, digest: str) -> bytes:
        """The object's bytes, re-hashed; NotFoundError or IntegrityError."""
        bare = parse_digest(digest)
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=self.key(bare))["Body"].read()
        except Exception as exc:
            if self._is_missing(exc):
                raise NotFoundError(f"no blob {bare} in s3://{self.bucket}/{self.prefix}") from None
            raise self._error(exc, "get failed") from exc
        if hashlib.sha256(body).hexdigest() != bare:
            raise IntegrityError(f"object {self.key(bare)} does not match its digest")
        return bytes(body)

    def open(self, digest: str) -> BinaryIO:
        """A read-only stream of the blob (downloaded and verified first)."""
        return io.BytesIO(self.get_bytes(digest))

    def _head(self, digest: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self._s3.head_object(Bucket=self.bucket, Key=self.key(digest))
            return head
        except Exception as exc:
            if self._is_missing(exc):
                return None
            raise self._error(exc, "head failed") from exc

    def exists(self, digest: str) -> bool:
        """Whether the object exists."""
        return self._head(digest) is not None

    def size(self, digest: str) -> int:
        """The object's size in bytes; NotFoundError."""
        head = self._head(digest)
        if head is None:
            raise NotFoundError(f"no blob {parse_digest(digest)} in s3://{self.bucket}/{self.prefix}")
        return int(head["ContentLength"])

    def verify(self, digest: str) -> bool:
        """True when the object exists and matches its digest."""
        try:
            self.get_bytes(digest)
        except (NotFoundError, IntegrityError):
            return False
        return True

    def verify_all(self) -> Iterator[tuple[str, bool]]:
        """(digest, ok) for every object under the prefix."""
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}sha256/"):
            for obj in page.get("Contents", []):
                tail = obj["Key"][len(self.prefix) + len("sha256/") :].replace("/", "")
                yield tail, self.verify(tail)

    def delete(self, digest: str) -> bool:
        """Delete the object; True when it existed."""
        if not self.exists(digest):
            return False
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=self.key(digest))
        except Exception as exc:
            raise self._error(exc, "delete failed") from exc
        return True


__all__ = ["S3BlobStore", "parse_s3_url"]

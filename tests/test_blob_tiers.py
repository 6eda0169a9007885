"""Blobs: small ones as rows of the ledger database, large ones in files or an S3-compatible store.

The S3 tests run against moto's standalone server, started here on a free loopback port as a separate
process (a real S3 HTTP API, not an in-process mock).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import modeltrail
from modeltrail.blobs import BlobStore
from modeltrail.blobs_db import SMALL_BLOB_MAX, TieredBlobStore
from modeltrail.errors import IntegrityError, NotFoundError, ValidationError
from modeltrail.trail import Trail


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def test_small_blobs_are_rows_large_ones_files(trail: Trail) -> None:
    blobs = trail.blobs
    assert isinstance(blobs, TieredBlobStore)
    before = _files(trail.path / "blobs")
    small = b"sealed value" * 10
    d = blobs.put_bytes(small)
    assert d == hashlib.sha256(small).hexdigest() and blobs.small.exists(d)
    assert _files(trail.path / "blobs") == before  # no file for a small blob
    assert blobs.get_bytes(d) == small and blobs.size(d) == len(small) and blobs.verify(d)
    assert blobs.open(d).read() == small and d in blobs
    assert blobs.put_bytes(small) == d  # idempotent
    big = os.urandom(SMALL_BLOB_MAX + 1)
    D = blobs.put_bytes(big)
    assert not blobs.small.exists(D) and blobs.large.exists(D) and blobs.path(D).is_file()
    assert blobs.get_bytes(D) == big and blobs.size(D) == len(big)
    assert dict(blobs.verify_all())[d] is True
    assert blobs.delete(d) and not blobs.exists(d) and not blobs.delete(d)
    with pytest.raises(NotFoundError):
        blobs.get_bytes(d)


def test_streams_and_files_choose_their_tier(trail: Trail, tmp_path: Path) -> None:
    blobs = trail.blobs
    assert isinstance(blobs, TieredBlobStore)
    small_file = tmp_path / "small.bin"
    small_file.write_bytes(b"x" * 100)
    big_file = tmp_path / "big.bin"
    big_file.write_bytes(os.urandom(SMALL_BLOB_MAX + 10))
    assert blobs.small.exists(blobs.put_file(small_file))
    assert blobs.large.exists(blobs.put_file(big_file))
    chunks = [os.urandom(400_000) for _ in range(4)]  # 1.6 MB in pieces: crosses the threshold mid-stream
    d = blobs.put_stream(iter(chunks))
    assert blobs.large.exists(d) and blobs.get_bytes(d) == b"".join(chunks)
    d2 = blobs.put_stream(io.BytesIO(b"tiny"))
    assert blobs.small.exists(d2) and blobs.get_bytes(d2) == b"tiny"
    digests = blobs.put_many([b"a", b"b", os.urandom(SMALL_BLOB_MAX + 1)])
    assert [blobs.exists(x) for x in digests] == [True, True, True]
    assert blobs.small.exists(digests[0]) and not blobs.small.exists(digests[2])


def test_a_tampered_row_is_detected(trail: Trail) -> None:
    d = trail.blobs.put_bytes(b"the policy text")
    trail.store.execute("UPDATE blobs SET data = ? WHERE sha256 = ?", (b"another text", bytes.fromhex(d)))
    with pytest.raises(IntegrityError):
        trail.blobs.get_bytes(d)
    assert trail.blobs.verify(d) is False


def test_blobs_written_as_files_before_stay_readable(tmp_path: Path) -> None:
    t = modeltrail.init(tmp_path)
    old = BlobStore(t.path / "blobs").put_bytes(b"written by an older version")
    assert t.blobs.get_bytes(old) == b"written by an older version" and t.blobs.exists(old)
    t.close()


def test_the_database_location_keeps_every_blob_in_the_database(tmp_path: Path) -> None:
    t = modeltrail.init(tmp_path, blobs="database")
    big = os.urandom(SMALL_BLOB_MAX + 1)
    d = t.blobs.put_bytes(big)
    assert isinstance(t.blobs, TieredBlobStore) and t.blobs.small.exists(d)
    assert _files(t.path / "blobs") == []
    t.close()
    with modeltrail.open(tmp_path) as again:
        assert again.blobs.get_bytes(d) == big


def test_unknown_blob_location_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="s3://BUCKET/PREFIX"):
        modeltrail.init(tmp_path, blobs="ftp://nope")


def test_sealed_values_are_rows_and_erasure_still_works(trail: Trail) -> None:
    from modeltrail.runtime.datapolicy import open_sealer

    sealer = open_sealer(trail)
    ref = sealer.seal_to(trail.blobs, "applicant:42", {"age_years": 31}, "decision:1/age_years")
    assert isinstance(trail.blobs, TieredBlobStore) and trail.blobs.small.exists(ref["sha256"])
    assert sealer.unseal_ref(trail.blobs, ref, context="decision:1/age_years") == {"age_years": 31}
    sealer.store.shred("applicant:42")
    with pytest.raises(NotFoundError):
        sealer.unseal_ref(trail.blobs, ref, context="decision:1/age_years")
    assert trail.blobs.exists(ref["sha256"])  # the ciphertext stays; without the key it is noise


# ------------------------------------------------------------------------------------- S3 (moto)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's standalone S3 server on a free loopback port, as its own process."""
    pytest.importorskip("boto3")
    pytest.importorskip("moto.server")
    port = _free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture()
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    import secrets

    import boto3

    for k, v in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(k, v)
    name = "mt-" + secrets.token_hex(6)
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


def test_s3_store_put_get_verify_delete(s3_endpoint: str, bucket: str, tmp_path: Path) -> None:
    from modeltrail.blobs_s3 import S3BlobStore

    store = S3BlobStore.from_url(f"s3://{bucket}/trails/credit?endpoint_url={s3_endpoint}")
    assert store.prefix == "trails/credit/"
    data = os.urandom(3000)
    d = store.put_bytes(data)
    assert store.key(d) == f"trails/credit/sha256/{d[:2]}/{d[2:]}"
    assert store.exists(d) and store.get_bytes(d) == data and store.size(d) == 3000 and store.verify(d)
    f = tmp_path / "model.bin"
    f.write_bytes(os.urandom(SMALL_BLOB_MAX + 5))
    df = store.put_file(f)
    assert store.get_bytes(df) == f.read_bytes()
    ds = store.put_stream(io.BytesIO(b"streamed"))
    assert store.open(ds).read() == b"streamed"
    assert dict(store.verify_all()) == {d: True, df: True, ds: True}
    # Tampering with the object is detected on read.
    store._s3.put_object(Bucket=bucket, Key=store.key(d), Body=b"other bytes")
    with pytest.raises(IntegrityError):
        store.get_bytes(d)
    assert store.delete(d) and not store.exists(d) and not store.delete(d)
    with pytest.raises(NotFoundError):
        store.get_bytes(d)


def test_s3_url_is_checked() -> None:
    from modeltrail.blobs_s3 import parse_s3_url

    assert parse_s3_url("s3://b") == ("b", "", {})
    assert parse_s3_url("s3://b/p/q/?region=eu-west-1") == ("b", "p/q/", {"region": "eu-west-1"})
    with pytest.raises(ValidationError, match="unknown option"):
        parse_s3_url("s3://b/p?secret=x")
    with pytest.raises(ValidationError, match="s3://BUCKET"):
        parse_s3_url("https://b/p")


_OTHER_HOST = r"""
import json, os, sys
import numpy as np
from sklearn.ensemble import RandomForestClassifier
import modeltrail
from modeltrail.lineage import register_model

t = modeltrail.open(sys.argv[1])
rng = np.random.default_rng(0)
X = rng.normal(size=(3000, 8)); y = (X[:, 0] > 0).astype(int)
mv = register_model(t, RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y), name="rf",
                    system="credit", actor=modeltrail.Actor("bob", "data_scientist"))
small = t.blobs.put_bytes(b"written on host b")
print(json.dumps({"model": mv.sha256, "size": mv.artifact["size"], "small": small}))
t.close()
"""


@pytest.mark.postgres
def test_two_hosts_share_one_trail_on_postgresql_and_s3(
    pg_url: str, s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    """Host A and host B have their own folders (keys copied, as a deployment would); blobs are shared."""
    location = f"s3://{bucket}/shared?endpoint_url={s3_endpoint}"
    host_a, host_b = tmp_path / "a", tmp_path / "b"
    a = modeltrail.init(host_a, url=pg_url, blobs=location)
    shutil.copytree(a.path, host_b / ".modeltrail")
    out = subprocess.run(
        [sys.executable, "-c", _OTHER_HOST, str(host_b)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MODELTRAIL_URL": ""},
    )
    assert out.returncode == 0, out.stderr
    import json

    written = json.loads(out.stdout.strip().splitlines()[-1])
    assert written["size"] > SMALL_BLOB_MAX  # the artifact went to the object store
    assert isinstance(a.blobs, TieredBlobStore) and a.blobs.large.exists(written["model"])
    assert not _files(host_b / ".modeltrail" / "blobs")
    from modeltrail.lineage.models import load_model

    model = load_model(a, "rf@1")
    assert type(model).__name__ == "RandomForestClassifier"
    assert a.blobs.get_bytes(written["small"]) == b"written on host b"  # a row of the shared database
    assert [e.type for e in a.events("model.registered")] == ["model.registered"]
    a.close()

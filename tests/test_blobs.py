"""Content-addressed blob store: layout, atomic writes, streaming, verification, concurrency."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import stat
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from modeltrail.blobs import CHUNK_SIZE, BlobBackend, BlobStore, parse_digest
from modeltrail.errors import IntegrityError, NotFoundError, ValidationError


def _corrupt(path: Path, data: bytes) -> None:
    os.chmod(path, 0o600)
    path.write_bytes(data)


def _leftover_temp(root: Path) -> list[Path]:
    return [p for p in root.rglob(".tmp-*")]


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def test_put_get_round_trip_and_layout(store: BlobStore) -> None:
    data = b"model card v1\n"
    digest = store.put_bytes(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.path(digest) == store.root / digest[:2] / digest[2:]
    assert store.path(digest).read_bytes() == data
    assert store.get_bytes(digest) == data
    assert store.get_bytes("sha256:" + digest) == data
    assert store.exists(digest) and ("sha256:" + digest) in store
    assert store.size(digest) == len(data)
    assert list(store.digests()) == [digest]
    assert _leftover_temp(store.root) == []


def test_blob_files_are_read_only(store: BlobStore) -> None:
    digest = store.put_bytes(b"immutable")
    if os.name != "nt":
        assert stat.S_IMODE(store.path(digest).stat().st_mode) == 0o444


def test_second_put_is_a_no_op(store: BlobStore, tmp_path: Path) -> None:
    digest = store.put_bytes(b"same")
    before = store.path(digest).stat()
    time.sleep(0.01)
    assert store.put_bytes(b"same") == digest
    src = tmp_path / "same.bin"
    src.write_bytes(b"same")
    assert store.put_file(src) == digest
    assert store.put_stream([b"sa", b"me"]) == digest
    after = store.path(digest).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert _leftover_temp(store.root) == []


def test_empty_blob(store: BlobStore) -> None:
    digest = store.put_stream([])
    assert digest == hashlib.sha256(b"").hexdigest()
    assert store.get_bytes(digest) == b""
    with store.open(digest) as fh:
        assert fh.read() == b""


@pytest.mark.parametrize(
    "bad",
    ["", "abc", "A" * 64, "g" * 64, "sha256:" + "0" * 63, "md5:" + "0" * 64, "SHA256:" + "0" * 64, "0" * 65],
)
def test_invalid_digests_rejected(store: BlobStore, bad: str) -> None:
    with pytest.raises(ValidationError) as info:
        store.get_bytes(bad)
    assert info.value.field == "digest"
    with pytest.raises(ValidationError):
        store.exists(bad)


def test_parse_digest_strips_prefix() -> None:
    hexd = "ab" * 32
    assert parse_digest("sha256:" + hexd) == hexd
    assert parse_digest(hexd) == hexd


def test_missing_blob(store: BlobStore, tmp_path: Path) -> None:
    digest = "0" * 64
    assert not store.exists(digest)
    for call in (store.get_bytes, store.open, store.size, store.verify):
        with pytest.raises(NotFoundError, match="not found"):
            call(digest)
    assert store.delete(digest) is False
    with pytest.raises(NotFoundError):
        store.put_file(tmp_path / "nope.bin")


def test_put_stream_from_file_object_and_iterable(store: BlobStore) -> None:
    payload = bytes(range(256)) * 10_000  # 2.5 MB: several chunks
    digest = store.put_stream(io.BytesIO(payload))
    assert digest == hashlib.sha256(payload).hexdigest()
    pieces = [payload[i : i + 777_777] for i in range(0, len(payload), 777_777)]
    assert store.put_stream(iter(pieces)) == digest
    assert store.put_stream([bytearray(payload[:10]), memoryview(payload)[10:]]) == digest
    assert store.get_bytes(digest) == payload


def test_put_stream_rejects_text(store: BlobStore) -> None:
    with pytest.raises(ValidationError):
        store.put_stream(["text"])  # type: ignore[list-item]
    with pytest.raises(ValidationError):
        store.put_stream(io.StringIO("text"))  # type: ignore[arg-type]
    assert _leftover_temp(store.root) == []


def test_large_file_streams_with_bounded_memory(store: BlobStore, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    expected = hashlib.sha256()
    block = os.urandom(CHUNK_SIZE)
    with src.open("wb") as fh:
        for i in range(50):
            chunk = block[i:] + block[:i]  # 50 distinct 1 MiB blocks
            expected.update(chunk)
            fh.write(chunk)
    tracemalloc.start()
    try:
        digest = store.put_file(src)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest == expected.hexdigest()
    assert store.size(digest) == 50 * CHUNK_SIZE
    assert peak < 8 * CHUNK_SIZE, f"peak Python allocation {peak} bytes: file was not streamed"
    assert store.verify(digest)
    streamed = hashlib.sha256()
    with store.open(digest) as fh:
        while chunk := fh.read(CHUNK_SIZE):
            streamed.update(chunk)
    assert streamed.hexdigest() == digest


def test_corruption_detected(store: BlobStore) -> None:
    good = store.put_bytes(b"evidence A")
    bad = store.put_bytes(b"evidence B")
    _corrupt(store.path(bad), b"evidence C")
    assert store.verify(good) is True
    assert store.verify(bad) is False
    assert dict(store.verify_all()) == {good: True, bad: False}
    with pytest.raises(IntegrityError, match="corrupted"):
        store.get_bytes(bad)
    with store.open(bad) as fh, pytest.raises(IntegrityError):
        fh.read()
    with store.open(bad, verify=False) as fh:
        assert fh.read() == b"evidence C"
    with store.open(good) as fh:
        assert fh.read() == b"evidence A"


def test_truncated_blob_detected_by_streaming_reader(store: BlobStore) -> None:
    payload = os.urandom(3 * CHUNK_SIZE)
    digest = store.put_bytes(payload)
    _corrupt(store.path(digest), payload[:-1])
    with store.open(digest) as fh, pytest.raises(IntegrityError):
        while fh.read(4096):
            pass


def test_delete(store: BlobStore) -> None:
    digest = store.put_bytes(b"purge me")
    assert store.delete("sha256:" + digest) is True
    assert not store.exists(digest)
    assert store.delete(digest) is False
    assert list(store.verify_all()) == []


def test_verify_all_skips_foreign_files(store: BlobStore) -> None:
    digest = store.put_bytes(b"x")
    (store.root / digest[:2] / ".tmp-crashed").write_bytes(b"partial")
    (store.root / "README").write_text("not a blob")
    assert list(store.verify_all()) == [(digest, True)]


def test_remove_stale_temp(store: BlobStore) -> None:
    digest = store.put_bytes(b"x")
    old = store.root / digest[:2] / ".tmp-old"
    old.write_bytes(b"partial")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    young = store.root / digest[:2] / ".tmp-young"
    young.write_bytes(b"in progress")
    assert store.remove_stale_temp(older_than=3600) == 1
    assert not old.exists() and young.exists()
    assert store.exists(digest)


def test_blobstore_satisfies_protocol(store: BlobStore) -> None:
    assert isinstance(store, BlobBackend)
    backend: BlobBackend = store
    assert backend.get_bytes(backend.put_bytes(b"p")) == b"p"


def test_open_missing_folder_without_create(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        BlobStore(tmp_path / "absent", create=False)


def test_threads_put_concurrently(store: BlobStore) -> None:
    payloads = [bytes([i]) * 100_000 for i in range(4)]
    results: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        try:
            digest = store.put_bytes(payloads[n % 4])
            with lock:
                results.append(digest)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert set(results) == {hashlib.sha256(p).hexdigest() for p in payloads}
    assert all(ok for _, ok in store.verify_all())
    assert _leftover_temp(store.root) == []


def _process_put(root: str, seed: int, start: float, out: multiprocessing.Queue[str]) -> None:
    payload = hashlib.sha256(bytes([seed])).digest() * 65_536  # 2 MiB, identical in every process
    store = BlobStore(root)
    while time.time() < start:  # line the processes up so their puts overlap
        time.sleep(0.001)
    digest = ""
    for _ in range(5):
        digest = store.put_bytes(payload)
        digest = store.put_stream(io.BytesIO(payload))
    out.put(digest)


def test_processes_put_same_blob_concurrently(tmp_path: Path) -> None:
    fork = "fork" in multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork") if fork else multiprocessing.get_context("spawn")
    root = tmp_path / "blobs"
    queue: multiprocessing.Queue[str] = ctx.Queue()
    start = time.time() + 0.5
    procs = [ctx.Process(target=_process_put, args=(str(root), 7, start, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    digests = {queue.get(timeout=5) for _ in procs}
    expected = hashlib.sha256(hashlib.sha256(bytes([7])).digest() * 65_536).hexdigest()
    assert digests == {expected}
    store = BlobStore(root)
    assert list(store.verify_all()) == [(expected, True)]
    assert _leftover_temp(root) == []

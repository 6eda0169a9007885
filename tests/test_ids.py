"""UUIDv7 ids: single and batch forms share one monotonic sequence (RFC 9562 §5.7, §6.2 method 1)."""

from __future__ import annotations

import threading
import time
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from modeltrail.ids import id_time_ms, is_id, new_id, new_ids, uuid7


def _check(hexes: list[str]) -> None:
    assert hexes == sorted(hexes) and len(set(hexes)) == len(hexes)
    for h in hexes:
        u = uuid.UUID(hex=h)
        assert is_id(h) and u.version == 7 and u.variant == uuid.RFC_4122


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 5000), min_size=1, max_size=6))
def test_batches_and_singles_interleave_in_order(sizes: list[int]) -> None:
    out: list[str] = []
    for n in sizes:
        out.extend(new_ids(n))
        out.append(new_id())
        out.append(uuid7().hex)
    _check(out)


def test_more_than_4096_in_one_batch_borrow_later_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    ids = new_ids(10_000)
    _check(ids)
    assert id_time_ms(ids[-1]) - id_time_ms(ids[0]) >= 2  # 10,000 / 4,096 counters per millisecond
    assert id_time_ms(ids[0]) >= before - 1
    assert new_ids(0) == [] and new_ids(-3) == []


def test_threads_never_share_an_id() -> None:
    results: list[list[str]] = [[] for _ in range(4)]

    def work(k: int) -> None:
        for _ in range(200):
            results[k].extend(new_ids(7))
            results[k].append(new_id())

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        _check(r)  # each thread sees its own ids increase
    everything = [h for r in results for h in r]
    assert len(set(everything)) == len(everything)


@settings(max_examples=200, deadline=None)
@given(
    ms=st.integers(0, 2**48 - 1),
    first=st.integers(0, 3 * 4096),
    n=st.integers(64, 300),
    seed=st.binary(min_size=8, max_size=8),
)
def test_vectorised_batch_composition_matches_the_scalar_one(ms: int, first: int, n: int, seed: bytes) -> None:
    # Large batches are composed with array arithmetic; every bit must equal the per-id composition,
    # including counters that roll into the next millisecond and the 48-bit wrap of the timestamp.
    import hashlib

    from modeltrail import ids

    rand = hashlib.shake_256(seed).digest(8 * n)
    mask = (1 << 62) - 1
    expected = [
        f"{ids._compose(ms, c, int.from_bytes(rand[8 * i : 8 * i + 8], 'big') & mask):032x}"
        for i, c in enumerate(range(first, first + n))
    ]
    assert ids._compose_many(ms, first, n, rand) == expected

"""The collector pause used by batch appends: nests across threads and restores what it found."""

from __future__ import annotations

import gc
import threading

from modeltrail.speed import gc_paused


def test_the_old_import_path_is_the_same_pause() -> None:
    from modeltrail.ledger import gcpause

    assert gcpause.gc_paused is gc_paused


def test_pause_restores_an_enabled_collector() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled(), "the outer block is still running"
    assert gc.isenabled()


def test_pause_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled(), "the caller had turned it off; the pause must not turn it on"
    finally:
        gc.enable()


def test_pause_is_restored_after_an_error() -> None:
    try:
        with gc_paused():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.isenabled()


def test_overlapping_threads_reenable_only_when_the_last_leaves() -> None:
    inside, release = threading.Event(), threading.Event()

    def worker() -> None:
        with gc_paused():
            inside.set()
            release.wait(10)

    t = threading.Thread(target=worker)
    with gc_paused():
        t.start()
        assert inside.wait(10)
    assert not gc.isenabled(), "the worker is still inside its block"
    release.set()
    t.join(10)
    assert gc.isenabled()

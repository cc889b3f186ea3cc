"""gc_paused (actors/store/gc_pause.py): nested pauses resume the collector once, at the
last, and only when it ran before."""

from __future__ import annotations

import gc

from actors.store.gc_pause import gc_paused


def test_pauses_nest_and_restore_the_collectors_state() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()

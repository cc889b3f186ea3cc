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


def test_a_restored_store_is_in_the_oldest_generation_and_not_frozen() -> None:
    from actors.store import MemoryStore, tasks
    from tests.unit.store.helpers import FakeClock
    from tests.unit.store.test_snapshot_format import _store_with

    blob = _store_with(30)[0].snapshot()
    restored = MemoryStore(clock=FakeClock())
    restored.restore(blob)
    assert gc.isenabled() and gc.get_freeze_count() == 0
    held = restored.view(tasks.list_all)[0]
    for young in (0, 1):
        assert not any(o is held for o in gc.get_objects(generation=young))
    assert any(o is held for o in gc.get_objects(generation=2))

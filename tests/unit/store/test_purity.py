"""The store is a pure core: no I/O, no clocks, no actor framework (STYLE.md rule 1)."""

from __future__ import annotations

import ast
import pathlib
import threading

from actors.store import WriteTx, tasks
from tests.unit.store.helpers import make_store, service, task

FORBIDDEN = {"zmq", "pykka", "socket", "time", "asyncio", "subprocess", "os"}
STORE_DIR = pathlib.Path(__file__).resolve().parents[3] / "actors" / "store"


def test_store_imports_no_io() -> None:
    for path in STORE_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"


def test_readers_never_see_half_a_batch() -> None:
    store = make_store()
    s = service()
    store.update(lambda tx: tx.create(s))
    stop = threading.Event()
    seen: set[int] = set()

    def reader() -> None:
        while not stop.is_set():
            seen.add(store.view(lambda tx: len(tasks.by_service(tx, s.id))))

    t = threading.Thread(target=reader)
    t.start()
    try:
        for _ in range(50):

            def add_ten(tx: WriteTx) -> None:
                start = len(tasks.by_service(tx, s.id))
                for slot in range(start + 1, start + 11):
                    tx.create(task(s.id, slot))

            store.update(add_ten)
    finally:
        stop.set()
        t.join()
    assert all(n % 10 == 0 for n in seen)
    assert store.view(lambda tx: len(tasks.by_service(tx, s.id))) == 500

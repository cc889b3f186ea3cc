"""A multi-key unique index: the ingress ports of live services. Two services cannot hold
one port, also when two managers write at once: each checked its own transaction, and
the entry applied second is refused on every store when it is applied."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from actors.store import MemoryStore, NameConflict, services
from actors.store.proposer import LocalProposer
from actors.store.table import Index, Table, TableSchema
from api.enums import PublishMode
from api.objects import ObjectKind, Service
from api.specs import EndpointSpec, PortConfig
from tests.unit.store.helpers import FakeClock, service


def publishing(name: str, *ports: int, mode: PublishMode = PublishMode.INGRESS) -> Service:
    s = service(name)
    endpoint = EndpointSpec(
        ports=tuple(PortConfig(target_port=80, published_port=p, publish_mode=mode) for p in ports)
    )
    return replace(s, spec=replace(s.spec, endpoint=endpoint))


class Recorder:
    """A manager's proposer: commits here and keeps each entry for another store."""

    def __init__(self, here: MemoryStore) -> None:
        self.entries: list[bytes] = []
        self._local = LocalProposer(self._keep)
        self._here = here

    def _keep(self, index: int, data: bytes) -> object:
        self.entries.append(data)
        return self._here.apply(index, data)

    def propose(self, data: bytes) -> object:
        return self._local.propose(data)


def test_a_multi_key_index_holds_every_key_and_follows_changes() -> None:
    table = Table(
        TableSchema(
            ObjectKind.SERVICE,
            Service,
            (Index("ports", services.ingress_ports, unique=True, multi=True),),
        )
    )
    web = publishing("web", 8080, 8443)
    table.put(web)
    assert table.ids_by("ports", "8080/tcp") == [web.id] == table.ids_by("ports", "8443/tcp")
    other = publishing("other", 8443)
    holder = table.unique_holder(other)
    assert holder is not None and holder[:2] == (web.id, "8443/tcp")
    table.put(replace(web, spec=replace(web.spec, endpoint=EndpointSpec())))
    assert table.ids_by("ports", "8080/tcp") == [] == table.ids_by("ports", "8443/tcp")
    assert table.unique_holder(other) is None
    table.put(other)
    table.remove(other.id)
    assert table.ids_by("ports", "8443/tcp") == []


def test_a_port_held_is_refused_in_the_writers_transaction_naming_it() -> None:
    store = MemoryStore.local(clock=FakeClock(), rng=random.Random(1))
    web = publishing("web", 8080)
    store.update(lambda tx: tx.create(web))
    with pytest.raises(
        NameConflict, match=f"ingress port '8080/tcp' is already in use by service {web.id}"
    ):
        store.update(lambda tx: tx.create(publishing("other", 8080)))
    # host mode, another protocol, or a service being removed: not held
    store.update(lambda tx: tx.create(publishing("host", 8080, mode=PublishMode.HOST)))
    store.update(lambda tx: tx.update(replace(services.get(tx, web.id), pending_delete=True)))
    store.update(lambda tx: tx.create(publishing("next", 8080)))


def test_two_managers_taking_one_port_at_once_the_second_entry_is_refused_when_applied() -> None:
    first = MemoryStore(clock=FakeClock(), rng=random.Random(1))
    second = MemoryStore(clock=FakeClock(), rng=random.Random(2))
    first_log, second_log = Recorder(first), Recorder(second)
    first.attach_proposer(first_log)  # type: ignore[arg-type]
    second.attach_proposer(second_log)  # type: ignore[arg-type]
    web, other = publishing("web", 8080), publishing("other", 8080)
    first.update(lambda tx: tx.create(web))  # each manager's own check passes
    second.update(lambda tx: tx.create(other))
    # the log orders them: first's entry, then second's, on a third store as on first
    third = MemoryStore(clock=FakeClock(), rng=random.Random(3))
    for store in (first, third):
        if store is third:
            store.apply(1, first_log.entries[0])
        store.apply(2, second_log.entries[0])
        held = store.view(services.list_all)
        assert [s.id for s in held] == [web.id]

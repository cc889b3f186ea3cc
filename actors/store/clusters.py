"""The cluster table: normally one object, named "default"."""

from __future__ import annotations

from typing import cast

from actors.store.table import Index, TableSchema
from actors.store.tx import ReadTx
from api.objects import Cluster, ObjectKind
from api.specs import OrchestrationConfig

__all__ = [
    "DEFAULT_NAME",
    "SCHEMA",
    "by_name",
    "get",
    "get_default",
    "list_all",
    "lookup",
    "orchestration",
]

KIND = ObjectKind.CLUSTER
DEFAULT_NAME = "default"

SCHEMA = TableSchema(
    kind=KIND,
    cls=Cluster,
    indexes=(Index("name", lambda c: c.spec.name.lower() or None, unique=True),),
    name_index="name",
)


def get(tx: ReadTx, id: str) -> Cluster | None:
    return cast(Cluster | None, tx.get(KIND, id))


def list_all(tx: ReadTx) -> list[Cluster]:
    return cast(list[Cluster], tx.list_objects(KIND))


def by_name(tx: ReadTx, name: str) -> Cluster | None:
    found = tx.find(KIND, "name", name.lower())
    return cast(Cluster, found[0]) if found else None


def get_default(tx: ReadTx) -> Cluster | None:
    return by_name(tx, DEFAULT_NAME)


def lookup(tx: ReadTx, ref: str) -> Cluster:
    return cast(Cluster, tx.lookup(KIND, ref))


def orchestration(tx: ReadTx) -> OrchestrationConfig:
    """The default cluster's orchestration settings (the defaults before it exists)."""
    cluster = get_default(tx)
    return cluster.spec.orchestration if cluster is not None else OrchestrationConfig()

"""Control API: the cluster object (inspect). Its private keys never leave the store."""

from __future__ import annotations

from actors.control.errors import Body
from actors.control.views import cluster_document
from actors.store import MemoryStore, ReadTx, clusters

__all__ = ["ClusterControl"]


class ClusterControl:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def inspect(self, body: Body) -> Body:
        ref = str(body.get("cluster") or clusters.DEFAULT_NAME)

        def read(tx: ReadTx) -> Body:
            return {"cluster": cluster_document(clusters.lookup(tx, ref))}

        return self._store.view(read)

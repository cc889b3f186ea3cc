"""The replicated in-memory store (DESIGN.md §5, SwarmKit ``manager/state/store``).

Tables of nodes, services, tasks, clusters, networks, secrets and configs with indices;
consistent read views; versioned write transactions proposed through a ``Proposer`` and
applied, in commit order, on every manager; a watch queue; snapshot and restore. Typed
queries live in one module per kind: ``nodes``, ``services``, ``tasks``, ``clusters``,
``networks``, ``secrets``, ``configs``.
"""

from actors.store import clusters, configs, networks, nodes, secrets, services, tasks
from actors.store.budget import Budgets
from actors.store.entry import Action
from actors.store.errors import (
    AlreadyExists,
    AmbiguousReference,
    ConflictError,
    EntryDecodeError,
    NameConflict,
    NoProposer,
    NotFound,
    NotLeader,
    ProposalAbandoned,
    ProposalDropped,
    ProposalError,
    ProposalTimeout,
    StoreError,
    TooLarge,
    WatchClosed,
    WatchHistoryTooOld,
)
from actors.store.memory import ApplyResult, Batch, BatchResult, Committed, MemoryStore
from actors.store.proposer import LocalProposer, Proposer
from actors.store.tx import ReadTx, WriteTx
from actors.store.watch import Event, Watcher

__all__ = [
    "Action",
    "AlreadyExists",
    "AmbiguousReference",
    "ApplyResult",
    "Batch",
    "BatchResult",
    "Budgets",
    "Committed",
    "ConflictError",
    "EntryDecodeError",
    "Event",
    "LocalProposer",
    "MemoryStore",
    "NameConflict",
    "NoProposer",
    "NotFound",
    "NotLeader",
    "ProposalAbandoned",
    "ProposalDropped",
    "ProposalError",
    "ProposalTimeout",
    "Proposer",
    "ReadTx",
    "StoreError",
    "TooLarge",
    "WatchClosed",
    "WatchHistoryTooOld",
    "Watcher",
    "WriteTx",
    "clusters",
    "configs",
    "networks",
    "nodes",
    "secrets",
    "services",
    "tasks",
]

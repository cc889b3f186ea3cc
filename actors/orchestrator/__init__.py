"""The orchestrator (leader-only, DESIGN.md §2): turns services into tasks.

Pure cores, each given a ``Snapshot`` (state), a clock value and a random source, each
returning a ``Plan`` of effects: ``replicated`` (slots 1..N, scale), ``global_`` (one task
per eligible node), ``restart`` (dead tasks, restart policy, delays), ``update`` (rolling
updates), ``jobs`` and ``cron`` (jobs and their runs on a schedule), ``reaper`` (history
retention, ``service rm``), ``reconcile`` (one pass over services), ``settled`` (when a
task's change concerns its slot only, or nothing). ``actor`` holds the pykka shells that
read and write the store (which changes make a pass: ``triggers``; the writes:
``writes``): ``OrchestratorActor`` and ``TaskReaperActor``, and
``ConstraintEnforcerActor`` around ``enforcer`` (tasks whose node no longer fits them).
Only ``actor`` does I/O.
"""

from actors.orchestrator.actor import (
    DEFAULT_TICK_INTERVAL,
    ConstraintEnforcerActor,
    OrchestratorActor,
    TaskReaperActor,
    TickReport,
)
from actors.orchestrator.global_ import eligible_nodes, reconcile_global
from actors.orchestrator.reaper import is_finished, mark_removed, reap
from actors.orchestrator.reconcile import reconcile_services
from actors.orchestrator.replicated import reconcile_replicated, removal_order
from actors.orchestrator.restart import RestartHistory, SlotState, SlotVerdict, judge_slot
from actors.orchestrator.state import (
    CreateTask,
    DeleteService,
    DeleteTask,
    Effect,
    Plan,
    SetDesiredState,
    SetServiceSpec,
    SetServiceStatus,
    SetUpdateStatus,
    Snapshot,
)
from actors.orchestrator.update import plan_update

__all__ = [
    "DEFAULT_TICK_INTERVAL",
    "ConstraintEnforcerActor",
    "CreateTask",
    "DeleteService",
    "DeleteTask",
    "Effect",
    "OrchestratorActor",
    "Plan",
    "RestartHistory",
    "SetDesiredState",
    "SetServiceSpec",
    "SetServiceStatus",
    "SetUpdateStatus",
    "SlotState",
    "SlotVerdict",
    "Snapshot",
    "TaskReaperActor",
    "TickReport",
    "eligible_nodes",
    "is_finished",
    "judge_slot",
    "mark_removed",
    "plan_update",
    "reap",
    "reconcile_global",
    "reconcile_replicated",
    "reconcile_services",
    "removal_order",
]
